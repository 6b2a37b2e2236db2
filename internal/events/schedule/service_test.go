package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/gureum/gureum/internal/bus"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Start(testContext(t), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start bus: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown bus: %v", err)
		}
	})
	return b
}

// testParse adds "every <duration>" (whole seconds, epoch-aligned like
// rate()) to Parse, so that tests need not wait minutes for a tick.
func testParse(expr, timezone string) (*Expression, error) {
	if d, ok := strings.CutPrefix(expr, "every "); ok {
		period, err := time.ParseDuration(d)
		if err != nil || period < time.Second || period%time.Second != 0 {
			return nil, fmt.Errorf("%w: test period %q", ErrInvalid, d)
		}
		return &Expression{text: expr, kind: kindRate, loc: time.UTC, period: int64(period / time.Second)}, nil
	}
	return Parse(expr, timezone)
}

// firing records every call of Fire.
type firing struct {
	mu    sync.Mutex
	calls []fireCall
	fail  func(s Schedule, tick time.Time, attempt int) error // nil: succeed
}

type fireCall struct {
	node  string
	sched Schedule
	tick  time.Time
	event []byte
}

func (f *firing) fire(node string) func(context.Context, Schedule, time.Time, []byte) error {
	return func(_ context.Context, s Schedule, tick time.Time, event []byte) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, fireCall{node: node, sched: s, tick: tick, event: bytes.Clone(event)})
		if f.fail != nil {
			attempt := 0
			for _, c := range f.calls {
				if c.sched.ID == s.ID && c.tick.Equal(tick) {
					attempt++
				}
			}
			return f.fail(s, tick, attempt)
		}
		return nil
	}
}

func (f *firing) snapshot() []fireCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fireCall(nil), f.calls...)
}

