package process

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// runtimeState is where the runtime is in the Runtime API's state machine.
// Its names are those Lambda uses in InvalidStateTransition errors.
type runtimeState int

const (
	stateStarted    runtimeState = iota // started, has not asked for an event yet
	stateWaiting                        // asking for an event, none in progress
	stateRunning                        // an event delivered, no result yet
	stateResponding                     // a result is being posted
	stateDone                           // the result is in; the runtime has not asked for the next event yet
	stateInitError                      // the runtime reported an init error
)

func (s runtimeState) String() string {
	switch s {
	case stateStarted:
		return "Started"
	case stateWaiting, stateRunning:
		return "Ready"
	case stateResponding:
		return "InvocationResponse"
	case stateDone:
		return "RuntimeResponseSentState"
	case stateInitError:
		return "InitError"
	}
	return "Unknown"
}

// invocation is an event handed to the runtime.
type invocation struct {
	req        *engine.Request
	deadlineMs string
	arn        string
	traceID    string
}

// outcome is what the runtime posted for an invocation.
type outcome struct {
	payload       []byte
	functionError bool
	err           error
}

// Instance is one process serving one function version, one request at a
// time. Its methods are safe for concurrent use.
type Instance struct {
	fn   *Function
	cmd  *exec.Cmd
	pid  int
	addr string // host:port of the Runtime API
	srv  *http.Server
	out  *output
	cg   *cgroup
	wg   sync.WaitGroup // serve, watch and the output pumps

	events     chan *invocation // Invoke → a waiting next; unbuffered
	results    chan outcome     // the runtime's result → Invoke; one per invocation
	waiting    chan struct{}    // the runtime asked for the next event after a result
	ready      chan struct{}    // closed at the runtime's first next
	initFailed chan struct{}    // closed when the runtime posted an init error
	exited     chan struct{}    // closed once the process is reaped
	closing    chan struct{}    // closed when Close begins
	stopped    chan struct{}    // closed when Close is complete
	timer      *time.Timer      // the invocation deadline, reused
	busy       atomic.Bool
	closeOnce  sync.Once
	handlers   handlerCount
	initDoc    []byte // the runtime's init error document, set before initFailed closes

	mu      sync.Mutex
	state   runtimeState
	cur     *invocation // the invocation in progress or just finished
	reaped  bool        // the process is gone: its pid must not be signalled
	exitErr error       // how the process ended, set before exited closes
	oomKill bool        // the cgroup's OOM killer ran
}

// handlerCount counts the Runtime API handlers running, so teardown can wait
// for them; once closed, no handler starts.
type handlerCount struct {
	sync.Mutex
	idle   sync.Cond
	n      int
	closed bool
}

func (h *handlerCount) enter() bool {
	h.Lock()
	defer h.Unlock()
	if h.closed {
		return false
	}
	h.n++
	return true
}

func (h *handlerCount) leave() {
	h.Lock()
	if h.n--; h.n == 0 {
		h.idle.Broadcast()
	}
	h.Unlock()
}

func newInstance(fn *Function) *Instance {
	t := time.NewTimer(time.Hour)
	t.Stop()
	in := &Instance{
		fn:         fn,
		events:     make(chan *invocation),
		results:    make(chan outcome, 1),
		waiting:    make(chan struct{}, 1),
		ready:      make(chan struct{}),
		initFailed: make(chan struct{}),
		exited:     make(chan struct{}),
		closing:    make(chan struct{}),
		stopped:    make(chan struct{}),
		timer:      t,
	}
	in.handlers.idle.L = &in.handlers
	return in
}

