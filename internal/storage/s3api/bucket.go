package s3api

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// maxListBuckets bounds max-buckets, as in S3.
const maxListBuckets = 10000

func (h *Handler) listBuckets(rq *request) *apiError {
	q := rq.rt.query
	prefix := q.Get("prefix")
	limit := 0
	if s, ok := q["max-buckets"]; ok {
		n, err := strconv.Atoi(firstOf(s))
		if err != nil || n < 1 || n > maxListBuckets {
			return errorf(CodeInvalidArgument, "max-buckets must be an integer from 1 to %d.", maxListBuckets)
		}
		limit = n
	}
	after := ""
	if tok := q.Get("continuation-token"); tok != "" {
		b, err := base64.StdEncoding.DecodeString(tok)
		if err != nil {
			return newError(CodeInvalidArgument, "The continuation token provided is incorrect.")
		}
		after = string(b)
	}
	buckets, err := h.store.Buckets(rq.r.Context())
	if err != nil {
		return storeError(err)
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].Name < buckets[j].Name })
	res := listAllMyBucketsResult{NS: xmlNS, Owner: theOwner, Prefix: prefix, Buckets: []bucketItem{}}
	for _, b := range buckets {
		if !strings.HasPrefix(b.Name, prefix) || b.Name <= after {
			continue
		}
		if rq.ident.Allow != nil && !rq.ident.Allow(b.Name, false) {
			continue
		}
		if limit > 0 && len(res.Buckets) == limit {
			res.ContinuationToken = base64.StdEncoding.EncodeToString([]byte(res.Buckets[limit-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketItem{Name: b.Name, CreationDate: isoTime(b.CreatedAt), BucketRegion: h.region})
	}
	return h.writeXML(rq, &res)
}

func (h *Handler) createBucket(rq *request) *apiError {
	body, aerr := readAll(rq.r, rq.signer, rq.seed, maxXMLBytes)
	if aerr != nil {
		return aerr
	}
	if aerr := parseCreateBucket(body); aerr != nil {
		return aerr
	}
	if err := h.store.CreateBucket(rq.r.Context(), rq.rt.bucket); err != nil {
		return storeError(err)
	}
	rq.w.Header()["Location"] = []string{"/" + rq.rt.bucket}
	writeEmpty(rq, http.StatusOK)
	return nil
}

func (h *Handler) headBucket(rq *request) *apiError {
	if _, err := h.store.Bucket(rq.r.Context(), rq.rt.bucket); err != nil {
		return storeError(err)
	}
	rq.w.Header()["X-Amz-Bucket-Region"] = []string{h.region}
	writeEmpty(rq, http.StatusOK)
	return nil
}

func (h *Handler) deleteBucket(rq *request) *apiError {
	if err := h.store.DeleteBucket(rq.r.Context(), rq.rt.bucket); err != nil {
		return storeError(err)
	}
	writeEmpty(rq, http.StatusNoContent)
	return nil
}

func (h *Handler) getBucketLocation(rq *request) *apiError {
	if _, err := h.store.Bucket(rq.r.Context(), rq.rt.bucket); err != nil {
		return storeError(err)
	}
	loc := locationConstraint{NS: xmlNS}
	if h.region != DefaultRegion {
		// S3 answers us-east-1 with an empty constraint.
		loc.Region = h.region
	}
	return h.writeXML(rq, &loc)
}

// getBucketVersioning answers that versioning was never enabled: gureum
// keeps one version of each object.
func (h *Handler) getBucketVersioning(rq *request) *apiError {
	if _, err := h.store.Bucket(rq.r.Context(), rq.rt.bucket); err != nil {
		return storeError(err)
	}
	return h.writeXML(rq, &versioningConfiguration{NS: xmlNS})
}

func firstOf(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
