package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/bus/bustest"
	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/invoke"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeInvoker answers invocations with respond, counting calls per request.
type fakeInvoker struct {
	respond func(call int, req *invoke.Request) (*invoke.Result, error)

	mu    sync.Mutex
	calls []invoke.Request
	by    map[string]int // request id -> calls
}

func (f *fakeInvoker) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Result, error) {
	f.mu.Lock()
	if f.by == nil {
		f.by = map[string]int{}
	}
	f.by[req.RequestID]++
	n := f.by[req.RequestID]
	f.calls = append(f.calls, *req)
	f.mu.Unlock()
	if f.respond == nil {
		return &invoke.Result{RequestID: req.RequestID, Function: req.Function, Version: "1", Payload: []byte(`"ok"`)}, nil
	}
	return f.respond(n, req)
}

func (f *fakeInvoker) count(requestID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.by[requestID]
}

func (f *fakeInvoker) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeInvoker) last() invoke.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

type sent struct {
	dest        Destination
	record      []byte
	traceparent string
}

type deadLettered struct {
	queue string
	ev    Event
	info  deadletter.Info
}

// fakeDestinations records deliveries; the first failSends sends fail.
type fakeDestinations struct {
	mu        sync.Mutex
	failSends int
	failDLs   int
	attempts  int
	sends     []sent
	dls       []deadLettered
}

func (f *fakeDestinations) Send(ctx context.Context, d Destination, record []byte, traceparent string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.failSends > 0 {
		f.failSends--
		return errors.New("destination unavailable")
	}
	f.sends = append(f.sends, sent{d, append([]byte(nil), record...), traceparent})
	return nil
}

func (f *fakeDestinations) DeadLetter(ctx context.Context, queue string, ev Event, info deadletter.Info) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.failDLs > 0 {
		f.failDLs--
		return errors.New("queue unavailable")
	}
	ev.Payload = append(json.RawMessage(nil), ev.Payload...)
	f.dls = append(f.dls, deadLettered{queue, ev, info})
	return nil
}

func (f *fakeDestinations) snapshot() ([]sent, []deadLettered) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sends...), append([]deadLettered(nil), f.dls...)
}

