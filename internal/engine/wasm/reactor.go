package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/wasm/interrupt"
)

// Statuses gureum_handle returns (ABI.md).
const (
	statusOK        = 0
	statusError     = 1
	statusPanic     = 2
	statusNoHandler = 3
)

// reactor is an instance of a module built with the Go SDK: instantiated
// once, then called once per invocation.
//
// An error from Invoke leaves the instance closed: later calls fail, and the
// caller discards it. Invoke may return a Response together with an error:
// when the handler panicked, the Response holds the error document for the
// caller while the error (engine.ErrCrashed) says the instance is gone, as
// Lambda restarts a runtime after a panic.
//
// An instance serves one invocation at a time. Close may be called while it
// does, and stops it.
type reactor struct {
	call
	mod    api.Module
	mem    api.Memory
	handle api.Function
	buffer api.Function

	// The guest's request buffer, as gureum_buffer last returned it.
	bufPtr, bufCap uint32
	// clock is the monotonic clock of an instance restored from a
	// snapshot (nil otherwise).
	clock *monoClock
	// img is the image of an instance restored from a snapshot (nil
	// otherwise).
	img *image

	// closed may be set by Close while an invocation runs, which it stops.
	closed atomic.Bool
	// guard, when set, must be entered around every guest call: the
	// memory is a mapping wazero's Close would otherwise pull from under a
	// guest still running.
	guard memoryGuard
	// flag stops the guest of an interruptible module (nil otherwise).
	flag *interrupt.Flag

	// With a flag, Close does not close the module under a running call
	// (wazero's Close is not safe while the guest runs): it sets the flag,
	// and the call closes the module once it has returned.
	mu         sync.Mutex
	calls      int  // guest calls running, between enter and leave
	closeLater bool // Close came during a call

	stdout, stderr logSink
	sleeper        sleeper
	stack          [2]uint64
}

// newReactor instantiates the function's module with cfg and runs its
// initialization.
func newReactor(ctx context.Context, f *function, cfg wazero.ModuleConfig, log io.Writer) (*reactor, error) {
	r := &reactor{call: call{fn: f}}
	r.stderr.watch = true
	r.point(ctx, log)
	defer r.point(nil, nil)

	cfg = cfg.
		WithStdout(&r.stdout).
		WithStderr(&r.stderr).
		WithNanosleep(r.sleeper.sleep)
	ctx = r.bind(ctx)
	if !f.e.enterGuest() {
		return nil, fmt.Errorf("%s: %w: the engine is closing", f.name, engine.ErrInit)
	}
	mod, err := f.rt.InstantiateModule(ctx, f.mod.compiled, cfg)
	f.e.leaveGuest()
	if err != nil {
		return nil, f.initFailure("instantiation", err, r.stderr.oom)
	}
	r.attach(mod)
	if r.fn.rt.interruptible && r.flag == nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("%s: %w: the instrumented module has no interrupt flag", f.name, engine.ErrInit)
	}
	// A module prepared for snapshots leaves its data segments to the host.
	for _, d := range f.mod.data {
		if !r.mem.Write(d.Offset, d.Bytes) {
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("%s: %w: data segment at %#x is outside memory", f.name, engine.ErrInit, d.Offset)
		}
	}
	if !r.enter() {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("%s: %w: the engine is closing", f.name, engine.ErrInit)
	}
	defer r.leave()
	stop := r.watch(ctx)
	defer stop()
	for _, name := range []string{exportInitialize, exportStart} {
		if _, err := mod.ExportedFunction(name).Call(ctx); err != nil {
			_ = mod.Close(ctx)
			return nil, f.initFailure(name, r.stopped(ctx, err), r.stderr.oom)
		}
	}
	return r, nil
}

// attach makes mod the reactor's module.
func (r *reactor) attach(mod api.Module) {
	r.mod = mod
	if r.fn.rt.interruptible {
		r.flag, _ = interrupt.NewFlag(mod) // checked: watch fails without it
	}
	r.mem = mod.Memory()
	r.handle = mod.ExportedFunction(exportHandle)
	r.buffer = mod.ExportedFunction(exportBuffer)
}

// point directs the guest's output at log and its sleeps at ctx.
func (r *reactor) point(ctx context.Context, log io.Writer) {
	r.stdout.point(log)
	r.stderr.point(log)
	r.sleeper.done = nil
	if ctx != nil {
		r.sleeper.done = ctx.Done()
	}
}

// watch arranges for the guest to be stopped when ctx is done, until the
// returned function is called. Runtimes that are not interruptible close
// the module themselves.
func (r *reactor) watch(ctx context.Context) (stop func() bool) {
	if r.flag == nil {
		return func() bool { return true }
	}
	return r.flag.AfterDone(ctx)
}

// stopped is err, a call's failure, as the error wazero reports when it
// closes a module whose context is done: when the flag stopped the guest,
// the cause is the context's.
func (r *reactor) stopped(ctx context.Context, err error) error {
	if r.flag == nil || !r.flag.IsSet() {
		return err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return sys.NewExitError(sys.ExitCodeDeadlineExceeded)
	}
	return sys.NewExitError(sys.ExitCodeContextCanceled) // canceled, or closed by Close
}

// enter reports whether the instance may be called (it is not closed, and
// its memory is there), and keeps it so until leave.
func (r *reactor) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() || r.closeLater {
		return false
	}
	if !r.fn.e.enterGuest() {
		return false
	}
	if r.guard != nil && !r.guard.enter() {
		r.fn.e.leaveGuest()
		return false
	}
	r.calls++
	return true
}

