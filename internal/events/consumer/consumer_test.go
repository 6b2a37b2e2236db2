package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus/bustest"
)

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const stream = "TEST"

// harness is a stream of subjects t.<consumer>, one durable consumer per
// record defs.<consumer> of a KV bucket, and a Group running them with
// target deciding each delivery.
type harness struct {
	t  *testing.T
	js jetstream.JetStream
	kv jetstream.KeyValue
	g  *Group
	tg *target

	mu      sync.Mutex
	runners map[string]*Runner
}

func newHarness(t *testing.T, tune ...func(*Config)) *harness {
	t.Helper()
	ctx := t.Context()
	js := bustest.Start(t).JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "defs"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{JetStream: js, Name: "tests", Records: "definition", Item: "message", RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond, MaxInFlight: 4}
	for _, f := range tune {
		f(&cfg)
	}
	h := &harness{t: t, js: js, kv: kv, g: NewGroup(cfg), tg: newTarget(), runners: map[string]*Runner{}}
	t.Cleanup(func() {
		// A test that cut Shutdown short sees its result again here.
		if err := h.g.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return h
}

// addConsumer makes the durable consumer name on subject t.<name>.
func (h *harness) addConsumer(name string) {
	h.t.Helper()
	_, err := h.js.CreateConsumer(h.t.Context(), stream, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: "t." + name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: -1,
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// define makes consumer name and its record, which starts its runner.
func (h *harness) define(name string) {
	h.t.Helper()
	h.addConsumer(name)
	if _, err := h.kv.Put(h.t.Context(), "defs."+name, []byte(name)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) start() {
	h.t.Helper()
	if err := h.g.Start(h.t.Context(), h.kv, "defs.>", h.apply); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
}

func (h *harness) apply(e jetstream.KeyValueEntry) {
	name := strings.TrimPrefix(e.Key(), "defs.")
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.runners[name]
	switch {
	case e.Operation() != jetstream.KeyValuePut && r != nil:
		r.Stop()
		delete(h.runners, name)
	case e.Operation() == jetstream.KeyValuePut && r == nil:
		if r = h.g.Run(Spec{Stream: stream, Consumer: string(e.Value()), Prepare: h.tg.prepare}); r != nil {
			h.runners[name] = r
		}
	}
}

func (h *harness) running(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runners[name] != nil
}

func (h *harness) publish(name, body string) {
	h.t.Helper()
	if _, err := h.js.Publish(h.t.Context(), "t."+name, []byte(body)); err != nil {
		h.t.Fatal(err)
	}
}

// settled reports whether consumer name has nothing left to deliver or to
// acknowledge, and has acknowledged n messages in all.
func (h *harness) settled(name string, n uint64) bool {
	c, err := h.js.Consumer(h.t.Context(), stream, name)
	if err != nil {
		return false
	}
	info, err := c.Info(h.t.Context())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= n
}

type deadLetter struct {
	body string
	f    Failure
}

// target decides deliveries by body: "skip", "reject", "fail-N" (fails the
// first N attempts), "always" (fails every attempt), "block" (waits for
// unblock or the context), else success. "reject-block" is rejected and
// its dead-lettering waits for the context.
type target struct {
	mu        sync.Mutex
	attempts  map[string]int
	delivered []string
	dead      []deadLetter
	deadFail  int // dead-letterings that fail before one is accepted
	maxAt     int // MaxAttempts of every delivery
	inflight  int
	peak      int
	ctxErr    []error // the ctx error each finished "block" delivery saw
	unblock   chan struct{}
	started   chan string
}

func newTarget() *target {
	return &target{attempts: map[string]int{}, maxAt: 3, unblock: make(chan struct{}), started: make(chan string, 100)}
}

func (tg *target) prepare(msg jetstream.Msg) Delivery {
	body := string(msg.Data())
	tg.mu.Lock()
	maxAt := tg.maxAt
	tg.mu.Unlock()
	d := Delivery{
		MaxAttempts: maxAt,
		Attrs:       []any{"body", body},
		DLQ:         "dlq",
		Deliver:     func(ctx context.Context) error { return tg.deliver(ctx, body) },
		DeadLetter: func(ctx context.Context, f Failure) error {
			if body == "reject-block" {
				tg.started <- body
				<-ctx.Done()
				return ctx.Err()
			}
			tg.mu.Lock()
			defer tg.mu.Unlock()
			if tg.deadFail > 0 {
				tg.deadFail--
				return errors.New("dlq down")
			}
			tg.dead = append(tg.dead, deadLetter{body: body, f: f})
			return nil
		},
	}
	switch body {
	case "skip":
		d.Skip = true
	case "reject", "reject-block":
		d.Reject = errors.New("unreadable")
	}
	return d
}

func (tg *target) deliver(ctx context.Context, body string) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("no attempt timeout")
	}
	tg.mu.Lock()
	tg.attempts[body]++
	n := tg.attempts[body]
	tg.inflight++
	tg.peak = max(tg.peak, tg.inflight)
	tg.mu.Unlock()
	defer func() {
		tg.mu.Lock()
		tg.inflight--
		tg.mu.Unlock()
	}()
	if strings.HasPrefix(body, "block") {
		tg.started <- body
		select {
		case <-tg.unblock:
		case <-ctx.Done():
		}
		tg.mu.Lock()
		tg.ctxErr = append(tg.ctxErr, ctx.Err())
		tg.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	var fails int
	switch {
	case body == "always":
		return fmt.Errorf("attempt %d failed", n)
	case strings.HasPrefix(body, "fail-"):
		fmt.Sscanf(body, "fail-%d", &fails)
		if n <= fails {
			return fmt.Errorf("attempt %d failed", n)
		}
	}
	tg.mu.Lock()
	tg.delivered = append(tg.delivered, body)
	tg.mu.Unlock()
	return nil
}

// seen is a copy of what a target has seen so far.
type seen struct {
	attempts  map[string]int
	delivered []string
	dead      []deadLetter
	peak      int
	ctxErr    []error
}

func (tg *target) seen() seen {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return seen{
		attempts:  maps.Clone(tg.attempts),
		delivered: slices.Clone(tg.delivered),
		dead:      slices.Clone(tg.dead),
		peak:      tg.peak,
		ctxErr:    slices.Clone(tg.ctxErr),
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		if got := Backoff(time.Second, 60*time.Second, i+1); got != w*time.Second {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w*time.Second)
		}
	}
	if got := Backoff(time.Second, 60*time.Second, 1000); got != 60*time.Second {
		t.Errorf("Backoff(1000) = %v", got)
	}
	if got := Backoff(time.Second, 500*time.Millisecond, 1); got != 500*time.Millisecond {
		t.Errorf("Backoff with max below base = %v", got)
	}
}

func TestSettling(t *testing.T) {
	h := newHarness(t)
	h.define("a")
	h.start()
	if !h.running("a") {
		t.Fatal("Start returned before the existing record's runner ran")
	}
	for _, body := range []string{"ok", "skip", "reject", "fail-2", "always"} {
		h.publish("a", body)
	}
	waitFor(t, "every message settled", func() bool { return h.settled("a", 5) })

	got := h.tg.seen().delivered
	if len(got) != 2 || !slices.Contains(got, "ok") || !slices.Contains(got, "fail-2") {
		t.Errorf("delivered %q, want ok and fail-2", got)
	}
	for body, want := range map[string]int{"ok": 1, "skip": 0, "reject": 0, "fail-2": 3, "always": 3} {
		if n := h.tg.seen().attempts[body]; n != want {
			t.Errorf("%s: %d attempts, want %d", body, n, want)
		}
	}
	dead := map[string]Failure{}
	for _, d := range h.tg.seen().dead {
		dead[d.body] = d.f
	}
	if len(dead) != 2 {
		t.Fatalf("dead letters %+v, want reject and always", dead)
	}
	if f := dead["reject"]; f.Reason != "unreadable" || f.Count != 1 {
		t.Errorf("reject dead-lettered with %+v, want its reason at once", f)
	}
	if f := dead["always"]; f.Reason != "attempt 3 failed" || f.Count != 3 {
		t.Errorf("always dead-lettered with %+v, want the last attempt's error", f)
	}
}

func TestDeadLetterRetriedWithItsReason(t *testing.T) {
	h := newHarness(t)
	h.tg.deadFail = 2
	h.define("a")
	h.start()
	h.publish("a", "always")
	waitFor(t, "the dead letter", func() bool { return len(h.tg.seen().dead) == 1 })
	waitFor(t, "the message settled", func() bool { return h.settled("a", 1) })
	if n := h.tg.seen().attempts["always"]; n != 3 {
		t.Errorf("%d attempts, want 3: retrying the dead letter must not attempt again", n)
	}
	if f := h.tg.seen().dead[0].f; f.Reason != "attempt 3 failed" || f.Count != 3 {
		t.Errorf("dead-lettered with %+v after the queue failed twice, want the last attempt's reason", f)
	}
}

func TestForeignAttemptsGetAGenericReason(t *testing.T) {
	// Another node made the attempts: this one only sees a delivery past
	// MaxAttempts, and dead-letters it at once with a generic reason.
	h := newHarness(t)
	h.define("a")
	h.publish("a", "always")
	c, err := h.js.Consumer(t.Context(), stream, "a")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		batch, err := c.Fetch(1)
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			if err := msg.Nak(); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.start()
	waitFor(t, "the dead letter", func() bool { return len(h.tg.seen().dead) == 1 })
	if n := h.tg.seen().attempts["always"]; n != 0 {
		t.Errorf("%d attempts on this node, want none", n)
	}
	if f := h.tg.seen().dead[0].f; f.Reason != "not delivered in 3 attempts" || f.Count != 3 {
		t.Errorf("dead-lettered with %+v", f)
	}
}

func TestMaxInFlight(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxInFlight = 2 })
	h.define("a")
	h.start()
	for i := range 5 {
		h.publish("a", fmt.Sprint("block-", i))
	}
	<-h.tg.started
	<-h.tg.started
	close(h.tg.unblock)
	waitFor(t, "every message delivered", func() bool { return len(h.tg.seen().delivered) == 5 })
	if peak := h.tg.seen().peak; peak != 2 {
		t.Errorf("at most %d deliveries at once, want 2", peak)
	}
}

func TestFollowsRecords(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.define("late")
	waitFor(t, "the runner of a record added after Start", func() bool { return h.running("late") })
	h.publish("late", "one")
	waitFor(t, "its message", func() bool { return len(h.tg.seen().delivered) == 1 })

	if err := h.kv.Delete(t.Context(), "defs.late"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the runner stopped", func() bool { return !h.running("late") })
	h.publish("late", "two")
	// The consumer still exists, but no runner takes from it.
	if got := fetchOne(t, h.js, "late"); got != "two" {
		t.Errorf("the consumer handed out %q, want the message published after the record was deleted", got)
	}
	if got := h.tg.seen().delivered; len(got) != 1 {
		t.Errorf("delivered %q after the record was deleted", got)
	}
}

// fetchOne takes the next message of consumer name, as another node would.
func fetchOne(t *testing.T, js jetstream.JetStream, name string) string {
	t.Helper()
	c, err := js.Consumer(t.Context(), stream, name)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for msg := range batch.Messages() {
		got = append(got, string(msg.Data()))
	}
	if len(got) != 1 {
		t.Fatalf("fetched %q, want one message", got)
	}
	return got[0]
}

func TestMissingConsumerIsRetried(t *testing.T) {
	logs := &logRecorder{}
	h := newHarness(t, func(c *Config) { c.Logger = slog.New(logs) })
	if _, err := h.kv.Put(t.Context(), "defs.a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	h.start()
	waitFor(t, "the runner to miss its consumer", func() bool { return logs.has("tests: fetching stopped; retrying") })
	h.addConsumer("a")
	h.publish("a", "ok")
	waitFor(t, "the message once the consumer exists", func() bool { return len(h.tg.seen().delivered) == 1 })
}

// logRecorder is a slog.Handler keeping the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *logRecorder) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.msgs, msg)
}

func TestShutdownLetsDeliveriesFinish(t *testing.T) {
	h := newHarness(t)
	h.define("a")
	h.start()
	h.publish("a", "block")
	<-h.tg.started
	done := make(chan error, 1)
	go func() { done <- h.g.Shutdown(context.Background()) }()
	close(h.tg.unblock)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ctxErr := h.tg.seen().ctxErr
	if len(ctxErr) != 1 || ctxErr[0] != nil {
		t.Errorf("the delivery in flight saw %v, want it left to finish", ctxErr)
	}
	waitFor(t, "the delivery in flight acknowledged", func() bool { return h.settled("a", 1) })
	if r := h.g.Run(Spec{Stream: stream, Consumer: "a", Prepare: h.tg.prepare}); r != nil {
		t.Error("Run after Shutdown started a runner")
	}
	if err := h.g.Start(t.Context(), h.kv, "defs.>", h.apply); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Shutdown = %v, want ErrClosed", err)
	}
}

func TestShutdownCancelsDeliveriesWhenCtxEnds(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RetryBase, c.RetryMax = time.Hour, time.Hour })
	h.define("a")
	h.start()
	h.publish("a", "block")
	<-h.tg.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.g.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if err := h.g.Shutdown(context.Background()); !errors.Is(err, context.Canceled) {
		t.Errorf("second Shutdown = %v, want the first one's result", err)
	}
	ctxErr := h.tg.seen().ctxErr
	if len(ctxErr) != 1 || ctxErr[0] == nil {
		t.Errorf("the delivery in flight saw %v, want it cancelled", ctxErr)
	}
	if len(h.tg.seen().delivered) != 0 || len(h.tg.seen().dead) != 0 {
		t.Error("a cancelled delivery counted as delivered or dead")
	}
	// Handed back at once (the backoff is an hour here), so another node
	// takes it now rather than after the ack wait.
	if got := fetchOne(t, h.js, "a"); got != "block" {
		t.Errorf("after Shutdown the consumer handed out %q, want the cancelled message", got)
	}
}

