package admin

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors a StorageService wraps; the admin API answers each with its own
// status and code.
var (
	ErrTableNotFound  = errors.New("table not found")                           // 404 TableNotFound
	ErrItemNotFound   = errors.New("item not found")                            // 404 ItemNotFound
	ErrBucketNotFound = errors.New("bucket not found")                          // 404 BucketNotFound
	ErrBucketNotEmpty = errors.New("bucket not empty")                          // 409 BucketNotEmpty
	ErrCondition      = errors.New("the item's condition does not hold")        // 409 ConditionFailed
	ErrItemTooLarge   = errors.New("item value is over the limit of the table") // 413 ItemTooLarge
)

// TableSpec declares a KV table in a deploy. A deploy creates missing tables
// and never deletes one; gureum table rm does.
type TableSpec struct {
	Name string `json:"name"`
}

// BucketSpec declares a bucket in a deploy, with its notifications to queues
// and topics (notifications to functions come from function events). A
// deploy creates missing buckets and never deletes one.
type BucketSpec struct {
	Name          string                   `json:"name"`
	Notifications []BucketNotificationSpec `json:"notifications,omitempty"`
}

// BucketNotificationSpec sends a bucket's object events to a queue or a
// topic. Exactly one of Queue and Topic is set.
type BucketNotificationSpec struct {
	Queue  string   `json:"queue,omitempty"`
	Topic  string   `json:"topic,omitempty"`
	On     []string `json:"on"` // registry.BucketCreated and/or registry.BucketRemoved
	Prefix string   `json:"prefix,omitempty"`
	Suffix string   `json:"suffix,omitempty"`
}

// TableInfo describes a table.
type TableInfo struct {
	Name      string    `json:"name"`
	App       string    `json:"app,omitempty"` // the app whose deploy created it
	Items     int64     `json:"items"`
	Bytes     int64     `json:"bytes"`
	CreatedAt time.Time `json:"createdAt"`
}

// Item is one item of a table.
type Item struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value,omitempty"` // omitted in scans that ask for keys only
	Revision uint64          `json:"revision"`
	Modified time.Time       `json:"modified"`
	Expires  *time.Time      `json:"expires,omitempty"` // set when the item has a TTL
}

// PutItemRequest is the body of PUT /tables/{table}/items/{key...}.
type PutItemRequest struct {
	Value      json.RawMessage `json:"value"`
	IfAbsent   bool            `json:"ifAbsent,omitempty"`   // fail with ConditionFailed when the key exists
	IfRevision uint64          `json:"ifRevision,omitempty"` // fail unless the item's revision is this
	TTLSeconds int64           `json:"ttlSeconds,omitempty"` // the item expires this long after the put; 0 = never
}

// PutItemResponse answers a put with the item's new revision.
type PutItemResponse struct {
	Revision uint64 `json:"revision"`
}

// ScanRequest is the query of GET /tables/{table}/items.
type ScanRequest struct {
	Prefix     string `json:"prefix,omitempty"`
	StartAfter string `json:"startAfter,omitempty"` // the Next of the previous page
	Limit      int    `json:"limit,omitempty"`      // 0 = 100; at most 1000
	KeysOnly   bool   `json:"keysOnly,omitempty"`
}

// ItemPage is one page of a scan, in key order.
type ItemPage struct {
	Items []Item `json:"items"`
	Next  string `json:"next,omitempty"` // "" when there is no more
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name          string               `json:"name"`
	App           string               `json:"app,omitempty"`
	Objects       int64                `json:"objects"`
	Bytes         int64                `json:"bytes"`
	CreatedAt     time.Time            `json:"createdAt"`
	Notifications []BucketNotification `json:"notifications,omitempty"`
}

// BucketNotification is one destination of a bucket's object events.
type BucketNotification struct {
	ID     string   `json:"id"`
	Target string   `json:"target"` // function:NAME, queue:NAME or topic:NAME
	On     []string `json:"on"`
	Prefix string   `json:"prefix,omitempty"`
	Suffix string   `json:"suffix,omitempty"`
	Owner  string   `json:"owner,omitempty"` // function:NAME or app:NAME that declared it
}

// StorageService is what the admin API needs for tables and buckets.
type StorageService interface {
	Tables(ctx context.Context) ([]TableInfo, error)
	Table(ctx context.Context, name string) (*TableInfo, error)
	PutTable(ctx context.Context, name string) (created bool, err error)
	DeleteTable(ctx context.Context, name string) error
	GetItem(ctx context.Context, table, key string) (*Item, error)
	PutItem(ctx context.Context, table, key string, req PutItemRequest) (*PutItemResponse, error)
	DeleteItem(ctx context.Context, table, key string, ifRevision uint64) error
	ScanItems(ctx context.Context, table string, req ScanRequest) (*ItemPage, error)

	Buckets(ctx context.Context) ([]BucketInfo, error)
	Bucket(ctx context.Context, name string) (*BucketInfo, error)
	PutBucket(ctx context.Context, name string) (created bool, err error)
	// DeleteBucket removes an empty bucket; with force it first removes
	// every object (each removal an event) and unfinished upload.
	DeleteBucket(ctx context.Context, name string, force bool) error
}
