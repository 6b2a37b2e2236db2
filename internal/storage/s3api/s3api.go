package s3api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gureum/gureum/internal/sigv4"
	"github.com/gureum/gureum/internal/storage/blob"
)

// BucketStore is what the API needs of buckets; implemented by
// *blob.Store.
type BucketStore interface {
	CreateBucket(ctx context.Context, name string) error
	DeleteBucket(ctx context.Context, name string) error
	Buckets(ctx context.Context) ([]blob.BucketInfo, error)
	Bucket(ctx context.Context, name string) (blob.BucketInfo, error)
}

// ObjectStore is what the API needs of objects; implemented by
// *blob.Store.
type ObjectStore interface {
	Put(ctx context.Context, bucket, key string, body io.Reader, size int64, opt blob.PutOptions) (blob.ObjectInfo, error)
	Get(ctx context.Context, bucket, key string, opt blob.GetOptions) (*blob.Object, error)
	Head(ctx context.Context, bucket, key string, cond blob.Conditions) (blob.ObjectInfo, error)
	Delete(ctx context.Context, bucket, key string, a blob.Actor) (deleted bool, err error)
	List(ctx context.Context, bucket string, opt blob.ListOptions) (blob.ListResult, error)
	Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, opt blob.CopyOptions) (blob.ObjectInfo, error)
}

// UploadStore is what the API needs of multipart uploads; implemented by
// *blob.Store.
type UploadStore interface {
	CreateUpload(ctx context.Context, bucket, key string, opt blob.PutOptions) (uploadID string, err error)
	UploadPart(ctx context.Context, bucket, key, uploadID string, number int, body io.Reader, size int64, contentMD5 string) (blob.Part, error)
	CompleteUpload(ctx context.Context, bucket, key, uploadID string, parts []blob.CompletedPart, a blob.Actor) (blob.ObjectInfo, error)
	AbortUpload(ctx context.Context, bucket, key, uploadID string) error
	ListParts(ctx context.Context, bucket, key, uploadID string, marker, max int) (blob.PartsPage, error)
	Uploads(ctx context.Context, bucket string) ([]blob.UploadInfo, error)
}

// Store is the object store the API serves; implemented by *blob.Store.
type Store interface {
	BucketStore
	ObjectStore
	UploadStore
}

// Identity is who a request acts as.
type Identity struct {
	AccessKeyID string
	// Principal is recorded in bucket events: the access key id, or
	// "function:NAME". "" means AccessKeyID (or "anonymous" without one).
	Principal string
	// Allow reports whether this identity may read (write=false) or write
	// the bucket; nil allows everything. ListBuckets shows only the
	// buckets it may read.
	Allow func(bucket string, write bool) bool
}

// Config wires the API. Store is required.
type Config struct {
	Store Store
	// Region is the Signature V4 signing region and the region every
	// bucket reports; "" means DefaultRegion.
	Region string
	// Lookup finds an access key: its secret and identity. A key it
	// returns with an empty secret is accepted without checking the
	// signature. An unsigned request is looked up as the key id "": it
	// is refused unless Lookup("") answers ok with an empty secret. nil is
	// the embedded default: every request is accepted, signed or not, and
	// signatures are not checked (the access key id, when one is sent,
	// is still recorded as the principal).
	Lookup func(accessKeyID string) (secret string, id Identity, ok bool)
	// MaxObjectSize bounds an object; 0 means blob.MaxObjectSize. A
	// single PUT, and each part, is further bounded by blob.MaxPartSize.
	MaxObjectSize int64
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock for signature times; nil means time.Now.
	Now func() time.Time
}

// DefaultRegion is the region used when Config.Region is empty.
const DefaultRegion = "us-east-1"

// Handler serves the S3-compatible API. It is safe for concurrent use.
type Handler struct {
	store     Store
	region    string
	lookup    func(string) (string, Identity, bool)
	maxObject int64
	log       *slog.Logger
	now       func() time.Time
}

