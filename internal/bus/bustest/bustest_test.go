package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestRestartKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	b1 := StartIn(t, dir)
	kv, err := b1.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	b2 := StartIn(t, dir)
	kv, err = b2.JetStream().KeyValue(ctx, "keep")
	if err != nil {
		t.Fatalf("bucket after restart: %v", err)
	}
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("Get after restart = %v, %v", e, err)
	}
}

func TestStartIsolated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := Start(t), Start(t)
	if _, err := a.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: "only_a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JetStream().KeyValue(ctx, "only_a"); err == nil {
		t.Fatal("a bucket made on one bus is seen on another")
	}
}
