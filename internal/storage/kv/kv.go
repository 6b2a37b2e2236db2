package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors; match with errors.Is. Each error a Store returns wraps one of
// these with the table, key or rule it is about.
var (
	ErrNoTable  = errors.New("no such table")
	ErrNotFound = errors.New("item not found")
	ErrConflict = errors.New("condition does not hold")
	ErrInvalid  = errors.New("invalid argument")
	ErrTooLarge = errors.New("item value too large")
)

// Limits.
const (
	MaxValueBytes    = 400 << 10 // one item's value (DynamoDB's item limit)
	MaxKeyBytes      = 1024      // one item's key, UTF-8
	MaxTableNameLen  = 64
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

const (
	bucketPrefix = "gt_"                // a table's KV bucket is gt_NAME
	streamPrefix = "KV_" + bucketPrefix // and its stream KV_gt_NAME
	// markerTTL is how long a delete marker, or the marker the server leaves
	// where an item expired, stays in a table before the server drops it.
	markerTTL = time.Minute
	// valueHeadroom is what a message may carry beyond MaxValueBytes
	// (headers); the stream's message size limit is the sum.
	valueHeadroom = 4 << 10
	// conditionAttempts bounds the retries of an IfAbsent put that finds a
	// deleted or expired item in its way while other writers race it.
	conditionAttempts = 8
)

// Config configures a Store. The zero value works.
type Config struct {
	// Replicas is the number of stream replicas of a new table; 0 means 1.
	Replicas int
	// Now is the clock that stamps and checks item expiry; nil means
	// time.Now. Modified times and table creation times come from the
	// server.
	Now func() time.Time
}

// Store reads and writes the tables of one JetStream account. Its methods
// are safe for concurrent use; it holds no goroutines, so it needs no
// shutdown.
type Store struct {
	js  jetstream.JetStream
	cfg Config

	mu      sync.Mutex
	streams map[string]jetstream.Stream // by table name; a cache of handles
}

// Open returns a Store on js.
func Open(js jetstream.JetStream, cfg Config) *Store {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{js: js, cfg: cfg, streams: make(map[string]jetstream.Stream)}
}

// TableInfo describes a table. Items and Bytes come from the stream's state:
// Items counts the table's keys including recent delete markers and expired
// items the server has not removed yet, and Bytes counts stored message
// bytes (keys, headers and values), so both are approximate.
type TableInfo struct {
	Name      string
	Items     int64
	Bytes     int64
	CreatedAt time.Time
}

// ValidTableName reports, as an error wrapping ErrInvalid, why name cannot
// name a table.
func ValidTableName(name string) error {
	ok := len(name) >= 1 && len(name) <= MaxTableNameLen
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%w: table name %q: a table name has 1 to %d characters from A-Z, a-z, 0-9, '_' and '-', and starts with a letter or digit",
			ErrInvalid, name, MaxTableNameLen)
	}
	return nil
}

func bucketName(table string) string { return bucketPrefix + table }
func streamName(table string) string { return streamPrefix + table }

// subjectPrefix is the subject prefix of a table's items: the KV subject
// of an item is subjectPrefix(table) + encodeKey(key).
func subjectPrefix(table string) string { return "$KV." + bucketPrefix + table + "." }

func (s *Store) bucketConfig(table string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:         bucketName(table),
		Description:    "gureum table " + table,
		History:        1,
		MaxValueSize:   MaxValueBytes + valueHeadroom,
		Storage:        jetstream.FileStorage,
		Replicas:       s.cfg.Replicas,
		LimitMarkerTTL: markerTTL,
	}
}

// CreateTable creates the table name. It is idempotent: created is false
// when the table already existed. Two calls racing to create one table may
// both report true.
func (s *Store) CreateTable(ctx context.Context, name string) (created bool, err error) {
	if err := ValidTableName(name); err != nil {
		return false, err
	}
	st, err := s.js.Stream(ctx, streamName(name))
	if err == nil {
		s.remember(name, st)
		return false, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, fmt.Errorf("create table %s: %w", name, err)
	}
	_, err = s.js.CreateKeyValue(ctx, s.bucketConfig(name))
	switch {
	case errors.Is(err, jetstream.ErrBucketExists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("create table %s: %w", name, err)
	}
	return true, nil
}

// DeleteTable deletes the table name and all its items.
func (s *Store) DeleteTable(ctx context.Context, name string) error {
	if err := ValidTableName(name); err != nil {
		return err
	}
	s.forget(name)
	err := s.js.DeleteKeyValue(ctx, bucketName(name))
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("table %s: %w", name, ErrNoTable)
	}
	if err != nil {
		return fmt.Errorf("delete table %s: %w", name, err)
	}
	return nil
}

// Tables lists the tables, sorted by name.
func (s *Store) Tables(ctx context.Context) ([]TableInfo, error) {
	lister := s.js.ListStreams(ctx)
	tables := []TableInfo{}
	for info := range lister.Info() {
		name, ok := strings.CutPrefix(info.Config.Name, streamPrefix)
		if !ok || ValidTableName(name) != nil {
			continue
		}
		tables = append(tables, tableInfo(name, info))
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].Name < tables[j].Name })
	return tables, nil
}

// Table describes the table name.
func (s *Store) Table(ctx context.Context, name string) (TableInfo, error) {
	if err := ValidTableName(name); err != nil {
		return TableInfo{}, err
	}
	st, err := s.js.Stream(ctx, streamName(name))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s.forget(name)
		return TableInfo{}, fmt.Errorf("table %s: %w", name, ErrNoTable)
	}
	if err != nil {
		return TableInfo{}, fmt.Errorf("table %s: %w", name, err)
	}
	s.remember(name, st)
	return tableInfo(name, st.CachedInfo()), nil
}

func tableInfo(name string, info *jetstream.StreamInfo) TableInfo {
	return TableInfo{
		Name:      name,
		Items:     int64(info.State.Msgs),
		Bytes:     int64(info.State.Bytes),
		CreatedAt: info.Created,
	}
}

// stream returns a handle on the stream of table, from the cache when it
// can; ErrNoTable when the table does not exist.
func (s *Store) stream(ctx context.Context, table string) (jetstream.Stream, error) {
	if err := ValidTableName(table); err != nil {
		return nil, err
	}
	s.mu.Lock()
	st, ok := s.streams[table]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.js.Stream(ctx, streamName(table))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("table %s: %w", table, ErrNoTable)
	}
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", table, err)
	}
	s.remember(table, st)
	return st, nil
}

func (s *Store) remember(table string, st jetstream.Stream) {
	s.mu.Lock()
	s.streams[table] = st
	s.mu.Unlock()
}

func (s *Store) forget(table string) {
	s.mu.Lock()
	delete(s.streams, table)
	s.mu.Unlock()
}

// tableErr turns an error from an operation on table's stream into
// ErrNoTable when it says the stream is gone (deleted since its handle was
// cached), and wraps it with op otherwise.
func (s *Store) tableErr(table, op string, err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) {
		s.forget(table)
		return fmt.Errorf("table %s: %w", table, ErrNoTable)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// validValue checks an item value: valid JSON of at most MaxValueBytes.
func validValue(value []byte) error {
	if len(value) > MaxValueBytes {
		return fmt.Errorf("%w: value of %d bytes is over the limit of %d", ErrTooLarge, len(value), MaxValueBytes)
	}
	if !json.Valid(value) {
		return fmt.Errorf("%w: value is not valid JSON", ErrInvalid)
	}
	return nil
}
