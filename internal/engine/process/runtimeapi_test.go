//go:build linux

package process

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// addrWriter is an init log that picks up the puppet script's "api=" line.
type addrWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
}

func (w *addrWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for _, line := range strings.Split(w.buf.String(), "\n") {
		if a, ok := strings.CutPrefix(line, "api="); ok && w.addr != nil {
			w.addr <- a
			w.addr = nil
		}
	}
	return len(p), nil
}

// puppet starts an instance of a process that does nothing but wait, so the
// test itself is the runtime: it gets the endpoint's address and calls
// start(base) to drive the API before the first next; the instance becomes
// ready at the test's first next.
type puppet struct {
	base string // http://host:port/2018-06-01/runtime
	fn   *Function
	inst chan instanceResult
}

type instanceResult struct {
	in  engine.Instance
	err error
}

func startPuppet(t *testing.T) *puppet {
	t.Helper()
	e := newEngine(t, Default())
	fn := prepare(t, e, spec("puppet", script(t, "puppet.sh")))
	addr := make(chan string, 1)
	w := &addrWriter{addr: addr}
	p := &puppet{fn: fn, inst: make(chan instanceResult, 1)}
	go func() {
		in, err := fn.NewInstance(context.Background(), w)
		p.inst <- instanceResult{in, err}
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a + "/2018-06-01/runtime"
	case r := <-p.inst:
		t.Fatalf("instance ended before publishing its address: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the puppet did not publish its address")
	}
	return p
}

type apiReply struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, method, url string, body io.Reader, header http.Header, trailer http.Header) apiReply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Trailer = trailer
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiReply{resp.StatusCode, resp.Header, string(b)}
}

// chunked hides a body's length so the client streams it, as aws-lambda-go
// does.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func wantJSON(t *testing.T, r apiReply, status int, doc string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got, want any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	json.Unmarshal([]byte(doc), &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Errorf("body %s, want %s", gb, wb)
	}
}

func wantErrorType(t *testing.T, r apiReply, status int, errType string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	var doc errorDoc
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || doc.ErrorType != errType || doc.ErrorMessage == "" {
		t.Errorf("body %q, want an error document of type %s", r.body, errType)
	}
}