// leave ends what enter began, and closes the module if Close came during
// the call.
func (r *reactor) leave() {
	r.mu.Lock()
	r.calls--
	closeNow := r.calls == 0 && r.closeLater
	r.closeLater = r.closeLater && !closeNow
	r.mu.Unlock()
	if r.guard != nil {
		r.guard.leave()
	}
	if closeNow {
		_ = r.mod.Close(context.Background())
	}
	r.fn.e.leaveGuest()
}

// Invoke serves one request. See the type's documentation for the results.
func (r *reactor) Invoke(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	if !r.enter() {
		return nil, fmt.Errorf("%s: invoke on a closed instance", r.fn.name)
	}
	defer r.leave()
	ctx, cancel := invocationContext(ctx, req)
	defer cancel()
	ctx = r.bind(ctx)
	defer r.watch(ctx)()
	r.reset()
	r.serve(req.Host)
	defer r.done()
	r.point(ctx, req.Log)
	defer r.point(nil, nil)

	metaLen, err := r.writeRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	r.stack[0] = uint64(metaLen)
	r.stack[1] = uint64(len(req.Payload))
	if err := r.handle.CallWithStack(ctx, r.stack[:]); err != nil {
		return nil, r.fail(ctx, r.fn.failure(r.stopped(ctx, err), r.stderr.oom))
	}
	if r.img != nil && r.img.hot.learnInvocation() {
		// The first invocation of an instance restored from this image
		// shows which pages later ones write early (standby instances
		// write them ahead).
		r.learnPages()
	}

	status := api.DecodeU32(r.stack[0])
	if r.tooLarge {
		return nil, r.fail(ctx, fmt.Errorf("%s: %w: more than %d bytes", r.fn.name, engine.ErrResponseTooLarge, engine.MaxResponseBytes))
	}
	switch status {
	case statusOK, statusError, statusPanic:
		if !r.responded {
			return nil, r.fail(ctx, fmt.Errorf("%s: %w: handler returned status %d without a response", r.fn.name, engine.ErrCrashed, status))
		}
		resp := &engine.Response{Payload: r.response, FunctionError: status != statusOK}
		if status == statusPanic {
			return resp, r.fail(ctx, fmt.Errorf("%s: %w: handler panicked: %s", r.fn.name, engine.ErrCrashed, errorMessage(r.response)))
		}
		return resp, nil
	case statusNoHandler:
		return nil, r.fail(ctx, fmt.Errorf("%s: %w: no handler registered: main must call gureum.Start", r.fn.name, engine.ErrInit))
	}
	return nil, r.fail(ctx, fmt.Errorf("%s: %w: unknown handler status %d", r.fn.name, engine.ErrCrashed, status))
}

// fail closes the instance, which an error leaves unfit for use, and
// returns err.
func (r *reactor) fail(ctx context.Context, err error) error {
	_ = r.Close(context.WithoutCancel(ctx))
	return err
}

// writeRequest copies the metadata and the payload into the guest's buffer,
// growing it first when needed, and returns the metadata's length.
func (r *reactor) writeRequest(ctx context.Context, req *engine.Request) (uint32, error) {
	var deadline [20]byte
	ms := strconv.AppendInt(deadline[:0], req.Deadline.UnixMilli(), 10)
	if req.Deadline.IsZero() {
		ms = append(deadline[:0], '0')
	}
	metaLen := len(req.ID) + 1 + len(ms) + 1 + len(req.FunctionARN) + 1 + len(req.TraceID)
	total := uint64(metaLen) + uint64(len(req.Payload))
	if total > 1<<31 {
		return 0, r.fail(ctx, fmt.Errorf("%s: request of %d bytes is too large", r.fn.name, total))
	}
	if uint32(total) > r.bufCap {
		r.stack[0] = total
		if err := r.buffer.CallWithStack(ctx, r.stack[:]); err != nil {
			return 0, r.fail(ctx, r.fn.failure(r.stopped(ctx, err), r.stderr.oom))
		}
		r.bufPtr, r.bufCap = api.DecodeU32(r.stack[0]), uint32(total)
	}
	buf, ok := r.mem.Read(r.bufPtr, uint32(total))
	if !ok {
		return 0, r.fail(ctx, fmt.Errorf("%s: %w: request buffer at %#x is outside memory", r.fn.name, engine.ErrCrashed, r.bufPtr))
	}
	n := copy(buf, req.ID)
	buf[n] = '\n'
	n++
	n += copy(buf[n:], ms)
	buf[n] = '\n'
	n++
	n += copy(buf[n:], req.FunctionARN)
	buf[n] = '\n'
	n++
	n += copy(buf[n:], req.TraceID)
	copy(buf[n:], req.Payload)
	return uint32(metaLen), nil
}

// Close closes the module, stopping a call in progress. It is idempotent.
func (r *reactor) Close(ctx context.Context) error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	if r.flag != nil {
		r.flag.Set()
		r.mu.Lock()
		if r.calls > 0 {
			r.closeLater = true // the call closes it when it returns
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
	}
	if err := r.mod.Close(ctx); err != nil {
		return fmt.Errorf("%s: close instance: %w", r.fn.name, err)
	}
	return nil
}

// errorMessage is the errorMessage of a Lambda error document, for an error
// string.
func errorMessage(doc []byte) string {
	var d struct {
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(doc, &d) != nil || d.Message == "" {
		return string(doc)
	}
	return d.Message
}

var _ engine.Instance = (*reactor)(nil)
