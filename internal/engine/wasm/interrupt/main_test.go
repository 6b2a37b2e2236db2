package interrupt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/gureum/gureum/internal/build"
)

// modulesEnv names the directory of already built test modules; a child
// test process (see runChild) reads them from there instead of building.
const modulesEnv = "GUREUM_INTERRUPT_MODULES"

// modules holds the test programs TestMain builds, plain and instrumented.
// It is written once, before any test runs.
var modules struct {
	dir string
	// reactor is testdata/guest built with the Go SDK; command the same
	// program built as a WASI command.
	reactor, command           []byte
	reactorInstr, commandInstr []byte
	cache                      wazero.CompilationCache
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir := os.Getenv(modulesEnv)
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "gureum-interrupt-test-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := buildModules(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	modules.dir = dir
	for _, f := range []struct {
		name       string
		bin, instr *[]byte
	}{
		{"reactor.wasm", &modules.reactor, &modules.reactorInstr},
		{"command.wasm", &modules.command, &modules.commandInstr},
	} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*f.bin = b
		if *f.instr, err = Instrument(b); err != nil {
			fmt.Fprintf(os.Stderr, "instrument %s: %v\n", f.name, err)
			return 1
		}
	}
	// An on-disk cache outlives the compiled modules the tests close, and
	// serves the child processes too.
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "cache"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cache.Close(context.Background())
	modules.cache = cache
	return m.Run()
}

// buildModules builds testdata/guest as a reactor and as a command.
func buildModules(dir string) error {
	ctx := context.Background()
	src := filepath.Join("testdata", "guest")
	var wg sync.WaitGroup
	var errReactor, errCommand error
	wg.Go(func() {
		errReactor = build.Go(ctx, build.Options{
			Dir:    src,
			Output: filepath.Join(dir, "reactor.wasm"),
			Target: build.TargetWasm,
			Env:    os.Environ(),
		})
	})
	wg.Go(func() {
		out, err := filepath.Abs(filepath.Join(dir, "command.wasm"))
		if err != nil {
			errCommand = err
			return
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			errCommand = fmt.Errorf("build %s as a command: %v\n%s", src, err, b)
		}
	})
	wg.Wait()
	return errors.Join(errReactor, errCommand)
}

// newRuntime returns a runtime with WASI and the gureum host module, closed
// when the test ends. closeOnDone turns on wazero's own termination check.
func newRuntime(t testing.TB, closeOnDone bool) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(modules.cache).
		WithCloseOnContextDone(closeOnDone)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	t.Cleanup(func() { _ = rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	_, err := rt.NewHostModuleBuilder("gureum").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostResponse), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, nil).Export("response").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
		stack[0] = 1 << 32 // every host call fails, with no answer
	}), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}).Export("call").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
		stack[0] = 1 // no answer waiting
	}), []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).Export("result").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

type reactorKey struct{}

// hostResponse is gureum.response: it copies the guest's answer into the
// reactor the context carries.
func hostResponse(ctx context.Context, mod api.Module, stack []uint64) {
	r := ctx.Value(reactorKey{}).(*reactor)
	b, ok := mod.Memory().Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if !ok {
		panic("response outside memory")
	}
	r.response = append(r.response[:0], b...)
}

// reactor is one instance of the reactor test module, driven through the
// gureum ABI (internal/engine/wasm/ABI.md).
type reactor struct {
	mod            api.Module
	handle, buffer api.Function
	bufPtr, bufCap uint32
	response       []byte
	stack          [2]uint64
	// flag, for an instrumented module, is armed at each call.
	flag *Flag
}