// openService opens a Service with fast test delays; cfg's zero fields get
// the test defaults.
func openService(t *testing.T, b *bus.Bus, cfg Config) *Service {
	t.Helper()
	cfg.JetStream = b.JetStream()
	if cfg.Invoker == nil {
		cfg.Invoker = &fakeInvoker{}
	}
	if cfg.Destinations == nil {
		cfg.Destinations = &fakeDestinations{}
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 50 * time.Millisecond
	}
	if cfg.DeferBase == 0 {
		cfg.DeferBase = 20 * time.Millisecond
	}
	if cfg.MaxDefer == 0 {
		cfg.MaxDefer = 200 * time.Millisecond
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 5 * time.Second
	}
	s, err := Open(testContext(t), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

func run(t *testing.T, s *Service, functions ...string) {
	t.Helper()
	s.Sync(functions)
	if err := s.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func settingsOf(st Settings) func(context.Context, string) (Settings, error) {
	return func(context.Context, string) (Settings, error) { return st, nil }
}

func intp(i int) *int { return &i }

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pending(t *testing.T, s *Service, fn string) int {
	t.Helper()
	n, err := s.Pending(testContext(t), fn)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return n
}

func submit(t *testing.T, s *Service, ev Event) string {
	t.Helper()
	id, err := s.Submit(testContext(t), ev)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return id
}

func functionError(msg, typ string) (*invoke.Result, error) {
	doc, _ := json.Marshal(map[string]string{"errorMessage": msg, "errorType": typ})
	return &invoke.Result{Version: "2", Payload: doc, FunctionError: true}, fmt.Errorf("%w: %s", invoke.ErrFunctionFailed, msg)
}

func TestSuccess(t *testing.T) {
	b := bustest.Start(t)
	inv := &fakeInvoker{}
	dest := &fakeDestinations{}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest})
	run(t, s, "hello")
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	id := submit(t, s, Event{Function: "hello", Qualifier: "live", Payload: json.RawMessage(`{"n":1}`), TraceParent: tp, Trigger: "lambda-api"})
	if id == "" {
		t.Fatal("Submit returned no request id")
	}
	waitFor(t, "the event to finish", func() bool { return pending(t, s, "hello") == 0 && inv.count(id) == 1 })
	got := inv.last()
	if got.RequestID != id || got.Function != "hello" || got.Qualifier != "live" || string(got.Payload) != `{"n":1}` || got.Trigger != "lambda-api" || got.TraceID != tp {
		t.Errorf("invoked with %+v", got)
	}
	// Finished means acknowledged: nothing runs it again.
	if _, err := s.Submit(testContext(t), Event{Function: "hello"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a second event", func() bool { return inv.total() == 2 && pending(t, s, "hello") == 0 })
	if n := inv.count(id); n != 1 {
		t.Errorf("first event invoked %d times, want 1", n)
	}
	if string(inv.last().Payload) != "{}" || inv.last().Trigger != "async" {
		t.Errorf("empty event invoked with payload %q trigger %q, want {} async", inv.last().Payload, inv.last().Trigger)
	}
	if sends, dls := dest.snapshot(); len(sends)+len(dls) != 0 {
		t.Errorf("deliveries without destinations: %v %v", sends, dls)
	}
}

func TestFunctionErrorRetriedThenDeadLettered(t *testing.T) {
	b := bustest.Start(t)
	inv := &fakeInvoker{respond: func(n int, req *invoke.Request) (*invoke.Result, error) {
		return functionError(fmt.Sprintf("boom %d", n), "Boom")
	}}
	dest := &fakeDestinations{}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest})
	run(t, s, "fails")
	const tp = "00-11111111111111111111111111111111-2222222222222222-01"
	id := submit(t, s, Event{Function: "fails", Qualifier: "3", Payload: json.RawMessage(`{"k":"v"}`), TraceParent: tp})
	waitFor(t, "a dead letter", func() bool { _, dls := dest.snapshot(); return len(dls) == 1 })
	waitFor(t, "no pending event", func() bool { return pending(t, s, "fails") == 0 })
	if n := inv.count(id); n != 3 {
		t.Errorf("invoked %d times, want 3 (1 + 2 retries)", n)
	}
	_, dls := dest.snapshot()
	dl := dls[0]
	if want := deadletter.AutoQueue(deadletter.Source{Kind: deadletter.KindFunction, Name: "fails"}); dl.queue != want {
		t.Errorf("queue %q, want %q", dl.queue, want)
	}
	if dl.info.Source != (deadletter.Source{Kind: deadletter.KindFunction, Name: "fails"}) || dl.info.Count != 3 || dl.info.Reason != "Boom: boom 3" || dl.info.At.IsZero() {
		t.Errorf("info %+v", dl.info)
	}
	ev := dl.ev
	if ev.RequestID != id || ev.Function != "fails" || ev.Qualifier != "3" || ev.TraceParent != tp || string(ev.Payload) != `{"k":"v"}` || ev.AcceptedAt.IsZero() {
		t.Errorf("dead-lettered event %+v", ev)
	}
	if len(ev.Attempts) != 3 {
		t.Fatalf("attempts %+v, want 3", ev.Attempts)
	}
	for i, a := range ev.Attempts {
		if a.Error != fmt.Sprintf("boom %d", i+1) || a.ErrorType != "Boom" || a.Version != "2" || a.At.Before(ev.AcceptedAt) {
			t.Errorf("attempt %d: %+v", i, a)
		}
		if i > 0 && a.At.Before(ev.Attempts[i-1].At) {
			t.Errorf("attempt %d at %v before the one before it", i, a.At)
		}
	}
}

func TestRetriesZero(t *testing.T) {
	b := bustest.Start(t)
	inv := &fakeInvoker{respond: func(int, *invoke.Request) (*invoke.Result, error) {
		return &invoke.Result{Version: "1"}, fmt.Errorf("%w after 3s", invoke.ErrTimeout)
	}}
	dest := &fakeDestinations{}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest, Settings: settingsOf(Settings{Retries: intp(0), DLQ: "my-dlq"})})
	run(t, s, "slow")
	id := submit(t, s, Event{Function: "slow"})
	waitFor(t, "a dead letter", func() bool { _, dls := dest.snapshot(); return len(dls) == 1 })
	waitFor(t, "no pending event", func() bool { return pending(t, s, "slow") == 0 })
	_, dls := dest.snapshot()
	if n := inv.count(id); n != 1 {
		t.Errorf("invoked %d times, want 1", n)
	}
	if dls[0].queue != "my-dlq" || dls[0].info.Count != 1 || !strings.HasPrefix(dls[0].info.Reason, "Sandbox.Timedout: ") {
		t.Errorf("dead letter %q %+v", dls[0].queue, dls[0].info)
	}
}

