package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/build"
	"github.com/gureum/gureum/internal/engine"
)

// artifact is a test module built once per test binary.
type artifact struct {
	path string
	hash string
}

// artifacts holds the modules TestMain builds from testdata; it is written
// once, before any test runs.
var artifacts struct {
	hello, behave, nostart, command, snap artifact
	// fn is the shared test function of the end-to-end tests
	// (internal/testutil/testdata/fn).
	fn artifact
	// cacheDir is a compilation cache shared by the tests' engines, so
	// each module is compiled once per test binary.
	cacheDir string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gureum-wasm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	artifacts.cacheDir = filepath.Join(dir, "cache")

	targets := []struct {
		name    string
		src     string // default: testdata/<name>
		command bool
		out     *artifact
	}{
		{"hello", "", false, &artifacts.hello},
		{"behave", "", false, &artifacts.behave},
		{"nostart", "", false, &artifacts.nostart},
		{"command", "", true, &artifacts.command},
		{"snap", "", false, &artifacts.snap},
		{"fn", filepath.Join("..", "..", "testutil", "testdata", "fn"), false, &artifacts.fn},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, tg := range targets {
		wg.Go(func() {
			src := tg.src
			if src == "" {
				src = filepath.Join("testdata", tg.name)
			}
			errs[i] = buildTestModule(dir, tg.name, src, tg.command, tg.out)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	outs := make([]*artifact, len(targets))
	for i, tg := range targets {
		outs[i] = tg.out
	}
	if err := warmCache(outs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// warmCache compiles every test module into the shared cache directory, so
// that the tests' engines, running in parallel, load them instead of each
// compiling them again.
func warmCache(modules ...*artifact) error {
	e, err := New(Config{CacheDir: artifacts.cacheDir})
	if err != nil {
		return err
	}
	defer e.Close(context.Background())
	for _, a := range modules {
		if _, err := e.Prepare(context.Background(), engine.Spec{Function: "warm", ArtifactPath: a.path, ArtifactHash: a.hash}); err != nil {
			return err
		}
	}
	return nil
}

// buildTestModule builds the Go package in src into name.wasm in dir.
func buildTestModule(dir, name, src string, command bool, out *artifact) error {
	path := filepath.Join(dir, name+".wasm")
	ctx := context.Background()
	if command {
		// A plain WASI command, as any toolchain would make it; the build
		// package only makes reactors.
		if err := goBuild(ctx, src, path); err != nil {
			return err
		}
	} else if err := build.Go(ctx, build.Options{
		Dir:    src,
		Output: path,
		Target: build.TargetWasm,
		Env:    os.Environ(),
	}); err != nil {
		return err
	}
	hash, err := build.HashFile(path)
	if err != nil {
		return err
	}
	*out = artifact{path: path, hash: hash}
	return nil
}

// goBuild builds a plain WASI command.
func goBuild(ctx context.Context, dir, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", abs, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", dir, err, b)
	}
	return nil
}

// newEngine returns an Engine closed when the test ends. Without a CacheDir
// it uses the test binary's shared one.
func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = artifacts.cacheDir
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e
}

// prepare prepares a test module, closed when the test ends.
func prepare(t testing.TB, e *Engine, name string, a artifact, edit func(*engine.Spec)) engine.Function {
	t.Helper()
	spec := engine.Spec{
		Function:     name,
		Version:      "1",
		Runtime:      "wasm",
		ArtifactPath: a.path,
		ArtifactHash: a.hash,
		MemoryMiB:    128,
		Timeout:      30 * time.Second,
	}
	if edit != nil {
		edit(&spec)
	}
	fn, err := e.Prepare(context.Background(), spec)
	if err != nil {
		t.Fatalf("prepare %s: %v", name, err)
	}
	t.Cleanup(func() { _ = fn.Close(context.Background()) })
	return fn
}

// start starts an instance, closed when the test ends, and returns what it
// logged while initializing.
func start(t testing.TB, fn engine.Function) (engine.Instance, string) {
	t.Helper()
	var log bytes.Buffer
	inst, err := fn.NewInstance(context.Background(), &log)
	if err != nil {
		t.Fatalf("new instance: %v\nlog:\n%s", err, log.String())
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return inst, log.String()
}

// outcome is what one invocation returned and logged.
type outcome struct {
	resp *engine.Response
	err  error
	log  string
}

func invoke(inst engine.Instance, payload string, deadline time.Duration) outcome {
	var log bytes.Buffer
	req := &engine.Request{
		ID:          "req-1",
		Payload:     []byte(payload),
		Deadline:    time.Now().Add(deadline),
		FunctionARN: "arn:aws:lambda:local:000000000000:function:test",
		TraceID:     "Root=1-5759e988-bd862e3fe1be46a994272793",
		Log:         &log,
	}
	resp, err := inst.Invoke(context.Background(), req)
	return outcome{resp, err, log.String()}
}

// ok invokes and requires a successful response, which it decodes into v.
func ok(t testing.TB, inst engine.Instance, payload string, v any) outcome {
	t.Helper()
	o := invoke(inst, payload, 30*time.Second)
	if o.err != nil {
		t.Fatalf("invoke %s: %v\nlog:\n%s", payload, o.err, o.log)
	}
	if o.resp.FunctionError {
		t.Fatalf("invoke %s: function error %s\nlog:\n%s", payload, o.resp.Payload, o.log)
	}
	if v != nil {
		if err := json.Unmarshal(o.resp.Payload, v); err != nil {
			t.Fatalf("invoke %s: response %q: %v", payload, o.resp.Payload, err)
		}
	}
	return o
}
