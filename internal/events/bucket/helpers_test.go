package bucket

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/storage/blob"
)

const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newService makes a Service with fast retries; a started one is shut down
// (before the bus, as cleanups run last-in first-out).
func newService(t *testing.T, js jetstream.JetStream, d Deliverer, start bool, tune ...func(*Config)) *Service {
	t.Helper()
	cfg := Config{Deliverer: d, RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Region: "eu-west-1"}
	for _, f := range tune {
		f(&cfg)
	}
	s, err := New(js, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	if start {
		if err := s.Start(testContext(t)); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	return s
}

func setNotes(t *testing.T, s *Service, bucket, owner string, want ...Notification) {
	t.Helper()
	if err := s.SetNotifications(testContext(t), bucket, owner, want); err != nil {
		t.Fatalf("SetNotifications(%s, %s): %v", bucket, owner, err)
	}
}

func put(bucket, key string) blob.Event {
	return blob.Event{
		Name: blob.EventPut, Bucket: bucket, Key: key, Size: 42, ETag: "0123456789abcdef0123456789abcdef",
		Sequencer: "0000000000000001", Time: time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.UTC),
		Principal: "AKIDEXAMPLE", SourceIP: "127.0.0.1", RequestID: "req-1", TraceParent: tp,
	}
}

func del(bucket, key string) blob.Event {
	ev := put(bucket, key)
	ev.Name, ev.Size, ev.ETag = blob.EventDelete, 0, ""
	return ev
}

func emit(t *testing.T, s *Service, evs ...blob.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := s.ObjectEvent(testContext(t), ev); err != nil {
			t.Fatalf("ObjectEvent(%s %s): %v", ev.Name, ev.Key, err)
		}
	}
}

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

// waitSettled waits until the notification's consumer has nothing pending
// or unacknowledged: every event it got was delivered, skipped or
// dead-lettered. The server answers a publish before its consumers count
// the new message, so the consumer must also have acknowledged past the
// last event of the bucket (and of its replays) still in the stream.
func waitSettled(t *testing.T, js jetstream.JetStream, bucket, id string) {
	t.Helper()
	waitFor(t, "notification "+bucket+"/"+id+" to settle", func() bool {
		ctx := testContext(t)
		c, err := js.Consumer(ctx, StreamName, consumerName(bucket, id))
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
			return false
		}
		st, err := js.Stream(ctx, StreamName)
		if err != nil {
			return false
		}
		for _, subject := range []string{bucketSubject(bucket), replaySubject(bucket, id)} {
			last, err := st.GetLastMsgForSubject(ctx, subject)
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound):
				// none left: every consumer acknowledged them
			case err != nil:
				return false
			case last.Sequence > info.AckFloor.Stream && !last.Time.Before(info.Created):
				return false // not yet counted, or not yet acknowledged
			}
		}
		return true
	})
}

type delivery struct {
	kind, target, body, traceparent string
}

type deadLetter struct {
	dlq, body string
	info      deadletter.Info
}

// recorder is a Deliverer that records what it accepts. fail, when set,
// decides the outcome of each attempt (n counts the attempts at that
// target, from 1); block, when set, holds every delivery until closed.
type recorder struct {
	mu       sync.Mutex
	got      []delivery
	dead     []deadLetter
	attempts map[string]int
	deadTry  int

	fail     func(target string, n int) error
	failDead func(n int) error
	block    chan struct{}
	started  chan struct{} // receives one value per delivery that starts, when set
}

func newRecorder() *recorder { return &recorder{attempts: map[string]int{}} }

func (r *recorder) attempt(ctx context.Context, kind, target, body, traceparent string) error {
	if r.started != nil {
		r.started <- struct{}{}
	}
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := kind + ":" + target
	r.attempts[key]++
	if r.fail != nil {
		if err := r.fail(key, r.attempts[key]); err != nil {
			return err
		}
	}
	r.got = append(r.got, delivery{kind: kind, target: target, body: body, traceparent: traceparent})
	return nil
}

func (r *recorder) Function(ctx context.Context, function string, event []byte, traceparent string) error {
	return r.attempt(ctx, TargetFunction, function, string(event), traceparent)
}

func (r *recorder) Queue(ctx context.Context, queue, body, traceparent string) error {
	return r.attempt(ctx, TargetQueue, queue, body, traceparent)
}

func (r *recorder) Topic(ctx context.Context, topic, message, traceparent string) error {
	return r.attempt(ctx, TargetTopic, topic, message, traceparent)
}

func (r *recorder) DeadLetter(_ context.Context, dlq, body string, info deadletter.Info) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deadTry++
	if r.failDead != nil {
		if err := r.failDead(r.deadTry); err != nil {
			return err
		}
	}
	r.dead = append(r.dead, deadLetter{dlq: dlq, body: body, info: info})
	return nil
}

// deliveries returns what target ("kind:name") accepted.
func (r *recorder) deliveries(target string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got {
		if d.kind+":"+d.target == target {
			out = append(out, d)
		}
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *recorder) attemptsAt(target string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[target]
}

func (r *recorder) deadLetters() []deadLetter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]deadLetter(nil), r.dead...)
}

var errDown = errors.New("target down")

func failFirst(n int) func(string, int) error {
	return func(target string, i int) error {
		if i <= n {
			return fmt.Errorf("attempt %d: %w", i, errDown)
		}
		return nil
	}
}

var _ Deliverer = (*recorder)(nil)
