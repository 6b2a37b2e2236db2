package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureKeyValue creates the KV bucket described by cfg, or updates an
// existing one to cfg; calling it again with the same cfg changes nothing.
// Replicas 0 means 1.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure kv bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// EnsureObjectStore creates the object store described by cfg, or updates an
// existing one to cfg; calling it again with the same cfg changes nothing.
// Replicas 0 means 1.
func EnsureObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure object store %s: %w", cfg.Bucket, err)
	}
	return obs, nil
}

// Scan returns the current entries of kv under a key filter in one pass
// (one ordered consumer) rather than one request per key. Deleted keys are
// left out; opts may add jetstream.MetaOnly.
func Scan(ctx context.Context, kv jetstream.KeyValue, filter string, opts ...jetstream.WatchOpt) ([]jetstream.KeyValueEntry, error) {
	// The watcher's subscription lives until its context ends, so give it
	// one that ends with this call.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := kv.Watch(ctx, filter, append(opts, jetstream.IgnoreDeletes())...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var entries []jetstream.KeyValueEntry
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				return nil, errors.New("watch closed before all entries arrived")
			}
			if e == nil {
				return entries, nil
			}
			entries = append(entries, e)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Keys lists the current keys of kv under a key filter.
func Keys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	entries, err := Scan(ctx, kv, filter, jetstream.MetaOnly())
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key()
	}
	return keys, nil
}
