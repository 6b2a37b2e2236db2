package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/gureum/gureum/internal/engine"
)

// kind is how a module is run.
type kind int

const (
	kindReactor kind = iota + 1 // instantiated once, called per invocation (ABI.md)
	kindCommand                 // a WASI program run once per invocation
)

// The reactor ABI's exports (ABI.md).
const (
	exportInitialize = "_initialize"
	exportStart      = "gureum_start"
	exportBuffer     = "gureum_buffer"
	exportHandle     = "gureum_handle"
	exportCommand    = "_start"
	exportMemory     = "memory"
)

// classify finds a compiled module's kind from its exports, and checks that
// the runtime provides every function it imports.
func classify(rt wazero.Runtime, cm wazero.CompiledModule) (kind, error) {
	for _, imp := range cm.ImportedFunctions() {
		modName, name, _ := imp.Import()
		var def api.FunctionDefinition
		if m := rt.Module(modName); m != nil {
			def = m.ExportedFunctionDefinitions()[name]
		}
		if def == nil {
			return 0, fmt.Errorf("imports %s.%s, which gureum does not provide", modName, name)
		}
		if !slices.Equal(def.ParamTypes(), imp.ParamTypes()) || !slices.Equal(def.ResultTypes(), imp.ResultTypes()) {
			return 0, fmt.Errorf("imports %s.%s with the wrong signature", modName, name)
		}
	}

	exports := cm.ExportedFunctions()
	i32 := api.ValueTypeI32
	switch {
	case exports[exportHandle] != nil:
		want := []struct {
			name            string
			params, results []api.ValueType
		}{
			{exportInitialize, nil, nil},
			{exportStart, nil, nil},
			{exportBuffer, []api.ValueType{i32}, []api.ValueType{i32}},
			{exportHandle, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		}
		for _, w := range want {
			def := exports[w.name]
			if def == nil {
				return 0, fmt.Errorf("exports %s but not %s; build reactors with the gureum Go SDK", exportHandle, w.name)
			}
			if !slices.Equal(def.ParamTypes(), w.params) || !slices.Equal(def.ResultTypes(), w.results) {
				return 0, fmt.Errorf("exports %s with the wrong signature", w.name)
			}
		}
		if cm.ExportedMemories()[exportMemory] == nil {
			return 0, fmt.Errorf("is a reactor that does not export its memory as %q", exportMemory)
		}
		return kindReactor, nil
	case exports[exportCommand] != nil:
		return kindCommand, nil
	case exports[exportInitialize] != nil:
		return 0, fmt.Errorf("is a reactor without %s: its main must call gureum.Start (import github.com/gureum/gureum/sdk/go)", exportHandle)
	}
	return 0, fmt.Errorf("exports neither %s (a reactor built with the gureum Go SDK) nor %s (a WASI command)", exportHandle, exportCommand)
}

// function is a prepared function version.
type function struct {
	e       *Engine
	rt      *memRuntime // mod.rt
	mod     *module
	name    string
	memMiB  int
	timeout time.Duration
	config  wazero.ModuleConfig // shared by every instance; each adds its own I/O
	spec    engine.Spec
	snap    *snapshots // nil unless spec.Snapshot and a reactor
	closed  atomic.Bool
}

func newFunction(e *Engine, m *module, spec engine.Spec, memMiB int) *function {
	cfg := wazero.NewModuleConfig().
		WithName(""). // instances are anonymous, so any number can coexist
		WithArgs(spec.Function).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		WithStartFunctions() // run explicitly, to tell init from invocation
	// The function's own environment plus the variables Lambda sets, never
	// the host's.
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        spec.Function,
		"AWS_LAMBDA_FUNCTION_VERSION":     spec.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(memMiB),
	}
	maps.Copy(env, spec.Env)
	var envList []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cfg = cfg.WithEnv(k, env[k])
		envList = append(envList, k+"="+env[k])
	}
	f := &function{
		e:       e,
		rt:      m.rt,
		mod:     m,
		name:    spec.Function,
		memMiB:  memMiB,
		timeout: spec.Timeout,
		config:  cfg,
		spec:    spec,
	}
	if spec.Snapshot && m.kind == kindReactor {
		f.snap = &snapshots{
			key: snapshotKey(e, m.key.hash, configDigest([]string{spec.Function}, envList, memMiB, spec.SnapshotWarmup)),
			cap: &monoClock{base: time.Now()},
			st:  engine.SnapshotPending,
		}
		if m.prepErr != nil {
			f.snap.st, f.snap.err = engine.SnapshotFailed, m.prepErr
		}
	}
	return f
}

