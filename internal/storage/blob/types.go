package blob

import (
	"errors"
	"io"
	"time"
)

// Errors; match with errors.Is. The S3 API maps each to S3's error code
// (named beside it).
var (
	ErrNoBucket         = errors.New("no such bucket")                                   // NoSuchBucket
	ErrBucketExists     = errors.New("bucket already exists")                            // BucketAlreadyOwnedByYou
	ErrBucketNotEmpty   = errors.New("bucket not empty")                                 // BucketNotEmpty
	ErrNoKey            = errors.New("no such key")                                      // NoSuchKey
	ErrNoUpload         = errors.New("no such upload")                                   // NoSuchUpload
	ErrInvalidName      = errors.New("invalid bucket name")                              // InvalidBucketName
	ErrInvalidKey       = errors.New("invalid object key")                               // KeyTooLongError / InvalidArgument
	ErrInvalidPart      = errors.New("a part is missing or its ETag does not match")     // InvalidPart
	ErrInvalidPartOrder = errors.New("parts are not in ascending order")                 // InvalidPartOrder
	ErrEntityTooSmall   = errors.New("a part other than the last is smaller than 5 MiB") // EntityTooSmall
	ErrEntityTooLarge   = errors.New("object or part over the size limit")               // EntityTooLarge
	ErrInvalidRange     = errors.New("range not satisfiable")                            // InvalidRange (416)
	ErrPrecondition     = errors.New("precondition failed")                              // PreconditionFailed (412)
	ErrNotModified      = errors.New("not modified")                                     // 304, no body
	ErrBadDigest        = errors.New("content does not match its digest")                // BadDigest
)

// Limits.
const (
	MaxKeyBytes    = 1024               // an object key, UTF-8
	MinPartSize    = 5 << 20            // every part but the last
	MaxPartSize    = 5 << 30            // one part
	MaxParts       = 10000              // parts of one upload
	MaxObjectSize  = 5 << 40            // one object (S3's limit)
	MaxMetadataLen = 2 << 10            // user metadata, names and values together
	DefaultMaxKeys = 1000               // a list page
	uploadTTL      = 7 * 24 * time.Hour // an unfinished upload is dropped after this
)

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name      string
	CreatedAt time.Time
	Objects   int64 // objects stored
	Bytes     int64 // their size
}

// ObjectInfo describes an object.
type ObjectInfo struct {
	Bucket       string
	Key          string
	Size         int64
	ETag         string            // without quotes: hex MD5 of the content, or of the parts' MD5s followed by "-N" for a multipart object
	ContentType  string            // "" = application/octet-stream
	Metadata     map[string]string // user metadata: lower-case names without "x-amz-meta-"
	LastModified time.Time
	// Standard headers stored with the object and returned on reads.
	CacheControl       string
	ContentDisposition string
	ContentEncoding    string
	ContentLanguage    string
	Expires            string
}

// PutOptions are what a put, or the creation of a multipart upload, stores
// with the object besides its content.
type PutOptions struct {
	ContentType        string
	Metadata           map[string]string
	CacheControl       string
	ContentDisposition string
	ContentEncoding    string
	ContentLanguage    string
	Expires            string
	// ContentMD5 is the base64 MD5 the client sent (Content-MD5); when set,
	// the content must match or the put fails with ErrBadDigest and nothing
	// is stored.
	ContentMD5 string
	// IfNoneMatch "*" makes the put fail with ErrPrecondition when the key
	// exists (a conditional write).
	IfNoneMatch string
	Actor
}

// Actor is who makes a change, copied into its event.
type Actor struct {
	Principal   string // an access key id, "function:NAME" or "admin"
	SourceIP    string
	RequestID   string
	TraceParent string // W3C trace context; may be empty
}

// Object is an open read of an object. Close it.
type Object struct {
	io.ReadCloser
	Info ObjectInfo
	// Partial reports that a range was asked for and applies; Start and End
	// (inclusive) are then the bytes the reader returns.
	Partial    bool
	Start, End int64
}

// Conditions are a read's conditional headers. An unset field is not
// checked. ETags are compared without quotes; "*" matches any object.
type Conditions struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   time.Time
	IfUnmodifiedSince time.Time
}

// Range is a byte range of a read, as an HTTP Range header gives it. With
// Suffix set, it is the last Suffix bytes; otherwise Start to End inclusive,
// End < 0 meaning the end of the object.
type Range struct {
	Start, End int64
	Suffix     int64
}

// GetOptions select what a read returns.
type GetOptions struct {
	Range      *Range // nil = whole object
	Conditions Conditions
}

// ListOptions select a page of a bucket's keys (ListObjectsV2).
type ListOptions struct {
	Prefix     string
	Delimiter  string // "" = no grouping
	StartAfter string // list keys after this one (a continuation token decodes to it)
	MaxKeys    int    // 0 = DefaultMaxKeys; at most DefaultMaxKeys
}

// ListResult is one page of keys, in byte order of the keys.
type ListResult struct {
	Objects        []ObjectInfo
	CommonPrefixes []string // with a delimiter: the distinct prefixes up to and including it
	Truncated      bool
	// Next is where the next page starts (pass it as StartAfter) when
	// Truncated: the last key or common prefix of this page.
	Next string
}

// CopyOptions tune a copy. Without ReplaceMetadata the copy keeps the
// source's content type, metadata and standard headers (S3's COPY
// directive); with it, it takes those of Put.
type CopyOptions struct {
	ReplaceMetadata bool
	Put             PutOptions // metadata when ReplaceMetadata; Actor always
	Conditions      Conditions // checked on the source (x-amz-copy-source-if-*)
}

// UploadInfo describes an unfinished multipart upload.
type UploadInfo struct {
	Bucket, Key, UploadID string
	Initiated             time.Time
}

// CompletedPart names a part in a complete request.
type CompletedPart struct {
	Number int
	ETag   string // without quotes
}

// Part is an uploaded part.
type Part struct {
	Number       int
	ETag         string // without quotes: hex MD5 of the part
	Size         int64
	LastModified time.Time
}

// PartsPage is one page of an upload's parts, in part-number order.
type PartsPage struct {
	Parts     []Part
	Truncated bool
	Next      int // part-number marker of the next page when Truncated
}