func TestThrottledDoesNotUseAttempts(t *testing.T) {
	b := bustest.Start(t)
	// Three throttles, one failure, then success: with one retry allowed
	// the event succeeds only if throttles are not attempts.
	inv := &fakeInvoker{respond: func(n int, req *invoke.Request) (*invoke.Result, error) {
		switch {
		case n <= 2:
			return nil, fmt.Errorf("%w: f", invoke.ErrThrottled)
		case n == 3:
			return nil, invoke.ErrShuttingDown
		case n == 4:
			return functionError("once", "Once")
		default:
			return &invoke.Result{Version: "7", Payload: []byte(`{"done":true}`)}, nil
		}
	}}
	dest := &fakeDestinations{}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest, Settings: settingsOf(Settings{
		Retries: intp(1), OnSuccess: &Destination{Kind: KindQueue, Name: "ok"},
	})})
	run(t, s, "busy")
	id := submit(t, s, Event{Function: "busy"})
	waitFor(t, "a success record", func() bool { sends, _ := dest.snapshot(); return len(sends) == 1 })
	waitFor(t, "no pending event", func() bool { return pending(t, s, "busy") == 0 })
	if n := inv.count(id); n != 5 {
		t.Errorf("invoked %d times, want 5", n)
	}
	sends, dls := dest.snapshot()
	if len(dls) != 0 {
		t.Errorf("dead-lettered: %+v", dls)
	}
	var r Record
	if err := json.Unmarshal(sends[0].record, &r); err != nil {
		t.Fatal(err)
	}
	if r.RequestContext.Condition != ConditionSuccess || r.RequestContext.ApproximateInvokeCount != 2 {
		t.Errorf("record context %+v, want Success after 2 attempts", r.RequestContext)
	}
}

// clock is a settable test clock.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *clock) Now() func() time.Time   { return c.now }
func decodeRecord(t *testing.T, b []byte) *Record {
	t.Helper()
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("record %s: %v", b, err)
	}
	return &r
}

func TestMaxEventAge(t *testing.T) {
	b := bustest.Start(t)
	var clk clock
	inv := &fakeInvoker{respond: func(int, *invoke.Request) (*invoke.Result, error) {
		return nil, invoke.ErrThrottled
	}}
	dest := &fakeDestinations{}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest, Now: clk.Now(), Settings: settingsOf(Settings{
		MaxEventAge: time.Minute, OnFailure: &Destination{Kind: KindTopic, Name: "failures"},
	})})
	run(t, s, "old")
	id := submit(t, s, Event{Function: "old", Payload: json.RawMessage(`{"a":[1,2]}`), TraceParent: "tp-1"})
	waitFor(t, "a throttled invocation", func() bool { return inv.count(id) >= 1 })
	clk.advance(2 * time.Minute)
	waitFor(t, "a failure record", func() bool { sends, _ := dest.snapshot(); return len(sends) == 1 })
	waitFor(t, "no pending event", func() bool { return pending(t, s, "old") == 0 })
	sends, dls := dest.snapshot()
	if len(dls) != 0 {
		t.Errorf("dead-lettered with OnFailure set: %+v", dls)
	}
	if sends[0].dest != (Destination{Kind: KindTopic, Name: "failures"}) || sends[0].traceparent != "tp-1" {
		t.Errorf("sent to %+v with traceparent %q", sends[0].dest, sends[0].traceparent)
	}
	r := decodeRecord(t, sends[0].record)
	if r.RequestContext.Condition != ConditionEventAgeExceeded || r.RequestContext.ApproximateInvokeCount != 0 || r.RequestContext.RequestID != id {
		t.Errorf("request context %+v", r.RequestContext)
	}
	if string(r.RequestPayload) != `{"a":[1,2]}` {
		t.Errorf("request payload %s", r.RequestPayload)
	}
	if r.ResponseContext != nil {
		t.Errorf("response context %+v for a function that never ran", r.ResponseContext)
	}
}

