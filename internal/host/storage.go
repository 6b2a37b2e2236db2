package host

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Storage operations: tables (kv.*) and buckets (blob.*).
//
//	kv.get     {"table", "key"}                                              → {"key", "value", "revision", "modified", "expires"?}
//	kv.put     {"table", "key", "value", "ifAbsent"?, "ifRevision"?, "ttlSeconds"?} → {"revision"}
//	kv.delete  {"table", "key", "ifRevision"?}                               → {}
//	kv.list    {"table", "prefix"?, "startAfter"?, "limit"?, "keysOnly"?}    → {"items", "next"?}
//	blob.get   {"bucket", "key", "range"?}                                   → {"key", "body", "size", "etag", "contentType", "metadata"?, "lastModified", "range"?}
//	blob.put   {"bucket", "key", "body", "contentType"?, "metadata"?}        → {"etag", "size"}
//	blob.delete {"bucket", "key"}                                            → {}
//	blob.list  {"bucket", "prefix"?, "delimiter"?, "startAfter"?, "maxKeys"?} → {"objects", "commonPrefixes"?, "next"?}
//
// A value is any JSON document; a body is base64 in JSON. kv.* needs a
// tables grant (r to read and list, w to put and delete); blob.* a buckets
// grant likewise.
const (
	OpKVGet      = "kv.get"
	OpKVPut      = "kv.put"
	OpKVDelete   = "kv.delete"
	OpKVList     = "kv.list"
	OpBlobGet    = "blob.get"
	OpBlobPut    = "blob.put"
	OpBlobDelete = "blob.delete"
	OpBlobList   = "blob.list"
)

// Storage limits.
const (
	MaxKVValueBytes = 400 << 10 // one item's value
	MaxKVKeyBytes   = 1024      // one item's key
	MaxBlobBytes    = 10 << 20  // an object read or written through a host call
	MaxBlobKeyBytes = 1024      // an object key
	maxListLimit    = 1000      // items or keys of one list page
	maxTTLSeconds   = 10 * 365 * 24 * 3600
)

// Grant modes of tables and buckets.
const (
	ModeRead  = "r"
	ModeWrite = "w"
)

// KVKey names an item.
type KVKey struct {
	Table string `json:"table"`
	Key   string `json:"key"`
}

// KVPutInput writes an item.
type KVPutInput struct {
	Table      string          `json:"table"`
	Key        string          `json:"key"`
	Value      json.RawMessage `json:"value"`
	IfAbsent   bool            `json:"ifAbsent,omitempty"`   // only when the key does not exist
	IfRevision uint64          `json:"ifRevision,omitempty"` // only when the item's revision is this
	TTLSeconds int64           `json:"ttlSeconds,omitempty"` // the item expires this long after the put
}

// KVDeleteInput removes an item.
type KVDeleteInput struct {
	Table      string `json:"table"`
	Key        string `json:"key"`
	IfRevision uint64 `json:"ifRevision,omitempty"`
}

// KVListInput asks for a page of a table's items in key order.
type KVListInput struct {
	Table      string `json:"table"`
	Prefix     string `json:"prefix,omitempty"`
	StartAfter string `json:"startAfter,omitempty"`
	Limit      int    `json:"limit,omitempty"` // 0 = 100
	KeysOnly   bool   `json:"keysOnly,omitempty"`
}

// KVItem is an item of a table.
type KVItem struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value,omitempty"`
	Revision uint64          `json:"revision"`
	Modified time.Time       `json:"modified"`
	Expires  *time.Time      `json:"expires,omitempty"`
}

// KVPage is one page of items.
type KVPage struct {
	Items []KVItem `json:"items"`
	Next  string   `json:"next,omitempty"` // pass as StartAfter; "" when done
}

// KVPutOutput is the answer of kv.put.
type KVPutOutput struct {
	Revision uint64 `json:"revision"`
}

// BlobKey names an object.
type BlobKey struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// BlobGetInput reads an object, or a byte range of it ("bytes=0-99",
// "bytes=100-", "bytes=-100", as HTTP's Range header).
type BlobGetInput struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Range  string `json:"range,omitempty"`
}

