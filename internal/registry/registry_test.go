package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus"
)

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startBus(t testing.TB, cfg bus.Config) *bus.Bus {
	t.Helper()
	b, err := bus.Start(testContext(t), cfg)
	if err != nil {
		t.Fatalf("bus.Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	return b
}

func open(t testing.TB, b *bus.Bus, cacheDir string) *Registry {
	t.Helper()
	r, err := Open(testContext(t), b.JetStream(), Config{CacheDir: cacheDir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

// newRegistry is one node: an embedded server and a registry on it.
func newRegistry(t testing.TB) *Registry {
	t.Helper()
	return open(t, startBus(t, bus.Config{DataDir: t.TempDir()}), t.TempDir())
}

func putArtifact(t testing.TB, r *Registry, content string) (string, int64) {
	t.Helper()
	hash, size, err := r.PutArtifact(testContext(t), bytes.NewReader([]byte(content)))
	if err != nil {
		t.Fatalf("PutArtifact: %v", err)
	}
	return hash, size
}

func config(name, hash string) FunctionConfig {
	return FunctionConfig{
		Name:         name,
		Runtime:      RuntimeWasm,
		ArtifactHash: hash,
		MemoryMiB:    128,
		Timeout:      Duration(10 * time.Second),
		Env:          map[string]string{"TABLE": "orders"},
		Routes:       []Route{{Method: "GET", Path: "/orders/{id}"}},
	}
}

func deploy(t testing.TB, r *Registry, cfg FunctionConfig) (*Version, bool) {
	t.Helper()
	v, changed, err := r.Deploy(testContext(t), cfg)
	if err != nil {
		t.Fatalf("Deploy %s: %v", cfg.Name, err)
	}
	return v, changed
}

func mustGet(t testing.TB, r *Registry, name, qualifier string) *Version {
	t.Helper()
	v, err := r.Get(testContext(t), name, qualifier)
	if err != nil {
		t.Fatalf("Get %s:%s: %v", name, qualifier, err)
	}
	return v
}

func TestDeployAndGet(t *testing.T) {
	r := newRegistry(t)
	ctx := testContext(t)
	hash, size := putArtifact(t, r, "module v1")

	cfg1 := config("orders", hash)
	v1, changed := deploy(t, r, cfg1)
	if !changed || v1.Number != 1 || v1.VersionString() != "1" {
		t.Fatalf("first deploy = version %d changed %v, want 1 true", v1.Number, changed)
	}
	if v1.Config.ArtifactSize != size {
		t.Errorf("ArtifactSize = %d, want %d filled in from the store", v1.Config.ArtifactSize, size)
	}

	// The same configuration again (a fresh but equal env map) changes nothing.
	same := config("orders", hash)
	v, changed := deploy(t, r, same)
	if changed || v.Number != 1 {
		t.Fatalf("identical deploy = version %d changed %v, want 1 false", v.Number, changed)
	}
	// An empty env map equals no env map.
	noEnv := config("plain", hash)
	noEnv.Env = nil
	deploy(t, r, noEnv)
	noEnv.Env = map[string]string{}
	if _, changed := deploy(t, r, noEnv); changed {
		t.Error("empty env map after nil env created a version")
	}

	cfg2 := config("orders", hash)
	cfg2.Env["TABLE"] = "orders-v2"
	v2, changed := deploy(t, r, cfg2)
	if !changed || v2.Number != 2 {
		t.Fatalf("changed deploy = version %d changed %v, want 2 true", v2.Number, changed)
	}

	// Mutating the caller's config after deploying does not reach the store.
	cfg1.Env["TABLE"] = "mutated"

	got1 := mustGet(t, r, "orders", "1")
	if got1.Config.Env["TABLE"] != "orders" || got1.Number != 1 || !got1.CreatedAt.Equal(v1.CreatedAt) {
		t.Errorf("version 1 = %+v, want it unchanged", got1)
	}
	for _, q := range []string{"", LatestQualifier, "2"} {
		if v := mustGet(t, r, "orders", q); v.Number != 2 || v.Config.Env["TABLE"] != "orders-v2" {
			t.Errorf("Get %q = version %d %v, want 2", q, v.Number, v.Config.Env)
		}
	}
	if err := r.SetAlias(ctx, "orders", "live", 1); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, r, "orders", "live"); v.Number != 1 {
		t.Errorf("alias live = %d, want 1", v.Number)
	}
	if err := r.SetAlias(ctx, "orders", "live", 2); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, r, "orders", "live"); v.Number != 2 {
		t.Errorf("moved alias live = %d, want 2", v.Number)
	}

	for _, tc := range []struct{ name, q string }{
		{"nothing", ""},
		{"orders", "3"},
		{"orders", "0"},
		{"orders", "99999999999999999999999"},
		{"orders", "canary"},
	} {
		if _, err := r.Get(ctx, tc.name, tc.q); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get %s:%s err = %v, want ErrNotFound", tc.name, tc.q, err)
		}
	}
	if err := r.SetAlias(ctx, "orders", "future", 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("alias to missing version: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "12", LatestQualifier, "a.b"} {
		if err := r.SetAlias(ctx, "orders", bad, 1); !errors.Is(err, ErrInvalid) {
			t.Errorf("alias %q: %v, want ErrInvalid", bad, err)
		}
	}
	if err := r.DeleteAlias(ctx, "orders", "live"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "orders", "live"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted alias: %v, want ErrNotFound", err)
	}
	if err := r.DeleteAlias(ctx, "orders", "live"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a missing alias: %v, want ErrNotFound", err)
	}

	vs, err := r.Versions(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Number != 1 || vs[1].Number != 2 || vs[0].Config.Env["TABLE"] != "orders" {
		t.Errorf("Versions = %+v, want 1 and 2", vs)
	}

	fns, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 2 || fns[0].Name != "orders" || fns[0].Latest != 2 || fns[1].Name != "plain" {
		t.Errorf("List = %+v", fns)
	}
	latest, err := r.LatestAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 || latest[0].Config.Name != "orders" || latest[0].Number != 2 || latest[1].Number != 1 {
		t.Errorf("LatestAll = %+v", latest)
	}
}

func TestDeployValidation(t *testing.T) {
	r := newRegistry(t)
	ctx := testContext(t)
	hash, size := putArtifact(t, r, "m")
	missing := hex.EncodeToString(make([]byte, 32))
	for name, tc := range map[string]struct {
		mutate func(*FunctionConfig)
		want   error
	}{
		"empty name":      {func(c *FunctionConfig) { c.Name = "" }, ErrInvalid},
		"dotted name":     {func(c *FunctionConfig) { c.Name = "a.b" }, ErrInvalid},
		"long name":       {func(c *FunctionConfig) { c.Name = string(bytes.Repeat([]byte("a"), 65)) }, ErrInvalid},
		"runtime":         {func(c *FunctionConfig) { c.Runtime = "jvm" }, ErrInvalid},
		"no runtime":      {func(c *FunctionConfig) { c.Runtime = "" }, ErrInvalid},
		"bad hash":        {func(c *FunctionConfig) { c.ArtifactHash = "../etc/passwd" }, ErrInvalid},
		"missing object":  {func(c *FunctionConfig) { c.ArtifactHash = missing }, ErrNotFound},
		"wrong size":      {func(c *FunctionConfig) { c.ArtifactSize = size + 1 }, ErrInvalid},
		"negative memory": {func(c *FunctionConfig) { c.MemoryMiB = -1 }, ErrInvalid},
		"warm-up without snapshot": {func(c *FunctionConfig) {
			c.SnapshotWarmup = json.RawMessage(`{"path":"/"}`)
		}, ErrInvalid},
		"warm-up not JSON": {func(c *FunctionConfig) {
			c.Snapshot, c.SnapshotWarmup = true, json.RawMessage(`{"path":`)
		}, ErrInvalid},
		"warm-up too large": {func(c *FunctionConfig) {
			c.Snapshot, c.SnapshotWarmup = true, json.RawMessage(`"`+strings.Repeat("x", MaxSnapshotWarmup-1)+`"`)
		}, ErrInvalid},
	} {
		cfg := config("fn", hash)
		tc.mutate(&cfg)
		if _, _, err := r.Deploy(ctx, cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	if fns, err := r.List(ctx); err != nil || len(fns) != 0 {
		t.Errorf("List after failed deploys = %v, %v; want none", fns, err)
	}
	if _, err := r.Get(ctx, "no.such", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get with invalid name: %v, want ErrInvalid", err)
	}
}

// TestSnapshotWarmup stores a warm-up event compacted, keeps it through a
// reload of the version, and takes the largest one allowed, counted once
// compacted.
func TestSnapshotWarmup(t *testing.T) {
	r := newRegistry(t)
	hash, _ := putArtifact(t, r, "m")
	cfg := config("warm", hash)
	cfg.Snapshot = true
	cfg.SnapshotWarmup = json.RawMessage(`{ "path": "/orders",  "items": [1, 2] }`)
	v, _ := deploy(t, r, cfg)
	if got := string(v.Config.SnapshotWarmup); got != `{"path":"/orders","items":[1,2]}` {
		t.Errorf("stored warm-up = %s, want it compacted", got)
	}
	if got := string(mustGet(t, r, "warm", "1").Config.SnapshotWarmup); got != `{"path":"/orders","items":[1,2]}` {
		t.Errorf("warm-up read back = %s", got)
	}
	// The same event written differently is the same configuration.
	cfg.SnapshotWarmup = json.RawMessage(`{"path":"/orders","items":[1,2]}`)
	if _, changed := deploy(t, r, cfg); changed {
		t.Error("redeploying the same warm-up made a new version")
	}
	// A new event is a new version.
	cfg.SnapshotWarmup = json.RawMessage(`"ping"`)
	if v, changed := deploy(t, r, cfg); !changed || v.Number != 2 {
		t.Errorf("new warm-up: version %d, changed %v; want 2, true", v.Number, changed)
	}

	// At the limit once compacted, though longer as sent.
	largest := `"` + strings.Repeat("x", MaxSnapshotWarmup-2) + `"`
	cfg.SnapshotWarmup = json.RawMessage("  " + largest + "  ")
	v, _ = deploy(t, r, cfg)
	if len(v.Config.SnapshotWarmup) != MaxSnapshotWarmup {
		t.Errorf("stored %d bytes, want %d", len(v.Config.SnapshotWarmup), MaxSnapshotWarmup)
	}
	if err := ValidateSnapshotWarmup(true, json.RawMessage(largest+" ")); err != nil {
		t.Errorf("ValidateSnapshotWarmup at the limit: %v", err)
	}
	if err := ValidateSnapshotWarmup(true, json.RawMessage(`"`+strings.Repeat("x", MaxSnapshotWarmup-1)+`"`)); err == nil {
		t.Error("ValidateSnapshotWarmup one byte past the limit: no error")
	}
	if err := ValidateSnapshotWarmup(false, nil); err != nil {
		t.Errorf("ValidateSnapshotWarmup without warm-up: %v", err)
	}
}

func TestPersistence(t *testing.T) {
	dataDir, cacheDir := t.TempDir(), t.TempDir()
	ctx := testContext(t)
	b, err := bus.Start(ctx, bus.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	r := open(t, b, cacheDir)
	hash, _ := putArtifact(t, r, "persistent")
	deploy(t, r, config("a", hash))
	cfg := config("a", hash)
	cfg.MemoryMiB = 256
	v2, _ := deploy(t, r, cfg)
	deploy(t, r, config("b", hash))
	if err := r.SetAlias(ctx, "a", "prod", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	b = startBus(t, bus.Config{DataDir: dataDir})
	r = open(t, b, cacheDir)
	fns, err := r.List(ctx)
	if err != nil || len(fns) != 2 {
		t.Fatalf("List after restart = %v, %v", fns, err)
	}
	if v := mustGet(t, r, "a", ""); v.Number != 2 || v.Config.MemoryMiB != 256 || !v.CreatedAt.Equal(v2.CreatedAt) {
		t.Errorf("a:$LATEST after restart = %+v", v)
	}
	if v := mustGet(t, r, "a", "prod"); v.Number != 1 || v.Config.MemoryMiB != 128 {
		t.Errorf("a:prod after restart = %+v", v)
	}
	if ok, err := r.HasArtifact(ctx, hash); err != nil || !ok {
		t.Errorf("HasArtifact after restart = %v, %v", ok, err)
	}
	// The next deploy continues the numbering.
	cfg.MemoryMiB = 512
	if v, _ := deploy(t, r, cfg); v.Number != 3 {
		t.Errorf("deploy after restart = version %d, want 3", v.Number)
	}
}

// checkConsecutive asserts that the deploys produced versions 1..n once each
// and that each stored version holds the config of the deploy that got it.
func checkConsecutive(t *testing.T, r *Registry, name string, got map[int]string) {
	t.Helper()
	vs, err := r.Versions(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(got) {
		t.Fatalf("%d versions stored, %d deploys", len(vs), len(got))
	}
	for i, v := range vs {
		if v.Number != i+1 {
			t.Fatalf("versions = %v..., want 1..%d without gaps", v.Number, len(got))
		}
		if want, ok := got[v.Number]; !ok || v.Config.Env["DEPLOY"] != want {
			t.Errorf("version %d holds deploy %q, but %q was told it got it", v.Number, v.Config.Env["DEPLOY"], want)
		}
	}
}

func concurrentDeploys(t *testing.T, regs []*Registry, name, hash string, workers, each int) map[int]string {
	t.Helper()
	ctx := testContext(t)
	var (
		mu  sync.Mutex
		got = map[int]string{}
		wg  sync.WaitGroup
	)
	for w := range workers {
		r := regs[w%len(regs)]
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				cfg := config(name, hash)
				cfg.Env["DEPLOY"] = id
				v, changed, err := r.Deploy(ctx, cfg)
				if err != nil {
					t.Errorf("deploy %s: %v", id, err)
					return
				}
				mu.Lock()
				if prev, dup := got[v.Number]; dup || !changed {
					t.Errorf("deploy %s: version %d changed=%v, already given to %q", id, v.Number, changed, prev)
				}
				got[v.Number] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

func TestConcurrentDeploys(t *testing.T) {
	r := newRegistry(t)
	hash, _ := putArtifact(t, r, "hot")
	got := concurrentDeploys(t, []*Registry{r}, "hot", hash, 16, 8)
	checkConsecutive(t, r, "hot", got)
}

// twoNodes returns registries on two connections to one JetStream, each with
// its own artifact cache, as two gureum nodes would have.
func twoNodes(t *testing.T) (a, b *Registry) {
	t.Helper()
	first := startBus(t, bus.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Name: "a"})
	second := startBus(t, bus.Config{URL: first.ClientURL(), Name: "b"})
	return open(t, first, t.TempDir()), open(t, second, t.TempDir())
}

func TestConcurrentDeploysTwoNodes(t *testing.T) {
	a, b := twoNodes(t)
	hash, _ := putArtifact(t, a, "hot")
	got := concurrentDeploys(t, []*Registry{a, b}, "hot", hash, 12, 8)
	checkConsecutive(t, b, "hot", got)
}

func TestConcurrentAliasAndDeploy(t *testing.T) {
	r := newRegistry(t)
	ctx := testContext(t)
	hash, _ := putArtifact(t, r, "m")
	deploy(t, r, config("f", hash))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20 {
			if err := r.SetAlias(ctx, "f", fmt.Sprintf("a%d", i), 1); err != nil {
				t.Errorf("SetAlias: %v", err)
			}
		}
	})
	got := concurrentDeploys(t, []*Registry{r}, "f", hash, 4, 5)
	wg.Wait()
	fns, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns[0].Aliases) != 20 || fns[0].Latest != 21 {
		t.Errorf("after racing aliases and deploys: %d aliases, latest %d; want 20, 21", len(fns[0].Aliases), fns[0].Latest)
	}
	if len(got) != 20 {
		t.Errorf("%d versions from 20 deploys", len(got))
	}
}

func TestArtifacts(t *testing.T) {
	a, b := twoNodes(t)
	ctx := testContext(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: several chunks
	sum := sha256.Sum256(content)
	hash, size, err := a.PutArtifact(ctx, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if hash != hex.EncodeToString(sum[:]) || size != int64(len(content)) {
		t.Fatalf("PutArtifact = %s %d, want %x %d", hash, size, sum, len(content))
	}
	if again, _, err := a.PutArtifact(ctx, bytes.NewReader(content)); err != nil || again != hash {
		t.Fatalf("second PutArtifact = %s, %v", again, err)
	}

	checkFile := func(r *Registry, who string) {
		t.Helper()
		p, err := r.ArtifactPath(ctx, hash)
		if err != nil {
			t.Fatalf("%s: ArtifactPath: %v", who, err)
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%s: cached file differs (%v)", who, err)
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Fatalf("%s: cached file not executable: %v %v", who, fi.Mode(), err)
		}
	}
	checkFile(a, "uploader")
	// The other node has never seen it: fetched from the object store.
	if ok, err := b.HasArtifact(ctx, hash); err != nil || !ok {
		t.Fatalf("HasArtifact on other node = %v, %v", ok, err)
	}
	checkFile(b, "other node")

	// The uploader's cache is cleared: many callers at once refetch it.
	p, _ := a.ArtifactPath(ctx, hash)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := a.ArtifactPath(ctx, hash); err != nil {
				t.Errorf("concurrent ArtifactPath: %v", err)
			}
		})
	}
	wg.Wait()
	checkFile(a, "after cache loss")
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".incoming-*")); len(left) != 0 {
		t.Errorf("temporary files left in cache: %v", left)
	}

	missing := hex.EncodeToString(make([]byte, 32))
	if ok, err := a.HasArtifact(ctx, missing); err != nil || ok {
		t.Errorf("HasArtifact(missing) = %v, %v", ok, err)
	}
	if _, err := a.ArtifactPath(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("ArtifactPath(missing) = %v, want ErrNotFound", err)
	}
	if _, err := a.ArtifactPath(ctx, "../../x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ArtifactPath(bad) = %v, want ErrInvalid", err)
	}
}

func TestArtifactCorrupt(t *testing.T) {
	b := startBus(t, bus.Config{DataDir: t.TempDir()})
	r := open(t, b, t.TempDir())
	ctx := testContext(t)
	// An object stored under a name that is not its hash.
	wrong := hex.EncodeToString(bytes.Repeat([]byte{0xab}, 32))
	obs, err := b.JetStream().ObjectStore(ctx, ArtifactBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutString(ctx, wrong, "not what the name says"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ArtifactPath(ctx, wrong); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ArtifactPath of a corrupt object = %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(filepath.Join(r.cacheDir, wrong)); !os.IsNotExist(err) {
		t.Errorf("corrupt artifact entered the cache: %v", err)
	}
}

func recv(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported")
	}
	return Change{}
}

func TestWatchAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	ctx, cancel := context.WithCancel(testContext(t))
	ch, err := b.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := putArtifact(t, a, "w")
	deploy(t, a, config("watched", hash))
	if c := recv(t, ch); c != (Change{Name: "watched"}) {
		t.Errorf("after deploy: %+v", c)
	}
	if err := a.SetAlias(testContext(t), "watched", "live", 1); err != nil {
		t.Fatal(err)
	}
	if c := recv(t, ch); c != (Change{Name: "watched"}) {
		t.Errorf("after alias: %+v", c)
	}
	if err := a.Delete(testContext(t), "watched"); err != nil {
		t.Fatal(err)
	}
	if c := recv(t, ch); c != (Change{Name: "watched", Deleted: true}) {
		t.Errorf("after delete: %+v", c)
	}

	// Changes pile up while nobody reads: they are coalesced per function.
	for i := range 5 {
		cfg := config("busy", hash)
		cfg.MemoryMiB = 128 + i
		deploy(t, a, cfg)
	}
	deploy(t, a, config("other", hash))
	// The last change has been reported once "other" is seen.
	seen := map[string]int{}
	for seen["other"] == 0 {
		seen[recv(t, ch).Name]++
	}
	if seen["busy"] < 1 || seen["busy"] > 5 {
		t.Errorf("busy reported %d times for 5 deploys", seen["busy"])
	}

	cancel()
	for range ch {
	}
}

func TestDelete(t *testing.T) {
	r := newRegistry(t)
	ctx := testContext(t)
	hash, _ := putArtifact(t, r, "d")
	for i := range 3 {
		cfg := config("gone", hash)
		cfg.MemoryMiB = 128 * (i + 1)
		deploy(t, r, cfg)
	}
	deploy(t, r, config("kept", hash))
	if err := r.SetAlias(ctx, "gone", "live", 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "1", "live"} {
		if _, err := r.Get(ctx, "gone", q); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get gone:%s after delete = %v, want ErrNotFound", q, err)
		}
	}
	if _, err := r.Versions(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Versions after delete = %v", err)
	}
	if err := r.Delete(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	fns, err := r.List(ctx)
	if err != nil || len(fns) != 1 || fns[0].Name != "kept" {
		t.Errorf("List after delete = %v, %v", fns, err)
	}
	if keys, err := r.keys(ctx, versionPrefix+"gone.>"); err != nil || len(keys) != 0 {
		t.Errorf("version records left after delete: %v, %v", keys, err)
	}
	if ok, _ := r.HasArtifact(ctx, hash); !ok {
		t.Error("artifact removed with the function")
	}

	// Created again, the function starts at version 1 with no old versions.
	v, changed := deploy(t, r, config("gone", hash))
	if v.Number != 1 || !changed {
		t.Errorf("redeploy after delete = version %d changed %v, want 1 true", v.Number, changed)
	}
	vs, err := r.Versions(ctx, "gone")
	if err != nil || len(vs) != 1 {
		t.Errorf("Versions after re-create = %v, %v", vs, err)
	}
	if _, err := r.Get(ctx, "gone", "live"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old alias survived re-create: %v", err)
	}
}

func TestEmptyRegistry(t *testing.T) {
	r := newRegistry(t)
	ctx := testContext(t)
	fns, err := r.List(ctx)
	if err != nil || len(fns) != 0 {
		t.Errorf("List = %v, %v", fns, err)
	}
	vs, err := r.LatestAll(ctx)
	if err != nil || len(vs) != 0 {
		t.Errorf("LatestAll = %v, %v", vs, err)
	}
	if _, err := Open(ctx, nil, Config{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open without cache dir = %v, want ErrInvalid", err)
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(Duration(1500 * time.Millisecond))
	if err != nil || string(b) != `"1.5s"` {
		t.Errorf("Marshal = %s, %v", b, err)
	}
	for in, want := range map[string]time.Duration{
		`"10s"`:       10 * time.Second,
		`"1m30s"`:     90 * time.Second,
		`"0s"`:        0,
		`2000000000`:  2 * time.Second,
		`-1000000000`: -time.Second,
	} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.Std() != want {
			t.Errorf("Unmarshal %s = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, in := range []string{`"ten"`, `1.5`, `true`, `""`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("Unmarshal %s succeeded", in)
		}
	}
	// A config round-trips exactly: Deploy's comparison relies on it.
	cfg := config("rt", "h")
	b, err = json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back FunctionConfig
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

// TestStartupTime reports how long a node's bus and registry take to start,
// on a fresh data directory and on one holding functions. It asserts nothing.
func TestStartupTime(t *testing.T) {
	dataDir, cacheDir := t.TempDir(), t.TempDir()
	for run, label := range []string{"fresh data dir", "data dir with 50 functions"} {
		ctx := testContext(t)
		t0 := time.Now()
		b, err := bus.Start(ctx, bus.Config{DataDir: dataDir})
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		r, err := Open(ctx, b.JetStream(), Config{CacheDir: cacheDir})
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		latest, err := r.LatestAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		t.Logf("%s: bus.Start %v, registry.Open %v, LatestAll (%d) %v, total %v",
			label, t1.Sub(t0), t2.Sub(t1), len(latest), t3.Sub(t2), t3.Sub(t0))
		if run == 0 {
			hash, _ := putArtifact(t, r, "startup")
			for i := range 50 {
				deploy(t, r, config(fmt.Sprintf("fn%02d", i), hash))
			}
		}
		if err := b.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkDeploy(b *testing.B) {
	r := newRegistry(b)
	hash, _ := putArtifact(b, r, "bench")
	i := 0
	for b.Loop() {
		cfg := config("bench", hash)
		cfg.MemoryMiB = 128 + i
		i++
		deploy(b, r, cfg)
	}
}

func BenchmarkGet(b *testing.B) {
	r := newRegistry(b)
	hash, _ := putArtifact(b, r, "bench")
	deploy(b, r, config("bench", hash))
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.Get(ctx, "bench", ""); err != nil {
			b.Fatal(err)
		}
	}
}
