package admintest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gureum/gureum/internal/admin"
)

// Limits of the Storage double.
const (
	MaxValueBytes = 400 << 10 // an item's value; larger puts fail with admin.ErrItemTooLarge
	maxTableName  = 64
)

// Storage is an in-memory admin.StorageService: tables with revisions,
// conditional puts and TTLs, and buckets with object counts, enough to check
// what a client sends and what the handler answers. It remembers the calls a
// test wants to inspect. The admin.Service methods go to the embedded
// Service, which is nil (and so panics) unless a test sets it.
type Storage struct {
	admin.Service

	mu      sync.Mutex
	err     error // returned by every storage method when set
	tables  map[string]*table
	buckets map[string]*admin.BucketInfo

	puts          []ItemPut
	itemDeletes   []ItemDelete
	scans         []admin.ScanRequest
	bucketDeletes []BucketDelete
}

// ItemPut is one PutItem call that reached an existing table.
type ItemPut struct {
	Table, Key string
	Request    admin.PutItemRequest
}

// ItemDelete is one DeleteItem call that reached an existing table.
type ItemDelete struct {
	Table, Key string
	IfRevision uint64
}

// BucketDelete is one DeleteBucket call.
type BucketDelete struct {
	Bucket string
	Force  bool
}

type table struct {
	info  admin.TableInfo
	items map[string]admin.Item
	rev   uint64 // the table's last revision; every put and delete takes the next
}

// NewStorage returns a Storage with no tables and no buckets.
func NewStorage() *Storage {
	return &Storage{tables: map[string]*table{}, buckets: map[string]*admin.BucketInfo{}}
}

// SetErr makes every storage method return err (nil restores them).
func (f *Storage) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// AddTable creates a table as info describes it (its name, app and
// creation time; its counts come from its items), replacing any of that name.
func (f *Storage) AddTable(info admin.TableInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables[info.Name] = &table{info: info, items: map[string]admin.Item{}}
}

// AddBucket creates a bucket as info describes it, counts included,
// replacing any of that name.
func (f *Storage) AddBucket(info admin.BucketInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buckets[info.Name] = &info
}

// Puts returns the PutItem calls to existing tables, in order.
func (f *Storage) Puts() []ItemPut {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.puts)
}

// ItemDeletes returns the DeleteItem calls to existing tables, in order.
func (f *Storage) ItemDeletes() []ItemDelete {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.itemDeletes)
}

// Scans returns every ScanItems request, in order.
func (f *Storage) Scans() []admin.ScanRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.scans)
}

// BucketDeletes returns every DeleteBucket call, in order.
func (f *Storage) BucketDeletes() []BucketDelete {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.bucketDeletes)
}