// BlobObject is an object read.
type BlobObject struct {
	Key          string            `json:"key"`
	Body         []byte            `json:"body"`
	Size         int64             `json:"size"` // of the whole object
	ETag         string            `json:"etag"`
	ContentType  string            `json:"contentType,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	LastModified time.Time         `json:"lastModified"`
	Range        string            `json:"range,omitempty"` // "bytes START-END/SIZE" when a range was read
}

// BlobPutInput writes an object.
type BlobPutInput struct {
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Body        []byte            `json:"body"`
	ContentType string            `json:"contentType,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// BlobPutOutput is the answer of blob.put.
type BlobPutOutput struct {
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

// BlobListInput asks for a page of a bucket's keys.
type BlobListInput struct {
	Bucket     string `json:"bucket"`
	Prefix     string `json:"prefix,omitempty"`
	Delimiter  string `json:"delimiter,omitempty"`
	StartAfter string `json:"startAfter,omitempty"`
	MaxKeys    int    `json:"maxKeys,omitempty"` // 0 = 1000
}

// BlobInfo describes an object in a list.
type BlobInfo struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag"`
	LastModified time.Time `json:"lastModified"`
}

// BlobListOutput is one page of keys.
type BlobListOutput struct {
	Objects        []BlobInfo `json:"objects"`
	CommonPrefixes []string   `json:"commonPrefixes,omitempty"`
	Next           string     `json:"next,omitempty"` // pass as StartAfter; "" when done
}

// Storage is what the node does for storage host calls once they are
// allowed; as with Services, errors wrap this package's sentinels
// (ErrNotFound for a missing table, bucket, item or object; ErrCondition
// for a condition that does not hold).
type Storage interface {
	KVGet(ctx context.Context, c Caller, in KVKey) (KVItem, error)
	KVPut(ctx context.Context, c Caller, in KVPutInput) (revision uint64, err error)
	KVDelete(ctx context.Context, c Caller, in KVDeleteInput) error
	KVList(ctx context.Context, c Caller, in KVListInput) (KVPage, error)
	BlobGet(ctx context.Context, c Caller, in BlobGetInput) (BlobObject, error)
	BlobPut(ctx context.Context, c Caller, in BlobPutInput) (BlobPutOutput, error)
	BlobDelete(ctx context.Context, c Caller, in BlobKey) error
	BlobList(ctx context.Context, c Caller, in BlobListInput) (BlobListOutput, error)
}

// storageOp reports whether op is a storage operation.
func storageOp(op string) bool {
	switch op {
	case OpKVGet, OpKVPut, OpKVDelete, OpKVList, OpBlobGet, OpBlobPut, OpBlobDelete, OpBlobList:
		return true
	}
	return false
}

// callStorage decodes, checks and serves one storage operation.
func (h *Host) callStorage(ctx context.Context, c Caller, op string, req []byte) (any, error) {
	st := h.storage
	if st == nil {
		return nil, errorf(CodeUnavailable, op+": this node serves no tables or buckets")
	}
	bad := func(err error) error { return errorf(CodeInvalidParameter, op+": "+err.Error()) }
	switch op {
	case OpKVGet:
		var in KVKey
		if err := decode(req, &in); err != nil {
			return nil, bad(err)
		}
		if err := checkItemKey(in.Table, in.Key); err != nil {
			return nil, bad(err)
		}
		if err := c.Grants.mayTable(c.Function, in.Table, false); err != nil {
			return nil, err
		}
		return st.KVGet(ctx, c, in)
	case OpKVPut:
		var in KVPutInput
		if err := decode(req, &in); err != nil {
			return nil, bad(err)
		}
		if err := checkItemKey(in.Table, in.Key); err != nil {
			return nil, bad(err)
		}
		if len(in.Value) == 0 {
			return nil, bad(fmt.Errorf("no value for item %q of table %s", in.Key, in.Table))
		}
		if len(in.Value) > MaxKVValueBytes {
			return nil, errorf(CodeTooLarge, fmt.Sprintf("%s: value of %d bytes for table %s is over the limit of %d", op, len(in.Value), in.Table, MaxKVValueBytes))
		}
		if in.IfAbsent && in.IfRevision != 0 {
			return nil, bad(fmt.Errorf("ifAbsent and ifRevision exclude each other"))
		}
		if in.TTLSeconds < 0 || in.TTLSeconds > maxTTLSeconds {
			return nil, bad(fmt.Errorf("ttlSeconds %d is outside 0..%d", in.TTLSeconds, maxTTLSeconds))
		}
		if err := c.Grants.mayTable(c.Function, in.Table, true); err != nil {
			return nil, err
		}
		rev, err := st.KVPut(ctx, c, in)
		if err != nil {
			return nil, err
		}
		return KVPutOutput{Revision: rev}, nil
	case OpKVDelete:
		var in KVDeleteInput
		if err := decode(req, &in); err != nil {
			return nil, bad(err)
		}
		if err := checkItemKey(in.Table, in.Key); err != nil {
			return nil, bad(err)
		}
		if err := c.Grants.mayTable(c.Function, in.Table, true); err != nil {
			return nil, err
		}
		return struct{}{}, st.KVDelete(ctx, c, in)
	case OpKVList:
		var in KVListInput
		if err := decode(req, &in); err != nil {
			return nil, bad(err)
		}
		if err := checkName("table", in.Table); err != nil {
			return nil, bad(err)
		}
		if in.Limit < 0 || in.Limit > maxListLimit {
			return nil, bad(fmt.Errorf("limit %d is outside 0..%d", in.Limit, maxListLimit))
		}
		if err := c.Grants.mayTable(c.Function, in.Table, false); err != nil {
			return nil, err
		}
		return st.KVList(ctx, c, in)
	case OpBlobGet:
		var in BlobGetInput
		if err := decode(req, &in); err != nil {
			return nil, bad(err)
		}
		if err := checkObjectKey(in.Bucket, in.Key); err != nil {
			return nil, bad(err)
		}
		if err := c.Grants.mayBucket(c.Function, in.Bucket, false); err != nil {
			return nil, err
		}
		return st.BlobGet(ctx, c, in)
	case OpBlobPut:
		var in BlobPutInput
		if err := decode(req, &in); err != nil {
			return nil, bad(err)
		}
		if err := checkObjectKey(in.Bucket, in.Key); err != nil {
			return nil, bad(err)
		}
		if len(in.Body) > MaxBlobBytes {
			return nil, errorf(CodeTooLarge, fmt.Sprintf("%s: object of %d bytes is over the host call limit of %d; upload larger objects with the S3 API", op, len(in.Body), MaxBlobBytes))
		}
		if err := c.Grants.mayBucket(c.Function, in.Bucket, true); err != nil {
			return nil, err
		}
		return st.BlobPut(ctx, c, in)
	case OpBlobDelete:
		var in BlobKey
		if err := decode(req, &in); err != nil {
			return nil, bad(err)
		}
		if err := checkObjectKey(in.Bucket, in.Key); err != nil {
			return nil, bad(err)
		}
		if err := c.Grants.mayBucket(c.Function, in.Bucket, true); err != nil {
			return nil, err
		}
		return struct{}{}, st.BlobDelete(ctx, c, in)
	case OpBlobList:
		var in BlobListInput
		if err := decode(req, &in); err != nil {
			return nil, bad(err)
		}
		if err := checkName("bucket", in.Bucket); err != nil {
			return nil, bad(err)
		}
		if in.MaxKeys < 0 || in.MaxKeys > maxListLimit {
			return nil, bad(fmt.Errorf("maxKeys %d is outside 0..%d", in.MaxKeys, maxListLimit))
		}
		if err := c.Grants.mayBucket(c.Function, in.Bucket, false); err != nil {
			return nil, err
		}
		return st.BlobList(ctx, c, in)
	}
	return nil, errorf(CodeNotFound, fmt.Sprintf("unknown host operation %q", op))
}

// checkName checks that a table or bucket is named, without control
// characters; the store checks the rest of its naming rule.
func checkName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("no %s", kind)
	}
	if len(name) > 255 || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
		return fmt.Errorf("%s name %q is not a valid name", kind, truncateName(name))
	}
	return nil
}

