// Package wasm runs functions compiled to WebAssembly on wazero. It
// implements engine.Engine.
//
// A module is compiled once per node: compiled code is kept on disk
// (wazero's compilation cache) and in memory per artifact hash, shared by
// every Prepare of that artifact. wazero caps linear memory per Runtime, so
// the Engine keeps one Runtime per distinct memory size, all sharing one
// compilation cache.
//
// A timeout stops a guest wherever it is, even in a loop that never calls
// the host. Modules are instrumented at compilation (the interrupt
// package): every loop checks a flag the host sets when the invocation's
// context is done, and reaches a Go safe point every few thousand
// iterations, so the garbage collector never waits on a spinning guest. A
// module the instrumentation cannot handle runs in a Runtime that closes
// it when its context is done instead (WithCloseOnContextDone), which
// leaves compiled code at every loop iteration and runs guests several
// times slower.
//
// Two kinds of module run: reactors built with the Go SDK (sdk/go), which
// are instantiated once and called per invocation through the ABI in
// ABI.md, and WASI commands, which get a fresh instance per invocation with
// the event on stdin and the response on stdout.
//
// Guests of either kind reach the node (publish, send, and later kv, blob
// and http) through one host import, gureum.call, which hands each call to
// the engine.Request.Host of the invocation being served (host.go, and "Host
// calls" in ABI.md); the engine itself decides nothing about grants.
//
// A reactor whose Spec asks for it starts its instances from a snapshot of
// one that has initialized: its memory image, mapped copy-on-write, and its
// globals (snapshot.go, memory_linux.go, the snapshot package, and
// "Snapshots" in ABI.md).
package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/wasm/interrupt"
	"github.com/gureum/gureum/internal/engine/wasm/snapshot"
)

const (
	// DefaultMemoryMiB caps an instance's memory when Spec.MemoryMiB is 0.
	DefaultMemoryMiB = 128
	// MaxMemoryMiB is the most a 32-bit WebAssembly memory can hold.
	MaxMemoryMiB = 4096
	// DefaultInitTimeout bounds a cold start when Config.InitTimeout is 0.
	DefaultInitTimeout = 10 * time.Second

	pagesPerMiB = 16 // 64 KiB WebAssembly pages
)

// Config configures an Engine. The zero Config is usable.
type Config struct {
	// CacheDir holds compiled modules across restarts. Empty keeps them in
	// memory only.
	CacheDir string
	// InitTimeout bounds instantiation and the program's initialization
	// (package initializers and main) in NewInstance, on top of the
	// caller's context. Zero means DefaultInitTimeout.
	InitTimeout time.Duration
	// NoStandby keeps no standby instance. By default each function that
	// restores from a snapshot keeps one instance instantiated from it
	// ahead of need, so that a cold start only runs the restore hook.
	NoStandby bool
	// Version is gureum's version. It is part of every snapshot's cache
	// key, so that a snapshot taken by another version is never used.
	Version string
}

// Validate reports a configuration the Engine cannot use.
func (c Config) Validate() error {
	if c.InitTimeout < 0 {
		return fmt.Errorf("wasm: negative init timeout %s", c.InitTimeout)
	}
	return nil
}

// Engine prepares wasm functions. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	cache wazero.CompilationCache

	mu       sync.Mutex
	runtimes map[runtimeKey]*memRuntime
	modules  map[moduleKey]*module
	closed   bool

	// guests counts guest code running (calls between a reactor's enter
	// and leave, and command invocations). Close waits for it to reach
	// zero: wazero's Close is not safe while a guest runs.
	guests atomic.Int64
	// shut refuses new guest calls once Close has begun.
	shut atomic.Bool
}

// closeGrace is how long Close waits for running guests past its context's
// end: they have been told to stop (their contexts are done, or their
// instances closed) and do so at their next loop check.
const closeGrace = 2 * time.Second

// enterGuest counts a guest call about to run, unless the engine is
// closing.
func (e *Engine) enterGuest() bool {
	e.guests.Add(1)
	if e.shut.Load() {
		e.guests.Add(-1)
		return false
	}
	return true
}

// leaveGuest ends what enterGuest began.
func (e *Engine) leaveGuest() { e.guests.Add(-1) }

