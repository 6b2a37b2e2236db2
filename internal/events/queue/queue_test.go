package queue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/events/deadletter"
)

func TestSendReceiveDelete(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	mustEnsure(t, s, "orders", DefaultAttributes())
	at := map[string]MessageAttribute{
		"kind":  {DataType: "String", StringValue: "new"},
		"count": {DataType: "Number.int", StringValue: "3"},
		"blob":  {DataType: "Binary", BinaryValue: []byte{0, 1, 2, 0xff}},
	}
	trace := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	before := time.Now()
	res := mustSend(t, s, "orders", SendEntry{ID: "a", Body: "hello\nworld", Attributes: at, TraceParent: trace})
	if res[0].ID != "a" || len(res[0].MessageID) != 36 || res[0].MD5OfBody != "9195d0beb2a889e1be05ed6bb1954837" {
		t.Fatalf("send result %+v", res[0])
	}
	if res[0].MD5OfMessageAttributes == "" {
		t.Fatal("no MD5OfMessageAttributes")
	}

	msgs := mustReceive(t, s, "orders", ReceiveOptions{Max: 10})
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Queue != "orders" || m.MessageID != res[0].MessageID || m.Body != "hello\nworld" || m.MD5OfBody != res[0].MD5OfBody ||
		m.MD5OfMessageAttributes != res[0].MD5OfMessageAttributes || m.TraceParent != trace || m.ReceiveCount != 1 || m.DeadLetter != nil {
		t.Fatalf("received %+v", m)
	}
	if len(m.Attributes) != 3 || m.Attributes["count"].StringValue != "3" || m.Attributes["count"].DataType != "Number.int" ||
		string(m.Attributes["blob"].BinaryValue) != "\x00\x01\x02\xff" || m.Attributes["kind"].StringValue != "new" {
		t.Fatalf("attributes %+v", m.Attributes)
	}
	if m.SentAt.Before(before.Add(-time.Second)) || m.SentAt.After(time.Now()) || m.FirstReceivedAt.Before(m.SentAt) {
		t.Fatalf("SentAt %v FirstReceivedAt %v", m.SentAt, m.FirstReceivedAt)
	}
	if m.ReceiptHandle == "" {
		t.Fatal("no receipt handle")
	}
	// In flight: not received again, counted as in flight.
	if again := mustReceive(t, s, "orders", ReceiveOptions{}); len(again) != 0 {
		t.Fatalf("in-flight message received again: %+v", again)
	}
	info, err := s.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if info.Visible != 0 || info.InFlight != 1 || info.Delayed != 0 {
		t.Fatalf("info %+v", info)
	}
	if err := s.DeleteMessage(ctx, "orders", m.ReceiptHandle); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	wantErr(t, s.DeleteMessage(ctx, "orders", m.ReceiptHandle), ErrReceiptInvalid)
	info, err = s.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if info.Visible != 0 || info.InFlight != 0 {
		t.Fatalf("info after delete %+v", info)
	}
}

