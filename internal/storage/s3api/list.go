package s3api

import (
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/storage/blob"
)

// listParams are the parsed query parameters of a list operation.
type listParams struct {
	prefix, delimiter string
	encodeURL         bool
	max               int
}

// parseListParams reads prefix, delimiter, encoding-type and the page size
// parameter maxName (max-keys, max-uploads, max-parts), whose default and
// cap is limit.
func parseListParams(q url.Values, maxName string, limit int) (listParams, *apiError) {
	p := listParams{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), max: limit}
	switch enc := q.Get("encoding-type"); enc {
	case "":
	case "url":
		p.encodeURL = true
	default:
		return p, newError(CodeInvalidArgument, "Invalid Encoding Method specified in Request")
	}
	if vs, ok := q[maxName]; ok {
		n, err := strconv.Atoi(firstOf(vs))
		if err != nil || n < 0 {
			return p, errorf(CodeInvalidArgument, "Provided %s not an integer or within integer range", maxName)
		}
		p.max = min(n, limit)
	}
	return p, nil
}

// enc writes a key or prefix as the request asked: URL-encoded with
// encoding-type=url (which lets keys hold characters XML cannot).
func (p *listParams) enc(s string) string {
	if !p.encodeURL || s == "" {
		return s
	}
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

func (p *listParams) encodingType() string {
	if p.encodeURL {
		return "url"
	}
	return ""
}

// encodeToken and decodeToken make a continuation token of the key a page
// starts after: opaque to clients, base64 here.
func encodeToken(next string) string { return base64.StdEncoding.EncodeToString([]byte(next)) }

func decodeToken(tok string) (string, *apiError) {
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 || len(b) > blob.MaxKeyBytes {
		return "", newError(CodeInvalidArgument, "The continuation token provided is incorrect")
	}
	return string(b), nil
}

// listObjects serves ListObjectsV2 (v2) and ListObjects.
func (h *Handler) listObjects(rq *request, v2 bool) *apiError {
	q := rq.rt.query
	p, aerr := parseListParams(q, "max-keys", blob.DefaultMaxKeys)
	if aerr != nil {
		return aerr
	}
	opt := blob.ListOptions{Prefix: p.prefix, Delimiter: p.delimiter, MaxKeys: p.max}
	res := listBucketResult{
		NS:           xmlNS,
		Name:         rq.rt.bucket,
		Prefix:       p.enc(p.prefix),
		MaxKeys:      p.max,
		Delimiter:    p.enc(p.delimiter),
		EncodingType: p.encodingType(),
	}
	if v2 {
		res.StartAfter = p.enc(q.Get("start-after"))
		opt.StartAfter = q.Get("start-after")
		if vs, ok := q["continuation-token"]; ok {
			tok := firstOf(vs)
			after, aerr := decodeToken(tok)
			if aerr != nil {
				return aerr
			}
			opt.StartAfter, res.ContinuationToken = after, tok
		}
	} else {
		marker := q.Get("marker")
		opt.StartAfter = marker
		m := p.enc(marker)
		res.Marker = &m
	}
	ctx := rq.r.Context()
	if p.max == 0 {
		// The store reads 0 as its default page; S3 answers an empty one.
		if _, err := h.store.Bucket(ctx, rq.rt.bucket); err != nil {
			return storeError(err)
		}
	} else {
		lr, err := h.store.List(ctx, rq.rt.bucket, opt)
		if err != nil {
			return storeError(err)
		}
		for _, o := range lr.Objects {
			res.Contents = append(res.Contents, objectItem{
				Key:          p.enc(o.Key),
				LastModified: isoTime(o.LastModified),
				ETag:         quoteETag(o.ETag),
				Size:         o.Size,
				StorageClass: "STANDARD",
			})
		}
		for _, cp := range lr.CommonPrefixes {
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: p.enc(cp)})
		}
		res.IsTruncated = lr.Truncated && lr.Next != ""
		if res.IsTruncated {
			if v2 {
				res.NextContinuationToken = encodeToken(lr.Next)
			} else {
				res.NextMarker = p.enc(lr.Next)
			}
		}
	}
	if v2 {
		n := len(res.Contents) + len(res.CommonPrefixes)
		res.KeyCount = &n
	}
	return h.writeXML(rq, &res)
}

// listUploads serves ListMultipartUploads. The store returns every
// unfinished upload of the bucket; prefix, delimiter, markers and the page
// size are applied here.
func (h *Handler) listUploads(rq *request) *apiError {
	q := rq.rt.query
	p, aerr := parseListParams(q, "max-uploads", blob.DefaultMaxKeys)
	if aerr != nil {
		return aerr
	}
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	ups, err := h.store.Uploads(rq.r.Context(), rq.rt.bucket)
	if err != nil {
		return storeError(err)
	}
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Key != ups[j].Key {
			return ups[i].Key < ups[j].Key
		}
		return ups[i].UploadID < ups[j].UploadID
	})
	res := listUploadsResult{
		NS:             xmlNS,
		Bucket:         rq.rt.bucket,
		KeyMarker:      p.enc(keyMarker),
		UploadIDMarker: idMarker,
		Prefix:         p.enc(p.prefix),
		Delimiter:      p.enc(p.delimiter),
		EncodingType:   p.encodingType(),
		MaxUploads:     p.max,
	}
	markerIsPrefix := p.delimiter != "" && strings.HasSuffix(keyMarker, p.delimiter)
	seen := map[string]bool{}
	count := 0
	var lastKey, lastID string
	for _, u := range ups {
		if !strings.HasPrefix(u.Key, p.prefix) {
			continue
		}
		if keyMarker != "" {
			switch {
			case idMarker == "" && u.Key <= keyMarker,
				idMarker != "" && (u.Key < keyMarker || u.Key == keyMarker && u.UploadID <= idMarker),
				markerIsPrefix && strings.HasPrefix(u.Key, keyMarker):
				continue
			}
		}
		cp := ""
		if p.delimiter != "" {
			if i := strings.Index(u.Key[len(p.prefix):], p.delimiter); i >= 0 {
				cp = u.Key[:len(p.prefix)+i+len(p.delimiter)]
			}
		}
		if cp != "" && seen[cp] {
			continue
		}
		if count == p.max {
			res.IsTruncated = count > 0
			break
		}
		count++
		if cp != "" {
			seen[cp] = true
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: p.enc(cp)})
			lastKey, lastID = cp, ""
			continue
		}
		res.Uploads = append(res.Uploads, uploadItem{
			Key:          p.enc(u.Key),
			UploadID:     u.UploadID,
			Initiator:    theOwner,
			Owner:        theOwner,
			StorageClass: "STANDARD",
			Initiated:    isoTime(u.Initiated),
		})
		lastKey, lastID = u.Key, u.UploadID
	}
	if res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = p.enc(lastKey), lastID
	}
	return h.writeXML(rq, &res)
}
