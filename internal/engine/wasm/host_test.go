package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/host"
	"github.com/gureum/gureum/internal/host/hosttest"
)

// recordingHost is an engine.Host that records the calls it receives and
// answers from a function the test sets.
type recordingHost struct {
	mu     sync.Mutex
	calls  []hostCallRecord
	answer func(op string, req []byte) ([]byte, error)
}

type hostCallRecord struct {
	op  string
	req string
}

func (h *recordingHost) Call(_ context.Context, op string, req []byte) ([]byte, error) {
	h.mu.Lock()
	h.calls = append(h.calls, hostCallRecord{op, string(req)})
	h.mu.Unlock()
	return h.answer(op, req)
}

func (h *recordingHost) recorded() []hostCallRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hostCallRecord(nil), h.calls...)
}

// invokeWithHost invokes inst with h as the request's host.
func invokeWithHost(inst engine.Instance, payload string, h engine.Host) outcome {
	var log strings.Builder
	req := &engine.Request{
		ID:          "req-host",
		Payload:     []byte(payload),
		Deadline:    time.Now().Add(30 * time.Second),
		FunctionARN: "arn:aws:lambda:local:000000000000:function:fn",
		TraceID:     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Log:         &log,
		Host:        h,
	}
	resp, err := inst.Invoke(context.Background(), req)
	return outcome{resp, err, log.String()}
}

// TestHostCallsFromTheSDK runs the shared test function's publish and send
// through the SDK, the host import and Request.Host.
func TestHostCallsFromTheSDK(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "fn", artifacts.fn, nil)
	inst, _ := start(t, fn)

	rec := &recordingHost{answer: func(op string, req []byte) ([]byte, error) {
		return []byte(`{"messageId":"m-` + op + `"}`), nil
	}}
	o := invokeWithHost(inst, `{"op":"publish","to":"order-events","msg":"order 7 paid","subject":"paid","attrs":{"color":"red"},"nums":{"total":12.5}}`, rec)
	if o.err != nil || o.resp.FunctionError {
		t.Fatalf("publish: %v %s\n%s", o.err, o.resp.Payload, o.log)
	}
	if got := string(o.resp.Payload); got != `{"messageId":"m-publish"}` {
		t.Errorf("publish response %s", got)
	}
	calls := rec.recorded()
	if len(calls) != 1 || calls[0].op != "publish" {
		t.Fatalf("host calls %+v, want one publish", calls)
	}
	var pub host.PublishInput
	if err := json.Unmarshal([]byte(calls[0].req), &pub); err != nil {
		t.Fatalf("publish request %s: %v", calls[0].req, err)
	}
	wantPub := host.PublishInput{
		Topic: "order-events", Subject: "paid", Message: "order 7 paid",
		Attributes: map[string]host.Attribute{
			"color": {DataType: "String", StringValue: "red"},
			"total": {DataType: "Number", StringValue: "12.5"},
		},
	}
	if !reflect.DeepEqual(pub, wantPub) {
		t.Errorf("publish request %+v, want %+v", pub, wantPub)
	}

	o = invokeWithHost(inst, `{"op":"send","to":"orders","msg":"work","delayS":5}`, rec)
	if o.err != nil || o.resp.FunctionError {
		t.Fatalf("send: %v %s\n%s", o.err, o.resp.Payload, o.log)
	}
	calls = rec.recorded()
	if len(calls) != 2 || calls[1].op != "send" || calls[1].req != `{"queue":"orders","body":"work","delaySeconds":5}` {
		t.Errorf("host calls %+v", calls)
	}

	// An error from the host reaches the function as the SDK's error, with
	// its code and message.
	rec.answer = func(string, []byte) ([]byte, error) {
		return nil, fmt.Errorf("topic order-events does not exist: %w", host.ErrNotFound)
	}
	o = invokeWithHost(inst, `{"op":"publish","to":"order-events","msg":"x"}`, rec)
	if o.err != nil {
		t.Fatalf("publish failing: %v", o.err)
	}
	if d := functionError(t, o); d != (errorDoc{"NotFound: topic order-events does not exist: not found", "Error"}) {
		t.Errorf("error document %+v", d)
	}

	// The instance is still good: host errors are the function's business.
	var r struct{ Count int }
	ok(t, inst, `{"op":"count"}`, &r)
	if r.Count != 4 {
		t.Errorf("count %d, want 4", r.Count)
	}
}

