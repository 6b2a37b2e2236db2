package wasm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/wasm/wasmbin"
)

// result mirrors testdata/behave's response.
type result struct {
	Count     int      `json:"count"`
	Value     string   `json:"value"`
	Env       []string `json:"env"`
	UnixNano  int64    `json:"unixNano"`
	Year      int      `json:"year"`
	RequestID string   `json:"requestId"`
	ARN       string   `json:"arn"`
	Deadline  int64    `json:"deadline"`
	Trace     string   `json:"trace"`
}

type errorDoc struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func functionError(t *testing.T, o outcome) errorDoc {
	t.Helper()
	if o.resp == nil || !o.resp.FunctionError {
		t.Fatalf("want a function error, got %+v, %v", o.resp, o.err)
	}
	var d errorDoc
	if err := json.Unmarshal(o.resp.Payload, &d); err != nil {
		t.Fatalf("error document %q: %v", o.resp.Payload, err)
	}
	return d
}

func TestReactorAPIGatewayWarmReuse(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "hello", artifacts.hello, nil)
	inst, _ := start(t, fn)

	req, _ := json.Marshal(events.APIGatewayV2HTTPRequest{RawPath: "/orders/7", RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r"}})
	for want := 1; want <= 3; want++ {
		deadline := time.Now().Add(time.Minute)
		var log strings.Builder
		resp, err := inst.Invoke(context.Background(), &engine.Request{
			ID: "abc-" + strconv.Itoa(want), Payload: req, Deadline: deadline,
			FunctionARN: "arn:aws:lambda:local:0:function:hello", Log: &log,
		})
		if err != nil || resp.FunctionError {
			t.Fatalf("invoke %d: %v %s", want, err, resp.Payload)
		}
		var out events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(resp.Payload, &out); err != nil {
			t.Fatal(err)
		}
		if out.StatusCode != 200 || out.Body != "hello /orders/7" {
			t.Errorf("response %+v", out)
		}
		h := out.Headers
		if h["x-count"] != strconv.Itoa(want) {
			t.Errorf("call %d: count %s; state is not kept between warm calls", want, h["x-count"])
		}
		if h["x-request-id"] != "abc-"+strconv.Itoa(want) || h["x-arn"] != "arn:aws:lambda:local:0:function:hello" {
			t.Errorf("lambda context %v", h)
		}
		if h["x-deadline"] != strconv.FormatInt(deadline.UnixMilli(), 10) {
			t.Errorf("deadline %s, want %d", h["x-deadline"], deadline.UnixMilli())
		}
	}

	// A new instance starts from scratch.
	fresh, _ := start(t, fn)
	var out events.APIGatewayV2HTTPResponse
	ok(t, fresh, string(req), &out)
	if out.Headers["x-count"] != "1" {
		t.Errorf("fresh instance count %s, want 1", out.Headers["x-count"])
	}
}

func TestReactorContextAndLogs(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, nil)
	inst, initLog := start(t, fn)
	if !strings.Contains(initLog, "init says hello") {
		t.Errorf("init log %q lacks the program's init output", initLog)
	}

	var r result
	o := ok(t, inst, `{"action":"context"}`, &r)
	if r.RequestID != "req-1" || r.ARN != "arn:aws:lambda:local:000000000000:function:test" {
		t.Errorf("lambda context %+v", r)
	}
	if r.Trace != "Root=1-5759e988-bd862e3fe1be46a994272793" {
		t.Errorf("trace %q", r.Trace)
	}
	if d := time.Until(time.UnixMilli(r.Deadline)); d < 20*time.Second || d > 31*time.Second {
		t.Errorf("deadline %v away, want about 30s", d)
	}
	if o.log != "" {
		t.Errorf("unexpected log %q", o.log)
	}

	o = ok(t, inst, `{"action":"log"}`, nil)
	for _, want := range []string{"to stdout\n", "to stderr\n", "through log\n"} {
		if !strings.Contains(o.log, want) {
			t.Errorf("log %q lacks %q", o.log, want)
		}
	}
	if string(o.resp.Payload) != "{}" {
		t.Errorf("payload %q: output leaked into the response", o.resp.Payload)
	}
}

