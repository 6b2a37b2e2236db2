package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startBus(t *testing.T, cfg Config) *Bus {
	t.Helper()
	b, err := Start(testContext(t), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return b
}

// runExternalServer starts a separate JetStream server on a random port, as
// an external NATS would be.
func runExternalServer(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatalf("external server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("external server not ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

func putGet(t *testing.T, b *Bus, key, value string) {
	t.Helper()
	ctx := testContext(t)
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, key, value); err != nil {
		t.Fatalf("put: %v", err)
	}
	e, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got := string(e.Value()); got != value {
		t.Fatalf("get %s = %q, want %q", key, got, value)
	}
}

func TestEmbeddedKeyValue(t *testing.T) {
	b := startBus(t, Config{DataDir: t.TempDir(), Name: "n1"})
	if !b.Embedded() || b.Replicas() != 1 {
		t.Fatalf("Embedded=%v Replicas=%d, want true 1", b.Embedded(), b.Replicas())
	}
	if b.ClientURL() != "" {
		t.Errorf("ClientURL without Listen = %q, want empty", b.ClientURL())
	}
	putGet(t, b, "greeting", "hello")
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)
	b, err := Start(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	putGet(t, b, "k", "v1")
	obs, err := b.ObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "blobs"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutString(ctx, "o", "object"); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	b = startBus(t, Config{DataDir: dir})
	kv, err := b.JetStream().KeyValue(ctx, "test")
	if err != nil {
		t.Fatalf("bucket after restart: %v", err)
	}
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v1" {
		t.Fatalf("k after restart = %v, %v; want v1", e, err)
	}
	obs, err = b.JetStream().ObjectStore(ctx, "blobs")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := obs.GetString(ctx, "o"); err != nil || s != "object" {
		t.Fatalf("object after restart = %q, %v", s, err)
	}
}

func TestEnsureIdempotent(t *testing.T) {
	b := startBus(t, Config{DataDir: t.TempDir()})
	ctx := testContext(t)
	cfg := jetstream.KeyValueConfig{Bucket: "twice", History: 3}
	kv, err := b.KeyValue(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	kv, err = b.KeyValue(ctx, cfg)
	if err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	if e, err := kv.Get(ctx, "a"); err != nil || string(e.Value()) != "1" {
		t.Fatalf("value after second ensure = %v, %v", e, err)
	}
	// A changed config is applied to the existing bucket.
	cfg.History = 5
	kv, err = b.KeyValue(ctx, cfg)
	if err != nil {
		t.Fatalf("update ensure: %v", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != 5 {
		t.Errorf("history = %d, want 5", st.History())
	}
	ocfg := jetstream.ObjectStoreConfig{Bucket: "objs"}
	for i := 0; i < 2; i++ {
		if _, err := b.ObjectStore(ctx, ocfg); err != nil {
			t.Fatalf("object store ensure %d: %v", i, err)
		}
	}
}

func TestExternal(t *testing.T) {
	srv := runExternalServer(t)
	b := startBus(t, Config{URL: srv.ClientURL(), Name: "node-a"})
	if b.Embedded() {
		t.Fatal("Embedded with URL")
	}
	putGet(t, b, "shared", "yes")

	// A second node on the same server sees the first one's data.
	b2 := startBus(t, Config{URL: srv.ClientURL(), Name: "node-b"})
	ctx := testContext(t)
	kv, err := b2.JetStream().KeyValue(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "shared"); err != nil || string(e.Value()) != "yes" {
		t.Fatalf("second node get = %v, %v", e, err)
	}
}

func TestExternalWithoutJetStream(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := Start(ctx, Config{URL: srv.ClientURL()})
	if err == nil {
		_ = b.Shutdown(ctx)
		t.Fatal("Start against a server without JetStream succeeded")
	}
}

func TestListenAcceptsClients(t *testing.T) {
	b := startBus(t, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Name: "listener"})
	url := b.ClientURL()
	if url == "" {
		t.Fatal("ClientURL empty with Listen")
	}
	putGet(t, b, "seen", "by-others")

	// A plain NATS client.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("plain client: %v", err)
	}
	defer nc.Close()
	sub, err := b.Conn().SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ping", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("message from plain client: %v", err)
	}

	// A second node joining through the listener.
	b2 := startBus(t, Config{URL: url, Name: "joiner"})
	ctx := testContext(t)
	kv, err := b2.JetStream().KeyValue(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "seen"); err != nil || string(e.Value()) != "by-others" {
		t.Fatalf("joiner get = %v, %v", e, err)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	ctx := testContext(t)
	b, err := Start(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown %d: %v", i, err)
		}
	}
	if !b.Conn().IsClosed() {
		t.Error("connection open after Shutdown")
	}
}

func TestInvalidConfig(t *testing.T) {
	ctx := testContext(t)
	for name, cfg := range map[string]Config{
		"no data dir":       {},
		"replicas embedded": {DataDir: t.TempDir(), Replicas: 3},
		"bad listen":        {DataDir: t.TempDir(), Listen: "nope"},
		"listen with url":   {URL: "nats://127.0.0.1:1", Listen: "127.0.0.1:0"},
		"negative replicas": {DataDir: t.TempDir(), Replicas: -1},
	} {
		if b, err := Start(ctx, cfg); !errors.Is(err, ErrInvalidConfig) {
			if b != nil {
				_ = b.Shutdown(ctx)
			}
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// TestStartupTime reports how long an embedded start takes; it asserts nothing.
func TestStartupTime(t *testing.T) {
	dir := t.TempDir()
	for i, label := range []string{"fresh data dir", "existing data dir"} {
		ctx := testContext(t)
		start := time.Now()
		b, err := Start(ctx, Config{DataDir: dir})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		stop := time.Now()
		if err := b.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d (%s): bus.Start %v, Shutdown %v", i+1, label, took, time.Since(stop))
	}
}

func BenchmarkStartEmbedded(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	for b.Loop() {
		bs, err := Start(ctx, Config{DataDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := bs.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