// validTableName accepts 1 to 64 letters, digits, '-' and '_'.
func validTableName(name string) bool {
	return name != "" && len(name) <= maxTableName && strings.Trim(name,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

// validBucketName accepts S3's rule in short: 3 to 63 lower-case letters,
// digits, '-' and '.', starting and ending with a letter or a digit.
func validBucketName(name string) bool {
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	if len(name) < 3 || len(name) > 63 || !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return false
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") == ""
}

func (f *Storage) tableLocked(name string) (*table, error) {
	t, ok := f.tables[name]
	if !ok {
		return nil, fmt.Errorf("table %s: %w", name, admin.ErrTableNotFound)
	}
	return t, nil
}

// liveLocked returns t's item at key unless it is missing or has expired.
func (t *table) liveLocked(key string, now time.Time) (admin.Item, bool) {
	it, ok := t.items[key]
	if !ok || it.Expires != nil && !it.Expires.After(now) {
		return admin.Item{}, false
	}
	return it, true
}

func (t *table) infoLocked(now time.Time) admin.TableInfo {
	info := t.info
	info.Items, info.Bytes = 0, 0
	for k := range t.items {
		if it, ok := t.liveLocked(k, now); ok {
			info.Items++
			info.Bytes += int64(len(it.Key) + len(it.Value))
		}
	}
	return info
}

func (f *Storage) Tables(context.Context) ([]admin.TableInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	now := time.Now()
	var out []admin.TableInfo
	for _, name := range slices.Sorted(maps.Keys(f.tables)) {
		out = append(out, f.tables[name].infoLocked(now))
	}
	return out, nil
}

func (f *Storage) Table(_ context.Context, name string) (*admin.TableInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	t, err := f.tableLocked(name)
	if err != nil {
		return nil, err
	}
	info := t.infoLocked(time.Now())
	return &info, nil
}

func (f *Storage) PutTable(_ context.Context, name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	if !validTableName(name) {
		return false, fmt.Errorf("%w: table name %q: want 1 to %d letters, digits, - or _", admin.ErrInvalid, name, maxTableName)
	}
	if _, ok := f.tables[name]; ok {
		return false, nil
	}
	f.tables[name] = &table{info: admin.TableInfo{Name: name, CreatedAt: time.Now()}, items: map[string]admin.Item{}}
	return true, nil
}

func (f *Storage) DeleteTable(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, err := f.tableLocked(name); err != nil {
		return err
	}
	delete(f.tables, name)
	return nil
}

func (f *Storage) GetItem(_ context.Context, tableName, key string) (*admin.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	t, err := f.tableLocked(tableName)
	if err != nil {
		return nil, err
	}
	it, ok := t.liveLocked(key, time.Now())
	if !ok {
		return nil, fmt.Errorf("item %q of table %s: %w", key, tableName, admin.ErrItemNotFound)
	}
	return &it, nil
}

func (f *Storage) PutItem(_ context.Context, tableName, key string, req admin.PutItemRequest) (*admin.PutItemResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	t, err := f.tableLocked(tableName)
	if err != nil {
		return nil, err
	}
	f.puts = append(f.puts, ItemPut{Table: tableName, Key: key, Request: req})
	if err := admin.CheckItemKey(key); err != nil {
		return nil, fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	}
	if len(req.Value) > MaxValueBytes {
		return nil, fmt.Errorf("item %q of table %s: %w: %d bytes, the limit is %d", key, tableName, admin.ErrItemTooLarge, len(req.Value), MaxValueBytes)
	}
	now := time.Now()
	cur, exists := t.liveLocked(key, now)
	switch {
	case req.IfAbsent && exists:
		return nil, fmt.Errorf("item %q of table %s exists: %w", key, tableName, admin.ErrCondition)
	case req.IfRevision != 0 && (!exists || cur.Revision != req.IfRevision):
		return nil, fmt.Errorf("item %q of table %s is not at revision %d: %w", key, tableName, req.IfRevision, admin.ErrCondition)
	}
	t.rev++
	it := admin.Item{Key: key, Value: slices.Clone(req.Value), Revision: t.rev, Modified: now}
	if req.TTLSeconds > 0 {
		exp := now.Add(time.Duration(req.TTLSeconds) * time.Second)
		it.Expires = &exp
	}
	t.items[key] = it
	return &admin.PutItemResponse{Revision: it.Revision}, nil
}

func (f *Storage) DeleteItem(_ context.Context, tableName, key string, ifRevision uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	t, err := f.tableLocked(tableName)
	if err != nil {
		return err
	}
	f.itemDeletes = append(f.itemDeletes, ItemDelete{Table: tableName, Key: key, IfRevision: ifRevision})
	cur, exists := t.liveLocked(key, time.Now())
	switch {
	case !exists:
		return fmt.Errorf("item %q of table %s: %w", key, tableName, admin.ErrItemNotFound)
	case ifRevision != 0 && cur.Revision != ifRevision:
		return fmt.Errorf("item %q of table %s is at revision %d, not %d: %w", key, tableName, cur.Revision, ifRevision, admin.ErrCondition)
	}
	t.rev++
	delete(t.items, key)
	return nil
}

// ScanItems answers items in key order after req.StartAfter; Next is the
// last key of a full page when more items follow it.
func (f *Storage) ScanItems(_ context.Context, tableName string, req admin.ScanRequest) (*admin.ItemPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.scans = append(f.scans, req)
	t, err := f.tableLocked(tableName)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit == 0 {
		limit = admin.DefaultScanLimit
	}
	if limit < 0 || limit > admin.MaxScanLimit {
		return nil, fmt.Errorf("%w: limit %d", admin.ErrInvalid, req.Limit)
	}
	now := time.Now()
	page := &admin.ItemPage{Items: []admin.Item{}}
	for _, k := range slices.Sorted(maps.Keys(t.items)) {
		if !strings.HasPrefix(k, req.Prefix) || k <= req.StartAfter {
			continue
		}
		it, ok := t.liveLocked(k, now)
		if !ok {
			continue
		}
		if len(page.Items) == limit {
			page.Next = page.Items[limit-1].Key
			break
		}
		if req.KeysOnly {
			it.Value = nil
		}
		page.Items = append(page.Items, it)
	}
	return page, nil
}

func (f *Storage) Buckets(context.Context) ([]admin.BucketInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []admin.BucketInfo
	for _, name := range slices.Sorted(maps.Keys(f.buckets)) {
		out = append(out, *f.buckets[name])
	}
	return out, nil
}

func (f *Storage) Bucket(_ context.Context, name string) (*admin.BucketInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	b, ok := f.buckets[name]
	if !ok {
		return nil, fmt.Errorf("bucket %s: %w", name, admin.ErrBucketNotFound)
	}
	c := *b
	return &c, nil
}

func (f *Storage) PutBucket(_ context.Context, name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	if !validBucketName(name) {
		return false, fmt.Errorf("%w: bucket name %q: want 3 to 63 lower-case letters, digits, - or ., starting and ending with a letter or digit", admin.ErrInvalid, name)
	}
	if _, ok := f.buckets[name]; ok {
		return false, nil
	}
	f.buckets[name] = &admin.BucketInfo{Name: name, CreatedAt: time.Now()}
	return true, nil
}

// DeleteBucket removes a bucket that holds no objects, or with force any
// bucket (its objects with it).
func (f *Storage) DeleteBucket(_ context.Context, name string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.bucketDeletes = append(f.bucketDeletes, BucketDelete{Bucket: name, Force: force})
	b, ok := f.buckets[name]
	switch {
	case !ok:
		return fmt.Errorf("bucket %s: %w", name, admin.ErrBucketNotFound)
	case b.Objects > 0 && !force:
		return fmt.Errorf("bucket %s holds %d objects: %w", name, b.Objects, admin.ErrBucketNotEmpty)
	}
	delete(f.buckets, name)
	return nil
}

var _ admin.StorageService = (*Storage)(nil)