func TestReactorFunctionErrors(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, nil)
	inst, _ := start(t, fn)

	for _, tc := range []struct {
		event string
		want  errorDoc
	}{
		{`{"action":"error"}`, errorDoc{"something went wrong", "customError"}},
		{`{"action":"errorString"}`, errorDoc{"plain error", "errorString"}},
		{`{"action":"nonsense"}`, errorDoc{`unknown action "nonsense"`, "errorString"}},
		{`{"action": 5}`, errorDoc{"json: cannot unmarshal number into Go struct field event.action of type string", "UnmarshalTypeError"}},
	} {
		o := invoke(inst, tc.event, 30*time.Second)
		if o.err != nil {
			t.Fatalf("%s: %v", tc.event, o.err)
		}
		if got := functionError(t, o); got != tc.want {
			t.Errorf("%s: error document %+v, want %+v", tc.event, got, tc.want)
		}
	}
	// The instance is still good, with its state.
	var r result
	ok(t, inst, `{"action":"count"}`, &r)
	if r.Count != 4 { // the undecodable event never reached the handler
		t.Errorf("count %d after errors, want 4", r.Count)
	}
}

func TestReactorPanicDiscardsInstance(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, nil)
	inst, _ := start(t, fn)

	o := invoke(inst, `{"action":"panic"}`, 30*time.Second)
	if !errors.Is(o.err, engine.ErrCrashed) {
		t.Fatalf("panic: error %v, want ErrCrashed", o.err)
	}
	if d := functionError(t, o); d != (errorDoc{"handler panic", "string"}) {
		t.Errorf("panic document %+v", d)
	}
	if !strings.Contains(o.log, "panic: handler panic") {
		t.Errorf("log %q lacks the panic", o.log)
	}
	fresh, _ := start(t, fn)
	ok(t, fresh, `{"action":"noop"}`, nil)
}

func TestReactorCrash(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, nil)
	for _, tc := range []struct{ action, detail string }{
		{"exit", "exited with code 3"},
		{"crash", "unreachable"}, // Go's runtime aborts on a goroutine's panic
	} {
		inst, _ := start(t, fn)
		o := invoke(inst, `{"action":"`+tc.action+`"}`, 30*time.Second)
		if !errors.Is(o.err, engine.ErrCrashed) || !strings.Contains(o.err.Error(), tc.detail) {
			t.Errorf("%s: error %v, want ErrCrashed with %q", tc.action, o.err, tc.detail)
		}
		if o.resp != nil {
			t.Errorf("%s: response %+v alongside a crash", tc.action, o.resp)
		}
		// The dead instance refuses work; a fresh one serves.
		if o := invoke(inst, `{"action":"noop"}`, 30*time.Second); o.err == nil {
			t.Errorf("%s: crashed instance still answers", tc.action)
		}
		fresh, _ := start(t, fn)
		ok(t, fresh, `{"action":"noop"}`, nil)
	}
}

func TestReactorTimeoutStopsGuest(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, nil)
	// Both would run for an hour or forever if the deadline did not stop
	// them; the test's own timeout catches that.
	for _, action := range []string{"loop", "sleep"} {
		inst, _ := start(t, fn)
		o := invoke(inst, `{"action":"`+action+`"}`, 300*time.Millisecond)
		if !errors.Is(o.err, engine.ErrTimeout) {
			t.Errorf("%s: error %v, want ErrTimeout", action, o.err)
		}
		fresh, _ := start(t, fn)
		ok(t, fresh, `{"action":"noop"}`, nil)
	}
}

func TestReactorCloseStopsInvocation(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, nil)
	inst, _ := start(t, fn)
	result := make(chan outcome)
	go func() { result <- invoke(inst, `{"action":"loop"}`, time.Hour) }()
	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Whether Close came before the call or during it, the call ends.
	if o := <-result; o.err == nil {
		t.Errorf("invocation of a closed instance succeeded: %s", o.resp.Payload)
	}
}

func TestReactorMemoryLimit(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{})
	small := prepare(t, e, "behave", artifacts.behave, func(s *engine.Spec) { s.MemoryMiB = 32 })
	inst, _ := start(t, small)
	o := invoke(inst, `{"action":"alloc","mib":64}`, 30*time.Second)
	if !errors.Is(o.err, engine.ErrCrashed) || !strings.Contains(o.err.Error(), "out of memory (limit 32 MiB)") {
		t.Fatalf("64 MiB in 32 MiB: error %v, want ErrCrashed out of memory", o.err)
	}

	large := prepare(t, e, "behave", artifacts.behave, func(s *engine.Spec) { s.MemoryMiB = 256 })
	inst, _ = start(t, large)
	var r result
	ok(t, inst, `{"action":"alloc","mib":64}`, &r)
	if r.Value != strconv.Itoa(64<<20) {
		t.Errorf("allocated %s bytes", r.Value)
	}
}

