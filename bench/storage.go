package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/cli"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/server"
	"github.com/gureum/gureum/internal/storage/kv"
)

// Rows 13 to 16 measure storage: buckets through the S3-compatible API
// against the JetStream object store they are built on, and tables used
// from a function against the table store called from Go.

const (
	// s3Clients is the number of concurrent clients of the small-object
	// rows, each one request at a time.
	s3Clients = 16
	// s3LargeClients is the number of concurrent clients of the
	// large-object rows.
	s3LargeClients = 4
	smallObject    = 1 << 10
	largeObject    = 16 << 20
	// smallKeys is the number of objects the small reads cycle through.
	smallKeys = 1000
	// s3Bucket is the bucket (and the baseline's object store) the rows
	// use.
	s3Bucket = "bench"
	// kvFunction is the function of the table row, relative to the module
	// root.
	kvFunction = "bench/testdata/kvfn"
	// kvCallers is the number of goroutines invoking it.
	kvCallers = 16
	// kvKeys is the number of items the table row reads and writes.
	kvKeys = 1000
)

// side is one contender of an alternating comparison: op does one unit of
// work from one goroutine and reports how many units it did.
type side struct {
	name string
	op   func(context.Context) (int, error)
}

// alternateRates warms each side up for warm, then runs rounds rounds in
// which every side runs from n goroutines for d; the order of the sides is
// reversed every round, so drift in the machine's speed falls on all alike.
// It returns the units per second of each side over all its rounds.
func alternateRates(ctx context.Context, e *env, n, rounds int, warm, d time.Duration, sides ...side) ([]float64, error) {
	if warm > 0 {
		for _, s := range sides {
			k, took, err := runSenders(ctx, n, warm, s.op)
			if err != nil {
				return nil, fmt.Errorf("%s: warm-up: %w", s.name, err)
			}
			e.logf("%-22s warm-up: %d in %s", s.name, k, took.Round(time.Millisecond))
		}
	}
	counts := make([]int64, len(sides))
	times := make([]time.Duration, len(sides))
	for r := range rounds {
		for j := range sides {
			i := j
			if r%2 == 1 {
				i = len(sides) - 1 - j
			}
			s := sides[i]
			k, took, err := runSenders(ctx, n, d, s.op)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			e.logf("round %d: %-22s %d in %s: %.0f/s", r+1, s.name, k, took.Round(time.Millisecond), float64(k)/took.Seconds())
			counts[i] += k
			times[i] += took
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	rates := make([]float64, len(sides))
	for i := range sides {
		rates[i] = float64(counts[i]) / times[i].Seconds()
	}
	return rates, nil
}

// roundLength is the length of one round of a side when each side gets
// -duration in two rounds.
func (e *env) roundLength() time.Duration {
	return max(e.opts.duration/2, 500*time.Millisecond)
}

// storageNode is a node serving the S3 API whose embedded NATS also
// listens on loopback, so that the baselines reach the very server behind
// the buckets, as any NATS client would.
type storageNode struct {
	*eventNode
	nc *nats.Conn
	js jetstream.JetStream
}

func startStorageNode(ctx context.Context, e *env, name string) (*storageNode, error) {
	cfg := config.Default()
	cfg.S3Listen = "127.0.0.1:0"
	cfg.Listen = "127.0.0.1:0"
	cfg.NATSListen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(e.work, name)
	cfg.Env = os.Environ()
	cfg.IdleTimeout = time.Hour
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, server.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := srv.Start(sctx); err != nil {
		return nil, err
	}
	n := &storageNode{eventNode: &eventNode{srv: srv, dir: filepath.Join(e.root, "bench", "testdata", "project-"+name)}}
	if n.nc, err = nats.Connect(srv.NATSURL(), nats.Name("bench-baseline")); err != nil {
		n.stop()
		return nil, fmt.Errorf("connect to the node's NATS: %w", err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		n.stop()
		return nil, err
	}
	e.logf("node: S3 API on %s, NATS on %s", srv.S3Addr(), srv.NATSURL())
	return n, nil
}

func (n *storageNode) stop() {
	if n.nc != nil {
		n.nc.Close()
	}
	n.eventNode.stop()
}

// s3Client is the AWS SDK's S3 client as docs/storage.md configures it
// (path-style, static credentials, which the embedded default accepts),
// with a connection pool large enough for conns concurrent requests.
func (n *storageNode) s3Client(conns int) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + n.srv.S3Addr()),
		Region:       config.Default().Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench-secret", ""),
		HTTPClient:   newClient(conns),
	})
}

