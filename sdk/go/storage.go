package gureum

import (
	"context"
	"encoding/json"
	"time"
)

// TableRef is a table the function's manifest grants (permissions: {tables:
// [orders:rw]}). Its methods are safe for concurrent use.
type TableRef struct{ name string }

// Table returns the table called name. Nothing is checked until a call.
func Table(name string) *TableRef { return &TableRef{name: name} }

// Name is the table's name.
func (t *TableRef) Name() string { return t.name }

// Item is an item of a table: a key and a JSON value.
type Item struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value,omitempty"`
	Revision uint64          `json:"revision"` // changes on every write; for IfRevision
	Modified time.Time       `json:"modified"`
	Expires  *time.Time      `json:"expires,omitempty"` // when the item has a TTL
}

// A WriteOption makes a table write conditional or gives the item a TTL.
type WriteOption func(*writeOptions)

type writeOptions struct {
	IfAbsent   bool   `json:"ifAbsent,omitempty"`
	IfRevision uint64 `json:"ifRevision,omitempty"`
	TTLSeconds int64  `json:"ttlSeconds,omitempty"`
}

// IfAbsent makes a put succeed only when the key does not exist (or has
// expired); otherwise it fails with [ErrConditionFailed].
func IfAbsent() WriteOption { return func(o *writeOptions) { o.IfAbsent = true } }

// IfRevision makes a put or delete succeed only when the item's revision is
// rev (optimistic concurrency); otherwise it fails with [ErrConditionFailed].
func IfRevision(rev uint64) WriteOption { return func(o *writeOptions) { o.IfRevision = rev } }

// WithTTL makes the item expire d after the put (whole seconds, rounded
// up). An expired item reads as absent.
func WithTTL(d time.Duration) WriteOption {
	return func(o *writeOptions) { o.TTLSeconds = int64((d + time.Second - 1) / time.Second) }
}

func writeOpts(opts []WriteOption) writeOptions {
	var o writeOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Get reads an item. A missing item is an error matching [ErrNotFound].
func (t *TableRef) Get(ctx context.Context, key string) (Item, error) {
	var it Item
	err := callJSON(ctx, "kv.get", struct {
		Table string `json:"table"`
		Key   string `json:"key"`
	}{t.name, key}, &it)
	return it, err
}

// GetJSON reads an item's value into v and returns its revision.
func (t *TableRef) GetJSON(ctx context.Context, key string, v any) (revision uint64, err error) {
	it, err := t.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(it.Value, v); err != nil {
		return 0, &Error{Code: CodeInvalidParameter, Message: "item " + key + " of table " + t.name + ": " + err.Error()}
	}
	return it.Revision, nil
}

// Put writes value, a JSON document of at most 400 KiB, under key and
// returns the item's new revision.
func (t *TableRef) Put(ctx context.Context, key string, value json.RawMessage, opts ...WriteOption) (revision uint64, err error) {
	if !json.Valid(value) {
		return 0, &Error{Code: CodeInvalidParameter, Message: "the value of item " + key + " of table " + t.name + " is not JSON"}
	}
	var out struct {
		Revision uint64 `json:"revision"`
	}
	err = callJSON(ctx, "kv.put", struct {
		Table string          `json:"table"`
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
		writeOptions
	}{t.name, key, value, writeOpts(opts)}, &out)
	return out.Revision, err
}

// PutJSON writes v encoded as JSON; see [TableRef.Put].
func (t *TableRef) PutJSON(ctx context.Context, key string, v any, opts ...WriteOption) (revision uint64, err error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, &Error{Code: CodeInvalidParameter, Message: "item " + key + " of table " + t.name + ": " + err.Error()}
	}
	return t.Put(ctx, key, b, opts...)
}

// Delete removes an item; removing a missing item is not an error. Only
// [IfRevision] applies.
func (t *TableRef) Delete(ctx context.Context, key string, opts ...WriteOption) error {
	o := writeOpts(opts)
	if o.IfAbsent || o.TTLSeconds != 0 {
		return &Error{Code: CodeInvalidParameter, Message: "delete takes IfRevision only"}
	}
	return callJSON(ctx, "kv.delete", struct {
		Table      string `json:"table"`
		Key        string `json:"key"`
		IfRevision uint64 `json:"ifRevision,omitempty"`
	}{t.name, key, o.IfRevision}, nil)
}

// ListOptions select a page of items.
type ListOptions struct {
	Prefix     string `json:"prefix,omitempty"`
	StartAfter string `json:"startAfter,omitempty"` // the Next of the previous page
	Limit      int    `json:"limit,omitempty"`      // 0 = 100; at most 1000
	KeysOnly   bool   `json:"keysOnly,omitempty"`   // leave values out
}

// Page is one page of items in key order.
type Page struct {
	Items []Item `json:"items"`
	Next  string `json:"next,omitempty"` // "" when there is no more
}