func TestReactorResponseTooLarge(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, nil)
	inst, _ := start(t, fn)
	if o := invoke(inst, `{"action":"big"}`, 30*time.Second); !errors.Is(o.err, engine.ErrResponseTooLarge) {
		t.Errorf("error %v, want ErrResponseTooLarge", o.err)
	}
}

func TestReactorEnvironment(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, func(s *engine.Spec) {
		s.Env = map[string]string{"GREETING": "annyeong"}
	})
	inst, _ := start(t, fn)
	var r result
	ok(t, inst, `{"action":"env","key":"GREETING"}`, &r)
	if r.Value != "annyeong" {
		t.Errorf("GREETING = %q", r.Value)
	}
	for _, kv := range r.Env {
		name, _, _ := strings.Cut(kv, "=")
		if name != "GREETING" && !strings.HasPrefix(name, "AWS_LAMBDA_") && name != "_X_AMZN_TRACE_ID" {
			t.Errorf("guest sees %s, which is not the function's", kv)
		}
	}
	if !slices.Contains(r.Env, "AWS_LAMBDA_FUNCTION_NAME=behave") || !slices.Contains(r.Env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128") {
		t.Errorf("environment %v lacks the Lambda variables", r.Env)
	}
}

func TestReactorClockAndRandomness(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "behave", artifacts.behave, nil)
	a, _ := start(t, fn)
	b, _ := start(t, fn)

	var t1, t2 result
	ok(t, a, `{"action":"time"}`, &t1)
	ok(t, a, `{"action":"time"}`, &t2)
	if t1.Year < 2026 {
		t.Errorf("guest year %d: the clock is not real", t1.Year)
	}
	if t2.UnixNano <= t1.UnixNano {
		t.Errorf("guest time does not move: %d then %d", t1.UnixNano, t2.UnixNano)
	}

	var ra, ra2, rb result
	ok(t, a, `{"action":"rand"}`, &ra)
	ok(t, a, `{"action":"rand"}`, &ra2)
	ok(t, b, `{"action":"rand"}`, &rb)
	if len(ra.Value) != 32 || ra.Value == rb.Value || ra.Value == ra2.Value {
		t.Errorf("random bytes repeat: %s, %s, %s", ra.Value, ra2.Value, rb.Value)
	}
}

func TestReactorWithoutHandler(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "nostart", artifacts.nostart, nil)
	inst, log := start(t, fn)
	if !strings.Contains(log, "main returns without a handler") {
		t.Errorf("init log %q: main did not run", log)
	}
	o := invoke(inst, `{}`, 30*time.Second)
	if !errors.Is(o.err, engine.ErrInit) || !strings.Contains(o.err.Error(), "gureum.Start") {
		t.Errorf("error %v, want ErrInit naming gureum.Start", o.err)
	}
}

func TestReactorInitFailure(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{InitTimeout: 300 * time.Millisecond})
	for _, tc := range []struct {
		init string
		also error
	}{
		{"panic", engine.ErrCrashed},
		{"loop", engine.ErrTimeout},
	} {
		fn := prepare(t, e, "behave", artifacts.behave, func(s *engine.Spec) {
			s.Env = map[string]string{"INIT": tc.init}
		})
		var log strings.Builder
		_, err := fn.NewInstance(context.Background(), &log)
		if !errors.Is(err, engine.ErrInit) || !errors.Is(err, tc.also) {
			t.Errorf("INIT=%s: error %v, want ErrInit and %v", tc.init, err, tc.also)
		}
		if tc.init == "panic" && !strings.Contains(log.String(), "main failed") {
			t.Errorf("INIT=panic: init log %q lacks the panic", log.String())
		}
	}
}

func TestCommand(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "command", artifacts.command, func(s *engine.Spec) {
		s.Env = map[string]string{"GREETING": "hi"}
	})
	inst, _ := start(t, fn)

	var echo struct{ Echo, Greeting string }
	o := ok(t, inst, `ping`, &echo)
	if echo.Echo != "ping" || echo.Greeting != "hi" {
		t.Errorf("response %+v", echo)
	}
	if o.log != "command got 4 bytes\n" {
		t.Errorf("log %q", o.log)
	}

	o = invoke(inst, "exit 4", 30*time.Second)
	if o.err != nil {
		t.Fatalf("exit 4: %v", o.err)
	}
	d := functionError(t, o)
	if d.Type != "Runtime.ExitError" || !strings.Contains(d.Message, "exit status 4") || !strings.Contains(d.Message, "req-1") {
		t.Errorf("exit document %+v", d)
	}
	// A non-zero exit leaves the instance usable.
	ok(t, inst, `pong`, &echo)
	if echo.Echo != "pong" {
		t.Errorf("after exit: %+v", echo)
	}

	o = invoke(inst, "sleep", 300*time.Millisecond)
	if !errors.Is(o.err, engine.ErrTimeout) {
		t.Errorf("sleep: error %v, want ErrTimeout", o.err)
	}
}

