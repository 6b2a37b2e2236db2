package s3api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/storage/blob"
)

func (h *Handler) createUpload(rq *request) *apiError {
	opt, aerr := putOptions(rq)
	if aerr != nil {
		return aerr
	}
	id, err := h.store.CreateUpload(rq.r.Context(), rq.rt.bucket, rq.rt.key, opt)
	if err != nil {
		return storeError(err)
	}
	return h.writeXML(rq, &initiateResult{NS: xmlNS, Bucket: rq.rt.bucket, Key: rq.rt.key, UploadID: id})
}

// partNumber reads the partNumber query parameter: 1 to blob.MaxParts.
func partNumber(q url.Values) (int, *apiError) {
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > blob.MaxParts {
		return 0, errorf(CodeInvalidArgument, "Part number must be an integer between 1 and %d, inclusive", blob.MaxParts)
	}
	return n, nil
}

func (h *Handler) uploadPart(rq *request) *apiError {
	n, aerr := partNumber(rq.rt.query)
	if aerr != nil {
		return aerr
	}
	md := rq.r.Header.Get("Content-Md5")
	if md != "" {
		if aerr := validMD5(md); aerr != nil {
			return aerr
		}
	}
	body, aerr := openBody(rq.r, rq.signer, rq.seed, min(h.maxObject, blob.MaxPartSize))
	if aerr != nil {
		return aerr
	}
	part, err := h.store.UploadPart(rq.r.Context(), rq.rt.bucket, rq.rt.key, rq.rt.query.Get("uploadId"), n, body, body.size, md)
	if err != nil {
		if be := body.Failure(); be != nil {
			return be.apiError()
		}
		return storeError(err)
	}
	rq.w.Header()["Etag"] = []string{quoteETag(part.ETag)}
	writeEmpty(rq, http.StatusOK)
	return nil
}

// parseCopyRange reads x-amz-copy-source-range, "bytes=FIRST-LAST".
func parseCopyRange(v string) (*blob.Range, *apiError) {
	bad := newError(CodeInvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return nil, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return nil, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return nil, bad
	}
	return &blob.Range{Start: first, End: last}, nil
}

func (h *Handler) uploadPartCopy(rq *request) *apiError {
	n, aerr := partNumber(rq.rt.query)
	if aerr != nil {
		return aerr
	}
	hdr := rq.r.Header
	srcBucket, srcKey, aerr := parseCopySource(hdr.Get("X-Amz-Copy-Source"))
	if aerr != nil {
		return aerr
	}
	if aerr := rq.allow(srcBucket, false); aerr != nil {
		return aerr
	}
	var rg *blob.Range
	if v := hdr.Get("X-Amz-Copy-Source-Range"); v != "" {
		if rg, aerr = parseCopyRange(v); aerr != nil {
			return aerr
		}
	}
	ctx := rq.r.Context()
	obj, err := h.store.Get(ctx, srcBucket, srcKey, blob.GetOptions{Range: rg, Conditions: conditions(hdr, "X-Amz-Copy-Source-")})
	if err != nil {
		return copyError(err)
	}
	defer obj.Close()
	size := obj.Info.Size
	if obj.Partial {
		size = obj.End - obj.Start + 1
	}
	if rg != nil && (!obj.Partial || obj.End != rg.End) {
		return newError(CodeInvalidRange, "The x-amz-copy-source-range value is not within the source object.")
	}
	if size > min(h.maxObject, blob.MaxPartSize) {
		return errorf(CodeEntityTooLarge, "The part would be %d bytes, over the limit of %d bytes.", size, min(h.maxObject, blob.MaxPartSize))
	}
	part, err := h.store.UploadPart(ctx, rq.rt.bucket, rq.rt.key, rq.rt.query.Get("uploadId"), n, obj, size, "")
	if err != nil {
		return storeError(err)
	}
	return h.writeXML(rq, &copyPartResult{NS: xmlNS, ETag: quoteETag(part.ETag), LastModified: isoTime(part.LastModified)})
}