// List reads a page of the table's items in key order.
func (t *TableRef) List(ctx context.Context, opts ListOptions) (Page, error) {
	var p Page
	err := callJSON(ctx, "kv.list", struct {
		Table string `json:"table"`
		ListOptions
	}{t.name, opts}, &p)
	return p, err
}

// BucketRef is a bucket the function's manifest grants (permissions:
// {buckets: [uploads:r, thumbs:w]}).
type BucketRef struct{ name string }

// Bucket returns the bucket called name. Nothing is checked until a call.
func Bucket(name string) *BucketRef { return &BucketRef{name: name} }

// Name is the bucket's name.
func (b *BucketRef) Name() string { return b.name }

// Object is an object read from a bucket.
type Object struct {
	Key          string            `json:"key"`
	Body         []byte            `json:"body"`
	Size         int64             `json:"size"` // of the whole object, also for a range read
	ETag         string            `json:"etag"`
	ContentType  string            `json:"contentType,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	LastModified time.Time         `json:"lastModified"`
	Range        string            `json:"range,omitempty"` // "bytes START-END/SIZE" of a range read
}

// Get reads an object of at most 10 MiB (read larger ones with GetRange).
// A missing object is an error matching [ErrNotFound].
func (b *BucketRef) Get(ctx context.Context, key string) (Object, error) {
	return b.GetRange(ctx, key, "")
}

// GetRange reads a byte range of an object, written as HTTP's Range header
// writes it: "bytes=0-1023", "bytes=1024-", "bytes=-100".
func (b *BucketRef) GetRange(ctx context.Context, key, rng string) (Object, error) {
	var o Object
	err := callJSON(ctx, "blob.get", struct {
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
		Range  string `json:"range,omitempty"`
	}{b.name, key, rng}, &o)
	return o, err
}

// An ObjectOption sets what is stored with an object.
type ObjectOption func(*objectOptions)

type objectOptions struct {
	ContentType string            `json:"contentType,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// WithContentType sets the object's Content-Type.
func WithContentType(ct string) ObjectOption {
	return func(o *objectOptions) { o.ContentType = ct }
}

// WithMetadata adds user metadata (x-amz-meta-NAME through the S3 API).
func WithMetadata(name, value string) ObjectOption {
	return func(o *objectOptions) {
		if o.Metadata == nil {
			o.Metadata = make(map[string]string)
		}
		o.Metadata[name] = value
	}
}

// Put writes an object of at most 10 MiB and returns its ETag. It produces
// the bucket's "created" event, as an upload through the S3 API does.
func (b *BucketRef) Put(ctx context.Context, key string, body []byte, opts ...ObjectOption) (etag string, err error) {
	var o objectOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	var out struct {
		ETag string `json:"etag"`
	}
	err = callJSON(ctx, "blob.put", struct {
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
		Body   []byte `json:"body"`
		objectOptions
	}{b.name, key, body, o}, &out)
	return out.ETag, err
}

// Delete removes an object; removing a missing object is not an error.
func (b *BucketRef) Delete(ctx context.Context, key string) error {
	return callJSON(ctx, "blob.delete", struct {
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
	}{b.name, key}, nil)
}

// ObjectListOptions select a page of keys.
type ObjectListOptions struct {
	Prefix     string `json:"prefix,omitempty"`
	Delimiter  string `json:"delimiter,omitempty"`  // group keys by what follows the prefix up to this
	StartAfter string `json:"startAfter,omitempty"` // the Next of the previous page
	MaxKeys    int    `json:"maxKeys,omitempty"`    // 0 = 1000
}

// ObjectInfo describes an object in a list.
type ObjectInfo struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag"`
	LastModified time.Time `json:"lastModified"`
}

// ObjectPage is one page of keys in byte order.
type ObjectPage struct {
	Objects        []ObjectInfo `json:"objects"`
	CommonPrefixes []string     `json:"commonPrefixes,omitempty"`
	Next           string       `json:"next,omitempty"` // "" when there is no more
}

// List reads a page of the bucket's keys.
func (b *BucketRef) List(ctx context.Context, opts ObjectListOptions) (ObjectPage, error) {
	var p ObjectPage
	err := callJSON(ctx, "blob.list", struct {
		Bucket string `json:"bucket"`
		ObjectListOptions
	}{b.name, opts}, &p)
	return p, err
}

// callJSON encodes req, makes the host call op and decodes the answer into
// out (unless out is nil).
func callJSON(ctx context.Context, op string, req, out any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return &Error{Code: CodeInvalidParameter, Message: op + ": " + err.Error()}
	}
	answer, err := hostCall(ctx, op, b)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return &Error{Code: CodeInternal, Message: op + ": malformed answer from the host: " + err.Error()}
	}
	return nil
}