// TestHostGrantsReachTheFunction runs the real host: a call the function's
// grants do not allow fails in the function with AccessDenied naming the
// grant, and an allowed one reaches Services with the caller.
func TestHostGrantsReachTheFunction(t *testing.T) {
	t.Parallel()
	fn := prepare(t, newEngine(t, Config{}), "fn", artifacts.fn, nil)
	inst, _ := start(t, fn)
	svc := &hosttest.Services{}
	h := host.New(svc)
	caller := host.Caller{Function: "resize", Version: "3", RequestID: "req-host", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Grants: host.Grants{Send: []string{"orders"}}}

	o := invokeWithHost(inst, `{"op":"publish","to":"order-events","msg":"x"}`, h.Bind(caller))
	want := "AccessDenied: function resize may not publish to topic order-events: grant it in gureum.yaml with permissions: {publish: [order-events]}"
	if d := functionError(t, o); d.Message != want {
		t.Errorf("denied publish: %q, want %q", d.Message, want)
	}

	var out struct{ MessageID string }
	o = invokeWithHost(inst, `{"op":"send","to":"orders","msg":"work","attrs":{"k":"v"}}`, h.Bind(caller))
	if o.err != nil || o.resp.FunctionError {
		t.Fatalf("send: %v %s", o.err, o.resp.Payload)
	}
	if err := json.Unmarshal(o.resp.Payload, &out); err != nil || out.MessageID != "send-1" {
		t.Errorf("send response %s", o.resp.Payload)
	}
	if len(svc.Sent) != 1 || svc.Sent[0].Queue != "orders" || svc.Sent[0].Body != "work" || svc.Sent[0].Attributes["k"].StringValue != "v" {
		t.Errorf("services got %+v", svc.Sent)
	}
	if len(svc.Callers) != 1 || !reflect.DeepEqual(svc.Callers[0], caller) {
		t.Errorf("caller %+v, want %+v", svc.Callers, caller)
	}
	if len(svc.Published) != 0 {
		t.Errorf("a denied publish reached the node: %+v", svc.Published)
	}

	// Without a host, a call fails as Unavailable and the function goes on.
	o = invokeWithHost(inst, `{"op":"send","to":"orders","msg":"work"}`, nil)
	if d := functionError(t, o); !strings.HasPrefix(d.Message, "Unavailable: ") {
		t.Errorf("call without a host: %q", d.Message)
	}
}

// hostProbe is a hand-assembled module that imports gureum.call and
// gureum.result and exports them as "try" and "take", with one page of
// memory, so that tests can make host calls with any arguments.
var hostProbe = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	// types: 0 (i32 i32 i32 i32) -> i64, 1 (i32) -> i32
	0x01, 0x0e, 0x02,
	0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7e,
	0x60, 0x01, 0x7f, 0x01, 0x7f,
	// imports: gureum.call (type 0), gureum.result (type 1)
	0x02, 0x1f, 0x02,
	0x06, 'g', 'u', 'r', 'e', 'u', 'm', 0x04, 'c', 'a', 'l', 'l', 0x00, 0x00,
	0x06, 'g', 'u', 'r', 'e', 'u', 'm', 0x06, 'r', 'e', 's', 'u', 'l', 't', 0x00, 0x01,
	// functions: 2 (type 0), 3 (type 1)
	0x03, 0x03, 0x02, 0x00, 0x01,
	// memory: min 1 page
	0x05, 0x03, 0x01, 0x00, 0x01,
	// exports: memory, try = 2, take = 3
	0x07, 0x17, 0x03,
	0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00,
	0x03, 't', 'r', 'y', 0x00, 0x02,
	0x04, 't', 'a', 'k', 'e', 0x00, 0x03,
	// code
	0x0a, 0x15, 0x02,
	0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0x20, 0x03, 0x10, 0x00, 0x0b,
	0x06, 0x00, 0x20, 0x00, 0x10, 0x01, 0x0b,
}

