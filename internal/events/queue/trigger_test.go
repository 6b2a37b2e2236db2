package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a Handler that records its calls and answers with answer.
type recorder struct {
	mu     sync.Mutex
	calls  [][]Message
	answer func(call int, msgs []Message) ([]string, error)
}

func (r *recorder) handle(_ context.Context, msgs []Message) ([]string, error) {
	r.mu.Lock()
	r.calls = append(r.calls, msgs)
	n := len(r.calls)
	r.mu.Unlock()
	if r.answer == nil {
		return nil, nil
	}
	return r.answer(n, msgs)
}

func (r *recorder) snapshot() [][]Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) waitCalls(t *testing.T, n int) [][]Message {
	t.Helper()
	eventually(t, "handler calls", func() bool { return len(r.snapshot()) >= n })
	return r.snapshot()
}

func bodies(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	slices.Sort(out)
	return out
}

func consume(t *testing.T, s *Service, queue string, opt TriggerOptions, h Handler) *Trigger {
	t.Helper()
	tr, err := s.Consume(testContext(t), queue, opt, h)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	t.Cleanup(func() { _ = tr.Stop(context.Background()) })
	return tr
}

func emptyQueue(t *testing.T, s *Service, queue string) {
	t.Helper()
	eventually(t, queue+" empty", func() bool {
		info, err := s.Get(testContext(t), queue)
		if err != nil {
			t.Fatal(err)
		}
		return info.Visible+info.InFlight+info.Delayed == 0
	})
}

func TestTriggerWindowFillsBatch(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	rec := &recorder{}
	consume(t, s, "q", TriggerOptions{Batch: 3, Window: 20 * time.Second}, rec.handle)
	// Three messages sent apart arrive in one batch: the window holds the
	// batch open until it is full.
	for _, b := range []string{"a", "b", "c"} {
		mustSend(t, s, "q", SendEntry{Body: b})
		time.Sleep(100 * time.Millisecond)
	}
	calls := rec.waitCalls(t, 1)
	if len(calls) != 1 || !slices.Equal(bodies(calls[0]), []string{"a", "b", "c"}) {
		t.Fatalf("calls %v", calls)
	}
	emptyQueue(t, s, "q")
}

func TestTriggerWindowEnds(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	rec := &recorder{}
	consume(t, s, "q", TriggerOptions{Batch: 100, Window: 300 * time.Millisecond}, rec.handle)
	mustSend(t, s, "q", SendEntry{Body: "a"}, SendEntry{Body: "b"})
	calls := rec.waitCalls(t, 1)
	if !slices.Equal(bodies(calls[0]), []string{"a", "b"}) {
		t.Fatalf("first batch %v", bodies(calls[0]))
	}
	emptyQueue(t, s, "q")
}

func TestTriggerBatchWithoutWindow(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	var entries []SendEntry
	for _, b := range []string{"1", "2", "3", "4", "5", "6", "7"} {
		entries = append(entries, SendEntry{Body: b})
	}
	mustSend(t, s, "q", entries...)
	rec := &recorder{}
	consume(t, s, "q", TriggerOptions{Batch: 4}, rec.handle)
	emptyQueue(t, s, "q")
	var all []string
	for _, c := range rec.snapshot() {
		if len(c) > 4 {
			t.Fatalf("batch of %d, want at most 4", len(c))
		}
		for _, m := range c {
			all = append(all, m.Body)
		}
	}
	slices.Sort(all)
	if !slices.Equal(all, []string{"1", "2", "3", "4", "5", "6", "7"}) {
		t.Fatalf("handled %v", all)
	}
}

func TestTriggerPartialFailure(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Second }))
	mustSend(t, s, "q", SendEntry{Body: "ok1"}, SendEntry{Body: "bad"}, SendEntry{Body: "ok2"})
	rec := &recorder{answer: func(call int, msgs []Message) ([]string, error) {
		var failed []string
		for _, m := range msgs {
			if m.Body == "bad" && m.ReceiveCount == 1 {
				failed = append(failed, m.MessageID)
			}
		}
		return failed, nil
	}}
	consume(t, s, "q", TriggerOptions{Batch: 10, Window: 200 * time.Millisecond}, rec.handle)
	calls := rec.waitCalls(t, 2)
	emptyQueue(t, s, "q")
	calls = rec.snapshot()
	if len(calls) != 2 || !slices.Equal(bodies(calls[0]), []string{"bad", "ok1", "ok2"}) {
		t.Fatalf("calls %v", calls)
	}
	if len(calls[1]) != 1 || calls[1][0].Body != "bad" || calls[1][0].ReceiveCount != 2 {
		t.Fatalf("retry batch %+v", calls[1])
	}
}