// awaitGuests waits until no guest runs, or ctx has ended and closeGrace
// passed since.
func (e *Engine) awaitGuests(ctx context.Context) error {
	var grace <-chan time.Time
	done := ctx.Done()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for e.guests.Load() > 0 {
		select {
		case <-done:
			done, grace = nil, time.After(closeGrace)
		case <-grace:
			return fmt.Errorf("%d guest calls still running", e.guests.Load())
		case <-tick.C:
		}
	}
	return nil
}

// memRuntime is a wazero Runtime whose modules share one memory limit, with
// WASI and the gureum host module instantiated in it.
type memRuntime struct {
	wazero.Runtime
	memMiB int
	// interruptible runtimes run modules instrumented by the interrupt
	// package, stopped by their flag; the others close a module when its
	// context is done (wazero's WithCloseOnContextDone), which makes every
	// loop iteration leave compiled code.
	interruptible bool
}

type runtimeKey struct {
	pages         uint32 // memory limit
	interruptible bool
}

type moduleKey struct {
	pages    uint32
	hash     string
	snapshot bool // prepared for snapshots (snapshot.Prepare), when the module allows it
}

// module is a compiled artifact in one runtime, shared by every function
// prepared from it.
type module struct {
	key      moduleKey
	ready    chan struct{} // closed once compiled and kind are set
	rt       *memRuntime   // the runtime it is compiled in
	compiled wazero.CompiledModule
	kind     kind
	err      error
	refs     int // guarded by Engine.mu

	// For a module prepared for snapshots: the data segments every normal
	// start writes into memory (instantiation no longer does), and the
	// exported mutable globals. prepErr says why a module whose key asked
	// for snapshots could not be prepared; it then runs as it is.
	data    []snapshot.Segment
	globals []snapshot.Global
	prepErr error
}

// New returns an Engine. Close it to release compiled code.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %s: %w", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	return &Engine{
		cfg:      cfg,
		cache:    cache,
		runtimes: make(map[runtimeKey]*memRuntime),
		modules:  make(map[moduleKey]*module),
	}, nil
}

// Prepare compiles (or finds compiled) the artifact of spec and checks that
// it is a reactor or a command. An artifact that is not a usable module is
// reported with engine.ErrInvalidArtifact.
func (e *Engine) Prepare(ctx context.Context, spec engine.Spec) (engine.Function, error) {
	if spec.Runtime != "" && spec.Runtime != "wasm" {
		return nil, fmt.Errorf("prepare %s: %w: runtime %q is not wasm", spec.Function, engine.ErrInvalidArtifact, spec.Runtime)
	}
	memMiB := spec.MemoryMiB
	if memMiB == 0 {
		memMiB = DefaultMemoryMiB
	}
	if memMiB < 0 || memMiB > MaxMemoryMiB {
		return nil, fmt.Errorf("prepare %s: memory %d MiB is outside 1..%d", spec.Function, spec.MemoryMiB, MaxMemoryMiB)
	}

	var bin []byte
	hash := strings.ToLower(spec.ArtifactHash)
	if hash == "" {
		var err error
		if bin, err = readArtifact(spec); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(bin)
		hash = hex.EncodeToString(sum[:])
	}

	key := moduleKey{pages: uint32(memMiB) * pagesPerMiB, hash: hash, snapshot: spec.Snapshot}
	m, err := e.acquire(ctx, spec, key, bin)
	if err != nil {
		return nil, err
	}
	return newFunction(e, m, spec, memMiB), nil
}

// acquire returns the module for key, compiling it if no other Prepare has.
// The caller holds a reference until it calls release.
func (e *Engine) acquire(ctx context.Context, spec engine.Spec, key moduleKey, bin []byte) (*module, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, fmt.Errorf("prepare %s: wasm engine closed", spec.Function)
	}
	m, found := e.modules[key]
	if !found {
		m = &module{key: key, ready: make(chan struct{})}
		e.modules[key] = m
	}
	m.refs++
	e.mu.Unlock()

	if !found {
		// The compilation is shared by every waiter, so one caller's
		// cancellation does not fail it for the others.
		m.compile(context.WithoutCancel(ctx), e, spec, bin)
		if m.err != nil {
			e.mu.Lock()
			delete(e.modules, key)
			e.mu.Unlock()
		}
		close(m.ready)
	}

	select {
	case <-m.ready:
	case <-ctx.Done():
		e.release(m)
		return nil, fmt.Errorf("prepare %s: %w", spec.Function, ctx.Err())
	}
	if m.err != nil {
		return nil, m.err
	}
	return m, nil
}