// setUpBuckets makes the bucket through the S3 API and the baseline's
// object store on the same server.
func (n *storageNode) setUpBuckets(ctx context.Context, c *s3.Client) (jetstream.ObjectStore, error) {
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s3Bucket)}); err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	obs, err := bus.EnsureObjectStore(ctx, n.js, jetstream.ObjectStoreConfig{Bucket: "bench_raw", Description: "bench baseline"})
	if err != nil {
		return nil, fmt.Errorf("create the baseline's object store: %w", err)
	}
	return obs, nil
}

// randomBytes returns n random bytes: nothing on either path compresses,
// but the figures should not depend on it.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// keyPool hands out keys so that no two goroutines write one key at once
// (racing writers of one key would leave the object store's replaced
// chunks behind).
func keyPool(prefix string, n int) chan string {
	ch := make(chan string, n)
	for i := range n {
		ch <- fmt.Sprintf("%s-%d", prefix, i)
	}
	return ch
}

func withKey(pool chan string, f func(key string) error) error {
	key := <-pool
	defer func() { pool <- key }()
	return f(key)
}

func s3Put(c *s3.Client, key string, body []byte) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s3Bucket), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		})
		return err
	}
}

func rawPut(obs jetstream.ObjectStore, key string, body []byte) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := obs.Put(ctx, jetstream.ObjectMeta{Name: key}, bytes.NewReader(body))
		return err
	}
}

// s3Get reads key through the S3 API into w and checks its size.
func s3Get(ctx context.Context, c *s3.Client, key string, w io.Writer, size int64) error {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	got, err := io.Copy(w, out.Body)
	if err != nil {
		return err
	}
	if got != size {
		return fmt.Errorf("get %s: %d bytes, want %d", key, got, size)
	}
	return nil
}

