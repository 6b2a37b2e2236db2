package blob

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus"
)

// Config configures a Store. The zero value is usable.
type Config struct {
	// Events receives an event after every change to an object; nil sends
	// none.
	Events EventSink
	// Replicas is the replication factor of the stores created. 0 means 1.
	Replicas int
	// Now is the clock of modification and upload times; nil is time.Now.
	Now func() time.Time
	// Logger receives what the store cannot return (a failed clean-up);
	// nil discards it.
	Logger *slog.Logger
}

// Store holds gureum's buckets. Its methods may be called concurrently, and
// several Stores (on several nodes) may share one JetStream.
type Store struct {
	js     jetstream.JetStream
	cfg    Config
	log    *slog.Logger
	index  jetstream.KeyValue // bucket records
	parts  jetstream.Stream   // unfinished multipart uploads
	events EventSink

	mu      sync.Mutex
	streams map[string]jetstream.Stream // by store name; a cache of handles
}

// bucketRecord is what the index holds of a bucket.
type bucketRecord struct {
	Store   string    `json:"store"`
	Created time.Time `json:"created"`
}

// Open opens the buckets on js, creating the store's own KV bucket and
// object store when they are missing, and drops unfinished multipart
// uploads older than seven days.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{js: js, cfg: cfg, log: log, events: cfg.Events, streams: map[string]jetstream.Stream{}}
	var err error
	s.index, err = bus.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      indexBucket,
		Description: "gureum buckets: name → object store",
		History:     1,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open buckets: %w", err)
	}
	if _, err := bus.EnsureObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket:      partsStore,
		Description: "gureum unfinished multipart uploads",
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("open buckets: %w", err)
	}
	if s.parts, err = js.Stream(ctx, streamName(partsStore)); err != nil {
		return nil, fmt.Errorf("open buckets: %w", err)
	}
	if err := s.dropExpiredUploads(ctx, ""); err != nil {
		return nil, fmt.Errorf("open buckets: %w", err)
	}
	return s, nil
}

// now is the store's clock in UTC.
func (s *Store) now() time.Time { return s.cfg.Now().UTC() }