func TestOnSuccessRecord(t *testing.T) {
	b := bustest.Start(t)
	inv := &fakeInvoker{respond: func(int, *invoke.Request) (*invoke.Result, error) {
		return &invoke.Result{Version: "3", Payload: []byte(`{"ok": true}`)}, nil
	}}
	dest := &fakeDestinations{}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest, Region: "eu-west-1", AccountID: "123456789012",
		Settings: settingsOf(Settings{OnSuccess: &Destination{Kind: KindFunction, Name: "audit"}})})
	run(t, s, "api")
	before := time.Now().Add(-time.Second)
	id := submit(t, s, Event{Function: "api", Qualifier: "live", Payload: json.RawMessage(`{"order":42}`), TraceParent: "tp-2"})
	waitFor(t, "a success record", func() bool { sends, _ := dest.snapshot(); return len(sends) == 1 })
	sends, _ := dest.snapshot()
	if sends[0].dest != (Destination{Kind: KindFunction, Name: "audit"}) || sends[0].traceparent != "tp-2" {
		t.Errorf("sent to %+v with %q", sends[0].dest, sends[0].traceparent)
	}
	r := decodeRecord(t, sends[0].record)
	if r.Version != "1.0" {
		t.Errorf("version %q", r.Version)
	}
	if ts, err := time.Parse(time.RFC3339, r.Timestamp); err != nil || ts.Before(before) || !strings.HasSuffix(r.Timestamp, "Z") {
		t.Errorf("timestamp %q: %v", r.Timestamp, err)
	}
	want := RequestContext{RequestID: id, FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:api:live", Condition: "Success", ApproximateInvokeCount: 1}
	if r.RequestContext != want {
		t.Errorf("request context %+v, want %+v", r.RequestContext, want)
	}
	if r.ResponseContext == nil || *r.ResponseContext != (ResponseContext{StatusCode: 200, ExecutedVersion: "3"}) {
		t.Errorf("response context %+v", r.ResponseContext)
	}
	if string(r.RequestPayload) != `{"order":42}` || string(r.ResponsePayload) != `{"ok":true}` {
		t.Errorf("payloads %s %s", r.RequestPayload, r.ResponsePayload)
	}
	// The raw field names, as AWS writes them.
	var raw map[string]any
	_ = json.Unmarshal(sends[0].record, &raw)
	for _, k := range []string{"version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("record has no %q: %s", k, sends[0].record)
		}
	}
}

func TestDestinationFailureRetried(t *testing.T) {
	for _, tc := range []struct {
		name    string
		respond func(int, *invoke.Request) (*invoke.Result, error)
		st      Settings
		cond    string
	}{
		{"success", nil, Settings{OnSuccess: &Destination{Kind: KindQueue, Name: "done"}}, ConditionSuccess},
		{"failure", func(int, *invoke.Request) (*invoke.Result, error) { return functionError("bad", "Bad") },
			Settings{Retries: intp(0), OnFailure: &Destination{Kind: KindQueue, Name: "failed"}}, ConditionRetriesExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bustest.Start(t)
			inv := &fakeInvoker{respond: tc.respond}
			dest := &fakeDestinations{failSends: 3}
			s := openService(t, b, Config{Invoker: inv, Destinations: dest, Settings: settingsOf(tc.st)})
			run(t, s, "fn")
			id := submit(t, s, Event{Function: "fn", Payload: json.RawMessage(`[1]`)})
			waitFor(t, "a record", func() bool { sends, _ := dest.snapshot(); return len(sends) == 1 })
			waitFor(t, "no pending event", func() bool { return pending(t, s, "fn") == 0 })
			if n := inv.count(id); n != 1 {
				t.Errorf("invoked %d times, want 1: the outcome is kept, not recomputed", n)
			}
			sends, _ := dest.snapshot()
			r := decodeRecord(t, sends[0].record)
			if r.RequestContext.Condition != tc.cond || r.RequestContext.ApproximateInvokeCount != 1 || string(r.RequestPayload) != "[1]" {
				t.Errorf("record %s", sends[0].record)
			}
			if tc.cond == ConditionRetriesExhausted {
				if r.ResponseContext == nil || r.ResponseContext.FunctionError != "Unhandled" || r.ResponseContext.ExecutedVersion != "2" {
					t.Errorf("response context %+v", r.ResponseContext)
				}
				if string(r.ResponsePayload) != `{"errorMessage":"bad","errorType":"Bad"}` {
					t.Errorf("response payload %s", r.ResponsePayload)
				}
			}
			dest.mu.Lock()
			attempts := dest.attempts
			dest.mu.Unlock()
			if attempts != 4 {
				t.Errorf("%d delivery attempts, want 4", attempts)
			}
		})
	}
}