// rawGet reads key from the object store into w (which checks its digest
// at the end) and checks its size.
func rawGet(ctx context.Context, obs jetstream.ObjectStore, key string, w io.Writer, size int64) error {
	r, err := obs.Get(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	got, err := io.Copy(w, r)
	if err != nil {
		return err
	}
	if got != size {
		return fmt.Errorf("get %s: %d bytes, want %d", key, got, size)
	}
	return nil
}

func fmtObjs(v float64) string { return fmt.Sprintf("%.0f obj/s", v) }

func fmtMBs(bytesPerSec float64) string { return fmt.Sprintf("%.0f MB/s", bytesPerSec/1e6) }

// benchS3Put measures PutObject of 1 KiB objects through the S3 API beside
// ObjectStore.Put of the same bytes on the same server, each put a new key.
func benchS3Put(ctx context.Context, e *env) ([]row, error) {
	n, err := startStorageNode(ctx, e, "s3-put")
	if err != nil {
		return nil, err
	}
	defer n.stop()
	c := n.s3Client(s3Clients)
	obs, err := n.setUpBuckets(ctx, c)
	if err != nil {
		return nil, err
	}
	body := randomBytes(smallObject)
	var seq atomic.Int64
	rates, err := alternateRates(ctx, e, s3Clients, 2, e.opts.warmup/2, e.roundLength(),
		side{"ObjectStore.Put", func(ctx context.Context) (int, error) {
			return 1, rawPut(obs, fmt.Sprintf("o/%d", seq.Add(1)), body)(ctx)
		}},
		side{"S3 PutObject", func(ctx context.Context) (int, error) {
			return 1, s3Put(c, fmt.Sprintf("o/%d", seq.Add(1)), body)(ctx)
		}},
	)
	if err != nil {
		return nil, err
	}
	b, g := rates[0], rates[1]
	return []row{{
		Name:   fmt.Sprintf("13. PutObject 1 KiB, %d clients: S3 API (aws-sdk-go-v2) vs ObjectStore.Put on the same server", s3Clients),
		Gureum: fmtObjs(g), Baseline: fmtObjs(b), Ratio: fmtRatio(g, b), Target: "—", Met: "—",
	}}, nil
}

// benchS3Get measures GetObject of 1 KiB objects through the S3 API beside
// ObjectStore.Get of the same objects on the same server, cycling through
// smallKeys keys.
func benchS3Get(ctx context.Context, e *env) ([]row, error) {
	n, err := startStorageNode(ctx, e, "s3-get")
	if err != nil {
		return nil, err
	}
	defer n.stop()
	c := n.s3Client(s3Clients)
	obs, err := n.setUpBuckets(ctx, c)
	if err != nil {
		return nil, err
	}
	body := randomBytes(smallObject)
	key := func(i int64) string { return fmt.Sprintf("o/%d", i%smallKeys) }
	e.logf("storing %d objects of 1 KiB on each side", smallKeys)
	var next atomic.Int64
	if _, _, err := runCount(ctx, s3Clients, smallKeys, func(ctx context.Context) error {
		k := key(next.Add(1))
		if err := s3Put(c, k, body)(ctx); err != nil {
			return err
		}
		return rawPut(obs, k, body)(ctx)
	}); err != nil {
		return nil, err
	}
	var seq atomic.Int64
	rates, err := alternateRates(ctx, e, s3Clients, 2, e.opts.warmup/2, e.roundLength(),
		side{"ObjectStore.Get", func(ctx context.Context) (int, error) {
			var buf bytes.Buffer
			return 1, rawGet(ctx, obs, key(seq.Add(1)), &buf, smallObject)
		}},
		side{"S3 GetObject", func(ctx context.Context) (int, error) {
			var buf bytes.Buffer
			return 1, s3Get(ctx, c, key(seq.Add(1)), &buf, smallObject)
		}},
	)
	if err != nil {
		return nil, err
	}
	b, g := rates[0], rates[1]
	return []row{{
		Name:   fmt.Sprintf("14. GetObject 1 KiB, %d clients: S3 API (aws-sdk-go-v2) vs ObjectStore.Get + read all on the same server", s3Clients),
		Gureum: fmtObjs(g), Baseline: fmtObjs(b), Ratio: fmtRatio(g, b), Target: "—", Met: "—",
	}}, nil
}

// benchS3Large measures PutObject and GetObject of 16 MiB objects through
// the S3 API beside ObjectStore Put and Get of the same bytes on the same
// server. Puts overwrite one key per client, so the store stays the size
// of a few objects; every body streams from one shared buffer.
func benchS3Large(ctx context.Context, e *env) ([]row, error) {
	n, err := startStorageNode(ctx, e, "s3-large")
	if err != nil {
		return nil, err
	}
	defer n.stop()
	c := n.s3Client(s3LargeClients)
	obs, err := n.setUpBuckets(ctx, c)
	if err != nil {
		return nil, err
	}
	body := randomBytes(largeObject)
	putKeys := keyPool("big", s3LargeClients)
	rates, err := alternateRates(ctx, e, s3LargeClients, 2, e.opts.warmup/2, e.roundLength(),
		side{"ObjectStore.Put 16 MiB", func(ctx context.Context) (int, error) {
			return largeObject, withKey(putKeys, func(k string) error { return rawPut(obs, k, body)(ctx) })
		}},
		side{"S3 PutObject 16 MiB", func(ctx context.Context) (int, error) {
			return largeObject, withKey(putKeys, func(k string) error { return s3Put(c, k, body)(ctx) })
		}},
	)
	if err != nil {
		return nil, err
	}
	pb, pg := rates[0], rates[1]

	// Reads cycle through the objects the puts left, one per client.
	var seq atomic.Int64
	key := func() string { return fmt.Sprintf("big-%d", seq.Add(1)%s3LargeClients) }
	rates, err = alternateRates(ctx, e, s3LargeClients, 2, e.opts.warmup/2, e.roundLength(),
		side{"ObjectStore.Get 16 MiB", func(ctx context.Context) (int, error) {
			return largeObject, rawGet(ctx, obs, key(), io.Discard, largeObject)
		}},
		side{"S3 GetObject 16 MiB", func(ctx context.Context) (int, error) {
			return largeObject, s3Get(ctx, c, key(), io.Discard, largeObject)
		}},
	)
	if err != nil {
		return nil, err
	}
	gb, gg := rates[0], rates[1]
	return []row{
		{Name: fmt.Sprintf("15. PutObject 16 MiB, %d clients, streamed: S3 API vs ObjectStore.Put on the same server", s3LargeClients), Gureum: fmtMBs(pg), Baseline: fmtMBs(pb), Ratio: fmtRatio(pg, pb), Target: "—", Met: "—"},
		{Name: fmt.Sprintf("15. GetObject 16 MiB, %d clients, streamed: S3 API vs ObjectStore.Get on the same server", s3LargeClients), Gureum: fmtMBs(gg), Baseline: fmtMBs(gb), Ratio: fmtRatio(gg, gb), Target: "—", Met: "—"},
	}, nil
}

// benchTableFunction measures table operations made by a wasm function
// through host calls, invoked through the node's invoker, beside the same
// operations made with kv.Store from Go on a separate embedded bus (an
// in-process connection, as the node's own), and beside invocations of the
// same function that make no host call.
func benchTableFunction(ctx context.Context, e *env) ([]row, error) {
	n, err := startStorageNode(ctx, e, "table-fn")
	if err != nil {
		return nil, err
	}
	defer n.stop()
	manifest := `app: bench
functions:
  kv:
    build: FN
    permissions: {tables: [bench:rw]}
tables:
  bench: {}
`
	t0 := time.Now()
	if err := deployFunction(ctx, e, n.eventNode, kvFunction, manifest); err != nil {
		return nil, err
	}
	e.logf("built and deployed %s in %s", kvFunction, time.Since(t0).Round(time.Millisecond))

	b, err := bus.Start(ctx, bus.Config{DataDir: filepath.Join(e.work, "table-direct")})
	if err != nil {
		return nil, err
	}
	defer b.Shutdown(context.Background()) //nolint:errcheck // scratch data
	store := kv.Open(b.JetStream(), kv.Config{})
	if _, err := store.CreateTable(ctx, "bench"); err != nil {
		return nil, err
	}

	// Both tables start with the same kvKeys items; the events and keys are
	// made before the clock runs.
	value := []byte(kvValue)
	keys := make([]string, kvKeys)
	getEvents, putEvents := make([][]byte, kvKeys), make([][]byte, kvKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("item-%d", i)
		getEvents[i] = fmt.Appendf(nil, `{"op":"get","key":%q}`, keys[i])
		putEvents[i] = fmt.Appendf(nil, `{"op":"put","key":%q}`, keys[i])
	}
	noop := []byte(`{"op":"noop"}`)
	invokeFn := func(ctx context.Context, payload []byte) error {
		res, err := n.srv.Invoke(ctx, &invoke.Request{Function: "kv", Payload: payload, Trigger: "direct"})
		if err == nil && res.FunctionError {
			err = fmt.Errorf("function error: %s", res.Payload)
		}
		return err
	}
	// The node applies a deploy as it watches the registry: wait for the
	// function to answer.
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := invokeFn(ctx, putEvents[0])
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("the function never answered: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var fill atomic.Int64
	if _, _, err := runCount(ctx, kvCallers, kvKeys, func(ctx context.Context) error {
		i := int(fill.Add(1)-1) % kvKeys
		if err := invokeFn(ctx, putEvents[i]); err != nil {
			return err
		}
		_, err := store.Put(ctx, "bench", keys[i], value, kv.PutOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	// The function's reads must find what it wrote.
	res, err := n.srv.Invoke(ctx, &invoke.Request{Function: "kv", Payload: getEvents[kvKeys-1], Trigger: "direct"})
	if err != nil {
		return nil, err
	}
	var got struct {
		Revision uint64 `json:"revision"`
	}
	if res.FunctionError || json.Unmarshal(res.Payload, &got) != nil || got.Revision == 0 {
		return nil, fmt.Errorf("the function's get of %s answered %s, not the item's revision", keys[kvKeys-1], res.Payload)
	}

	var seq atomic.Int64
	next := func() int { return int(seq.Add(1) % kvKeys) }
	rates, err := alternateRates(ctx, e, kvCallers, 2, e.opts.warmup/2, e.roundLength(),
		side{"kv.Store.Get", func(ctx context.Context) (int, error) {
			_, err := store.Get(ctx, "bench", keys[next()])
			return 1, err
		}},
		side{"function table get", func(ctx context.Context) (int, error) {
			return 1, invokeFn(ctx, getEvents[next()])
		}},
		side{"function noop", func(ctx context.Context) (int, error) {
			return 1, invokeFn(ctx, noop)
		}},
		side{"function table put", func(ctx context.Context) (int, error) {
			return 1, invokeFn(ctx, putEvents[next()])
		}},
		side{"kv.Store.Put", func(ctx context.Context) (int, error) {
			_, err := store.Put(ctx, "bench", keys[next()], value, kv.PutOptions{})
			return 1, err
		}},
	)
	if err != nil {
		return nil, err
	}
	directGet, fnGet, fnNoop, fnPut, directPut := rates[0], rates[1], rates[2], rates[3], rates[4]
	return []row{
		{Name: fmt.Sprintf("16. table get from a wasm function, %d callers of Invoke: invocations/s vs kv.Store.Get/s from Go", kvCallers), Gureum: fmtOps(fnGet), Baseline: fmtOps(directGet), Ratio: fmtRatio(fnGet, directGet), Target: "—", Met: "—"},
		{Name: fmt.Sprintf("16. table put (77 B JSON) from a wasm function, %d callers: vs kv.Store.Put/s from Go", kvCallers), Gureum: fmtOps(fnPut), Baseline: fmtOps(directPut), Ratio: fmtRatio(fnPut, directPut), Target: "—", Met: "—"},
		{Name: fmt.Sprintf("16. table get from a wasm function, %d callers: vs invocations of the same function making no host call", kvCallers), Gureum: fmtOps(fnGet), Baseline: fmtOps(fnNoop), Ratio: fmtRatio(fnGet, fnNoop), Target: "—", Met: "—"},
	}, nil
}

func fmtOps(v float64) string { return fmt.Sprintf("%.0f ops/s", v) }

// kvValue is the value the table function writes (bench/testdata/kvfn), so
// that both tables hold the same bytes.
const kvValue = `{"id":"item","count":42,"tags":["bench","table"],"note":"a small JSON value"}`

// deployFunction writes manifest, with FN standing for the function in
// fnDir (relative to the module root), into the node's project directory
// (which the node's stop removes) and deploys it with the CLI.
func deployFunction(ctx context.Context, e *env, n *eventNode, fnDir, manifest string) error {
	rel, err := filepath.Rel(n.dir, filepath.Join(e.root, fnDir))
	if err != nil {
		return err
	}
	body := strings.ReplaceAll(manifest, "FN", filepath.ToSlash(rel))
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.dir, "gureum.yaml"), []byte(body), 0o644); err != nil {
		return err
	}
	var out bytes.Buffer
	dctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	code := cli.Run(dctx, []string{"deploy", n.dir}, cli.IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
		Env: append(os.Environ(), "GUREUM_URL=http://"+n.srv.AdminAddr(), "GUREUM_TOKEN="+n.srv.Token()),
	})
	if code != 0 {
		return fmt.Errorf("deploy: exit %d\n%s", code, out.String())
	}
	return nil
}