func TestSendBatch(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	mustEnsure(t, s, "small", attrs(func(a *Attributes) { a.MaxMessageBytes = 1024 }))
	entries := []SendEntry{
		{ID: "one", Body: "first"},
		{ID: "big", Body: strings.Repeat("x", 1025)},
		{ID: "attrs-too-big", Body: strings.Repeat("x", 1000), Attributes: map[string]MessageAttribute{"k": {DataType: "String", StringValue: strings.Repeat("v", 20)}}},
		{ID: "bad", Body: "x", Attributes: map[string]MessageAttribute{"AWS.x": {DataType: "String", StringValue: "v"}}},
		{ID: "empty", Body: ""},
		{ID: "ctl", Body: "a\x00b"},
		{ID: "delay", Body: "x", Delay: ptr(16 * time.Minute)},
		{ID: "three", Body: "third"},
	}
	res, err := s.Send(ctx, "small", entries)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]error{"big": ErrTooLarge, "attrs-too-big": ErrTooLarge, "bad": ErrInvalid, "empty": ErrInvalid, "ctl": ErrInvalid, "delay": ErrInvalid}
	for i, r := range res {
		if r.ID != entries[i].ID {
			t.Fatalf("result %d is of %s, want %s", i, r.ID, entries[i].ID)
		}
		if w := want[r.ID]; w != nil {
			if !errors.Is(r.Err, w) || r.MessageID != "" {
				t.Errorf("%s: err %v id %q, want %v", r.ID, r.Err, r.MessageID, w)
			}
		} else if r.Err != nil || r.MessageID == "" {
			t.Errorf("%s: %v", r.ID, r.Err)
		}
	}
	msgs := mustReceive(t, s, "small", ReceiveOptions{Max: 10})
	bodies := map[string]bool{}
	for _, m := range msgs {
		bodies[m.Body] = true
	}
	if len(msgs) != 2 || !bodies["first"] || !bodies["third"] {
		t.Fatalf("received %d: %v", len(msgs), bodies)
	}

	_, err = s.Send(ctx, "small", nil)
	wantErr(t, err, ErrEmptyBatch)
	_, err = s.Send(ctx, "small", make([]SendEntry, 11))
	wantErr(t, err, ErrTooManyEntries)
	_, err = s.Send(ctx, "small", []SendEntry{{ID: "x", Body: "1"}, {ID: "x", Body: "2"}})
	wantErr(t, err, ErrInvalid)
	_, err = s.Send(ctx, "nope", []SendEntry{{Body: "1"}})
	wantErr(t, err, ErrNotFound)
	_, err = s.Send(ctx, "bad.name", []SendEntry{{Body: "1"}})
	wantErr(t, err, ErrInvalid)
}

func TestDedupID(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	mustSend(t, s, "q", SendEntry{Body: "once", DedupID: "event-1"})
	mustSend(t, s, "q", SendEntry{Body: "once", DedupID: "event-1"})
	if msgs := mustReceive(t, s, "q", ReceiveOptions{Max: 10}); len(msgs) != 1 {
		t.Fatalf("received %d, want 1 (deduplicated)", len(msgs))
	}
}

func TestVisibilityTimeout(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Second }))
	res := mustSend(t, s, "q", SendEntry{Body: "again"})
	for want := 1; want <= 3; want++ {
		m := receiveOne(t, s, "q")
		if m.MessageID != res[0].MessageID || m.ReceiveCount != want {
			t.Fatalf("receive %d: id %s count %d", want, m.MessageID, m.ReceiveCount)
		}
	}
}

func TestChangeVisibility(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Hour }))
	mustEnsure(t, s, "other", DefaultAttributes())
	mustSend(t, s, "q", SendEntry{Body: "m"})
	m := receiveOne(t, s, "q")

	// 0: visible at once.
	if err := s.ChangeVisibility(ctx, "q", m.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	m2 := mustReceive(t, s, "q", ReceiveOptions{Wait: 5 * time.Second})
	if len(m2) != 1 || m2[0].ReceiveCount != 2 {
		t.Fatalf("after ChangeVisibility(0): %+v", m2)
	}
	// d > 0: invisible for d, then back.
	if err := s.ChangeVisibility(ctx, "q", m2[0].ReceiptHandle, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := mustReceive(t, s, "q", ReceiveOptions{}); len(got) != 0 {
		t.Fatalf("visible right after ChangeVisibility(1.5s): %+v", got)
	}
	m3 := receiveOne(t, s, "q")
	if m3.ReceiveCount != 3 {
		t.Fatalf("count %d, want 3", m3.ReceiveCount)
	}
	// A later receive's handle still deletes while in flight after a change.
	if err := s.ChangeVisibility(ctx, "q", m3.ReceiptHandle, time.Hour); err != nil {
		t.Fatal(err)
	}

	wantErr(t, s.ChangeVisibility(ctx, "q", m3.ReceiptHandle, 13*time.Hour), ErrInvalid)
	wantErr(t, s.ChangeVisibility(ctx, "other", m3.ReceiptHandle, 0), ErrReceiptInvalid)
	wantErr(t, s.DeleteMessage(ctx, "other", m3.ReceiptHandle), ErrReceiptInvalid)
	wantErr(t, s.DeleteMessage(ctx, "q", "garbage!"), ErrReceiptInvalid)
	wantErr(t, s.DeleteMessage(ctx, "q", encodeReceipt("$JS.API.STREAM.DELETE.GQ_q")), ErrReceiptInvalid)
	wantErr(t, s.DeleteMessage(ctx, "nope", m3.ReceiptHandle), ErrNotFound)
	if err := s.DeleteMessage(ctx, "q", m3.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.ChangeVisibility(ctx, "q", m3.ReceiptHandle, 0), ErrReceiptInvalid)
}

func TestReceiveVisibilityOverride(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Hour }))
	mustSend(t, s, "q", SendEntry{Body: "m"})
	if got := mustReceive(t, s, "q", ReceiveOptions{Visibility: ptr(time.Duration(0))}); len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	got := mustReceive(t, s, "q", ReceiveOptions{Wait: 5 * time.Second, Visibility: ptr(time.Second)})
	if len(got) != 1 || got[0].ReceiveCount != 2 {
		t.Fatalf("second receive: %+v", got)
	}
	if m := receiveOne(t, s, "q"); m.ReceiveCount != 3 {
		t.Fatalf("third receive count %d", m.ReceiveCount)
	}

	// A queue visibility of 0 is served exactly: visible again at once.
	mustEnsure(t, s, "zero", attrs(func(a *Attributes) { a.Visibility = 0 }))
	mustSend(t, s, "zero", SendEntry{Body: "m"})
	mustReceive(t, s, "zero", ReceiveOptions{})
	if got := mustReceive(t, s, "zero", ReceiveOptions{Wait: 5 * time.Second}); len(got) != 1 || got[0].ReceiveCount != 2 {
		t.Fatalf("visibility 0: %+v", got)
	}
}