func TestDeadLetterFailureRetried(t *testing.T) {
	b := bustest.Start(t)
	inv := &fakeInvoker{respond: func(int, *invoke.Request) (*invoke.Result, error) { return functionError("x", "X") }}
	dest := &fakeDestinations{failDLs: 2}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest, Settings: settingsOf(Settings{Retries: intp(0)})})
	run(t, s, "fn")
	id := submit(t, s, Event{Function: "fn"})
	waitFor(t, "a dead letter", func() bool { _, dls := dest.snapshot(); return len(dls) == 1 })
	waitFor(t, "no pending event", func() bool { return pending(t, s, "fn") == 0 })
	_, dls := dest.snapshot()
	if inv.count(id) != 1 || dls[0].info.Count != 1 || len(dls[0].ev.Attempts) != 1 {
		t.Errorf("invoked %d times; dead letter %+v", inv.count(id), dls[0])
	}
}

func TestFunctionNotFound(t *testing.T) {
	b := bustest.Start(t)
	inv := &fakeInvoker{respond: func(int, *invoke.Request) (*invoke.Result, error) {
		return nil, fmt.Errorf("%w: gone:$LATEST", invoke.ErrFunctionNotFound)
	}}
	dest := &fakeDestinations{}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest})
	run(t, s, "gone")
	id := submit(t, s, Event{Function: "gone"})
	waitFor(t, "a dead letter", func() bool { _, dls := dest.snapshot(); return len(dls) == 1 })
	_, dls := dest.snapshot()
	if inv.count(id) != 1 || dls[0].info.Reason != "function not found" || dls[0].info.Count != 0 {
		t.Errorf("invoked %d times; info %+v", inv.count(id), dls[0].info)
	}
}

func TestTwoServicesShareWork(t *testing.T) {
	b := bustest.Start(t)
	slow := func(int, *invoke.Request) (*invoke.Result, error) {
		time.Sleep(20 * time.Millisecond)
		return &invoke.Result{Version: "1"}, nil
	}
	one, two := &fakeInvoker{respond: slow}, &fakeInvoker{respond: slow}
	st := settingsOf(Settings{Concurrency: 2})
	s1 := openService(t, b, Config{Invoker: one, Settings: st})
	s2 := openService(t, b, Config{Invoker: two, Settings: st})
	run(t, s1, "work")
	run(t, s2, "work")
	const n = 60
	ids := make([]string, n)
	for i := range ids {
		ids[i] = submit(t, s1, Event{Function: "work", Payload: json.RawMessage(fmt.Sprint(i))})
	}
	waitFor(t, "every event to run", func() bool { return one.total()+two.total() >= n && pending(t, s1, "work") == 0 })
	for _, id := range ids {
		if c := one.count(id) + two.count(id); c != 1 {
			t.Errorf("event %s invoked %d times, want 1", id, c)
		}
	}
	if one.total() == 0 || two.total() == 0 {
		t.Errorf("work not shared: %d and %d invocations", one.total(), two.total())
	}
}