// NewInstance starts one process and returns once it asks for its first
// event. Its output goes to log until then, and afterwards whenever no
// request is in progress, until Close returns; log must be safe to use from
// another goroutine meanwhile.
//
// The process runs the artifact with no arguments, in the artifact's
// directory, in a process group of its own, with only this environment:
// AWS_LAMBDA_RUNTIME_API (its endpoint), AWS_LAMBDA_FUNCTION_NAME,
// AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
// AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME,
// AWS_LAMBDA_INITIALIZATION_TYPE, _HANDLER, LAMBDA_TASK_ROOT,
// LAMBDA_RUNTIME_DIR, PATH, LANG, TZ, the function's own variables, and
// GUREUM_HOST_URL and GUREUM_HOST_TOKEN when the spec gives a host API.
//
// It fails with engine.ErrInit, carrying the reason and the last lines of
// output, when the process exits first, posts an init error or is not ready
// within Config.InitTimeout.
func (f *Function) NewInstance(ctx context.Context, logw io.Writer) (engine.Instance, error) {
	if logw == nil {
		logw = io.Discard
	}
	in := newInstance(f)
	if err := f.track(in); err != nil {
		return nil, err
	}
	if err := in.start(logw); err != nil {
		f.forget(in)
		return nil, fmt.Errorf("process: start %s: %w", f.name, err)
	}

	timer := time.NewTimer(f.eng.cfg.InitTimeout)
	defer timer.Stop()
	var fail error
	select {
	case <-in.ready:
		in.out.detach() // the init output is all in log now
		return in, nil
	case <-in.initFailed:
		fail = fmt.Errorf("%w: %s", engine.ErrInit, describeError(in.initDoc))
	case <-in.exited:
		fail = fmt.Errorf("%w: Runtime.ExitError: the process exited before asking for its first event (%v)", engine.ErrInit, in.exitErr)
	case <-timer.C:
		fail = fmt.Errorf("%w: Runtime.InitTimeout: the process did not ask for its first event within %v", engine.ErrInit, f.eng.cfg.InitTimeout)
	case <-ctx.Done():
		fail = fmt.Errorf("process: start %s: %w", f.name, ctx.Err())
	}
	in.beginTeardown()
	<-in.stopped
	if tail, _ := in.out.crashReport(20); tail != "" && !errors.Is(fail, ctx.Err()) {
		fail = fmt.Errorf("%w; output:\n%s", fail, tail)
	}
	return nil, fail
}

