package s3api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gureum/gureum/internal/storage/blob"
)

// operation is one S3 operation served.
type operation int

const (
	opListBuckets operation = iota + 1
	opCreateBucket
	opHeadBucket
	opDeleteBucket
	opGetBucketLocation
	opGetBucketVersioning
	opListObjects
	opListObjectsV2
	opListUploads
	opDeleteObjects
	opPutObject
	opCopyObject
	opGetObject
	opHeadObject
	opDeleteObject
	opCreateUpload
	opUploadPart
	opUploadPartCopy
	opCompleteUpload
	opAbortUpload
	opListParts
)

var opNames = [...]string{
	opListBuckets:         "ListBuckets",
	opCreateBucket:        "CreateBucket",
	opHeadBucket:          "HeadBucket",
	opDeleteBucket:        "DeleteBucket",
	opGetBucketLocation:   "GetBucketLocation",
	opGetBucketVersioning: "GetBucketVersioning",
	opListObjects:         "ListObjects",
	opListObjectsV2:       "ListObjectsV2",
	opListUploads:         "ListMultipartUploads",
	opDeleteObjects:       "DeleteObjects",
	opPutObject:           "PutObject",
	opCopyObject:          "CopyObject",
	opGetObject:           "GetObject",
	opHeadObject:          "HeadObject",
	opDeleteObject:        "DeleteObject",
	opCreateUpload:        "CreateMultipartUpload",
	opUploadPart:          "UploadPart",
	opUploadPartCopy:      "UploadPartCopy",
	opCompleteUpload:      "CompleteMultipartUpload",
	opAbortUpload:         "AbortMultipartUpload",
	opListParts:           "ListParts",
}

func (o operation) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "Unknown"
}

// writes reports whether the operation needs a write grant on its bucket
// (otherwise a read grant; ListBuckets needs none).
func (o operation) writes() bool {
	switch o {
	case opCreateBucket, opDeleteBucket, opDeleteObjects, opPutObject, opCopyObject, opDeleteObject,
		opCreateUpload, opUploadPart, opUploadPartCopy, opCompleteUpload, opAbortUpload:
		return true
	}
	return false
}

// route is a parsed request: its operation, bucket, key and query.
type route struct {
	op     operation
	bucket string
	key    string
	query  url.Values
}

// resource is the path an error document names.
func (rt *route) resource() string {
	switch {
	case rt.bucket == "":
		return "/"
	case rt.key == "":
		return "/" + rt.bucket
	}
	return "/" + rt.bucket + "/" + rt.key
}

// Sub-resources of S3 that this API does not serve; a request naming one
// is answered NotImplemented rather than taken for a plain object or
// bucket operation.
var (
	bucketSubresources = []string{
		"accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering", "inventory",
		"lifecycle", "logging", "metadataConfiguration", "metadataTable", "metrics", "notification",
		"object-lock", "ownershipControls", "policy", "policyStatus", "publicAccessBlock",
		"replication", "requestPayment", "session", "tagging", "versioning", "versions", "website",
	}
	objectSubresources = []string{
		"acl", "attributes", "legal-hold", "renameObject", "restore", "retention", "select",
		"tagging", "torrent",
	}
)

func hasAny(q url.Values, names []string) string {
	for _, n := range names {
		if _, ok := q[n]; ok {
			return n
		}
	}
	return ""
}

// parseRoute finds the operation of a path-style request: method, the path
// as sent (escaped) and the raw query. copySource reports an
// x-amz-copy-source header, which turns a PUT into a copy.
func parseRoute(method, escapedPath, rawQuery string, copySource bool) (route, *apiError) {
	var rt route
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return rt, newError(CodeInvalidArgument, "The query string is malformed.")
	}
	rt.query = q
	p := strings.TrimPrefix(escapedPath, "/")
	rawBucket, rawKey, hasKey := strings.Cut(p, "/")
	if rt.bucket, err = url.PathUnescape(rawBucket); err != nil {
		return rt, newError(CodeInvalidBucketName, "The specified bucket is not valid.")
	}
	if hasKey && rawKey != "" {
		if rt.key, err = url.PathUnescape(rawKey); err != nil {
			return rt, newError(CodeInvalidArgument, "The object key is not validly escaped.")
		}
		if len(rt.key) > blob.MaxKeyBytes {
			return rt, errorf(CodeKeyTooLong, "Your key is too long: %d bytes; the most is %d.", len(rt.key), blob.MaxKeyBytes)
		}
	}
	if rt.bucket == "" {
		if method == http.MethodGet {
			rt.op = opListBuckets
			return rt, nil
		}
		return rt, methodNotAllowed(method)
	}
	if strings.ContainsAny(rt.bucket, "/") {
		return rt, newError(CodeInvalidBucketName, "The specified bucket is not valid.")
	}
	if rt.key == "" {
		return bucketRoute(rt, method, q)
	}
	return objectRoute(rt, method, q, copySource)
}

