//go:build linux

package process

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// sentinel is set in the test process's environment; no function may see it.
const sentinel = "GUREUM_PROCESS_TEST_SENTINEL"

// goBootstrap is the aws-lambda-go test function, and fnBootstrap the
// shared test function (internal/testutil/testdata/fn), built by TestMain.
var goBootstrap, fnBootstrap string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "process-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	goBootstrap = filepath.Join(dir, "golambda", "bootstrap")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	build := exec.Command(gobin, "build", "-o", goBootstrap, "./testdata/golambda")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the aws-lambda-go test function: %v\n%s", err, out)
		return 1
	}
	// The shared test function of the end-to-end tests, which calls the
	// host through the SDK.
	fnBootstrap = filepath.Join(dir, "fn", "bootstrap")
	build = exec.Command(gobin, "build", "-o", fnBootstrap, "../../testutil/testdata/fn")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the shared test function: %v\n%s", err, out)
		return 1
	}
	os.Setenv(sentinel, "leaked")
	return m.Run()
}

// syncBuffer is a log writer that tests read while instances write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
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

// script copies a test script into a directory of its own, as a deployed
// artifact, and returns its path.
func script(t testing.TB, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(path, src, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func spec(name, path string) engine.Spec {
	return engine.Spec{Function: name, Version: "1", Runtime: "process", ArtifactPath: path, MemoryMiB: 128, Timeout: 30 * time.Second}
}

func prepare(t testing.TB, e *Engine, s engine.Spec) *Function {
	t.Helper()
	fn, err := e.Prepare(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return fn.(*Function)
}

func startInstance(t testing.TB, fn *Function, log io.Writer) *Instance {
	t.Helper()
	in, err := fn.NewInstance(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return in.(*Instance)
}

func newRequest(payload string, timeout time.Duration) (*engine.Request, *syncBuffer) {
	log := &syncBuffer{}
	return &engine.Request{
		ID:          fmt.Sprintf("req-%016x", rand.Uint64()),
		Payload:     []byte(payload),
		Deadline:    time.Now().Add(timeout),
		FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:test",
		TraceID:     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Log:         log,
	}, log
}

type goResult struct {
	Say       string   `json:"say"`
	RequestID string   `json:"requestId"`
	ARN       string   `json:"arn"`
	Deadline  int64    `json:"deadline"`
	Trace     string   `json:"trace"`
	PID       int      `json:"pid"`
	Env       []string `json:"env"`
	Dir       string   `json:"dir"`
	Args      []string `json:"args"`
	Data      string   `json:"data"`
}

type errorDoc struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func invokeOK(t testing.TB, in *Instance, payload string) (*engine.Response, string) {
	t.Helper()
	req, log := newRequest(payload, 30*time.Second)
	resp, err := in.Invoke(context.Background(), req)
	if err != nil {
		t.Fatalf("invoke %s: %v", payload, err)
	}
	return resp, log.String()
}

// eventuallyGone reports whether pid stops running within a few seconds: a
// process killed with its group dies asynchronously, unlike the group
// leader, which Invoke reaps before returning.
func eventuallyGone(pid int) bool {
	for range 500 {
		if gone(pid) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// gone reports whether pid no longer runs: it does not exist or is a zombie
// waiting for its new parent to reap it.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return len(rest) > 1 && rest[1] == 'Z'
}

func TestGoSuccess(t *testing.T) {
	e := newEngine(t, Default())
	fn := prepare(t, e, spec("hello", goBootstrap))
	initLog := &syncBuffer{}
	in := startInstance(t, fn, initLog)
	if !strings.Contains(initLog.String(), "init done") {
		t.Errorf("init output %q lacks the function's init line", initLog.String())
	}

	req, log := newRequest(`{"action":"echo","say":"hi"}`, 30*time.Second)
	resp, err := in.Invoke(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.FunctionError {
		t.Fatalf("function error: %s", resp.Payload)
	}
	r := decode[goResult](t, resp.Payload)
	if r.Say != "hi" || r.RequestID != req.ID || r.ARN != req.FunctionARN || r.PID != in.pid {
		t.Errorf("result %+v does not match request %s (pid %d)", r, req.ID, in.pid)
	}
	if r.Deadline != req.Deadline.UnixMilli() {
		t.Errorf("function saw deadline %d, want %d", r.Deadline, req.Deadline.UnixMilli())
	}
	if want := "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1"; r.Trace != want {
		t.Errorf("trace id %q, want %q", r.Trace, want)
	}
	for _, line := range []string{"stdout line for " + req.ID + "\n", "stderr line for " + req.ID + "\n"} {
		if !strings.Contains(log.String(), line) {
			t.Errorf("request log %q lacks %q", log.String(), line)
		}
	}
}

func TestGoFunctionError(t *testing.T) {
	e := newEngine(t, Default())
	in := startInstance(t, prepare(t, e, spec("fails", goBootstrap)), io.Discard)
	resp, _ := invokeOK(t, in, `{"action":"error","say":"no items"}`)
	if !resp.FunctionError {
		t.Fatalf("want a function error, got %s", resp.Payload)
	}
	doc := decode[errorDoc](t, resp.Payload)
	if doc.ErrorType != "ValidationError" || doc.ErrorMessage != "invalid order: no items" {
		t.Errorf("error document %s", resp.Payload)
	}
	// A returned error leaves the instance serving.
	select {
	case <-in.Done():
		t.Fatal("instance exited after a returned error")
	default:
	}
	resp, _ = invokeOK(t, in, `{"action":"echo","say":"again"}`)
	if resp.FunctionError || decode[goResult](t, resp.Payload).Say != "again" {
		t.Errorf("after an error: %s", resp.Payload)
	}
}

// aws-lambda-go reports a panic as a function error and then exits.
func TestGoPanic(t *testing.T) {
	e := newEngine(t, Default())
	fn := prepare(t, e, spec("panics", goBootstrap))
	in := startInstance(t, fn, io.Discard)
	resp, log := invokeOK(t, in, `{"action":"panic","say":"nil map"}`)
	if !resp.FunctionError {
		t.Fatalf("want a function error, got %s", resp.Payload)
	}
	doc := decode[errorDoc](t, resp.Payload)
	if !strings.Contains(doc.ErrorMessage, "kaboom: nil map") || doc.ErrorType == "" {
		t.Errorf("error document %s", resp.Payload)
	}
	select {
	case <-in.Done():
	default:
		t.Fatal("aws-lambda-go should have exited after the panic")
	}
	if !strings.Contains(log, "panic") {
		t.Errorf("request log %q lacks the client's panic report", log)
	}
	req, _ := newRequest(`{"action":"echo"}`, 30*time.Second)
	if _, err := in.Invoke(context.Background(), req); !errors.Is(err, engine.ErrCrashed) {
		t.Errorf("invoke on the exited instance: %v, want ErrCrashed", err)
	}
	// A new instance serves.
	in2 := startInstance(t, fn, io.Discard)
	if resp, _ := invokeOK(t, in2, `{"action":"echo","say":"fresh"}`); decode[goResult](t, resp.Payload).Say != "fresh" {
		t.Errorf("new instance: %s", resp.Payload)
	}
}

func TestGoTimeoutKillsProcessGroup(t *testing.T) {
	e := newEngine(t, Default())
	fn := prepare(t, e, spec("sleeps", goBootstrap))
	in := startInstance(t, fn, io.Discard)
	req, log := newRequest(`{"action":"sleep","ms":600000}`, 500*time.Millisecond)
	_, err := in.Invoke(context.Background(), req)
	if !errors.Is(err, engine.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if err := syscall.Kill(in.pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) = %v after the timeout, want ESRCH", in.pid, err)
	}
	m := regexp.MustCompile(`child=(\d+)`).FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("request log %q lacks the child's pid", log.String())
	}
	child, _ := strconv.Atoi(m[1])
	if !eventuallyGone(child) {
		t.Errorf("child %d of the function still runs after the timeout", child)
	}
	if _, err := in.Invoke(context.Background(), req); !errors.Is(err, engine.ErrCrashed) {
		t.Errorf("invoke after the timeout: %v, want ErrCrashed", err)
	}
	in2 := startInstance(t, fn, io.Discard)
	invokeOK(t, in2, `{"action":"echo"}`)
}

func TestGoInitFailure(t *testing.T) {
	e := newEngine(t, Default())
	s := spec("initfail", goBootstrap)
	s.Env = map[string]string{"MODE": "initfail"}
	fn := prepare(t, e, s)
	log := &syncBuffer{}
	_, err := fn.NewInstance(context.Background(), log)
	if !errors.Is(err, engine.ErrInit) {
		t.Fatalf("got %v, want ErrInit", err)
	}
	for _, want := range []string{"TABLE is not set", "exit status 3", "Runtime.ExitError"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !strings.Contains(log.String(), "TABLE is not set") {
		t.Errorf("init log %q lacks the function's message", log.String())
	}
	if n := len(fn.instances); n != 0 {
		t.Errorf("function still tracks %d instances", n)
	}
}

func TestGoInitErrorPosted(t *testing.T) {
	e := newEngine(t, Default())
	s := spec("initerror", goBootstrap)
	s.Env = map[string]string{"MODE": "initerror"}
	_, err := prepare(t, e, s).NewInstance(context.Background(), io.Discard)
	if !errors.Is(err, engine.ErrInit) {
		t.Fatalf("got %v, want ErrInit", err)
	}
	if !strings.Contains(err.Error(), "InitError.Database: database unreachable") {
		t.Errorf("error %q lacks the posted init error", err)
	}
}

func TestInitTimeout(t *testing.T) {
	cfg := Default()
	cfg.InitTimeout = 300 * time.Millisecond
	e := newEngine(t, cfg)
	s := spec("slowinit", goBootstrap)
	s.Env = map[string]string{"MODE": "slowinit"}
	_, err := prepare(t, e, s).NewInstance(context.Background(), io.Discard)
	if !errors.Is(err, engine.ErrInit) || !strings.Contains(err.Error(), "Runtime.InitTimeout") {
		t.Fatalf("got %v, want ErrInit with Runtime.InitTimeout", err)
	}
}

func TestGoEnvironment(t *testing.T) {
	e := newEngine(t, Default())
	s := spec("envfn", goBootstrap)
	s.Version = "7"
	s.MemoryMiB = 256
	s.Handler = "bootstrap.handler"
	s.Env = map[string]string{"TABLE": "orders", "AWS_LAMBDA_RUNTIME_API": "hijack:1"}
	in := startInstance(t, prepare(t, e, s), io.Discard)
	resp, _ := invokeOK(t, in, `{"action":"env"}`)
	r := decode[goResult](t, resp.Payload)
	dir := filepath.Dir(goBootstrap)
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_NAME":        "envfn",
		"AWS_LAMBDA_FUNCTION_VERSION":     "7",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/envfn",
		"AWS_LAMBDA_RUNTIME_API":          in.addr,
		"LAMBDA_RUNTIME_DIR":              dir,
		"LAMBDA_TASK_ROOT":                dir,
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"TABLE":                           "orders",
		"TZ":                              ":UTC",
		"_HANDLER":                        "bootstrap.handler",
	}
	got := map[string]string{}
	for _, kv := range r.Env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	stream := got["AWS_LAMBDA_LOG_STREAM_NAME"]
	if !regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[7\][0-9a-f]{32}$`).MatchString(stream) {
		t.Errorf("AWS_LAMBDA_LOG_STREAM_NAME = %q", stream)
	}
	delete(got, "AWS_LAMBDA_LOG_STREAM_NAME")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
		delete(got, k)
	}
	if len(got) != 0 {
		t.Errorf("unexpected variables: %v", got)
	}
	if _, ok := got[sentinel]; ok {
		t.Errorf("the function sees the node's %s", sentinel)
	}
	if r.Dir != dir {
		t.Errorf("working directory %q, want %q", r.Dir, dir)
	}
	if len(r.Args) != 1 || r.Args[0] != goBootstrap {
		t.Errorf("args %q, want just the executable", r.Args)
	}
}

func TestGoWarmReuse(t *testing.T) {
	e := newEngine(t, Default())
	in := startInstance(t, prepare(t, e, spec("warm", goBootstrap)), io.Discard)
	seen := map[string]bool{}
	for i := range 5 {
		req, log := newRequest(fmt.Sprintf(`{"action":"echo","say":"n%d"}`, i), 30*time.Second)
		resp, err := in.Invoke(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		r := decode[goResult](t, resp.Payload)
		if r.PID != in.pid || r.Say != fmt.Sprintf("n%d", i) || seen[r.RequestID] {
			t.Errorf("invocation %d: %+v", i, r)
		}
		seen[r.RequestID] = true
		// The request's log holds its own lines and nothing else.
		want := "stdout line for " + req.ID + "\n"
		if got := log.String(); !strings.Contains(got, want) || strings.Count(got, "line for") != 2 {
			t.Errorf("invocation %d log %q", i, got)
		}
	}
}

func TestGoPartialLineStaysWithItsRequest(t *testing.T) {
	e := newEngine(t, Default())
	in := startInstance(t, prepare(t, e, spec("partial", goBootstrap)), io.Discard)
	_, log := invokeOK(t, in, `{"action":"partial"}`)
	if !strings.Contains(log, "no newline at the end") {
		t.Errorf("request log %q lacks the unterminated line", log)
	}
	_, log = invokeOK(t, in, `{"action":"echo"}`)
	if strings.Contains(log, "no newline") {
		t.Errorf("the next request's log %q holds the previous request's output", log)
	}
}

func TestGoMemoryLimit(t *testing.T) {
	for _, traced := range []bool{true, false} {
		t.Run(fmt.Sprintf("limit set at exec %v", traced), func(t *testing.T) {
			e := newEngine(t, Default())
			e.noPtrace.Store(!traced)                     // false: the fallback, limits set just after start
			fn := prepare(t, e, spec("hog", goBootstrap)) // 128 MiB
			in := startInstance(t, fn, io.Discard)
			req, _ := newRequest(`{"action":"alloc","mib":1024}`, 30*time.Second)
			_, err := in.Invoke(context.Background(), req)
			if !errors.Is(err, engine.ErrCrashed) || !strings.Contains(err.Error(), "out of memory") {
				t.Fatalf("got %v, want ErrCrashed out of memory", err)
			}
			t.Logf("allocating 1 GiB in 128 MiB: %v", err)
			in2 := startInstance(t, fn, io.Discard)
			resp, _ := invokeOK(t, in2, `{"action":"alloc","mib":16}`)
			if got := decode[goResult](t, resp.Payload).Say; got != "allocated 16 MiB" {
				t.Errorf("within the limit: %q", got)
			}
		})
	}
}

func TestGoExitMidInvocation(t *testing.T) {
	e := newEngine(t, Default())
	in := startInstance(t, prepare(t, e, spec("exits", goBootstrap)), io.Discard)
	req, _ := newRequest(`{"action":"exit"}`, 30*time.Second)
	_, err := in.Invoke(context.Background(), req)
	if !errors.Is(err, engine.ErrCrashed) {
		t.Fatalf("got %v, want ErrCrashed", err)
	}
	for _, want := range []string{"Runtime.ExitError", "exit status 7", "exiting mid-invocation"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestGoResponseTooLarge(t *testing.T) {
	e := newEngine(t, Default())
	in := startInstance(t, prepare(t, e, spec("big", goBootstrap)), io.Discard)
	req, _ := newRequest(fmt.Sprintf(`{"action":"big","bytes":%d}`, engine.MaxResponseBytes), 30*time.Second)
	if _, err := in.Invoke(context.Background(), req); !errors.Is(err, engine.ErrResponseTooLarge) {
		t.Fatalf("got %v, want ErrResponseTooLarge", err)
	}
	// Just below the limit passes.
	in2 := startInstance(t, prepare(t, e, spec("big2", goBootstrap)), io.Discard)
	resp, _ := invokeOK(t, in2, fmt.Sprintf(`{"action":"big","bytes":%d}`, engine.MaxResponseBytes-1000))
	if len(resp.Payload) > engine.MaxResponseBytes || len(decode[goResult](t, resp.Payload).Data) != engine.MaxResponseBytes-1000 {
		t.Errorf("response of %d bytes", len(resp.Payload))
	}
}

func TestPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	e := newEngine(t, Default())
	s := spec("py", script(t, "python_bootstrap.py"))
	s.Handler = "app.handler"
	initLog := &syncBuffer{}
	in := startInstance(t, prepare(t, e, s), initLog)
	if !strings.Contains(initLog.String(), "python init") {
		t.Errorf("init log %q", initLog.String())
	}
	req, log := newRequest(`{"say":"hello"}`, 30*time.Second)
	resp, err := in.Invoke(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Say, RequestID, Handler string
		DeadlineMs              int64
	}
	if err := json.Unmarshal(resp.Payload, &r); err != nil || resp.FunctionError {
		t.Fatalf("response %s: %v", resp.Payload, err)
	}
	if r.Say != "hello" || r.RequestID != req.ID || r.Handler != "app.handler" || r.DeadlineMs != req.Deadline.UnixMilli() {
		t.Errorf("result %+v", r)
	}
	if !strings.Contains(log.String(), "python handling "+req.ID) {
		t.Errorf("request log %q", log.String())
	}
	resp, _ = invokeOK(t, in, `{"action":"fail","say":"x"}`)
	doc := decode[errorDoc](t, resp.Payload)
	if !resp.FunctionError || doc.ErrorType != "ValueError" || doc.ErrorMessage != "bad input: x" {
		t.Errorf("error response %s", resp.Payload)
	}
	// Past its memory, Python's allocation fails and its handler reports
	// MemoryError as the function's error; the instance carries on.
	resp, _ = invokeOK(t, in, `{"action":"hog","mib":1024}`)
	if doc := decode[errorDoc](t, resp.Payload); !resp.FunctionError || doc.ErrorType != "MemoryError" {
		t.Errorf("allocating past the limit: %s", resp.Payload)
	}
	resp, _ = invokeOK(t, in, `{"say":"still here"}`)
	if resp.FunctionError || !strings.Contains(string(resp.Payload), "still here") {
		t.Errorf("after MemoryError: %s", resp.Payload)
	}
}

func TestShell(t *testing.T) {
	curl := ""
	for _, dir := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
		if canExecute(filepath.Join(dir, "curl")) == nil {
			curl = filepath.Join(dir, "curl")
		}
	}
	if curl == "" {
		t.Skip("the shell function needs curl in /usr/local/bin, /usr/bin or /bin, and there is none")
	}
	e := newEngine(t, Default())
	in := startInstance(t, prepare(t, e, spec("sh", script(t, "sh_bootstrap.sh"))), io.Discard)
	for _, say := range []string{"one", "two"} {
		req, log := newRequest(`{"say":"`+say+`"}`, 30*time.Second)
		resp, err := in.Invoke(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Shell bool
			Event struct{ Say string }
		}
		if err := json.Unmarshal(resp.Payload, &r); err != nil || !r.Shell || r.Event.Say != say {
			t.Errorf("response %s: %v", resp.Payload, err)
		}
		if !strings.Contains(log.String(), "sh handling "+req.ID) {
			t.Errorf("request log %q", log.String())
		}
	}
}

func TestShellTimeoutKillsChildren(t *testing.T) {
	if canExecute("/usr/bin/curl") != nil && canExecute("/bin/curl") != nil && canExecute("/usr/local/bin/curl") != nil {
		t.Skip("needs curl")
	}
	e := newEngine(t, Default())
	in := startInstance(t, prepare(t, e, spec("group", script(t, "sh_group.sh"))), io.Discard)
	req, log := newRequest(`{}`, 400*time.Millisecond)
	if _, err := in.Invoke(context.Background(), req); !errors.Is(err, engine.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	m := regexp.MustCompile(`child=(\d+)`).FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("request log %q lacks the child's pid", log.String())
	}
	child, _ := strconv.Atoi(m[1])
	if !gone(in.pid) || !eventuallyGone(child) {
		t.Errorf("after the timeout: shell %d gone %v, child %d gone %v", in.pid, gone(in.pid), child, gone(child))
	}
}

func TestCloseStopsEverything(t *testing.T) {
	e := newEngine(t, Default())
	fn := prepare(t, e, spec("closing", goBootstrap))
	a := startInstance(t, fn, io.Discard)
	b := startInstance(t, fn, io.Discard)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if !gone(a.pid) {
		t.Errorf("process %d runs after Close", a.pid)
	}
	req, _ := newRequest(`{"action":"echo"}`, time.Second)
	if _, err := a.Invoke(context.Background(), req); !errors.Is(err, engine.ErrCrashed) {
		t.Errorf("invoke after close: %v", err)
	}
	if err := fn.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !gone(b.pid) {
		t.Errorf("process %d runs after its function closed", b.pid)
	}
	if _, err := fn.NewInstance(context.Background(), io.Discard); err == nil {
		t.Error("a closed function started an instance")
	}
}

func TestPrepareRejects(t *testing.T) {
	e := newEngine(t, Default())
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	elfBytes, err := os.ReadFile(goBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	foreign := append([]byte(nil), elfBytes...)
	machine := elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		machine = elf.EM_X86_64
	}
	foreign[18], foreign[19] = byte(machine), byte(machine>>8)

	cases := []struct {
		name, path, hash, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "", "does not exist"},
		{"directory", dir, "", "is a directory"},
		{"not executable", write("plain", []byte("#!/bin/sh\n"), 0o644), "", "chmod +x"},
		{"not a program", write("zip", []byte("PK\x03\x04 not a program"), 0o755), "", "neither an executable program"},
		{"foreign architecture", write("arm", foreign, 0o755), "", "is built for"},
		{"missing interpreter", write("py", []byte("#!/opt/nowhere/python9\nprint(1)\n"), 0o755), "", "/opt/nowhere/python9 is not an executable"},
		{"missing env program", write("env", []byte("#!/usr/bin/env no-such-interpreter-9\n"), 0o755), "", "no-such-interpreter-9 is not installed"},
		{"hash mismatch", write("ok", []byte("#!/bin/sh\n"), 0o755), strings.Repeat("0", 64), "sha256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec("bad", c.path)
			s.ArtifactHash = c.hash
			_, err := e.Prepare(context.Background(), s)
			if !errors.Is(err, engine.ErrInvalidArtifact) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrInvalidArtifact mentioning %q", err, c.want)
			}
		})
	}
	// The right hash passes.
	s := spec("good", write("good", []byte("#!/bin/sh\n"), 0o755))
	sum := sha256.Sum256([]byte("#!/bin/sh\n"))
	s.ArtifactHash = hex.EncodeToString(sum[:])
	if _, err := e.Prepare(context.Background(), s); err != nil {
		t.Errorf("the right hash: %v", err)
	}
}