// compile compiles bin in rt, closed when the test ends.
func compile(t testing.TB, rt wazero.Runtime, bin []byte) wazero.CompiledModule {
	t.Helper()
	c, err := rt.CompileModule(context.Background(), bin)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// startReactor instantiates a reactor and runs its initialization.
func startReactor(t testing.TB, rt wazero.Runtime, c wazero.CompiledModule, interrupt bool) *reactor {
	t.Helper()
	r := &reactor{}
	ctx := context.WithValue(context.Background(), reactorKey{}, r)
	mod, err := rt.InstantiateModule(ctx, c, wazero.NewModuleConfig().
		WithName("").
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithStdout(os.Stdout).WithStderr(os.Stderr).
		WithStartFunctions())
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	t.Cleanup(func() { _ = mod.Close(context.Background()) })
	r.mod = mod
	if interrupt {
		if r.flag, err = NewFlag(mod); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"_initialize", "gureum_start"} {
		if _, err := mod.ExportedFunction(name).Call(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	r.handle = mod.ExportedFunction("gureum_handle")
	r.buffer = mod.ExportedFunction("gureum_buffer")
	return r
}

// invoke serves one event under timeout and returns the status and the
// response.
func (r *reactor) invoke(timeout time.Duration, payload string) (uint32, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.invokeCtx(ctx, payload)
}

// invokeUntil serves one event until done is closed.
func (r *reactor) invokeUntil(done <-chan struct{}, payload string) (uint32, []byte, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(wrapDone(done), cancel)
	defer stop()
	return r.invokeCtx(ctx, payload)
}

// wrapDone returns a context done when done is closed.
func wrapDone(done <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-done
		cancel()
	}()
	return ctx
}

// invokeCtx serves one event until ctx is done.
func (r *reactor) invokeCtx(ctx context.Context, payload string) (uint32, []byte, error) {
	if r.flag != nil {
		defer r.flag.AfterDone(ctx)()
	}
	ctx = context.WithValue(ctx, reactorKey{}, r)

	const meta = "req-1\n0\narn:aws:lambda:local:000000000000:function:guest\nRoot=1-0"
	total := uint32(len(meta) + len(payload))
	if total > r.bufCap {
		r.stack[0] = uint64(total)
		if err := r.buffer.CallWithStack(ctx, r.stack[:]); err != nil {
			return 0, nil, err
		}
		r.bufPtr, r.bufCap = api.DecodeU32(r.stack[0]), total
	}
	buf, ok := r.mod.Memory().Read(r.bufPtr, total)
	if !ok {
		return 0, nil, errors.New("request buffer outside memory")
	}
	copy(buf[copy(buf, meta):], payload)
	r.response = r.response[:0]
	r.stack[0], r.stack[1] = uint64(len(meta)), uint64(len(payload))
	if err := r.handle.CallWithStack(ctx, r.stack[:]); err != nil {
		return 0, nil, err
	}
	return api.DecodeU32(r.stack[0]), r.response, nil
}

// runCommand runs the command test module with args until it exits or
// timeout passes, returning its stdout.
func runCommand(t testing.TB, rt wazero.Runtime, c wazero.CompiledModule, timeout time.Duration, interrupt bool, args ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Instantiate without running _start, so that the flag can be armed
	// before the program runs.
	mod, err := rt.InstantiateModule(ctx, c, wazero.NewModuleConfig().
		WithName("").
		WithArgs(append([]string{"guest"}, args...)...).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithStdout(&stdout).WithStderr(os.Stderr).
		WithStartFunctions())
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	defer mod.Close(context.Background())
	if interrupt {
		flag, err := NewFlag(mod)
		if err != nil {
			t.Fatal(err)
		}
		defer flag.AfterDone(ctx)()
	}
	_, err = mod.ExportedFunction("_start").Call(ctx)
	return stdout.String(), err
}

// runChild runs the test named name again in a child process with env
// added to its environment. It returns the child's output and whether the
// child finished, before timeout or, once the child has printed mark, before
// grace more. A guest that the Go runtime cannot stop may freeze a whole
// process, garbage collector, timers and test timeout included, so only
// another process can tell.
func runChild(t *testing.T, name string, timeout time.Duration, mark string, grace time.Duration, env ...string) (string, bool, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), append(env, modulesEnv+"="+modules.dir, "GOMAXPROCS="+strconv.Itoa(2))...)
	out := &markWriter{mark: mark, seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var graceC <-chan time.Time
	seen := out.seen
	for {
		select {
		case err := <-done:
			return out.String(), true, err
		case <-seen:
			seen = nil
			graceC = time.After(grace)
			continue
		case <-deadline.C:
		case <-graceC:
		}
		_ = cmd.Process.Kill()
		<-done
		return out.String(), false, nil
	}
}

// markWriter collects a child's output and closes seen when mark first
// appears in it.
type markWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	mark string
	seen chan struct{}
	once sync.Once
}

func (w *markWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.mark != "" && bytes.Contains(w.buf.Bytes(), []byte(w.mark)) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *markWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