func (h *Handler) completeUpload(rq *request) *apiError {
	if rq.r.Header.Get("If-None-Match") != "" || rq.r.Header.Get("If-Match") != "" {
		return notImplemented("conditional CompleteMultipartUpload (give If-None-Match to CreateMultipartUpload)")
	}
	body, aerr := readAll(rq.r, rq.signer, rq.seed, maxXMLBytes)
	if aerr != nil {
		return aerr
	}
	if aerr := checkMD5(rq.r.Header, body); aerr != nil {
		return aerr
	}
	parts, aerr := parseComplete(body)
	if aerr != nil {
		return aerr
	}
	ctx := rq.r.Context()
	uploadID := rq.rt.query.Get("uploadId")
	if h.maxObject < blob.MaxObjectSize {
		if aerr := h.checkUploadSize(rq, uploadID, parts); aerr != nil {
			return aerr
		}
	}
	info, err := h.store.CompleteUpload(ctx, rq.rt.bucket, rq.rt.key, uploadID, parts, rq.actor())
	if err != nil {
		return storeError(err)
	}
	scheme := "http"
	if rq.r.TLS != nil {
		scheme = "https"
	}
	loc := scheme + "://" + rq.r.Host + "/" + url.PathEscape(rq.rt.bucket) + "/" + escapeKey(rq.rt.key)
	return h.writeXML(rq, &completeResult{NS: xmlNS, Location: loc, Bucket: rq.rt.bucket, Key: rq.rt.key, ETag: quoteETag(info.ETag)})
}

// checkUploadSize refuses to complete an upload whose named parts add up
// to more than the configured object size.
func (h *Handler) checkUploadSize(rq *request, uploadID string, parts []blob.CompletedPart) *apiError {
	named := make(map[int]bool, len(parts))
	for _, p := range parts {
		named[p.Number] = true
	}
	var total int64
	marker := 0
	for {
		page, err := h.store.ListParts(rq.r.Context(), rq.rt.bucket, rq.rt.key, uploadID, marker, blob.DefaultMaxKeys)
		if err != nil {
			return storeError(err)
		}
		for _, p := range page.Parts {
			if named[p.Number] {
				total += p.Size
			}
		}
		if !page.Truncated || page.Next <= marker {
			break
		}
		marker = page.Next
	}
	if total > h.maxObject {
		return errorf(CodeEntityTooLarge, "The object would be %d bytes, over the limit of %d bytes.", total, h.maxObject)
	}
	return nil
}

// escapeKey escapes a key for a URL path, keeping its slashes.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func (h *Handler) abortUpload(rq *request) *apiError {
	if err := h.store.AbortUpload(rq.r.Context(), rq.rt.bucket, rq.rt.key, rq.rt.query.Get("uploadId")); err != nil {
		return storeError(err)
	}
	writeEmpty(rq, http.StatusNoContent)
	return nil
}

func (h *Handler) listParts(rq *request) *apiError {
	q := rq.rt.query
	p, aerr := parseListParams(q, "max-parts", blob.DefaultMaxKeys)
	if aerr != nil {
		return aerr
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > blob.MaxParts {
			return errorf(CodeInvalidArgument, "part-number-marker must be an integer from 0 to %d.", blob.MaxParts)
		}
		marker = n
	}
	uploadID := q.Get("uploadId")
	page, err := h.store.ListParts(rq.r.Context(), rq.rt.bucket, rq.rt.key, uploadID, marker, max(p.max, 1))
	if err != nil {
		return storeError(err)
	}
	res := listPartsResult{
		NS:               xmlNS,
		Bucket:           rq.rt.bucket,
		Key:              rq.rt.key,
		UploadID:         uploadID,
		Initiator:        theOwner,
		Owner:            theOwner,
		StorageClass:     "STANDARD",
		PartNumberMarker: marker,
		MaxParts:         p.max,
	}
	if p.max > 0 {
		for _, part := range page.Parts {
			res.Parts = append(res.Parts, partItem{
				PartNumber:   part.Number,
				LastModified: isoTime(part.LastModified),
				ETag:         quoteETag(part.ETag),
				Size:         part.Size,
			})
		}
		res.IsTruncated = page.Truncated
		if page.Truncated {
			res.NextPartNumberMarker = page.Next
		} else if n := len(page.Parts); n > 0 {
			res.NextPartNumberMarker = page.Parts[n-1].Number
		}
	}
	return h.writeXML(rq, &res)
}