func TestTriggerErrorRetriesBatch(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Second }))
	mustSend(t, s, "q", SendEntry{Body: "x"}, SendEntry{Body: "y"})
	rec := &recorder{answer: func(call int, msgs []Message) ([]string, error) {
		for _, m := range msgs {
			if m.ReceiveCount == 1 {
				return nil, errors.New("function failed")
			}
		}
		return nil, nil
	}}
	consume(t, s, "q", TriggerOptions{Batch: 10, Window: 200 * time.Millisecond}, rec.handle)
	rec.waitCalls(t, 2)
	emptyQueue(t, s, "q")
	calls := rec.snapshot()
	var retried []string
	for _, c := range calls[1:] {
		for _, m := range c {
			if m.ReceiveCount != 2 {
				t.Errorf("retry of %s with count %d", m.Body, m.ReceiveCount)
			}
			retried = append(retried, m.Body)
		}
	}
	slices.Sort(retried)
	if !slices.Equal(bodies(calls[0]), []string{"x", "y"}) || !slices.Equal(retried, []string{"x", "y"}) {
		t.Fatalf("calls %v", calls)
	}
}

func TestTriggerUnknownFailedIDFailsBatch(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Second }))
	mustSend(t, s, "q", SendEntry{Body: "x"})
	rec := &recorder{answer: func(call int, msgs []Message) ([]string, error) {
		if call == 1 {
			return []string{"not-in-batch"}, nil
		}
		return nil, nil
	}}
	consume(t, s, "q", TriggerOptions{}, rec.handle)
	calls := rec.waitCalls(t, 2)
	if calls[1][0].Body != "x" || calls[1][0].ReceiveCount != 2 {
		t.Fatalf("retry %+v", calls[1])
	}
	emptyQueue(t, s, "q")
}

func TestTriggerDeadLetter(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "dlq", DefaultAttributes())
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Second; a.MaxReceives = 2; a.DLQ = "dlq" }))
	res := mustSend(t, s, "q", SendEntry{Body: "poison", Attributes: map[string]MessageAttribute{"k": {DataType: "Number", StringValue: "1"}}})
	rec := &recorder{answer: func(int, []Message) ([]string, error) { return nil, errors.New("boom: cannot parse") }}
	consume(t, s, "q", TriggerOptions{}, rec.handle)
	d := receiveOne(t, s, "dlq")
	if d.Body != "poison" || d.MessageID != res[0].MessageID || d.Attributes["k"].StringValue != "1" {
		t.Fatalf("dead-lettered %+v", d)
	}
	if d.DeadLetter == nil || d.DeadLetter.Reason != "boom: cannot parse" || d.DeadLetter.Count != 2 || d.DeadLetter.Source.String() != "queue:q" {
		t.Fatalf("dead-letter info %+v", d.DeadLetter)
	}
	// Moved right after the second failure: two calls, no third receive.
	if calls := rec.snapshot(); len(calls) != 2 {
		t.Fatalf("%d handler calls, want 2", len(calls))
	}
	emptyQueue(t, s, "q")
}

func TestTriggerConcurrencyAndStop(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Hour }))
	for i := 0; i < 3; i++ {
		mustSend(t, s, "q", SendEntry{Body: itoa(i)})
	}
	release := make(chan struct{})
	var mu sync.Mutex
	running, most := 0, 0
	started := make(chan struct{}, 10)
	h := func(ctx context.Context, msgs []Message) ([]string, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		defer func() {
			mu.Lock()
			running--
			mu.Unlock()
		}()
		started <- struct{}{}
		select {
		case <-release:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	tr, err := s.Consume(testContext(t), "q", TriggerOptions{Batch: 1, Concurrency: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	<-started
	// Two batches in flight hold both slots; the third message waits.
	info, err := s.Get(testContext(t), "q")
	if err != nil {
		t.Fatal(err)
	}
	if info.Visible != 1 || info.InFlight != 2 {
		t.Fatalf("info %+v", info)
	}
	// Stop with a deadline that ends first: handlers are canceled and their
	// messages are visible again at once (the visibility is an hour).
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = tr.Stop(ctx)
	wantErr(t, err, context.DeadlineExceeded)
	mu.Lock()
	if most != 2 || running != 0 {
		t.Errorf("most in flight %d, running after Stop %d", most, running)
	}
	mu.Unlock()
	got := mustReceive(t, s, "q", ReceiveOptions{Max: 10, Wait: 5 * time.Second})
	eventually(t, "all three visible", func() bool {
		got = append(got, mustReceive(t, s, "q", ReceiveOptions{Max: 10})...)
		return len(got) == 3
	})
	close(release)
}

func TestTriggerOptionsValidation(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	h := func(context.Context, []Message) ([]string, error) { return nil, nil }
	for _, opt := range []TriggerOptions{{Batch: 10001}, {Batch: -1}, {Window: 6 * time.Minute}, {Window: -1}, {Concurrency: 1}, {Concurrency: 1001}} {
		_, err := s.Consume(testContext(t), "q", opt, h)
		wantErr(t, err, ErrInvalid)
	}
	_, err := s.Consume(testContext(t), "q", TriggerOptions{}, nil)
	wantErr(t, err, ErrInvalid)
}