func TestAbortedDeadLetterHandedBack(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.NakAbortedDeadLetter = true
		c.RetryBase, c.RetryMax = time.Hour, time.Hour
	})
	h.define("a")
	h.start()
	h.publish("a", "reject-block")
	<-h.tg.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.g.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if got := fetchOne(t, h.js, "a"); got != "reject-block" {
		t.Errorf("after Shutdown the consumer handed out %q, want the message whose dead-lettering was cut short", got)
	}
}

func TestStartTwiceAndFailedStart(t *testing.T) {
	h := newHarness(t)
	if r := h.g.Run(Spec{Stream: stream, Consumer: "a", Prepare: h.tg.prepare}); r != nil {
		t.Error("Run before Start started a runner")
	}
	h.start()
	if err := h.g.Start(t.Context(), h.kv, "defs.>", h.apply); !errors.Is(err, ErrClosed) {
		t.Errorf("second Start = %v, want ErrClosed", err)
	}

	// A watch that cannot start closes the group.
	h2 := newHarness(t)
	gone, err := h2.js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.js.DeleteKeyValue(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	if err := h2.g.Start(t.Context(), gone, ">", h2.apply); err == nil || errors.Is(err, ErrClosed) {
		t.Errorf("Start on a deleted bucket = %v, want its error", err)
	}
	if err := h2.g.Start(t.Context(), h2.kv, "defs.>", h2.apply); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after a failed Start = %v, want ErrClosed", err)
	}
	if err := h2.g.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after a failed Start = %v, want nil", err)
	}
}