// release drops a reference to m and closes its compiled code after the last.
func (e *Engine) release(m *module) {
	e.mu.Lock()
	m.refs--
	last := m.refs == 0 && e.modules[m.key] == m
	if last {
		delete(e.modules, m.key)
	}
	closed := e.closed
	e.mu.Unlock()
	if last && !closed {
		_ = m.compiled.Close(context.Background())
	}
}

// runtime returns the runtime for a memory limit and a way of stopping
// guests, creating it on first use.
func (e *Engine) runtime(ctx context.Context, key runtimeKey) (*memRuntime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("wasm engine closed")
	}
	if rt := e.runtimes[key]; rt != nil {
		return rt, nil
	}
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(e.cache).
		WithMemoryLimitPages(key.pages).
		WithCloseOnContextDone(!key.interruptible)
	rt := &memRuntime{Runtime: wazero.NewRuntimeWithConfig(ctx, cfg), memMiB: int(key.pages / pagesPerMiB), interruptible: key.interruptible}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateHost(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	e.runtimes[key] = rt
	return rt, nil
}

// Close closes every runtime, and with them every instance, and the
// in-memory compilation cache. The on-disk cache stays. Close is idempotent.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.shut.Store(true)
	runtimes := e.runtimes
	e.runtimes = nil
	e.modules = nil
	e.mu.Unlock()

	if err := e.awaitGuests(ctx); err != nil {
		// Closing the runtimes now could pull code and memory from under
		// those guests; they are left to the process's exit.
		return fmt.Errorf("close wasm engine: %w", err)
	}
	var errs []error
	for _, rt := range runtimes {
		if err := rt.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.cache.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close wasm engine: %w", err)
	}
	return nil
}

func readArtifact(spec engine.Spec) ([]byte, error) {
	bin, err := os.ReadFile(spec.ArtifactPath)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: read artifact: %w", spec.Function, err)
	}
	return bin, nil
}

// compile reads, verifies and compiles an artifact and finds its kind.
//
// Every module is first instrumented so that its host can stop it with a
// flag (the interrupt package), and runs in an interruptible runtime; a
// module the instrumentation does not handle runs as it is in a runtime
// that closes modules when their context is done. A module whose key asks
// for snapshots is then prepared for them, when it is a reactor that can
// take them; any other is compiled without, with the reason in prepErr.
func (m *module) compile(ctx context.Context, e *Engine, spec engine.Spec, bin []byte) {
	fail := func(format string, args ...any) {
		m.err = fmt.Errorf("prepare %s: %w: "+format, append([]any{spec.Function, engine.ErrInvalidArtifact}, args...)...)
	}
	if bin == nil {
		var err error
		if bin, err = readArtifact(spec); err != nil {
			m.err = err
			return
		}
		sum := sha256.Sum256(bin)
		if got := hex.EncodeToString(sum[:]); got != m.key.hash {
			fail("%s has sha256 %s, expected %s", spec.ArtifactPath, got, m.key.hash)
			return
		}
	}
	code, interruptible := bin, true
	switch inst, err := interrupt.Instrument(bin); {
	case err == nil:
		code = inst
	case errors.Is(err, interrupt.ErrUnsupported):
		interruptible = false
	default:
		// Checked before wazero decodes it: a few bytes can make wazero's
		// decoder allocate without bound.
		fail("%s is not a WebAssembly module: %v", spec.ArtifactPath, err)
		return
	}
	if m.key.snapshot {
		p, err := prepareSnapshots(code)
		if err != nil {
			m.prepErr = err
		} else {
			code, m.data, m.globals = p.Module, p.Data, p.Globals
		}
	}
	rt, err := e.runtime(ctx, runtimeKey{pages: m.key.pages, interruptible: interruptible})
	if err != nil {
		m.err = fmt.Errorf("prepare %s: %w", spec.Function, err)
		return
	}
	cm, err := rt.CompileModule(ctx, code)
	if err != nil {
		fail("%s is not a WebAssembly module wazero can run within %d MiB: %v", spec.ArtifactPath, rt.memMiB, err)
		return
	}
	k, err := classify(rt, cm)
	if err != nil {
		_ = cm.Close(ctx)
		fail("%s %v", spec.ArtifactPath, err)
		return
	}
	m.rt, m.compiled, m.kind = rt, cm, k
}

var _ engine.Engine = (*Engine)(nil)