// probe is an instance of hostProbe with its call state.
type probe struct {
	c   *call
	ctx context.Context
	mod api.Module
}

func newProbe(t testing.TB, e *Engine) *probe {
	t.Helper()
	ctx := context.Background()
	rt, err := e.runtime(ctx, runtimeKey{pages: 16})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := rt.CompileModule(ctx, hostProbe)
	if err != nil {
		t.Fatalf("compile the probe: %v", err)
	}
	p := &probe{c: &call{}}
	p.ctx = p.c.bind(ctx)
	p.mod, err = rt.InstantiateModule(p.ctx, cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate the probe: %v", err)
	}
	t.Cleanup(func() { _ = p.mod.Close(ctx) })
	return p
}

// try calls gureum.call and returns the status and the answer's length.
func (p *probe) try(t testing.TB, opPtr, opLen, reqPtr, reqLen uint32) (status, n uint32) {
	t.Helper()
	res, err := p.mod.ExportedFunction("try").Call(p.ctx, uint64(opPtr), uint64(opLen), uint64(reqPtr), uint64(reqLen))
	if err != nil {
		t.Fatalf("try: %v", err)
	}
	return uint32(res[0] >> 32), uint32(res[0])
}

// take calls gureum.result.
func (p *probe) take(t testing.TB, ptr uint32) uint32 {
	t.Helper()
	res, err := p.mod.ExportedFunction("take").Call(p.ctx, uint64(ptr))
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	return uint32(res[0])
}

// answer takes the pending answer into memory at 4096 and returns it.
func (p *probe) answer(t testing.TB, n uint32) string {
	t.Helper()
	if st := p.take(t, 4096); st != callOK {
		t.Fatalf("result: status %d", st)
	}
	b, _ := p.mod.Memory().Read(4096, n)
	return string(b)
}

func (p *probe) write(t testing.TB, ptr uint32, s string) {
	t.Helper()
	if !p.mod.Memory().Write(ptr, []byte(s)) {
		t.Fatalf("write at %#x", ptr)
	}
}