func TestRestartRunsAcceptedEvents(t *testing.T) {
	dir := t.TempDir()
	b1, err := bus.Start(testContext(t), bus.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// One invoker across both lives, so that its counts span the restart.
	inv := &fakeInvoker{respond: func(n int, req *invoke.Request) (*invoke.Result, error) {
		if req.Function == "flaky" && n == 1 {
			return functionError("first", "First")
		}
		return &invoke.Result{Version: "1"}, nil
	}}
	s1, err := Open(testContext(t), Config{JetStream: b1.JetStream(), Invoker: inv, Destinations: &fakeDestinations{}, RetryBase: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s1, "flaky") // "idle" has no worker on this node
	var idle []string
	for i := 0; i < 3; i++ {
		idle = append(idle, submit(t, s1, Event{Function: "idle", Payload: json.RawMessage(fmt.Sprint(i))}))
	}
	flaky := submit(t, s1, Event{Function: "flaky"})
	// The retry waits as a message schedule (pending counts it).
	waitFor(t, "the first attempt", func() bool { return inv.count(flaky) == 1 && pending(t, s1, "flaky") == 1 })
	if err := s1.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := b1.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}

	b2 := bustest.StartIn(t, dir)
	dest := &fakeDestinations{}
	s2 := openService(t, b2, Config{Invoker: inv, Destinations: dest})
	if n := pending(t, s2, "idle"); n != 3 {
		t.Errorf("pending after restart: %d, want 3", n)
	}
	if inv.total() != 1 {
		t.Errorf("%d invocations before the restart, want 1", inv.total())
	}
	run(t, s2, "idle", "flaky")
	waitFor(t, "the accepted events", func() bool {
		return pending(t, s2, "idle") == 0 && pending(t, s2, "flaky") == 0 && inv.total() == 5
	})
	for _, id := range idle {
		if inv.count(id) != 1 {
			t.Errorf("event %s invoked %d times, want 1", id, inv.count(id))
		}
	}
	if inv.count(flaky) != 2 {
		t.Errorf("flaky event invoked %d times, want 2 (its retry survived the restart)", inv.count(flaky))
	}
	if _, dls := dest.snapshot(); len(dls) != 0 {
		t.Errorf("dead letters %+v", dls)
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	b := bustest.Start(t)
	release := make(chan struct{})
	inv := &fakeInvoker{respond: func(int, *invoke.Request) (*invoke.Result, error) {
		<-release
		return &invoke.Result{Version: "1"}, nil
	}}
	s := openService(t, b, Config{Invoker: inv})
	run(t, s, "long")
	id := submit(t, s, Event{Function: "long"})
	waitFor(t, "the invocation", func() bool { return inv.count(id) == 1 })
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(testContext(t)) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with an invocation in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := pending(t, s, "long"); n != 0 {
		t.Errorf("pending after a finished shutdown: %d, want 0", n)
	}
	if _, err := s.Submit(testContext(t), Event{Function: "long"}); err != nil {
		t.Errorf("Submit after Shutdown: %v (the stream still accepts)", err)
	}
	if err := s.Start(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Shutdown: %v, want ErrClosed", err)
	}
}

func TestShutdownDeadlineLeavesEventForLater(t *testing.T) {
	b := bustest.Start(t)
	blocking := &ctxInvoker{}
	s := openService(t, b, Config{Invoker: blocking})
	run(t, s, "stuck")
	id := submit(t, s, Event{Function: "stuck"})
	waitFor(t, "the invocation", func() bool { return blocking.started.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want a deadline error", err)
	}
	// Not an attempt, not lost: another service runs it.
	inv2 := &fakeInvoker{}
	s2 := openService(t, b, Config{Invoker: inv2})
	run(t, s2, "stuck")
	waitFor(t, "the event to run again", func() bool { return inv2.count(id) == 1 && pending(t, s2, "stuck") == 0 })
}

// ctxInvoker blocks until its context ends.
type ctxInvoker struct{ started atomic.Int32 }

func (c *ctxInvoker) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Result, error) {
	c.started.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestSyncStopsAndRestartsWorkers(t *testing.T) {
	b := bustest.Start(t)
	inv := &fakeInvoker{}
	s := openService(t, b, Config{Invoker: inv})
	run(t, s, "a", "b")
	submit(t, s, Event{Function: "a"})
	waitFor(t, "a to run", func() bool { return inv.total() == 1 && pending(t, s, "a") == 0 })
	s.Sync([]string{"b"})
	id := submit(t, s, Event{Function: "a"})
	submit(t, s, Event{Function: "b"})
	waitFor(t, "b to run", func() bool { return inv.total() == 2 && pending(t, s, "b") == 0 })
	if inv.count(id) != 0 || pending(t, s, "a") != 1 {
		t.Fatalf("a ran without a worker (calls %d, pending %d)", inv.count(id), pending(t, s, "a"))
	}
	s.Sync([]string{"a", "b"})
	waitFor(t, "a to run after its worker is back", func() bool { return inv.count(id) == 1 && pending(t, s, "a") == 0 })
}

func TestSubmitValidation(t *testing.T) {
	b := bustest.Start(t)
	s := openService(t, b, Config{})
	ctx := testContext(t)
	big := json.RawMessage(`"` + strings.Repeat("x", MaxPayloadBytes) + `"`)
	for _, tc := range []struct {
		name string
		ev   Event
		want error
	}{
		{"too large", Event{Function: "f", Payload: big}, ErrTooLarge},
		{"not JSON", Event{Function: "f", Payload: json.RawMessage(`{`)}, ErrInvalid},
		{"no function", Event{Payload: json.RawMessage(`{}`)}, ErrInvalid},
		{"subject in name", Event{Function: "a.b"}, ErrInvalid},
		{"wildcard name", Event{Function: "*"}, ErrInvalid},
		{"long name", Event{Function: strings.Repeat("f", 65)}, ErrInvalid},
		{"newline in source", Event{Function: "f", Source: "a\r\nNats-Msg-Id: x"}, ErrInvalid},
		{"space around request id", Event{Function: "f", RequestID: " id"}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Submit(ctx, tc.ev); !errors.Is(err, tc.want) {
				t.Errorf("Submit: %v, want %v", err, tc.want)
			}
		})
	}
	if n := pending(t, s, "f"); n != 0 {
		t.Errorf("rejected events stored: %d", n)
	}
	id, err := s.Submit(ctx, Event{Function: "f", RequestID: "my-id", Payload: json.RawMessage(`{"x":"` + strings.Repeat("y", 64<<10) + `"}`)})
	if err != nil || id != "my-id" {
		t.Errorf("Submit of 64 KiB = %q, %v", id, err)
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		st Settings
		ok bool
	}{
		{Settings{}, true},
		{Settings{Retries: intp(0), MaxEventAge: time.Minute, Concurrency: 1}, true},
		{Settings{Retries: intp(2), MaxEventAge: 6 * time.Hour}, true},
		{Settings{Retries: intp(3)}, false},
		{Settings{Retries: intp(-1)}, false},
		{Settings{MaxEventAge: 59 * time.Second}, false},
		{Settings{MaxEventAge: 7 * time.Hour}, false},
		{Settings{Concurrency: -1}, false},
	} {
		if err := tc.st.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.st, err, tc.ok)
		} else if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate error %v does not match ErrInvalidConfig", err)
		}
	}
	r := Settings{Retries: intp(9), MaxEventAge: time.Second}.resolve("f")
	if r.retries != 2 || r.maxAge != time.Minute || r.concurrency != 10 || r.dlq != "fn-f-dlq" {
		t.Errorf("resolve clamps to %+v", r)
	}
}