// ticksOf returns the distinct ticks fired for id, in time order.
func (f *firing) ticksOf(id string) []time.Time {
	var out []time.Time
	for _, c := range f.snapshot() {
		if c.sched.ID == id && !slices.ContainsFunc(out, c.tick.Equal) {
			out = append(out, c.tick)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.parse = testParse
	s.backoff, s.maxWait = 10*time.Millisecond, 40*time.Millisecond
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func start(t *testing.T, s *Service) {
	t.Helper()
	if err := s.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func statusOf(t *testing.T, s *Service, id string) Status {
	t.Helper()
	for _, st := range s.List() {
		if st.ID == id {
			return st
		}
	}
	t.Fatalf("no schedule %s in List", id)
	return Status{}
}

func TestTwoNodesFireEachTickOnce(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	rec := &firing{}
	input := json.RawMessage(`{"task":"cleanup"}`)
	schedules := []Schedule{
		{ID: "report/0", Function: "report", Expression: "every 1s"},
		{ID: "clean.up/1", Function: "clean.up", Expression: "every 1s", Input: input},
	}
	var nodes []*Service
	for _, name := range []string{"n1", "n2"} {
		s := newService(t, Config{JetStream: b.JetStream(), Region: "eu-west-1", AccountID: "123456789012", Fire: rec.fire(name)})
		s.Set(schedules)
		start(t, s)
		nodes = append(nodes, s)
	}

	waitFor(t, "4 ticks of each schedule", func() bool {
		return len(rec.ticksOf("report/0")) >= 4 && len(rec.ticksOf("clean.up/1")) >= 4
	})
	for _, s := range nodes {
		if err := s.Shutdown(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}

	fired := map[string]int{}
	for _, c := range rec.snapshot() {
		fired[fmt.Sprintf("%s@%d", c.sched.ID, c.tick.Unix())]++
		if c.tick.Nanosecond() != 0 {
			t.Errorf("tick %s is not a whole second", c.tick)
		}
	}
	for k, n := range fired {
		if n != 1 {
			t.Errorf("%s fired %d times, want once", k, n)
		}
	}
	// Every tick of a schedule was fired, none skipped, whichever node won.
	for _, id := range []string{"report/0", "clean.up/1"} {
		ts := rec.ticksOf(id)
		for i := 1; i < len(ts); i++ {
			if ts[i].Sub(ts[i-1]) != time.Second {
				t.Errorf("%s: ticks %s then %s, want one second apart", id, ts[i-1], ts[i])
			}
		}
	}
	// Both nodes took part: each recorded the ticks, and the lease keys hold the winner.
	kv, err := b.JetStream().KeyValue(testContext(t), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rec.snapshot() {
		e, err := kv.Get(testContext(t), leaseKey(c.sched.ID, c.tick))
		if err != nil {
			t.Fatalf("lease of %s@%s: %v", c.sched.ID, c.tick, err)
		}
		winner := nodes[0]
		if c.node == "n2" {
			winner = nodes[1]
		}
		if string(e.Value()) != winner.node {
			t.Errorf("lease of %s@%s held by %q, but %s fired it", c.sched.ID, c.tick, e.Value(), c.node)
		}
	}
	for i, s := range nodes {
		st := statusOf(t, s, "report/0")
		if st.Last.IsZero() || st.LastError != "" {
			t.Errorf("node %d: status %+v, want a last tick and no error", i+1, st)
		}
	}

	// The events: EventBridge's scheduled event, or the input as given.
	for _, c := range rec.snapshot() {
		if c.sched.ID == "clean.up/1" {
			if !bytes.Equal(c.event, input) {
				t.Errorf("event with input = %s, want %s", c.event, input)
			}
			continue
		}
		checkScheduledEvent(t, c.event, c.tick, "eu-west-1", "123456789012", "arn:aws:events:eu-west-1:123456789012:rule/report-0")
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func checkScheduledEvent(t *testing.T, event []byte, tick time.Time, region, account, rule string) {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(event, &raw); err != nil {
		t.Fatalf("event %s: %v", event, err)
	}
	want := map[string]any{
		"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
		"account": account, "region": region, "time": tick.UTC().Format("2006-01-02T15:04:05Z"),
		"resources": []any{rule}, "detail": map[string]any{},
	}
	for k, v := range want {
		if fmt.Sprint(raw[k]) != fmt.Sprint(v) {
			t.Errorf("event %s = %v, want %v", k, raw[k], v)
		}
	}
	if id, _ := raw["id"].(string); !uuidRE.MatchString(id) {
		t.Errorf("event id %q is not a UUID", raw["id"])
	}
	if len(raw) != 9 {
		t.Errorf("event has fields %v, want the 9 of a scheduled event", raw)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(event, &ev); err != nil || !ev.Time.Equal(tick) || string(ev.Detail) != "{}" {
		t.Errorf("event as CloudWatchEvent: %+v, %v", ev, err)
	}
}

func TestEventDefaults(t *testing.T) {
	s, err := New(Config{JetStream: startBus(t).JetStream(), Fire: (&firing{}).fire("n")})
	if err != nil {
		t.Fatal(err)
	}
	tick := rfc(t, "2024-05-01T10:00:00Z").In(mustLoad(t, "Asia/Seoul"))
	ev, err := s.event(Schedule{ID: "nightly/2", Function: "nightly"}, tick)
	if err != nil {
		t.Fatal(err)
	}
	checkScheduledEvent(t, ev, tick, "us-east-1", "000000000000", "arn:aws:events:us-east-1:000000000000:rule/nightly-2")
	if !bytes.Contains(ev, []byte(`"time":"2024-05-01T10:00:00Z"`)) {
		t.Errorf("event %s: want the tick in UTC without fractions", ev)
	}
	again, _ := s.event(Schedule{ID: "nightly/2", Function: "nightly"}, tick)
	if bytes.Equal(ev, again) {
		t.Error("two ticks' events share an id")
	}
}

func TestStartedLateFiresNoMissedTicks(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	rec := &firing{}
	sched := []Schedule{{ID: "f/0", Function: "f", Expression: "every 1s"}}

	first := newService(t, Config{JetStream: b.JetStream(), Fire: rec.fire("first")})
	first.Set(sched)
	start(t, first)
	waitFor(t, "two ticks", func() bool { return len(rec.ticksOf("f/0")) >= 2 })
	if err := first.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}
	before := rec.ticksOf("f/0")
	down := before[len(before)-1]

	// Stay down over several ticks, then start a new node.
	waitFor(t, "three ticks to pass", func() bool { return time.Since(down) > 3*time.Second })
	started := time.Now()
	second := newService(t, Config{JetStream: b.JetStream(), Fire: rec.fire("second")})
	second.Set(sched)
	start(t, second)
	waitFor(t, "a tick on the new node", func() bool { return len(rec.ticksOf("f/0")) > len(before) })

	after := rec.ticksOf("f/0")[len(before):]
	if !after[0].After(started) {
		t.Errorf("the new node fired tick %s, from before it started at %s", after[0], started)
	}
	for _, c := range rec.snapshot() {
		if c.tick.After(down) && !c.tick.After(started) {
			t.Errorf("missed tick %s fired by %s", c.tick, c.node)
		}
	}
}

func TestLateWakeSkipsMissedTicks(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	rec := &firing{}
	var skew atomic.Int64 // added to the wall clock
	s := newService(t, Config{JetStream: b.JetStream(), Fire: rec.fire("n"),
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	s.Set([]Schedule{{ID: "f/0", Function: "f", Expression: "every 1s"}})
	start(t, s)
	waitFor(t, "a tick", func() bool { return len(rec.ticksOf("f/0")) >= 1 })

	// The clock jumps ten minutes, as after a suspended machine wakes.
	jump := time.Now()
	skew.Store(int64(10 * time.Minute))
	n := len(rec.ticksOf("f/0"))
	waitFor(t, "ticks after the jump", func() bool { return len(rec.ticksOf("f/0")) >= n+2 })

	for _, tick := range rec.ticksOf("f/0") {
		if tick.After(jump.Add(2*time.Second)) && tick.Before(jump.Add(10*time.Minute)) {
			t.Errorf("tick %s was missed while the node slept, yet fired", tick)
		}
	}
	if last := rec.ticksOf("f/0"); last[len(last)-1].Before(jump.Add(10 * time.Minute)) {
		t.Errorf("last tick %s: the schedule did not resume after the jump", last[len(last)-1])
	}
}

// logs collects log records.
type logs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

func (l *logs) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Message == msg {
			n++
		}
	}
	return n
}

func TestFireRetriedWithTheSameEvent(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	rec := &firing{fail: func(_ Schedule, _ time.Time, attempt int) error {
		if attempt < 3 {
			return errors.New("queue unavailable")
		}
		return nil
	}}
	s := newService(t, Config{JetStream: b.JetStream(), Fire: rec.fire("n")})
	s.Set([]Schedule{{ID: "f/0", Function: "f", Expression: "every 2s"}})
	start(t, s)
	waitFor(t, "a fired tick", func() bool { return !statusOf(t, s, "f/0").Last.IsZero() })

	calls := rec.snapshot()
	tick := calls[0].tick
	var attempts []fireCall
	for _, c := range calls {
		if c.tick.Equal(tick) {
			attempts = append(attempts, c)
		}
	}
	if len(attempts) != 3 {
		t.Fatalf("tick %s: %d attempts, want 3", tick, len(attempts))
	}
	for _, c := range attempts[1:] {
		if !bytes.Equal(c.event, attempts[0].event) {
			t.Errorf("retry sent %s, first attempt %s: want the same event", c.event, attempts[0].event)
		}
	}
	if st := statusOf(t, s, "f/0"); st.LastError != "" {
		t.Errorf("LastError = %q after a retry succeeded", st.LastError)
	}
}

func TestFireFailureLoggedOnce(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	rec := &firing{fail: func(Schedule, time.Time, int) error { return errors.New("queue unavailable") }}
	lg := &logs{}
	s := newService(t, Config{JetStream: b.JetStream(), Fire: rec.fire("n"), Logger: slog.New(lg)})
	s.attempts = 3
	s.Set([]Schedule{{ID: "f/0", Function: "f", Expression: "every 2s"}})
	start(t, s)
	waitFor(t, "a failed tick", func() bool { return statusOf(t, s, "f/0").LastError != "" })
	st := statusOf(t, s, "f/0")
	if err := s.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}

	if !strings.Contains(st.LastError, "queue unavailable") || !strings.Contains(st.LastError, "after 3 attempts") {
		t.Errorf("LastError = %q, want the cause after 3 attempts", st.LastError)
	}
	perTick := map[int64]int{}
	for _, c := range rec.snapshot() {
		perTick[c.tick.Unix()]++
	}
	if perTick[st.Last.Unix()] != 3 {
		t.Errorf("tick %s: %d attempts, want 3", st.Last, perTick[st.Last.Unix()])
	}
	for tick, n := range perTick {
		if n > 3 {
			t.Errorf("tick %d: %d attempts, want at most 3", tick, n)
		}
	}
	// Shutdown may cut the retries of the last tick short; it is logged too.
	if got := lg.count("schedule: tick not fired"); got != len(perTick) {
		t.Errorf("%d failure logs for %d failed ticks, want one each", got, len(perTick))
	}
}

func TestAtFiresOnce(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	rec := &firing{}
	s := newService(t, Config{JetStream: b.JetStream(), Fire: rec.fire("n")})
	s.parse = Parse
	at := time.Now().UTC().Add(2 * time.Second).Truncate(time.Second)
	s.Set([]Schedule{
		{ID: "once/0", Function: "once", Expression: "at(" + at.Format(atLayout) + ")"},
		{ID: "past/0", Function: "past", Expression: "at(2020-01-01T00:00:00)"},
	})
	start(t, s)
	waitFor(t, "the at() tick", func() bool { return len(rec.ticksOf("once/0")) == 1 })
	waitFor(t, "no next tick", func() bool { return statusOf(t, s, "once/0").Next.IsZero() })

	if got := rec.ticksOf("once/0"); !got[0].Equal(at) {
		t.Errorf("at() fired at %s, want %s", got[0], at)
	}
	if st := statusOf(t, s, "past/0"); !st.Next.IsZero() || !st.Last.IsZero() || st.LastError != "" {
		t.Errorf("past at(): status %+v, want nothing to do", st)
	}
	if err := s.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.snapshot()); n != 1 {
		t.Errorf("%d fires, want 1", n)
	}
}

func TestSet(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	lg := &logs{}
	s := newService(t, Config{JetStream: b.JetStream(), Fire: (&firing{}).fire("n"), Logger: slog.New(lg)})
	s.parse = Parse
	a := Schedule{ID: "a/0", Function: "a", Expression: "rate(5 minutes)"}
	bad := Schedule{ID: "b/0", Function: "b", Expression: "cron(0 10 * * * *)"}
	noInput := Schedule{ID: "c/0", Function: "c", Expression: "rate(1 hour)", Input: json.RawMessage(`{"x":`)}

	// Before Start: listed, nothing runs.
	s.Set([]Schedule{a, bad, noInput, {ID: "a/0", Function: "dup", Expression: "rate(1 day)"}})
	list := s.List()
	if len(list) != 3 || list[0].ID != "a/0" || list[0].Function != "a" || list[1].ID != "b/0" || list[2].ID != "c/0" {
		t.Fatalf("List = %+v, want a/0 (the first of the duplicates), b/0, c/0", list)
	}
	if !strings.Contains(list[1].LastError, "one of them must be ?") || !strings.Contains(list[2].LastError, "not valid JSON") {
		t.Errorf("invalid schedules: %q, %q", list[1].LastError, list[2].LastError)
	}
	if lg.count("schedule: not running") != 2 || lg.count("schedule: duplicate id; the first one is used") != 1 {
		t.Errorf("want one log line per invalid schedule and duplicate")
	}
	if !list[0].Next.IsZero() {
		t.Errorf("Next before Start = %s, want zero", list[0].Next)
	}

	start(t, s)
	waitFor(t, "a/0 to be scheduled", func() bool { return !statusOf(t, s, "a/0").Next.IsZero() })
	next := statusOf(t, s, "a/0").Next
	if next.Unix()%300 != 0 || !next.After(time.Now()) || time.Until(next) > 5*time.Minute {
		t.Errorf("a/0 next tick %s, want the next 5-minute mark", next)
	}

	// Unchanged schedules keep their timer; a changed one starts over.
	s.mu.Lock()
	keptA := s.entries["a/0"]
	s.mu.Unlock()
	changed := Schedule{ID: "d/0", Function: "d", Expression: "rate(1 hour)"}
	s.Set([]Schedule{a, changed})
	s.mu.Lock()
	sameA := s.entries["a/0"] == keptA
	s.mu.Unlock()
	if !sameA {
		t.Error("an unchanged schedule was restarted")
	}
	s.Set([]Schedule{{ID: "a/0", Function: "a", Expression: "rate(10 minutes)"}, changed})
	s.mu.Lock()
	replaced := s.entries["a/0"] != keptA
	s.mu.Unlock()
	if !replaced {
		t.Error("a changed schedule kept its old timer")
	}
	waitFor(t, "a/0 to be rescheduled", func() bool {
		next := statusOf(t, s, "a/0").Next
		return !next.IsZero() && next.Unix()%600 == 0
	})
	if got := s.List(); len(got) != 2 || got[1].ID != "d/0" {
		t.Errorf("List = %+v, want a/0 and d/0", got)
	}

	s.Set(nil)
	if got := s.List(); len(got) != 0 {
		t.Errorf("List after Set(nil) = %+v", got)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	fire := (&firing{}).fire("n")
	for _, cfg := range []Config{
		{Fire: fire},
		{JetStream: b.JetStream()},
		{JetStream: b.JetStream(), Fire: fire, Replicas: -1},
		{JetStream: b.JetStream(), Fire: fire, Region: "us:east"},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}

	s := newService(t, Config{JetStream: b.JetStream(), Fire: fire})
	start(t, s)
	if err := s.Start(testContext(t)); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := s.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(testContext(t)); err != nil {
		t.Errorf("a second Shutdown: %v", err)
	}
	if err := s.Start(testContext(t)); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
	s.Set([]Schedule{{ID: "a/0", Function: "a", Expression: "every 1s"}}) // kept, never run

	info, err := b.JetStream().KeyValue(testContext(t), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := info.Status(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != leaseTTL || st.History() != 1 {
		t.Errorf("bucket TTL %s history %d, want %s and 1", st.TTL(), st.History(), leaseTTL)
	}
}

func TestShutdownAbortsAStuckFire(t *testing.T) {
	t.Parallel()
	b := startBus(t)
	entered := make(chan struct{}, 1)
	s := newService(t, Config{JetStream: b.JetStream(), Fire: func(ctx context.Context, _ Schedule, _ time.Time, _ []byte) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}})
	s.Set([]Schedule{{ID: "a/0", Function: "a", Expression: "every 1s"}})
	start(t, s)
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
}

func TestLeaseKey(t *testing.T) {
	tick := time.Unix(1700000000, 0)
	valid := regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)
	keys := map[string]string{}
	for _, id := range []string{"resize/0", "a.b/0", "a_2Eb/0", "a b/0", "ünï/1", "x*>/2", "-/-"} {
		k := leaseKey(id, tick)
		if !valid.MatchString(k) || strings.HasPrefix(k, ".") {
			t.Errorf("leaseKey(%q) = %q is not a valid KV key", id, k)
		}
		if other, dup := keys[k]; dup {
			t.Errorf("ids %q and %q share key %q", id, other, k)
		}
		keys[k] = id
	}
	if got := leaseKey("resize/0", tick); got != "resize/0.1700000000" {
		t.Errorf("leaseKey = %q, want resize/0.1700000000", got)
	}
	if got := RuleName("my fn/3"); got != "my-fn-3" {
		t.Errorf("RuleName = %q", got)
	}
}