// start creates the endpoint and the process and the goroutines that serve
// them. On error nothing is left running.
func (in *Instance) start(logw io.Writer) error {
	f := in.fn
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	in.addr = ln.Addr().String()
	out, stdout, stderr, err := newOutput(logw)
	if err != nil {
		ln.Close()
		return err
	}
	in.out = out

	env := make([]string, 0, len(f.env)+2)
	env = append(env, f.env...)
	env = append(env,
		"AWS_LAMBDA_RUNTIME_API="+in.addr,
		"AWS_LAMBDA_LOG_STREAM_NAME="+logStreamName(f.version),
	)
	in.cmd = &exec.Cmd{
		Path:   f.path,
		Args:   []string{f.path},
		Env:    env,
		Dir:    f.dir,
		Stdout: stdout,
		Stderr: stderr,
	}
	if f.eng.cg != nil {
		in.cg, err = f.eng.cg.create(fmt.Sprintf("%s-%d-%d", f.name, os.Getpid(), f.eng.seq.Add(1)), uint64(f.memMiB)<<20)
		if err != nil {
			ln.Close()
			stdout.Close()
			stderr.Close()
			out.closeFiles()
			return err
		}
	}
	err = f.eng.spawn(in.cmd, in.cg, uint64(f.memMiB)<<20)
	stdout.Close()
	stderr.Close()
	if err != nil {
		ln.Close()
		out.closeFiles()
		if in.cg != nil {
			in.cg.remove()
		}
		return err
	}
	in.pid = in.cmd.Process.Pid

	in.srv = &http.Server{
		Handler:  http.HandlerFunc(in.serveAPI),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	in.wg.Add(4)
	go func() {
		defer in.wg.Done()
		_ = in.srv.Serve(ln) // ends with ErrServerClosed at teardown
	}()
	go in.watch()
	go func() {
		defer in.wg.Done()
		in.out.pump(0)
	}()
	go func() {
		defer in.wg.Done()
		in.out.pump(1)
	}()
	return nil
}

// watch waits for the process to exit, kills what is left of its process
// group while the group id is still reserved by the unreaped process, and
// reaps it.
func (in *Instance) watch() {
	defer in.wg.Done()
	err := waitExit(in.cmd, func() {
		in.mu.Lock()
		in.killLocked()
		in.mu.Unlock()
	})
	oom := in.cg != nil && in.cg.oomKilled()
	in.mu.Lock()
	in.reaped = true
	in.exitErr = err
	in.oomKill = oom
	in.mu.Unlock()
	close(in.exited)
}

// killLocked kills the process group (and the cgroup) unless the process is
// already reaped.
func (in *Instance) killLocked() {
	if in.cg != nil {
		in.cg.kill()
	}
	if !in.reaped {
		killGroup(in.pid)
	}
}

// Done is closed once the instance's process has exited; the instance can
// then serve nothing more and should be closed.
func (in *Instance) Done() <-chan struct{} { return in.exited }

// Invoke hands req to the runtime and waits for its result, the process's
// exit or req.Deadline. A function error is a Response; an error means the
// instance is broken: engine.ErrTimeout (the process group was killed),
// engine.ErrCrashed (the process exited), engine.ErrResponseTooLarge.
func (in *Instance) Invoke(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	if !in.busy.CompareAndSwap(false, true) {
		return nil, errors.New("process: Invoke called while the instance serves another request")
	}
	defer in.busy.Store(false)
	select {
	case <-in.closing:
		return nil, fmt.Errorf("%w: the instance is closed", engine.ErrCrashed)
	case <-in.exited:
		return nil, fmt.Errorf("%w: %w", engine.ErrNotDelivered, in.crashError("the process had exited before the invocation"))
	default:
	}

	start := time.Now()
	deadline := req.Deadline
	if deadline.IsZero() {
		deadline = start.Add(in.fn.timeout)
	}
	inv := &invocation{
		req:        req,
		deadlineMs: strconv.FormatInt(deadline.UnixMilli(), 10),
		arn:        req.FunctionARN,
		traceID:    xrayTraceID(req.TraceID, start),
	}
	if inv.arn == "" {
		inv.arn = in.fn.arn
	}
	logw := req.Log
	if logw == nil {
		logw = io.Discard
	}
	select { // a result or signal left by an invocation that ended early
	case <-in.results:
	default:
	}
	select {
	case <-in.waiting:
	default:
	}

	in.out.attach(logw)
	defer in.out.detach()
	in.timer.Reset(time.Until(deadline))
	defer in.timer.Stop()

	select {
	case in.events <- inv:
	case <-in.exited:
		return nil, fmt.Errorf("%w: %w", engine.ErrNotDelivered, in.crashError("the process exited before it took the event"))
	case <-in.timer.C:
		return nil, in.timeout(ctx, deadline.Sub(start))
	case <-ctx.Done():
		return nil, fmt.Errorf("process: invocation %s not delivered: %w", req.ID, ctx.Err())
	}

	var o outcome
	select {
	case o = <-in.results:
	case <-in.exited:
		in.mu.Lock()
		posting := in.state == stateResponding || in.state == stateDone
		in.mu.Unlock()
		if !posting {
			return nil, in.crashError("the process exited during the invocation")
		}
		// It posted its result, then exited: the result stands.
		select {
		case o = <-in.results:
		case <-in.timer.C:
			return nil, in.timeout(ctx, deadline.Sub(start))
		}
	case <-in.timer.C:
		return nil, in.timeout(ctx, deadline.Sub(start))
	case <-ctx.Done():
		in.stop(ctx)
		return nil, fmt.Errorf("process: invocation %s abandoned, instance stopped: %w", req.ID, ctx.Err())
	}
	if o.err != nil {
		return nil, o.err
	}
	if o.functionError {
		// A runtime that reports a fatal error exits right after (as
		// aws-lambda-go does on a panic); one that carries on asks for the
		// next event at once. Wait briefly for either, so Done is up to
		// date and the runtime's last words are in this request's log.
		in.timer.Reset(min(time.Until(deadline), errorGrace))
		in.awaitNext(ctx)
	}
	return &engine.Response{Payload: o.payload, FunctionError: o.functionError}, nil
}

// errorGrace bounds how long Invoke waits after a function error for the
// runtime to exit or ask for the next event.
const errorGrace = 100 * time.Millisecond

// awaitNext waits until the runtime that posted a result asks for the next
// event or exits, or in.timer fires.
func (in *Instance) awaitNext(ctx context.Context) {
	for {
		in.mu.Lock()
		asked := in.state != stateDone // only next leaves stateDone
		in.mu.Unlock()
		if asked {
			return
		}
		select {
		case <-in.waiting: // maybe left from an earlier next: check again
		case <-in.exited:
			return
		case <-in.timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// timeout kills the process group and waits for the process to be gone.
func (in *Instance) timeout(ctx context.Context, after time.Duration) error {
	in.stop(ctx)
	return fmt.Errorf("%w after %.2f seconds; the instance was stopped", engine.ErrTimeout, after.Seconds())
}

// stop kills the process group and waits until the process is reaped.
func (in *Instance) stop(ctx context.Context) {
	in.mu.Lock()
	in.killLocked()
	in.mu.Unlock()
	select {
	case <-in.exited:
	case <-ctx.Done():
	}
}

// crashError describes the process's end, once it has exited.
func (in *Instance) crashError(what string) error {
	<-in.exited
	in.out.detach() // the last output belongs in the error
	in.mu.Lock()
	exitErr, oom := in.exitErr, in.oomKill
	in.mu.Unlock()
	tail, oomOutput := in.out.crashReport(20)
	kind := "Runtime.ExitError"
	if oom || oomOutput {
		kind = "Runtime.OutOfMemory"
		what += fmt.Sprintf(", out of memory (limit %d MiB)", in.fn.memMiB)
	}
	err := fmt.Errorf("%w: %s: %s (%v)", engine.ErrCrashed, kind, what, exitErr)
	if tail != "" {
		err = fmt.Errorf("%w; output:\n%s", err, tail)
	}
	return err
}

// Close kills the process group, stops the endpoint and waits for every
// goroutine of the instance. It is idempotent.
func (in *Instance) Close(ctx context.Context) error {
	in.beginTeardown()
	select {
	case <-in.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("process: close instance of %s: %w", in.fn.name, ctx.Err())
	}
}

// beginTeardown starts the instance's teardown once; stopped closes when it
// is complete.
func (in *Instance) beginTeardown() {
	in.closeOnce.Do(func() {
		close(in.closing)
		go in.teardown()
	})
}

// teardown stops everything the instance runs.
func (in *Instance) teardown() {
	defer close(in.stopped)
	in.mu.Lock()
	in.killLocked()
	in.mu.Unlock()
	<-in.exited

	// The process is gone, so no client is left to be graceful to: cut the
	// connections, then wait for the handlers, which return once closing is
	// closed or their connection is gone.
	in.srv.Close()
	in.handlers.Lock()
	in.handlers.closed = true
	for in.handlers.n > 0 {
		in.handlers.idle.Wait()
	}
	in.handlers.Unlock()
	in.out.close()
	in.wg.Wait()
	if in.cg != nil {
		in.cg.remove()
	}
	in.fn.forget(in)
}

// describeError renders a Lambda error document as "errorType: errorMessage".
func describeError(doc []byte) string {
	var e struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(doc, &e) != nil || (e.ErrorType == "" && e.ErrorMessage == "") {
		return string(doc)
	}
	if e.ErrorType == "" {
		return e.ErrorMessage
	}
	return e.ErrorType + ": " + e.ErrorMessage
}

// logStreamName is a log stream name in Lambda's form,
// 2006/01/02/[$LATEST]0123456789abcdef0123456789abcdef.
func logStreamName(version string) string {
	var id [16]byte
	for i := 0; i < len(id); i += 8 {
		v := rand.Uint64()
		for j := range 8 {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	return time.Now().UTC().Format("2006/01/02") + "/[" + version + "]" + hex.EncodeToString(id[:])
}

// xrayTraceID gives the runtime a trace header in X-Ray's form, which is what
// Lambda clients expect in Lambda-Runtime-Trace-Id: a W3C traceparent is
// translated (an X-Ray trace id is a W3C trace id with its first 8 hex
// digits split off), X-Ray headers pass as they are, and a request without
// one gets a new trace.
func xrayTraceID(id string, now time.Time) string {
	if id == "" {
		return fmt.Sprintf("Root=1-%08x-%012x%012x;Parent=%016x;Sampled=0",
			uint32(now.Unix()), rand.Uint64()&(1<<48-1), rand.Uint64()&(1<<48-1), rand.Uint64())
	}
	// traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
	if len(id) == 55 && id[2] == '-' && id[35] == '-' && id[52] == '-' && isHex(id[3:35]) && isHex(id[36:52]) && isHex(id[53:]) {
		sampled := "0"
		if flags, _ := strconv.ParseUint(id[53:], 16, 8); flags&1 == 1 {
			sampled = "1"
		}
		return "Root=1-" + id[3:11] + "-" + id[11:35] + ";Parent=" + id[36:52] + ";Sampled=" + sampled
	}
	return id
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