// New returns the S3-compatible API handler for cfg. Mount it as the whole
// handler of its own listener: S3 clients own every path, and keys may
// hold "//", "." and ".." segments that a path-cleaning mux would redirect.
func New(cfg Config) http.Handler {
	h := &Handler{
		store:     cfg.Store,
		region:    cfg.Region,
		lookup:    cfg.Lookup,
		maxObject: cfg.MaxObjectSize,
		log:       cfg.Logger,
		now:       cfg.Now,
	}
	if h.region == "" {
		h.region = DefaultRegion
	}
	if h.maxObject <= 0 || h.maxObject > blob.MaxObjectSize {
		h.maxObject = blob.MaxObjectSize
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// request is one request in flight.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	id    string // x-amz-request-id
	host  string // x-amz-id-2
	rt    route
	ident Identity
	// signer and seed verify an aws-chunked body's chunk signatures; nil
	// when signatures are not checked.
	signer *chunkSigner
	seed   string
}

// ServeHTTP authenticates the request, routes it, checks the identity's
// grant on its bucket and runs the operation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := &request{w: w, r: r, id: newRequestID(), host: newHostID()}
	hdr := w.Header()
	hdr["X-Amz-Request-Id"] = []string{rq.id}
	hdr["X-Amz-Id-2"] = []string{rq.host}
	hdr["Server"] = []string{"gureum"}

	rt, routeErr := parseRoute(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-Amz-Copy-Source") != "")
	rq.rt = rt
	if aerr := h.authenticate(rq); aerr != nil {
		h.fail(rq, aerr)
		return
	}
	if routeErr != nil {
		h.fail(rq, routeErr)
		return
	}
	if rt.op != opListBuckets {
		if aerr := rq.allow(rt.bucket, rt.op.writes()); aerr != nil {
			h.fail(rq, aerr)
			return
		}
	}
	var err *apiError
	switch rt.op {
	case opListBuckets:
		err = h.listBuckets(rq)
	case opCreateBucket:
		err = h.createBucket(rq)
	case opHeadBucket:
		err = h.headBucket(rq)
	case opDeleteBucket:
		err = h.deleteBucket(rq)
	case opGetBucketLocation:
		err = h.getBucketLocation(rq)
	case opGetBucketVersioning:
		err = h.getBucketVersioning(rq)
	case opListObjects:
		err = h.listObjects(rq, false)
	case opListObjectsV2:
		err = h.listObjects(rq, true)
	case opListUploads:
		err = h.listUploads(rq)
	case opDeleteObjects:
		err = h.deleteObjects(rq)
	case opPutObject:
		err = h.putObject(rq)
	case opCopyObject:
		err = h.copyObject(rq)
	case opGetObject:
		err = h.getObject(rq, false)
	case opHeadObject:
		err = h.getObject(rq, true)
	case opDeleteObject:
		err = h.deleteObject(rq)
	case opCreateUpload:
		err = h.createUpload(rq)
	case opUploadPart:
		err = h.uploadPart(rq)
	case opUploadPartCopy:
		err = h.uploadPartCopy(rq)
	case opCompleteUpload:
		err = h.completeUpload(rq)
	case opAbortUpload:
		err = h.abortUpload(rq)
	case opListParts:
		err = h.listParts(rq)
	}
	if err != nil {
		h.fail(rq, err)
	}
}

// fail answers with an error, logging internal ones.
func (h *Handler) fail(rq *request, e *apiError) {
	if e.code == CodeInternalError {
		h.log.Error("s3 request failed", "op", rq.rt.op.String(), "bucket", rq.rt.bucket, "key", rq.rt.key,
			"request_id", rq.id, "code", e.code, "err", e.cause)
	}
	writeError(rq.w, rq.r, e, rq.rt.resource(), rq.id, rq.host)
}

// authenticate verifies the request's signature and sets its identity.
func (h *Handler) authenticate(rq *request) *apiError {
	r := rq.r
	presigned := r.URL.Query().Has("X-Amz-Signature")
	keyID := requestKeyID(r, presigned)
	if h.lookup == nil {
		rq.ident = Identity{AccessKeyID: keyID, Principal: keyID}
		if keyID == "" {
			rq.ident.Principal = "anonymous"
		}
		return nil
	}
	unsigned := !presigned && r.Header.Get("Authorization") == ""
	secret, ident, ok := "", Identity{}, false
	if keyID != "" || unsigned {
		// An unsigned request is looked up as the access key id "".
		secret, ident, ok = h.lookup(keyID)
		if ok && ident.AccessKeyID == "" {
			ident.AccessKeyID = keyID
		}
	}
	if ok && secret == "" {
		// A key known without a secret is accepted unchecked.
		rq.ident = withPrincipal(ident)
		return nil
	}
	if unsigned {
		return authError(sigv4.ErrMissing, false)
	}
	v := &sigv4.Verifier{
		Service:    "s3",
		Region:     h.region,
		PathAsSent: true,
		Now:        h.now,
		Secret: func(id string) (string, bool) {
			if id == keyID {
				return secret, ok
			}
			return "", false
		},
	}
	auth, err := v.Verify(r, "")
	if err != nil {
		return authError(err, presigned)
	}
	rq.ident = withPrincipal(ident)
	if !presigned {
		rq.signer = &chunkSigner{
			key:     sigv4.SigningKey(secret, auth.Date, auth.Region, auth.Service),
			amzDate: amzDate(r),
			scope:   auth.Scope(),
		}
		rq.seed = auth.Signature
	}
	return nil
}

func withPrincipal(id Identity) Identity {
	if id.Principal == "" {
		id.Principal = id.AccessKeyID
	}
	if id.Principal == "" {
		id.Principal = "anonymous"
	}
	return id
}

// amzDate is the signing time of a header-signed request as the signature
// used it.
func amzDate(r *http.Request) string {
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		return d
	}
	if t, err := http.ParseTime(r.Header.Get("Date")); err == nil {
		return t.UTC().Format("20060102T150405Z")
	}
	return ""
}