// Minimal modules, by hand.
var (
	// emptyModule is a valid module with nothing in it.
	emptyModule = []byte("\x00asm\x01\x00\x00\x00")
	// unknownImportModule imports gureum.nope.
	unknownImportModule = []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type 0: () -> ()
		"\x02\x0f\x01\x06gureum\x04nope\x00\x00") // import gureum.nope: type 0
	// initOnlyModule exports _initialize and nothing else, like a Go
	// c-shared build that does not use the SDK.
	initOnlyModule = []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type 0: () -> ()
		"\x03\x02\x01\x00" + // function 0: type 0
		"\x07\x0f\x01\x0b_initialize\x00\x00" + // export _initialize: function 0
		"\x0a\x04\x01\x02\x00\x0b") // code: empty body
)

func TestInvalidArtifacts(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{})
	dir := t.TempDir()
	random := make([]byte, 4096)
	_, _ = rand.Read(random)

	for _, tc := range []struct {
		name string
		bin  []byte
		hash string // empty: computed by Prepare
		want string
	}{
		{"random", random, "", "not a WebAssembly module"},
		{"empty", emptyModule, "", "exports neither gureum_handle"},
		{"unknown-import", unknownImportModule, "", "imports gureum.nope"},
		{"init-only", initOnlyModule, "", "gureum.Start"},
		{"wrong-hash", emptyModule, strings.Repeat("ab", 32), "expected abab"},
		// A section count far beyond the section's size, which would make
		// wazero's decoder allocate about 75 GB.
		{"huge-count", []byte("\x00asm\x01\x00\x00\x00\x06\x00\x80\xff\xff\xff\x06"), "", "not a WebAssembly module"},
	} {
		path := filepath.Join(dir, tc.name+".wasm")
		if err := os.WriteFile(path, tc.bin, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := e.Prepare(context.Background(), engine.Spec{Function: tc.name, ArtifactPath: path, ArtifactHash: tc.hash})
		if !errors.Is(err, engine.ErrInvalidArtifact) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrInvalidArtifact with %q", tc.name, err, tc.want)
		}
	}
	// A failed Prepare is not cached.
	e.mu.Lock()
	n := len(e.modules)
	e.mu.Unlock()
	if n != 0 {
		t.Errorf("%d modules cached after failures", n)
	}
}

func TestPrepareSharesCompiledModule(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{})
	a := prepare(t, e, "command", artifacts.command, nil)
	b := prepare(t, e, "command", artifacts.command, func(s *engine.Spec) { s.ArtifactHash = "" })
	c := prepare(t, e, "command", artifacts.command, func(s *engine.Spec) { s.MemoryMiB = 64 })

	e.mu.Lock()
	key := moduleKey{pages: 128 * pagesPerMiB, hash: artifacts.command.hash}
	m := e.modules[key]
	refs, n := 0, len(e.modules)
	if m != nil {
		refs = m.refs
	}
	e.mu.Unlock()
	if refs != 2 || n != 2 {
		t.Fatalf("%d modules, %d references to the 128 MiB one; want 2 and 2", n, refs)
	}

	// Closing one leaves the other working; closing both forgets it.
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	inst, _ := start(t, b)
	ok(t, inst, "still here", nil)
	_ = b.Close(context.Background())
	_ = c.Close(context.Background())
	e.mu.Lock()
	n = len(e.modules)
	e.mu.Unlock()
	if n != 0 {
		t.Errorf("%d modules cached after every function closed", n)
	}
}

func TestCompilationCacheDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := New(Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	prepare(t, first, "command", artifacts.command, nil)
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}

	var files int
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatal("compilation cache directory is empty")
	}

	second := newEngine(t, Config{CacheDir: dir})
	inst, _ := start(t, prepare(t, second, "command", artifacts.command, nil))
	ok(t, inst, "cached", nil)
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{InitTimeout: -time.Second}); err == nil {
		t.Error("negative init timeout accepted")
	}
	e := newEngine(t, Config{})
	if _, err := e.Prepare(context.Background(), engine.Spec{Function: "p", Runtime: "process"}); !errors.Is(err, engine.ErrInvalidArtifact) {
		t.Errorf("process spec: %v", err)
	}
	if _, err := e.Prepare(context.Background(), engine.Spec{Function: "m", MemoryMiB: MaxMemoryMiB + 1, ArtifactPath: artifacts.command.path}); err == nil {
		t.Error("memory over 4 GiB accepted")
	}
}