// NewInstance starts one instance: for a reactor it runs the module's
// initialization and main, writing their output to log; for a command it
// only sets up, as each invocation starts the program afresh.
func (f *function) NewInstance(ctx context.Context, log io.Writer) (engine.Instance, error) {
	if f.closed.Load() {
		return nil, fmt.Errorf("%s: new instance of a closed function", f.name)
	}
	if f.mod.kind == kindCommand {
		return newCommand(f), nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.e.cfg.InitTimeout)
	defer cancel()
	if f.snap != nil {
		return f.snap.newInstance(ctx, f, log)
	}
	return newReactor(ctx, f, f.config, log)
}

// Warm implements engine.Warmer: a function whose snapshot is still to be
// taken takes it now, with an instance it then closes.
func (f *function) Warm(ctx context.Context, log io.Writer) error {
	if f.snap == nil || !f.snap.toTake() || f.closed.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.e.cfg.InitTimeout)
	defer cancel()
	inst, err := f.snap.newInstance(ctx, f, log)
	if err != nil {
		return err
	}
	return inst.Close(ctx)
}

// SnapshotStatus implements engine.SnapshotReporter.
func (f *function) SnapshotStatus() engine.SnapshotStatus {
	if f.snap == nil {
		return engine.SnapshotStatus{State: engine.SnapshotOff}
	}
	return f.snap.status()
}

// Close releases the function's compiled code once no other prepared
// function shares it. Its instances keep running until closed.
func (f *function) Close(context.Context) error {
	if f.closed.CompareAndSwap(false, true) {
		if f.snap != nil {
			f.snap.close()
		}
		f.e.release(f.mod)
	}
	return nil
}

// invocationContext bounds ctx by the request's deadline.
func invocationContext(ctx context.Context, req *engine.Request) (context.Context, context.CancelFunc) {
	if req.Deadline.IsZero() {
		return ctx, func() {}
	}
	if d, ok := ctx.Deadline(); ok && !d.After(req.Deadline) {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, req.Deadline)
}

// failure turns what a call into the guest returned into an engine error.
// oom says the guest reported running out of memory.
func (f *function) failure(err error, oom bool) error {
	return fmt.Errorf("%s: %w", f.name, f.cause(err, oom))
}

// initFailure is failure during a cold start, in phase.
func (f *function) initFailure(phase string, err error, oom bool) error {
	return fmt.Errorf("%s: %w in %s: %w", f.name, engine.ErrInit, phase, f.cause(err, oom))
}

// cause is failure without the function's name.
func (f *function) cause(err error, oom bool) error {
	var detail string
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			if f.timeout > 0 {
				return fmt.Errorf("%w (timeout %s)", engine.ErrTimeout, f.timeout)
			}
			return engine.ErrTimeout
		case sys.ExitCodeContextCanceled:
			return fmt.Errorf("invocation %w", context.Canceled)
		}
		detail = fmt.Sprintf("exited with code %d", exit.ExitCode())
	} else {
		detail, _, _ = strings.Cut(err.Error(), "\n") // drop wazero's wasm stack trace
	}
	if oom {
		detail = fmt.Sprintf("out of memory (limit %d MiB): %s", f.memMiB, detail)
	}
	return fmt.Errorf("%w: %s", engine.ErrCrashed, detail)
}

var (
	_ engine.Function         = (*function)(nil)
	_ engine.SnapshotReporter = (*function)(nil)
	_ engine.Warmer           = (*function)(nil)
)
