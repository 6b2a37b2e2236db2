package bus

import (
	"context"
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