// TestUninstrumentedModuleStillStops: a module the interrupt
// instrumentation refuses (here: it already exports the flag's name) runs
// in a runtime that closes modules when their context is done, and its
// endless loop is still stopped at the timeout.
func TestUninstrumentedModuleStillStops(t *testing.T) {
	t.Parallel()
	var b []byte
	b = append(b, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	b = wasmbin.AppendSection(b, 1, []byte{1, 0x60, 0, 0})             // type () -> ()
	b = wasmbin.AppendSection(b, 3, []byte{1, 0})                      // one function
	b = wasmbin.AppendSection(b, 5, []byte{1, 0, 1})                   // memory of one page
	b = wasmbin.AppendSection(b, 6, []byte{1, 0x7f, 1, 0x41, 0, 0x0b}) // a mutable i32
	exports := wasmbin.AppendName([]byte{2}, "_start")
	exports = append(exports, 0, 0)
	exports = wasmbin.AppendName(exports, "gureum_interrupt")
	exports = append(exports, 3, 0)
	b = wasmbin.AppendSection(b, 7, exports)
	body := []byte{0, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b} // loop br 0 end end
	b = wasmbin.AppendSection(b, 10, append([]byte{1, byte(len(body))}, body...))

	path := filepath.Join(t.TempDir(), "spin.wasm")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Config{})
	fn, err := e.Prepare(context.Background(), engine.Spec{Function: "spin", ArtifactPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fn.Close(context.Background()) })
	if fn.(*function).rt.interruptible {
		t.Fatal("a module the instrumentation refuses runs in an interruptible runtime")
	}
	inst, err := fn.NewInstance(context.Background(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o := invoke(inst, `{}`, 200*time.Millisecond); !errors.Is(o.err, engine.ErrTimeout) {
		t.Fatalf("endless loop: %v", o.err)
	}
}

// TestCloseWaitsForRunningGuests: Close does not close the runtimes under a
// guest still running (wazero's Close is not safe then): it waits until the
// guest has stopped, here when its invocation is cancelled, and refuses new
// calls meanwhile.
func TestCloseWaitsForRunningGuests(t *testing.T) {
	e := newEngine(t, Config{})
	fn := prepare(t, e, "behave", artifacts.behave, nil)
	idle, _ := start(t, fn)
	cancel, done := loopingGuest(t, e, fn)
	closed := make(chan error, 1)
	go func() { closed <- e.Close(context.Background()) }()
	waitFor(t, "Close to begin", e.shut.Load)
	select {
	case err := <-closed:
		t.Fatalf("Close returned while a guest ran: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := idle.Invoke(context.Background(), &engine.Request{ID: "late", Payload: []byte(`{"action":"noop"}`), Deadline: time.Now().Add(time.Minute), Log: io.Discard}); err == nil {
		t.Error("an invocation began while the engine was closing")
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("the cancelled loop answered")
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close after the guest stopped: %v", err)
	}
}

// TestCloseGivesUpOnAGuestThatRunsOn: a guest that does not stop by the end
// of Close's context and its grace leaves the runtimes open, and Close says
// so.
func TestCloseGivesUpOnAGuestThatRunsOn(t *testing.T) {
	e, err := New(Config{CacheDir: artifacts.cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	fn := prepare(t, e, "behave", artifacts.behave, nil)
	cancel, done := loopingGuest(t, e, fn)
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer ccancel()
	if err := e.Close(cctx); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Close with a guest spinning on: %v", err)
	}
	cancel()
	<-done
}

// waitFor waits up to 10 s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// loopingGuest starts an instance of fn looping in an invocation, until
// cancel is called; done receives the invocation's error.
func loopingGuest(t *testing.T, e *Engine, fn engine.Function) (cancel func(), done <-chan error) {
	t.Helper()
	inst, _ := start(t, fn)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		_, err := inst.Invoke(ctx, &engine.Request{ID: "loop", Payload: []byte(`{"action":"loop"}`), Deadline: time.Now().Add(time.Minute), Log: io.Discard})
		errs <- err
	}()
	waitFor(t, "the guest to run", func() bool { return e.guests.Load() > 0 })
	return cancel, errs
}