// requestKeyID is the access key id a request names, unverified; "" when
// it names none.
func requestKeyID(r *http.Request, presigned bool) string {
	cred := ""
	if presigned {
		cred = r.URL.Query().Get("X-Amz-Credential")
	} else if a := r.Header.Get("Authorization"); a != "" {
		if auth, err := sigv4.ParseAuthorization(a); err == nil {
			return auth.AccessKeyID
		}
		// Signature V2 ("AWS KEY:SIG") or anything else: take what
		// looks like a key id.
		_, rest, _ := strings.Cut(a, " ")
		if i := strings.Index(rest, "Credential="); i >= 0 {
			rest = rest[i+len("Credential="):]
		}
		cred, _, _ = strings.Cut(rest, ":")
	}
	id, _, _ := strings.Cut(cred, "/")
	id, _, _ = strings.Cut(id, ",")
	return clip(strings.TrimSpace(id), 128)
}

// allow checks the identity's grant on a bucket.
func (rq *request) allow(bucket string, write bool) *apiError {
	if rq.ident.Allow == nil || rq.ident.Allow(bucket, write) {
		return nil
	}
	grant := "read (r)"
	if write {
		grant = "write (w)"
	}
	return errorf(CodeAccessDenied, "Access Denied: %s has no %s grant on bucket %q.", rq.ident.Principal, grant, bucket)
}

// actor is who makes a change, for its event.
func (rq *request) actor() blob.Actor {
	ip := rq.r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	return blob.Actor{
		Principal:   rq.ident.Principal,
		SourceIP:    ip,
		RequestID:   rq.id,
		TraceParent: rq.r.Header.Get("Traceparent"),
	}
}

// writeXML answers 200 with a document.
func (h *Handler) writeXML(rq *request, v any) *apiError {
	b, err := marshalXML(v)
	if err != nil {
		e := newError(CodeInternalError, msgInternal)
		e.cause = err
		return e
	}
	hdr := rq.w.Header()
	hdr["Content-Type"] = []string{"application/xml"}
	hdr["Content-Length"] = []string{itoa(len(b))}
	rq.w.WriteHeader(http.StatusOK)
	rq.w.Write(b) //nolint:errcheck // the client went away; nothing to do
	return nil
}

// writeEmpty answers a status without a body.
func writeEmpty(rq *request, status int) {
	if status != http.StatusNoContent && status != http.StatusNotModified {
		rq.w.Header()["Content-Length"] = []string{"0"}
	}
	rq.w.WriteHeader(status)
}

// newRequestID is a request id as S3 writes them: 16 upper-case hex digits.
func newRequestID() string {
	var b [8]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// newHostID is an x-amz-id-2 value.
func newHostID() string {
	var b [24]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail
	return base64.StdEncoding.EncodeToString(b[:])
}

var _ http.Handler = (*Handler)(nil)