func bucketRoute(rt route, method string, q url.Values) (route, *apiError) {
	has := func(n string) bool { _, ok := q[n]; return ok }
	switch method {
	case http.MethodGet:
		switch {
		case has("location"):
			rt.op = opGetBucketLocation
		case has("versioning"):
			rt.op = opGetBucketVersioning
		case has("uploads"):
			rt.op = opListUploads
		case hasAny(q, bucketSubresources) != "":
			return rt, notImplemented("GET ?" + hasAny(q, bucketSubresources))
		case has("list-type"):
			if q.Get("list-type") != "2" {
				return rt, newError(CodeInvalidArgument, "Invalid List Type specified in Request: list-type must be 2.")
			}
			rt.op = opListObjectsV2
		default:
			rt.op = opListObjects
		}
	case http.MethodHead:
		rt.op = opHeadBucket
	case http.MethodPut:
		if s := hasAny(q, bucketSubresources); s != "" {
			return rt, notImplemented("PUT ?" + s)
		}
		rt.op = opCreateBucket
	case http.MethodDelete:
		if s := hasAny(q, bucketSubresources); s != "" {
			return rt, notImplemented("DELETE ?" + s)
		}
		rt.op = opDeleteBucket
	case http.MethodPost:
		if !has("delete") {
			return rt, notImplemented("POST on a bucket (other than ?delete)")
		}
		rt.op = opDeleteObjects
	default:
		return rt, methodNotAllowed(method)
	}
	return rt, nil
}

func objectRoute(rt route, method string, q url.Values, copySource bool) (route, *apiError) {
	has := func(n string) bool { _, ok := q[n]; return ok }
	if s := hasAny(q, objectSubresources); s != "" {
		return rt, notImplemented(method + " ?" + s)
	}
	switch method {
	case http.MethodGet:
		switch {
		case has("uploadId"):
			rt.op = opListParts
		case has("partNumber"):
			return rt, notImplemented("GET ?partNumber")
		default:
			rt.op = opGetObject
		}
	case http.MethodHead:
		if has("partNumber") {
			return rt, notImplemented("HEAD ?partNumber")
		}
		rt.op = opHeadObject
	case http.MethodPut:
		switch {
		case has("partNumber") || has("uploadId"):
			if !has("partNumber") || !has("uploadId") {
				return rt, newError(CodeInvalidArgument, "An UploadPart request needs both partNumber and uploadId.")
			}
			rt.op = opUploadPart
			if copySource {
				rt.op = opUploadPartCopy
			}
		case copySource:
			rt.op = opCopyObject
		default:
			rt.op = opPutObject
		}
	case http.MethodPost:
		switch {
		case has("uploads"):
			rt.op = opCreateUpload
		case has("uploadId"):
			rt.op = opCompleteUpload
		default:
			return rt, notImplemented("POST on an object (other than ?uploads and ?uploadId)")
		}
	case http.MethodDelete:
		if has("uploadId") {
			rt.op = opAbortUpload
		} else {
			rt.op = opDeleteObject
		}
	default:
		return rt, methodNotAllowed(method)
	}
	return rt, nil
}

func notImplemented(what string) *apiError {
	return newError(CodeNotImplemented, "A header or query you provided implies functionality that is not implemented: "+what+".")
}

func methodNotAllowed(method string) *apiError {
	if len(method) > 20 {
		method = method[:20]
	}
	return newError(CodeMethodNotAllowed, "The specified method is not allowed against this resource: "+method+".")
}