func TestOpenRequiresDependencies(t *testing.T) {
	if _, err := Open(context.Background(), Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Open without dependencies: %v, want ErrInvalidConfig", err)
	}
}

func TestMalformedEventDeadLettered(t *testing.T) {
	b := bustest.Start(t)
	inv := &fakeInvoker{}
	dest := &fakeDestinations{}
	s := openService(t, b, Config{Invoker: inv, Destinations: dest})
	run(t, s, "fn")
	// A message without the envelope's headers, as a foreign publisher
	// could put on the subject.
	if _, err := b.JetStream().Publish(testContext(t), SubjectPrefix+"fn", []byte(`{"raw":true}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a dead letter", func() bool { _, dls := dest.snapshot(); return len(dls) == 1 })
	waitFor(t, "no pending event", func() bool { return pending(t, s, "fn") == 0 })
	_, dls := dest.snapshot()
	if dls[0].queue != "fn-fn-dlq" || string(dls[0].ev.Payload) != `{"raw":true}` || !strings.HasPrefix(dls[0].info.Reason, "malformed async event") {
		t.Errorf("dead letter %q %s %+v", dls[0].queue, dls[0].ev.Payload, dls[0].info)
	}
	if inv.total() != 0 {
		t.Errorf("malformed event invoked %d times", inv.total())
	}
}