func TestLongPoll(t *testing.T) {
	t.Parallel()
	s := newService(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	// Nothing there: an empty answer once the wait ends.
	if got := mustReceive(t, s, "q", ReceiveOptions{Wait: 200 * time.Millisecond}); len(got) != 0 {
		t.Fatalf("got %+v", got)
	}
	type result struct {
		msgs []Message
		err  error
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := s.Receive(testContext(t), "q", ReceiveOptions{Max: 10, Wait: 20 * time.Second})
		done <- result{msgs, err}
	}()
	time.Sleep(100 * time.Millisecond) // let the receiver wait first; the test passes either way
	mustSend(t, s, "q", SendEntry{Body: "wake"})
	r := <-done
	if r.err != nil || len(r.msgs) != 1 || r.msgs[0].Body != "wake" {
		t.Fatalf("long poll: %+v %v", r.msgs, r.err)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	mustEnsure(t, s, "slow", attrs(func(a *Attributes) { a.Delay = time.Second }))

	sent := time.Now()
	mustSend(t, s, "q", SendEntry{Body: "later", Delay: ptr(time.Second)}, SendEntry{Body: "now"})
	info, err := s.Get(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if info.Delayed != 1 || info.Visible+info.InFlight != 1 {
		t.Fatalf("info %+v", info)
	}
	if got := mustReceive(t, s, "q", ReceiveOptions{Max: 10}); len(got) != 1 || got[0].Body != "now" {
		t.Fatalf("first receive %+v", got)
	}
	m := receiveOne(t, s, "q")
	if m.Body != "later" || time.Since(sent) < time.Second || m.ReceiveCount != 1 {
		t.Fatalf("delayed message %+v after %s", m, time.Since(sent))
	}
	info, err = s.Get(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if info.Delayed != 0 {
		t.Fatalf("schedule message left behind: %+v", info)
	}

	// The queue's delay, and a per-message 0 overriding it.
	sent = time.Now()
	mustSend(t, s, "slow", SendEntry{Body: "queue-delay"}, SendEntry{Body: "no-delay", Delay: ptr(time.Duration(0))})
	if got := mustReceive(t, s, "slow", ReceiveOptions{Max: 10}); len(got) != 1 || got[0].Body != "no-delay" {
		t.Fatalf("slow first receive %+v", got)
	}
	if m := receiveOne(t, s, "slow"); m.Body != "queue-delay" || time.Since(sent) < time.Second {
		t.Fatalf("queue delay %+v after %s", m, time.Since(sent))
	}
}

func TestMaxReceivesDeadLetter(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	mustEnsure(t, s, "dlq", DefaultAttributes())
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.Visibility = time.Hour; a.MaxReceives = 2; a.DLQ = "dlq" }))
	at := map[string]MessageAttribute{"k": {DataType: "String", StringValue: "v"}}
	trace := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	res := mustSend(t, s, "q", SendEntry{Body: "poison", Attributes: at, TraceParent: trace})
	for i := 1; i <= 2; i++ {
		m := receiveOne(t, s, "q")
		if m.ReceiveCount != i {
			t.Fatalf("receive count %d, want %d", m.ReceiveCount, i)
		}
		if err := s.ChangeVisibility(ctx, "q", m.ReceiptHandle, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The third receive moves it instead of returning it.
	if got := mustReceive(t, s, "q", ReceiveOptions{Max: 10, Wait: time.Second}); len(got) != 0 {
		t.Fatalf("received past max receives: %+v", got)
	}
	d := receiveOne(t, s, "dlq")
	if d.Body != "poison" || d.MessageID != res[0].MessageID || d.TraceParent != trace || d.Attributes["k"].StringValue != "v" ||
		d.MD5OfMessageAttributes != res[0].MD5OfMessageAttributes || d.ReceiveCount != 1 {
		t.Fatalf("dead-lettered message %+v", d)
	}
	if d.DeadLetter == nil {
		t.Fatal("no dead-letter info")
	}
	dl := *d.DeadLetter
	if dl.Source != (deadletter.Source{Kind: deadletter.KindQueue, Name: "q"}) || dl.Count != 2 ||
		dl.Reason != "maximum receives (2) exceeded" || time.Since(dl.At) > time.Minute {
		t.Fatalf("dead-letter info %+v", dl)
	}
	info, err := s.Get(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if info.Visible+info.InFlight+info.Delayed != 0 {
		t.Fatalf("source queue not empty: %+v", info)
	}
}

func TestPeekAndDrain(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	for _, b := range []string{"1", "2", "3", "4", "5"} {
		mustSend(t, s, "q", SendEntry{Body: b})
	}
	peeked, err := s.Peek(ctx, "q", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(peeked) != 5 {
		t.Fatalf("peeked %d", len(peeked))
	}
	for i, m := range peeked {
		if m.Body != string(rune('1'+i)) || m.ReceiptHandle != "" || m.ReceiveCount != 0 || m.MessageID == "" {
			t.Fatalf("peek %d: %+v", i, m)
		}
	}
	if p, err := s.Peek(ctx, "q", 2); err != nil || len(p) != 2 {
		t.Fatalf("peek 2: %d %v", len(p), err)
	}
	_, err = s.Peek(ctx, "q", 1001)
	wantErr(t, err, ErrInvalid)

	var seen []string
	ok, failed, err := s.Drain(ctx, "q", 0, func(_ context.Context, m Message) error {
		seen = append(seen, m.Body)
		if m.ReceiveCount != 1 {
			t.Errorf("drain: count %d", m.ReceiveCount)
		}
		if m.Body == "3" {
			return errors.New("replay failed")
		}
		return nil
	})
	if err != nil || ok != 4 || failed != 1 || len(seen) != 5 {
		t.Fatalf("Drain = %d, %d, %v; saw %v", ok, failed, err, seen)
	}
	// The failed one is visible again at once.
	got := mustReceive(t, s, "q", ReceiveOptions{Max: 10})
	if len(got) != 1 || got[0].Body != "3" {
		t.Fatalf("after drain: %+v", got)
	}
	if err := s.ChangeVisibility(ctx, "q", got[0].ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	ok, failed, err = s.Drain(ctx, "q", 1, func(context.Context, Message) error { return nil })
	if err != nil || ok != 1 || failed != 0 {
		t.Fatalf("Drain(max 1) = %d, %d, %v", ok, failed, err)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	mustSend(t, s, "q", SendEntry{Body: "1"}, SendEntry{Body: "2"}, SendEntry{Body: "3"}, SendEntry{Body: "later", Delay: ptr(time.Minute)})
	inFlight := mustReceive(t, s, "q", ReceiveOptions{})
	n, err := s.Purge(ctx, "q")
	if err != nil || n != 4 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	info, err := s.Get(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if info.Visible+info.InFlight+info.Delayed != 0 {
		t.Fatalf("after purge %+v", info)
	}
	wantErr(t, s.DeleteMessage(ctx, "q", inFlight[0].ReceiptHandle), ErrReceiptInvalid)
	// The queue works after a purge.
	mustSend(t, s, "q", SendEntry{Body: "fresh"})
	if m := receiveOne(t, s, "q"); m.Body != "fresh" {
		t.Fatalf("after purge: %+v", m)
	}
}

func TestEnsureGetListDelete(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	created, err := s.Ensure(ctx, "a", "shop", DefaultAttributes())
	if err != nil || !created {
		t.Fatalf("Ensure = %v, %v", created, err)
	}
	created, err = s.Ensure(ctx, "a", "shop", DefaultAttributes())
	if err != nil || created {
		t.Fatalf("Ensure again = %v, %v", created, err)
	}
	info, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "a" || info.App != "shop" || info.Attributes != DefaultAttributes() || info.CreatedAt.IsZero() ||
		info.ARN != "arn:aws:sqs:eu-test-1:123456789012:a" {
		t.Fatalf("info %+v", info)
	}
	createdAt := info.CreatedAt
	changed := attrs(func(a *Attributes) { a.Visibility = time.Minute; a.Retention = time.Hour; a.MaxMessageBytes = 2048 })
	if created, err = s.Ensure(ctx, "a", "", changed); err != nil || created {
		t.Fatalf("update = %v, %v", created, err)
	}
	info, err = s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if info.Attributes != changed || !info.CreatedAt.Equal(createdAt) || info.App != "shop" {
		t.Fatalf("after update %+v", info)
	}
	_, err = s.Ensure(ctx, "a", "billing", DefaultAttributes())
	wantErr(t, err, ErrExists)
	_, err = s.Ensure(ctx, "b", "shop", attrs(func(a *Attributes) { a.DLQ = "missing"; a.MaxReceives = 3 }))
	wantErr(t, err, ErrInvalid)
	_, err = s.Ensure(ctx, "b", "shop", attrs(func(a *Attributes) { a.DLQ = "b"; a.MaxReceives = 3 }))
	wantErr(t, err, ErrInvalid)
	_, err = s.Ensure(ctx, "b", "shop", attrs(func(a *Attributes) { a.Visibility = -1 }))
	wantErr(t, err, ErrInvalid)
	_, err = s.Ensure(ctx, "b c", "shop", DefaultAttributes())
	wantErr(t, err, ErrInvalid)
	if _, err := s.Ensure(ctx, "b", "shop", attrs(func(a *Attributes) { a.DLQ = "a"; a.MaxReceives = 3 })); err != nil {
		t.Fatal(err)
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" || list[1].Attributes.DLQ != "a" {
		t.Fatalf("List = %+v", list)
	}

	mustSend(t, s, "b", SendEntry{Body: "x"})
	if err := s.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, "b")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.Delete(ctx, "b"), ErrNotFound)
	_, err = s.Send(ctx, "b", []SendEntry{{Body: "x"}})
	wantErr(t, err, ErrNotFound)
	_, err = s.Receive(ctx, "b", ReceiveOptions{})
	wantErr(t, err, ErrNotFound)
	_, err = s.Purge(ctx, "b")
	wantErr(t, err, ErrNotFound)
	_, err = s.Peek(ctx, "b", 1)
	wantErr(t, err, ErrNotFound)
	_, err = s.Consume(ctx, "b", TriggerOptions{}, func(context.Context, []Message) ([]string, error) { return nil, nil })
	wantErr(t, err, ErrNotFound)
	if list, err = s.List(ctx); err != nil || len(list) != 1 {
		t.Fatalf("List after delete = %+v, %v", list, err)
	}
	// Created again, the queue is empty.
	mustEnsure(t, s, "b", DefaultAttributes())
	if got := mustReceive(t, s, "b", ReceiveOptions{Max: 10}); len(got) != 0 {
		t.Fatalf("recreated queue has %d messages", len(got))
	}
}

func TestReceiveOptionsValidation(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := testContext(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	for _, opt := range []ReceiveOptions{{Max: 11}, {Max: -1}, {Wait: 21 * time.Second}, {Wait: -1}, {Visibility: ptr(13 * time.Hour)}} {
		_, err := s.Receive(ctx, "q", opt)
		wantErr(t, err, ErrInvalid)
	}
	_, err := s.Receive(ctx, "missing", ReceiveOptions{})
	wantErr(t, err, ErrNotFound)
}

// Two Services on one JetStream, each with its own connection, stand for
// two nodes: a trigger on each shares the messages, none handled twice.
func TestTwoNodesShareWork(t *testing.T) {
	t.Parallel()
	b := startBus(t, t.TempDir(), "127.0.0.1:0")
	s1 := openService(t, b)
	b2 := connectBus(t, b.ClientURL())
	s2 := openService(t, b2)
	mustEnsure(t, s1, "work", DefaultAttributes())

	var mu sync.Mutex
	handled := map[string]int{}
	byNode := [2]int{}
	handler := func(node int) Handler {
		return func(_ context.Context, msgs []Message) ([]string, error) {
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				handled[m.Body]++
				byNode[node]++
			}
			return nil, nil
		}
	}
	ctx := testContext(t)
	t1, err := s1.Consume(ctx, "work", TriggerOptions{Batch: 5}, handler(0))
	if err != nil {
		t.Fatal(err)
	}
	t2, err := s2.Consume(ctx, "work", TriggerOptions{Batch: 5}, handler(1))
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := 0; i < n; i += 10 {
		var batch []SendEntry
		for j := i; j < i+10; j++ {
			batch = append(batch, SendEntry{Body: "m" + itoa(j)})
		}
		mustSend(t, s1, "work", batch...)
	}
	eventually(t, "every message handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == n
	})
	for _, tr := range []*Trigger{t1, t2} {
		if err := tr.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for body, c := range handled {
		if c != 1 {
			t.Errorf("%s handled %d times", body, c)
		}
	}
	if byNode[0] == 0 || byNode[1] == 0 {
		t.Errorf("work not shared: %v", byNode)
	}
	info, err := s2.Get(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}
	if info.Visible+info.InFlight != 0 {
		t.Fatalf("left over %+v", info)
	}
}

func TestRestartKeepsMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testContext(t)
	b := startBus(t, dir, "")
	s := openService(t, b)
	mustEnsure(t, s, "dlq", DefaultAttributes())
	mustEnsure(t, s, "q", attrs(func(a *Attributes) { a.MaxReceives = 5; a.DLQ = "dlq" }))
	mustSend(t, s, "q", SendEntry{Body: "a"}, SendEntry{Body: "b"}, SendEntry{Body: "later", Delay: ptr(1500 * time.Millisecond)})
	inFlight := mustReceive(t, s, "q", ReceiveOptions{})
	if len(inFlight) != 1 {
		t.Fatal("no message")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	b = startBus(t, dir, "")
	s = openService(t, b)
	info, err := s.Get(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if info.Attributes.DLQ != "dlq" || info.App != "test" || info.InFlight != 1 || info.Visible+info.Delayed != 2 {
		t.Fatalf("after restart %+v", info)
	}
	bodies := map[string]bool{}
	eventually(t, "the visible and the delayed message", func() bool {
		for _, m := range mustReceive(t, s, "q", ReceiveOptions{Max: 10, Wait: time.Second}) {
			bodies[m.Body] = true
		}
		return len(bodies) == 2
	})
	if bodies[inFlight[0].Body] || !bodies["later"] {
		t.Fatalf("received %v; %s is in flight", bodies, inFlight[0].Body)
	}
	// The receipt of a delivery made before the restart still deletes.
	if err := s.DeleteMessage(ctx, "q", inFlight[0].ReceiptHandle); err != nil {
		t.Fatalf("delete with a receipt from before the restart: %v", err)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	b := startBus(t, t.TempDir(), "")
	s, err := Open(testContext(t), b.JetStream(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	mustEnsure(t, s, "q", DefaultAttributes())
	done := make(chan error, 1)
	go func() {
		_, err := s.Receive(ctx, "q", ReceiveOptions{Wait: 20 * time.Second})
		done <- err
	}()
	tr, err := s.Consume(ctx, "q", TriggerOptions{}, func(context.Context, []Message) ([]string, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wantErr(t, <-done, ErrClosed)
	if err := tr.Stop(ctx); err != nil {
		t.Fatalf("Stop after Shutdown: %v", err)
	}
	_, err = s.Send(ctx, "q", []SendEntry{{Body: "x"}})
	wantErr(t, err, ErrClosed)
	_, err = s.Receive(ctx, "q", ReceiveOptions{})
	wantErr(t, err, ErrClosed)
	_, err = s.Consume(ctx, "q", TriggerOptions{}, func(context.Context, []Message) ([]string, error) { return nil, nil })
	wantErr(t, err, ErrClosed)
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
