package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/wasm"
)

// The quickstart function as its manifest declares it.
const (
	quickstartDir     = "examples/quickstart"
	quickstartPackage = "examples/quickstart/hello"
	quickstartMemMiB  = 128
	quickstartTimeout = 5 * time.Second
	pagesPerMiB       = 16 // 64 KiB WebAssembly pages
)

// quickstartWasm builds the quickstart function into a wasm reactor once per
// run and returns its path and hash.
func (e *env) quickstartWasm(ctx context.Context) (string, string, error) {
	if e.wasmPath == "" {
		path, hash, err := e.wasmArtifact(ctx, quickstartPackage)
		if err != nil {
			return "", "", err
		}
		e.wasmPath, e.wasmHash = path, hash
	}
	return e.wasmPath, e.wasmHash, nil
}

// timeNewInstance returns a sample that times one fn.NewInstance and then
// closes the instance, outside the time.
func timeNewInstance(ctx context.Context, fn engine.Function) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		t := time.Now()
		inst, err := fn.NewInstance(ctx, io.Discard)
		d := time.Since(t)
		if err != nil {
			return 0, err
		}
		return d, inst.Close(ctx)
	}
}

// prepareGureum prepares the quickstart module in gureum's wasm engine, as a
// node does for a deployed version.
func prepareGureum(ctx context.Context, cacheDir, path, hash string) (*wasm.Engine, engine.Function, error) {
	eng, err := wasm.New(wasm.Config{CacheDir: cacheDir})
	if err != nil {
		return nil, nil, err
	}
	fn, err := eng.Prepare(ctx, engine.Spec{
		Function:     "hello",
		Version:      "1",
		Runtime:      "wasm",
		ArtifactPath: path,
		ArtifactHash: hash,
		MemoryMiB:    quickstartMemMiB,
		Timeout:      quickstartTimeout,
	})
	if err != nil {
		_ = eng.Close(ctx)
		return nil, nil, err
	}
	return eng, fn, nil
}

// bareWazero is the baseline: a wazero runtime configured as gureum's
// (compilation cache, the same memory cap, closing modules on context done;
// real clocks and crypto randomness per module), with WASI and nothing of
// gureum. Functions the module imports from outside WASI are satisfied by
// empty stubs, which instantiation needs and _initialize never calls.
type bareWazero struct {
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	compiled wazero.CompiledModule
	config   wazero.ModuleConfig
}

func newBareWazero(ctx context.Context, cacheDir, path string) (*bareWazero, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		return nil, err
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(quickstartMemMiB*pagesPerMiB))
	b := &bareWazero{rt: rt, cache: cache}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = b.Close(ctx)
		return nil, err
	}
	if b.compiled, err = rt.CompileModule(ctx, bin); err != nil {
		_ = b.Close(ctx)
		return nil, err
	}
	if err := stubImports(ctx, rt, b.compiled); err != nil {
		_ = b.Close(ctx)
		return nil, err
	}
	b.config = wazero.NewModuleConfig().
		WithName("").
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		WithStartFunctions()
	return b, nil
}

// stubImports instantiates a module of empty functions for every module cm
// imports from other than WASI.
func stubImports(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule) error {
	builders := make(map[string]wazero.HostModuleBuilder)
	var order []string
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod == wasi_snapshot_preview1.ModuleName {
			continue
		}
		b, ok := builders[mod]
		if !ok {
			b = rt.NewHostModuleBuilder(mod)
			builders[mod] = b
			order = append(order, mod)
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), imp.ParamTypes(), imp.ResultTypes()).
			Export(name)
	}
	for _, mod := range order {
		if _, err := builders[mod].Instantiate(ctx); err != nil {
			return fmt.Errorf("stub module %s: %w", mod, err)
		}
	}
	return nil
}

// instantiate starts one module instance and runs _initialize: the Go
// runtime and the package initializers, nothing else.
func (b *bareWazero) instantiate(ctx context.Context) (api.Module, error) {
	mod, err := b.rt.InstantiateModule(ctx, b.compiled, b.config)
	if err != nil {
		return nil, err
	}
	if _, err := mod.ExportedFunction("_initialize").Call(ctx); err != nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("_initialize: %w", err)
	}
	return mod, nil
}

func (b *bareWazero) Close(ctx context.Context) error {
	err := b.rt.Close(ctx)
	_ = b.cache.Close(ctx)
	return err
}

// benchCold measures cold starts: gureum's NewInstance against a bare
// instantiation with _initialize, alternating one of each so that both see
// the same machine state.
func benchCold(ctx context.Context, e *env) ([]row, error) {
	path, hash, err := e.quickstartWasm(ctx)
	if err != nil {
		return nil, err
	}
	cacheDir := filepath.Join(e.work, "wasm-cache")
	t0 := time.Now()
	eng, fn, err := prepareGureum(ctx, cacheDir, path, hash)
	if err != nil {
		return nil, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	defer fn.Close(context.WithoutCancel(ctx))
	e.logf("compiled in gureum's engine in %s", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	bare, err := newBareWazero(ctx, cacheDir, path)
	if err != nil {
		return nil, err
	}
	defer bare.Close(context.WithoutCancel(ctx))
	e.logf("loaded in a bare wazero runtime in %s", time.Since(t0).Round(time.Millisecond))

	bareOnce := func() (time.Duration, error) {
		t := time.Now()
		mod, err := bare.instantiate(ctx)
		d := time.Since(t)
		if err != nil {
			return 0, err
		}
		return d, mod.Close(ctx)
	}

	warm := max(5, e.opts.coldN/20)
	n := e.opts.coldN
	g, b, err := alternate(ctx, warm, n, "gureum NewInstance", timeNewInstance(ctx, fn), "bare wazero instance", bareOnce)
	if err != nil {
		return nil, err
	}
	gs, bs := summarize(g), summarize(b)
	e.logf("gureum   p50 %s p99 %s (n=%d)", fmtDur(gs.p50), fmtDur(gs.p99), n)
	e.logf("baseline p50 %s p99 %s (n=%d)", fmtDur(bs.p50), fmtDur(bs.p99), n)

	const target = 3 * time.Millisecond
	return []row{
		{
			Name:     fmt.Sprintf("1. cold start p50: NewInstance vs bare wazero instantiate + _initialize (n=%d)", n),
			Gureum:   fmtDur(gs.p50),
			Baseline: fmtDur(bs.p50),
			Ratio:    fmtRatio(gs.p50.Seconds(), bs.p50.Seconds()),
			Target:   "≤ 3 ms",
			Met:      yesNo(gs.p50 <= target, ""),
		},
		{
			Name:     fmt.Sprintf("1. cold start p99 (n=%d)", n),
			Gureum:   fmtDur(gs.p99),
			Baseline: fmtDur(bs.p99),
			Ratio:    fmtRatio(gs.p99.Seconds(), bs.p99.Seconds()),
			Target:   "—",
			Met:      "—",
		},
	}, nil
}