// CreateBucket creates an empty bucket.
func (s *Store) CreateBucket(ctx context.Context, name string) error {
	if err := ValidBucketName(name); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	store := storeName(name)
	if _, err := s.index.Get(ctx, name); err == nil {
		return fmt.Errorf("create bucket %s: %w", name, ErrBucketExists)
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	// The store comes first: a store without a record (after a crash) is
	// invisible and the next create adopts it, while a record without a
	// store would name a bucket that cannot be used.
	if _, err := bus.EnsureObjectStore(ctx, s.js, jetstream.ObjectStoreConfig{
		Bucket:      store,
		Description: "gureum bucket " + name,
		Replicas:    s.cfg.Replicas,
		Metadata:    map[string]string{"gureum_bucket": name},
	}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	rec, err := json.Marshal(bucketRecord{Store: store, Created: s.now()})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	if _, err := s.index.Create(ctx, name, rec); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("create bucket %s: %w", name, ErrBucketExists)
		}
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// DeleteBucket deletes an empty bucket and the unfinished multipart uploads
// into it. A bucket holding objects gives ErrBucketNotEmpty.
//
// A put that completes while the bucket is being deleted may be lost with
// the bucket: nothing makes the check for emptiness and the removal one
// step.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	if _, err := s.record(ctx, name); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	store := storeName(name)
	st, err := s.stream(ctx, name)
	if err != nil && !errors.Is(err, ErrNoBucket) {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	if st != nil {
		empty := true
		err := scanLast(ctx, st, metaFilter(store), false, func(m jetstream.Msg) (bool, error) {
			d, err := decodeDescription(m.Data(), time.Time{})
			if err != nil || d.Deleted {
				return true, nil
			}
			empty = false
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("delete bucket %s: %w", name, s.bucketErr(name, err))
		}
		if !empty {
			return fmt.Errorf("delete bucket %s: %w", name, ErrBucketNotEmpty)
		}
	}
	if err := s.index.Purge(ctx, name); err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	if err := s.parts.Purge(ctx, jetstream.WithPurgeSubject(partsSubjectsOf(store, ""))); err != nil {
		return fmt.Errorf("delete bucket %s: abort its uploads: %w", name, err)
	}
	s.forget(store)
	if err := s.js.DeleteObjectStore(ctx, store); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	return nil
}

// Buckets lists the buckets by name.
func (s *Store) Buckets(ctx context.Context) ([]BucketInfo, error) {
	lister, err := s.index.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return []BucketInfo{}, nil
		}
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	var names []string
	for k := range lister.Keys() {
		names = append(names, k)
	}
	_ = lister.Stop() // done already; Stop only frees the subscription
	out := make([]BucketInfo, 0, len(names))
	for _, name := range names {
		info, err := s.Bucket(ctx, name)
		if errors.Is(err, ErrNoBucket) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list buckets: %w", err)
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b BucketInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Bucket describes one bucket. Objects counts the keys of the bucket's
// store (with deletions a crash left half done) and Bytes is the size of
// the store, descriptions included: both are close, not exact.
func (s *Store) Bucket(ctx context.Context, name string) (BucketInfo, error) {
	rec, err := s.record(ctx, name)
	if err != nil {
		return BucketInfo{}, err
	}
	info := BucketInfo{Name: name, CreatedAt: rec.Created}
	st, err := s.stream(ctx, name)
	if err != nil {
		return BucketInfo{}, fmt.Errorf("bucket %s: %w", name, err)
	}
	si, err := st.Info(ctx)
	if err != nil {
		return BucketInfo{}, fmt.Errorf("bucket %s: %w", name, s.bucketErr(name, err))
	}
	info.Bytes = int64(si.State.Bytes)
	n, err := countLast(ctx, st, metaFilter(rec.Store))
	if err != nil {
		return BucketInfo{}, fmt.Errorf("bucket %s: %w", name, s.bucketErr(name, err))
	}
	info.Objects = int64(n)
	return info, nil
}

// record reads a bucket's index record.
func (s *Store) record(ctx context.Context, name string) (bucketRecord, error) {
	if err := ValidBucketName(name); err != nil {
		return bucketRecord{}, fmt.Errorf("%w (%w)", ErrNoBucket, err)
	}
	e, err := s.index.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return bucketRecord{}, fmt.Errorf("bucket %s: %w", name, ErrNoBucket)
	}
	if err != nil {
		return bucketRecord{}, fmt.Errorf("bucket %s: %w", name, err)
	}
	var rec bucketRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return bucketRecord{}, fmt.Errorf("bucket %s: decode record: %w", name, err)
	}
	if rec.Store == "" {
		rec.Store = storeName(name)
	}
	return rec, nil
}

// stream returns the stream of a bucket's store. Object operations find a
// bucket by its store alone: the store exists exactly as long as the
// bucket does (but for a crash during create or delete).
func (s *Store) stream(ctx context.Context, bucket string) (jetstream.Stream, error) {
	if err := ValidBucketName(bucket); err != nil {
		return nil, fmt.Errorf("%w (%w)", ErrNoBucket, err)
	}
	store := storeName(bucket)
	s.mu.Lock()
	st, ok := s.streams[store]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.js.Stream(ctx, streamName(store))
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("bucket %s: %w", bucket, ErrNoBucket)
		}
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	s.mu.Lock()
	s.streams[store] = st
	s.mu.Unlock()
	return st, nil
}

// forget drops a cached stream handle.
func (s *Store) forget(store string) {
	s.mu.Lock()
	delete(s.streams, store)
	s.mu.Unlock()
}

// bucketErr turns the errors JetStream gives for a missing stream into
// ErrNoBucket (and forgets the stream); other errors pass unchanged.
func (s *Store) bucketErr(bucket string, err error) error {
	if err == nil || errors.Is(err, ErrNoBucket) {
		return err
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrBucketNotFound) {
		s.forget(storeName(bucket))
		return fmt.Errorf("%w (%w)", ErrNoBucket, err)
	}
	return err
}