// TestRuntimeAPIConformance drives the Runtime API with net/http as a
// runtime client would and checks every answer against AWS's.
func TestRuntimeAPIConformance(t *testing.T) {
	p := startPuppet(t)
	inv := p.base + "/invocation/"

	// Before the first next.
	wantJSON(t, call(t, "POST", inv+"nobody/response", strings.NewReader("{}"), nil, nil), 400,
		`{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}`)
	if r := call(t, "GET", p.base+"/invocation/nobody/response/more", nil, nil, nil); r.status != 404 {
		t.Errorf("unknown path: %d", r.status)
	}
	if r := call(t, "GET", strings.TrimSuffix(p.base, "/2018-06-01/runtime")+"/2015-03-31/functions", nil, nil, nil); r.status != 404 {
		t.Errorf("path outside the API: %d", r.status)
	}
	if r := call(t, "POST", inv+"next", nil, nil, nil); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Errorf("POST next: %d Allow %q", r.status, r.header.Get("Allow"))
	}

	// The first next makes the instance ready and waits for an event.
	nexts := make(chan apiReply, 1)
	next := func() { nexts <- call(t, "GET", inv+"next", nil, nil, nil) }
	go next()
	r := <-p.inst
	if r.err != nil {
		t.Fatal(r.err)
	}
	in := r.in.(*Instance)
	t.Cleanup(func() { in.Close(context.Background()) })

	invoke := func(req *engine.Request) chan instanceCall {
		ch := make(chan instanceCall, 1)
		go func() {
			resp, err := in.Invoke(context.Background(), req)
			ch <- instanceCall{resp, err}
		}()
		return ch
	}

	// gotNext waits for the runtime's next call to receive the event of the
	// invocation behind done; it fails instead of hanging if the invocation
	// ends first.
	gotNext := func(done chan instanceCall) apiReply {
		t.Helper()
		select {
		case r := <-nexts:
			return r
		case c := <-done:
			t.Fatalf("the invocation ended before the runtime received its event: %+v %v", c.resp, c.err)
		case <-time.After(2 * time.Minute):
			t.Fatal("the runtime never received its event")
		}
		return apiReply{}
	}

	// An event with every header. The deadline is far off: this test is
	// about the protocol, not timing, and must hold on a loaded machine.
	deadline := time.Now().Add(10 * time.Minute)
	req1 := &engine.Request{ID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd", Payload: []byte(`{"hello":"world"}`), Deadline: deadline,
		FunctionARN: "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime", TraceID: "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1", Log: io.Discard}
	done := invoke(req1)
	ev := gotNext(done)
	if ev.status != 200 || ev.body != `{"hello":"world"}` {
		t.Fatalf("next: %d %q", ev.status, ev.body)
	}
	for h, want := range map[string]string{
		"Lambda-Runtime-Aws-Request-Id":       req1.ID,
		"Lambda-Runtime-Deadline-Ms":          strconv.FormatInt(deadline.UnixMilli(), 10),
		"Lambda-Runtime-Invoked-Function-Arn": req1.FunctionARN,
		"Lambda-Runtime-Trace-Id":             req1.TraceID,
		"Content-Type":                        "application/json",
		"Content-Length":                      strconv.Itoa(len(req1.Payload)),
	} {
		if got := ev.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	for _, h := range []string{"Lambda-Runtime-Client-Context", "Lambda-Runtime-Cognito-Identity"} {
		if _, ok := ev.header[h]; ok {
			t.Errorf("%s present without a value to carry", h)
		}
	}
	// Asking again delivers the same event.
	if again := call(t, "GET", inv+"next", nil, nil, nil); again.header.Get("Lambda-Runtime-Aws-Request-Id") != req1.ID || again.body != ev.body {
		t.Errorf("second next during the invocation: %d %v %q", again.status, again.header, again.body)
	}
	// Wrong id, init error after init.
	wantErrorType(t, call(t, "POST", inv+"not-this-one/response", strings.NewReader("{}"), nil, nil), 400, "InvalidRequestID")
	wantErrorType(t, call(t, "POST", p.base+"/init/error", strings.NewReader("{}"), nil, nil), 403, "InvalidStateTransition")
	// The response, streamed.
	wantJSON(t, call(t, "POST", inv+req1.ID+"/response", chunked{strings.NewReader(`{"ok":true}`)}, nil, nil), 202, `{"status":"OK"}`)
	if c := <-done; c.err != nil || c.resp.FunctionError || string(c.resp.Payload) != `{"ok":true}` {
		t.Errorf("invoke: %+v %v", c.resp, c.err)
	}
	// A second result for the same request.
	wantErrorType(t, call(t, "POST", inv+req1.ID+"/response", strings.NewReader(`{}`), nil, nil), 403, "InvalidStateTransition")
	wantErrorType(t, call(t, "POST", inv+req1.ID+"/error", strings.NewReader(`{}`), nil, nil), 403, "InvalidStateTransition")

	// An error document without errorType takes the header's.
	go next()
	req2 := &engine.Request{ID: "req-2", Payload: []byte(`{}`), Log: io.Discard} // no deadline: the function's timeout applies
	done = invoke(req2)
	ev = gotNext(done)
	if ev.header.Get("Lambda-Runtime-Aws-Request-Id") != "req-2" || ev.header.Get("Lambda-Runtime-Deadline-Ms") == "" ||
		!strings.HasPrefix(ev.header.Get("Lambda-Runtime-Trace-Id"), "Root=1-") ||
		ev.header.Get("Lambda-Runtime-Invoked-Function-Arn") != "arn:aws:lambda:us-east-1:000000000000:function:puppet" {
		t.Errorf("defaults: %v", ev.header)
	}
	wantJSON(t, call(t, "POST", inv+"req-2/error", strings.NewReader(`{"errorMessage":"out of stock"}`),
		http.Header{"Lambda-Runtime-Function-Error-Type": {"Order.OutOfStock"}}, nil), 202, `{"status":"OK"}`)
	go next() // as a runtime does right after an error
	c := <-done
	if c.err != nil || !c.resp.FunctionError {
		t.Fatalf("invoke: %+v %v", c.resp, c.err)
	}
	if doc := decode[errorDoc](t, c.resp.Payload); doc.ErrorType != "Order.OutOfStock" || doc.ErrorMessage != "out of stock" {
		t.Errorf("error document %s", c.resp.Payload)
	}

	// A response that ends in error trailers, as aws-lambda-go sends when
	// its response reader fails.
	req3 := &engine.Request{ID: "req-3", Payload: []byte(`{}`), Deadline: deadline, Log: io.Discard}
	done = invoke(req3)
	gotNext(done)
	trailerDoc := `{"errorMessage":"reader broke","errorType":"Stream.Error"}`
	trailer := http.Header{
		"Lambda-Runtime-Function-Error-Type": {"Stream.Error"},
		"Lambda-Runtime-Function-Error-Body": {base64.StdEncoding.EncodeToString([]byte(trailerDoc))},
	}
	wantJSON(t, call(t, "POST", inv+"req-3/response", chunked{strings.NewReader(`{"partial":`)}, nil, trailer), 202, `{"status":"OK"}`)
	go next()
	if c := <-done; c.err != nil || !c.resp.FunctionError || string(c.resp.Payload) != trailerDoc {
		t.Errorf("invoke: %+v %v", c.resp, c.err)
	}

	// Too large: 413 to the runtime, ErrResponseTooLarge to the caller.
	req4 := &engine.Request{ID: "req-4", Payload: []byte(`{}`), Deadline: deadline, Log: io.Discard}
	done = invoke(req4)
	gotNext(done)
	big := bytes.Repeat([]byte("x"), engine.MaxResponseBytes+1)
	wantJSON(t, call(t, "POST", inv+"req-4/response", bytes.NewReader(big), nil, nil), 413,
		`{"errorMessage":"Exceeded maximum allowed payload size (6291456 bytes).","errorType":"RequestEntityTooLarge"}`)
	if c := <-done; !errors.Is(c.err, engine.ErrResponseTooLarge) {
		t.Errorf("invoke: %v, want ErrResponseTooLarge", c.err)
	}
}

type instanceCall struct {
	resp *engine.Response
	err  error
}

// TestRuntimeAPIInitError: an init error posted before the first next fails
// the instance with the runtime's document.
func TestRuntimeAPIInitError(t *testing.T) {
	p := startPuppet(t)
	wantJSON(t, call(t, "POST", p.base+"/init/error", strings.NewReader(`{"errorMessage":"cannot read config","errorType":"Runtime.ConfigError"}`), nil, nil), 202, `{"status":"OK"}`)
	r := <-p.inst
	if !errors.Is(r.err, engine.ErrInit) || !strings.Contains(r.err.Error(), "Runtime.ConfigError: cannot read config") {
		t.Fatalf("got %v, want ErrInit with the posted document", r.err)
	}
}
