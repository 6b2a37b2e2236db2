package s3api

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/storage/blob"
)

// defaultContentType is what an object without a content type is served as.
const defaultContentType = "application/octet-stream"

// putOptions reads what a put (or a multipart upload, or a copy that
// replaces metadata) stores with the object from the request headers.
func putOptions(rq *request) (blob.PutOptions, *apiError) {
	hdr := rq.r.Header
	opt := blob.PutOptions{
		ContentType:        hdr.Get("Content-Type"),
		CacheControl:       hdr.Get("Cache-Control"),
		ContentDisposition: hdr.Get("Content-Disposition"),
		ContentEncoding:    withoutToken(hdr.Get("Content-Encoding"), "aws-chunked"),
		ContentLanguage:    hdr.Get("Content-Language"),
		Expires:            hdr.Get("Expires"),
		Actor:              rq.actor(),
	}
	size := 0
	for name, vs := range hdr {
		lname := strings.ToLower(name)
		meta, ok := strings.CutPrefix(lname, "x-amz-meta-")
		if !ok || meta == "" {
			continue
		}
		if opt.Metadata == nil {
			opt.Metadata = make(map[string]string)
		}
		v := strings.Join(vs, ",")
		opt.Metadata[meta] = v
		size += len(meta) + len(v)
	}
	if size > blob.MaxMetadataLen {
		return opt, errorf(CodeMetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size of %d bytes.", blob.MaxMetadataLen)
	}
	if md := hdr.Get("Content-Md5"); md != "" {
		if aerr := validMD5(md); aerr != nil {
			return opt, aerr
		}
		opt.ContentMD5 = md
	}
	if v := hdr.Get("If-None-Match"); v != "" {
		if strings.TrimSpace(v) != "*" {
			return opt, notImplemented("If-None-Match other than * on a write")
		}
		opt.IfNoneMatch = "*"
	}
	if hdr.Get("If-Match") != "" {
		return opt, notImplemented("If-Match on a write")
	}
	return opt, nil
}

func (h *Handler) putObject(rq *request) *apiError {
	opt, aerr := putOptions(rq)
	if aerr != nil {
		return aerr
	}
	body, aerr := openBody(rq.r, rq.signer, rq.seed, min(h.maxObject, blob.MaxPartSize))
	if aerr != nil {
		return aerr
	}
	info, err := h.store.Put(rq.r.Context(), rq.rt.bucket, rq.rt.key, body, body.size, opt)
	if err != nil {
		if be := body.Failure(); be != nil {
			return be.apiError()
		}
		return storeError(err)
	}
	rq.w.Header()["Etag"] = []string{quoteETag(info.ETag)}
	writeEmpty(rq, http.StatusOK)
	return nil
}

// conditions reads a read's conditional headers, with a name prefix
// ("X-Amz-Copy-Source-" for a copy's source). Dates that do not parse are
// ignored, as HTTP says.
func conditions(hdr http.Header, prefix string) blob.Conditions {
	c := blob.Conditions{
		IfMatch:     etagList(hdr.Get(prefix + "If-Match")),
		IfNoneMatch: etagList(hdr.Get(prefix + "If-None-Match")),
	}
	if t, err := http.ParseTime(hdr.Get(prefix + "If-Modified-Since")); err == nil {
		c.IfModifiedSince = t
	}
	if t, err := http.ParseTime(hdr.Get(prefix + "If-Unmodified-Since")); err == nil {
		c.IfUnmodifiedSince = t
	}
	return c
}

// etagList unquotes each ETag of a comma-separated list.
func etagList(v string) string {
	if !strings.Contains(v, ",") {
		return unquoteETag(v)
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = unquoteETag(p)
	}
	return strings.Join(parts, ",")
}

// responseOverrides are the query parameters of a GET that replace
// response headers.
var responseOverrides = [...][2]string{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

func (h *Handler) getObject(rq *request, head bool) *apiError {
	r := rq.r
	cond := conditions(r.Header, "")
	var rg *blob.Range
	if v := r.Header.Get("Range"); v != "" {
		parsed, err := blob.ParseRange(v)
		switch {
		case err == nil:
			rg = parsed
		case errors.Is(err, blob.ErrInvalidRange):
			return storeError(err)
		}
		// A Range header that does not parse is ignored, as HTTP says.
	}
	var (
		info       blob.ObjectInfo
		obj        *blob.Object
		partial    bool
		start, end int64
	)
	if head {
		var err error
		info, err = h.store.Head(r.Context(), rq.rt.bucket, rq.rt.key, cond)
		if err != nil {
			return storeError(err)
		}
		if rg != nil {
			var ok bool
			start, end, ok = resolveRange(rg, info.Size)
			if !ok {
				rq.w.Header()["Content-Range"] = []string{"bytes */" + strconv.FormatInt(info.Size, 10)}
				return storeError(blob.ErrInvalidRange)
			}
			partial = true
		}
	} else {
		var err error
		obj, err = h.store.Get(r.Context(), rq.rt.bucket, rq.rt.key, blob.GetOptions{Range: rg, Conditions: cond})
		if err != nil {
			return storeError(err)
		}
		defer obj.Close()
		info, partial, start, end = obj.Info, obj.Partial, obj.Start, obj.End
	}
	hdr := rq.w.Header()
	objectHeaders(hdr, info)
	length := info.Size
	status := http.StatusOK
	if partial {
		length = end - start + 1
		status = http.StatusPartialContent
		hdr["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10) + "/" + strconv.FormatInt(info.Size, 10)}
	}
	hdr["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	if !head {
		for _, o := range responseOverrides {
			if v := rq.rt.query.Get(o[0]); v != "" {
				hdr[o[1]] = []string{v}
			}
		}
	}
	rq.w.WriteHeader(status)
	if head {
		return nil
	}
	if n, err := io.Copy(rq.w, obj); err != nil || n != length {
		// The status is sent; all that is left is to cut the response
		// short so the client sees it incomplete.
		if err != nil && r.Context().Err() == nil {
			h.log.Error("s3 read failed", "bucket", rq.rt.bucket, "key", rq.rt.key, "request_id", rq.id, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// resolveRange applies a range to an object of size bytes: the first and
// last byte, or false when the range is not satisfiable.
func resolveRange(rg *blob.Range, size int64) (start, end int64, ok bool) {
	if rg.Suffix > 0 {
		if size == 0 {
			return 0, 0, false
		}
		start = max(size-rg.Suffix, 0)
		return start, size - 1, true
	}
	if rg.Start < 0 || rg.Start >= size {
		return 0, 0, false
	}
	end = rg.End
	if end < 0 || end >= size {
		end = size - 1
	}
	if end < rg.Start {
		return 0, 0, false
	}
	return rg.Start, end, true
}

// objectHeaders writes an object's stored headers.
func objectHeaders(hdr http.Header, info blob.ObjectInfo) {
	ct := info.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	hdr["Content-Type"] = []string{ct}
	hdr["Etag"] = []string{quoteETag(info.ETag)}
	hdr["Last-Modified"] = []string{info.LastModified.UTC().Format(http.TimeFormat)}
	hdr["Accept-Ranges"] = []string{"bytes"}
	for _, kv := range [...][2]string{
		{"Cache-Control", info.CacheControl},
		{"Content-Disposition", info.ContentDisposition},
		{"Content-Encoding", info.ContentEncoding},
		{"Content-Language", info.ContentLanguage},
		{"Expires", info.Expires},
	} {
		if kv[1] != "" {
			hdr[kv[0]] = []string{kv[1]}
		}
	}
	for k, v := range info.Metadata {
		hdr[http.CanonicalHeaderKey("X-Amz-Meta-"+k)] = []string{v}
	}
}

func (h *Handler) deleteObject(rq *request) *apiError {
	if _, err := h.store.Delete(rq.r.Context(), rq.rt.bucket, rq.rt.key, rq.actor()); err != nil && !errors.Is(err, blob.ErrNoKey) {
		return storeError(err)
	}
	writeEmpty(rq, http.StatusNoContent)
	return nil
}

func (h *Handler) deleteObjects(rq *request) *apiError {
	body, aerr := readAll(rq.r, rq.signer, rq.seed, maxXMLBytes)
	if aerr != nil {
		return aerr
	}
	if aerr := checkMD5(rq.r.Header, body); aerr != nil {
		return aerr
	}
	keys, quiet, aerr := parseDelete(body)
	if aerr != nil {
		return aerr
	}
	ctx := rq.r.Context()
	if _, err := h.store.Bucket(ctx, rq.rt.bucket); err != nil {
		return storeError(err)
	}
	actor := rq.actor()
	res := deleteResult{NS: xmlNS}
	for _, key := range keys {
		var e *apiError
		switch {
		case key == "":
			e = newError(CodeInvalidArgument, "The object key is empty.")
		case len(key) > blob.MaxKeyBytes:
			e = errorf(CodeKeyTooLong, "Your key is too long: %d bytes; the most is %d.", len(key), blob.MaxKeyBytes)
		default:
			if _, err := h.store.Delete(ctx, rq.rt.bucket, key, actor); err != nil && !errors.Is(err, blob.ErrNoKey) {
				e = storeError(err)
				if e.cause != nil {
					h.log.Error("s3 delete failed", "bucket", rq.rt.bucket, "key", key, "request_id", rq.id, "err", e.cause)
				}
			}
		}
		if e != nil {
			res.Errors = append(res.Errors, deleteFailed{Key: key, Code: e.code, Message: e.message})
		} else if !quiet {
			res.Deleted = append(res.Deleted, deletedItem{Key: key})
		}
	}
	return h.writeXML(rq, &res)
}

// checkMD5 verifies a Content-MD5 header, when present, against a body
// read whole.
func checkMD5(hdr http.Header, body []byte) *apiError {
	md := hdr.Get("Content-Md5")
	if md == "" {
		return nil
	}
	if aerr := validMD5(md); aerr != nil {
		return aerr
	}
	want, _ := base64.StdEncoding.DecodeString(md)
	if got := md5.Sum(body); string(got[:]) != string(want) {
		return newError(CodeBadDigest, "The Content-MD5 you specified did not match what we received.")
	}
	return nil
}

// validMD5 checks that a Content-MD5 value is the base64 of an MD5.
func validMD5(md string) *apiError {
	if b, err := base64.StdEncoding.DecodeString(md); err != nil || len(b) != md5.Size {
		return newError(CodeInvalidDigest, "The Content-MD5 you specified was invalid.")
	}
	return nil
}

// parseCopySource reads x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, with an optional "?versionId=…" that is ignored (gureum
// keeps one version of each object).
func parseCopySource(v string) (bucket, key string, aerr *apiError) {
	bad := newError(CodeInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	p, _, _ := strings.Cut(v, "?")
	p, err := url.PathUnescape(p)
	if err != nil {
		return "", "", bad
	}
	p = strings.TrimPrefix(p, "/")
	bucket, key, ok := strings.Cut(p, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", bad
	}
	if len(key) > blob.MaxKeyBytes {
		return "", "", errorf(CodeKeyTooLong, "Your source key is too long: %d bytes; the most is %d.", len(key), blob.MaxKeyBytes)
	}
	return bucket, key, nil
}

func (h *Handler) copyObject(rq *request) *apiError {
	hdr := rq.r.Header
	srcBucket, srcKey, aerr := parseCopySource(hdr.Get("X-Amz-Copy-Source"))
	if aerr != nil {
		return aerr
	}
	if aerr := rq.allow(srcBucket, false); aerr != nil {
		return aerr
	}
	replace := false
	switch d := hdr.Get("X-Amz-Metadata-Directive"); d {
	case "", "COPY":
	case "REPLACE":
		replace = true
	default:
		return errorf(CodeInvalidArgument, "Unknown metadata directive %q: use COPY or REPLACE.", clip(d, 20))
	}
	if srcBucket == rq.rt.bucket && srcKey == rq.rt.key && !replace {
		return newError(CodeInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	opt := blob.CopyOptions{ReplaceMetadata: replace, Conditions: conditions(hdr, "X-Amz-Copy-Source-")}
	if replace {
		put, aerr := putOptions(rq)
		if aerr != nil {
			return aerr
		}
		opt.Put = put
	} else {
		opt.Put.Actor = rq.actor()
	}
	info, err := h.store.Copy(rq.r.Context(), srcBucket, srcKey, rq.rt.bucket, rq.rt.key, opt)
	if err != nil {
		return copyError(err)
	}
	return h.writeXML(rq, &copyObjectResult{NS: xmlNS, ETag: quoteETag(info.ETag), LastModified: isoTime(info.LastModified)})
}

// copyError maps a copy's store error: a failed source condition is
// PreconditionFailed whichever header failed, as in S3.
func copyError(err error) *apiError {
	if errors.Is(err, blob.ErrNotModified) {
		return newError(CodePreconditionFailed, msgPrecondition)
	}
	return storeError(err)
}