func checkItemKey(table, key string) error {
	if err := checkName("table", table); err != nil {
		return err
	}
	return checkKey("item", key, MaxKVKeyBytes)
}

func checkObjectKey(bucket, key string) error {
	if err := checkName("bucket", bucket); err != nil {
		return err
	}
	return checkKey("object", key, MaxBlobKeyBytes)
}

func checkKey(kind, key string, max int) error {
	switch {
	case key == "":
		return fmt.Errorf("no %s key", kind)
	case len(key) > max:
		return fmt.Errorf("%s key of %d bytes is over the limit of %d", kind, len(key), max)
	case !utf8.ValidString(key):
		return fmt.Errorf("%s key is not valid UTF-8", kind)
	case strings.ContainsFunc(key, isControl):
		return fmt.Errorf("%s key holds a control character", kind)
	}
	return nil
}

func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// mayTable checks a table grant.
func (g Grants) mayTable(function, table string, write bool) error {
	return mayMode(g.Tables, function, "tables", "table", table, write)
}

// mayBucket checks a bucket grant.
func (g Grants) mayBucket(function, bucket string, write bool) error {
	return mayMode(g.Buckets, function, "buckets", "bucket", bucket, write)
}

// AllowsBucket reports whether the grants let the function read (write
// false) or write a bucket; the S3 API asks it for process functions'
// credentials.
func (g Grants) AllowsBucket(bucket string, write bool) bool {
	return modeAllowed(g.Buckets, bucket, write)
}

// mayMode checks NAME:MODE grants and names the missing grant when they do
// not allow the access.
func mayMode(grants []string, function, key, kind, name string, write bool) error {
	if modeAllowed(grants, name, write) {
		return nil
	}
	want, verb := ModeRead, "read"
	if write {
		want, verb = ModeWrite, "write"
	}
	// Suggest rw when the function already has the other half.
	if modeAllowed(grants, name, !write) {
		want = "rw"
	}
	return errorf(CodeAccessDenied, fmt.Sprintf("function %s may not %s %s %s: grant it in gureum.yaml with permissions: {%s: [%s:%s]}",
		function, verb, kind, name, key, name, want))
}

// modeAllowed reports whether NAME:MODE grants allow reading or writing
// name. A grant without a mode allows both.
func modeAllowed(grants []string, name string, write bool) bool {
	for _, g := range grants {
		n, mode, ok := strings.Cut(g, ":")
		if n != "*" && n != name {
			continue
		}
		if !ok {
			return true
		}
		if write && strings.Contains(mode, ModeWrite) || !write && strings.Contains(mode, ModeRead) {
			return true
		}
	}
	return false
}