// TestHostCallABI checks the call and result imports at the edges: the
// answer's status and length, results taken once, and requests outside
// memory failing the call rather than the instance.
func TestHostCallABI(t *testing.T) {
	t.Parallel()
	p := newProbe(t, newEngine(t, Config{}))
	rec := &recordingHost{answer: func(op string, req []byte) ([]byte, error) {
		if op == "fail" {
			return nil, &host.Error{Code: host.CodeAccessDenied, Message: "no"}
		}
		if op == "boom" {
			return nil, errors.New("disk on fire")
		}
		return []byte(`{"echo":` + string(req) + `}`), nil
	}}
	p.c.serve(rec)
	p.write(t, 0, "publishfailboom")
	p.write(t, 100, `{"a":1}`)

	st, n := p.try(t, 0, 7, 100, 7)
	if st != callOK || n != uint32(len(`{"echo":{"a":1}}`)) {
		t.Fatalf("call: status %d length %d", st, n)
	}
	if got := p.answer(t, n); got != `{"echo":{"a":1}}` {
		t.Errorf("answer %q", got)
	}
	if st := p.take(t, 4096); st != callError {
		t.Errorf("a second result: status %d, want %d (nothing waiting)", st, callError)
	}
	if calls := rec.recorded(); len(calls) != 1 || calls[0] != (hostCallRecord{"publish", `{"a":1}`}) {
		t.Errorf("host calls %+v", calls)
	}

	for _, tc := range []struct {
		name                       string
		opPtr, opLen, reqPtr, size uint32
		code                       string
	}{
		{"host error", 7, 4, 100, 7, host.CodeAccessDenied},
		{"other error", 11, 4, 100, 7, host.CodeInternal},
		{"op outside memory", 65530, 10, 100, 7, host.CodeInvalidParameter},
		{"op too long", 0, 1000, 100, 7, host.CodeInvalidParameter},
		{"request outside memory", 0, 7, 65000, 1000, host.CodeInvalidParameter},
		{"request far outside memory", 0, 7, 0xffffff00, 0xff, host.CodeInvalidParameter},
		{"request too large", 0, 7, 0, host.MaxRequestBytes + 1, host.CodeTooLarge},
	} {
		st, n := p.try(t, tc.opPtr, tc.opLen, tc.reqPtr, tc.size)
		if st != callError {
			t.Errorf("%s: status %d, want %d", tc.name, st, callError)
			continue
		}
		var e host.Error
		if err := json.Unmarshal([]byte(p.answer(t, n)), &e); err != nil || e.Code != tc.code || e.Message == "" {
			t.Errorf("%s: answer %+v (%v), want code %s", tc.name, e, err, tc.code)
		}
	}

	// A result written outside memory fails, and the instance lives on.
	st, _ = p.try(t, 0, 7, 100, 7)
	if st != callOK {
		t.Fatalf("call: status %d", st)
	}
	if st := p.take(t, 65535); st != callError {
		t.Errorf("result outside memory: status %d", st)
	}

	// Without a host, calls fail as Unavailable.
	p.c.done()
	st, n = p.try(t, 0, 7, 100, 7)
	var e host.Error
	if err := json.Unmarshal([]byte(p.answer(t, n)), &e); st != callError || err != nil || e.Code != host.CodeUnavailable {
		t.Errorf("call without a host: status %d, answer %+v", st, e)
	}
}

// FuzzHostCall makes host calls with arbitrary operation names, requests and
// pointers through the real host: none may panic, and each answers with a
// status and a well-formed document.
func FuzzHostCall(f *testing.F) {
	e := newEngine(f, Config{})
	p := newProbe(f, e)
	p.c.serve(host.New(&hosttest.Services{}).Bind(host.Caller{Function: "fz", Grants: host.Grants{Publish: []string{"*"}, Send: []string{"q"}}}))
	f.Add("publish", []byte(`{"topic":"t","message":"m","attributes":{"a":{"dataType":"Number","stringValue":"1e3"}}}`), uint32(0), uint32(0))
	f.Add("send", []byte(`{"queue":"q","body":"b","delaySeconds":900}`), uint32(0), uint32(0))
	f.Add("send", []byte(`{"queue":"other","body":"b"}`), uint32(0), uint32(0))
	f.Add("publish", []byte(`{"topic":"t","message":"m"} x`), uint32(65000), uint32(0))
	f.Add("nope", []byte(`{}`), uint32(0), uint32(70000))
	f.Fuzz(func(t *testing.T, op string, req []byte, opShift, reqShift uint32) {
		if len(op)+len(req) > 8192 {
			return
		}
		opPtr, reqPtr := 8192+opShift, 16384+reqShift
		mem := p.mod.Memory()
		mem.Write(opPtr, []byte(op))
		mem.Write(reqPtr, req)
		st, n := p.try(t, opPtr, uint32(len(op)), reqPtr, uint32(len(req)))
		if st != callOK && st != callError {
			t.Fatalf("status %d", st)
		}
		if n > 4096 {
			t.Fatalf("answer of %d bytes", n)
		}
		ans := p.answer(t, n)
		if !json.Valid([]byte(ans)) {
			t.Fatalf("answer %q is not JSON", ans)
		}
		if st == callError {
			var e host.Error
			if err := json.Unmarshal([]byte(ans), &e); err != nil || e.Code == "" {
				t.Fatalf("error answer %q", ans)
			}
		}
	})
}
