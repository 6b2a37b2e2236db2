package topic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/bus/bustest"
	"github.com/gureum/gureum/internal/events/deadletter"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openService opens a Service with fast retries; started ones are shut
// down before the bus.
func openService(t *testing.T, b *bus.Bus, d Deliverer, start bool) *Service {
	t.Helper()
	ctx := testContext(t)
	s, err := Open(ctx, Config{JetStream: b.JetStream(), Deliverer: d, RetryBase: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	if start {
		if err := s.Start(ctx); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	return s
}

func ensure(t *testing.T, s *Service, name string) {
	t.Helper()
	if _, err := s.Ensure(testContext(t), name, "app"); err != nil {
		t.Fatalf("Ensure(%s): %v", name, err)
	}
}

func subscribe(t *testing.T, s *Service, sub Subscription) *Subscription {
	t.Helper()
	got, err := s.Subscribe(testContext(t), sub)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", sub, err)
	}
	return got
}

func publish(t *testing.T, s *Service, topic string, in PublishInput) string {
	t.Helper()
	id, err := s.Publish(testContext(t), topic, in)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return id
}

// waitFor polls cond until it holds, failing after a generous deadline.
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

type delivery struct {
	body        string // the event for a function
	attrs       map[string]Attribute
	traceparent string
}

type deadLettered struct {
	dlq  string
	msg  Message
	info deadletter.Info
}

// fakeDeliverer records what reaches functions and queues, keyed
// "function:NAME" and "queue:NAME", and fails targets listed in fail.
type fakeDeliverer struct {
	mu       sync.Mutex
	got      map[string][]delivery
	attempts map[string]int
	fail     map[string]error
	dead     []deadLettered
	deadFail int // fail this many DeadLetter calls first
	deadTry  int
}

func newFake() *fakeDeliverer {
	return &fakeDeliverer{got: map[string][]delivery{}, attempts: map[string]int{}, fail: map[string]error{}}
}

func (d *fakeDeliverer) record(target string, v delivery) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts[target]++
	if err := d.fail[target]; err != nil {
		return fmt.Errorf("%w (attempt %d)", err, d.attempts[target])
	}
	d.got[target] = append(d.got[target], v)
	return nil
}

func (d *fakeDeliverer) Function(_ context.Context, fn string, event []byte, tp string) error {
	return d.record("function:"+fn, delivery{body: string(event), traceparent: tp})
}

func (d *fakeDeliverer) Queue(_ context.Context, q, body string, attrs map[string]Attribute, tp string) error {
	return d.record("queue:"+q, delivery{body: body, attrs: attrs, traceparent: tp})
}

func (d *fakeDeliverer) DeadLetter(_ context.Context, dlq string, msg Message, info deadletter.Info) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deadTry++
	if d.deadTry <= d.deadFail {
		return errors.New("dlq unavailable")
	}
	d.dead = append(d.dead, deadLettered{dlq: dlq, msg: msg, info: info})
	return nil
}

func (d *fakeDeliverer) count(target string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.got[target])
}

func (d *fakeDeliverer) deliveries(target string) []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got[target])
}

func (d *fakeDeliverer) attemptsOf(target string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempts[target]
}

func (d *fakeDeliverer) deadLetters() []deadLettered {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.dead)
}

func (d *fakeDeliverer) setFail(target string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail[target] = err
}

// snsRecord decodes a function event and checks it has one record.
func snsRecord(t *testing.T, event string) events.SNSEventRecord {
	t.Helper()
	var ev events.SNSEvent
	if err := json.Unmarshal([]byte(event), &ev); err != nil {
		t.Fatalf("function event is not an SNSEvent: %v\n%s", err, event)
	}
	if len(ev.Records) != 1 {
		t.Fatalf("function event has %d records, want 1", len(ev.Records))
	}
	return ev.Records[0]
}

const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestFanOut(t *testing.T) {
	b := bustest.Start(t)
	d := newFake()
	s := openService(t, b, d, true)
	ensure(t, s, "orders")
	fn := subscribe(t, s, Subscription{Topic: "orders", Protocol: ProtocolFunction, Endpoint: "audit"})
	subscribe(t, s, Subscription{Topic: "orders", Protocol: ProtocolQueue, Endpoint: "billing"})
	subscribe(t, s, Subscription{Topic: "orders", Protocol: ProtocolQueue, Endpoint: "raw", RawDelivery: true})

	const n = 5
	want := map[string]string{} // message id -> body
	for i := range n {
		body := fmt.Sprintf(`{"order":%d}`, i)
		id := publish(t, s, "orders", PublishInput{
			Subject: "order placed", Message: body, TraceParent: tp,
			Attributes: map[string]Attribute{
				"store": str("example_corp"),
				"price": num("12.5"),
				"blob":  {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
			},
		})
		if !validUUID(id) {
			t.Fatalf("message id %q is not a UUID", id)
		}
		want[id] = body
	}
	for _, target := range []string{"function:audit", "queue:billing", "queue:raw"} {
		waitFor(t, target+" to receive every message", func() bool { return d.count(target) >= n })
	}

	topicARN := "arn:aws:sns:us-east-1:000000000000:orders"
	seen := map[string]bool{}
	for _, dl := range d.deliveries("function:audit") {
		r := snsRecord(t, dl.body)
		if r.EventSource != "aws:sns" || r.EventVersion != "1.0" || r.EventSubscriptionArn != topicARN+":"+fn.ID {
			t.Errorf("record header = %q %q %q", r.EventSource, r.EventVersion, r.EventSubscriptionArn)
		}
		e := r.SNS
		if e.Type != "Notification" || e.TopicArn != topicARN || e.Subject != "order placed" || e.SignatureVersion != "1" {
			t.Errorf("sns entity = %+v", e)
		}
		if want[e.MessageID] != e.Message {
			t.Errorf("message %s body %q, want %q", e.MessageID, e.Message, want[e.MessageID])
		}
		if seen[e.MessageID] {
			t.Errorf("message %s delivered twice", e.MessageID)
		}
		seen[e.MessageID] = true
		if e.Timestamp.IsZero() || time.Since(e.Timestamp) > time.Minute {
			t.Errorf("timestamp %v", e.Timestamp)
		}
		store, _ := e.MessageAttributes["store"].(map[string]any)
		blob, _ := e.MessageAttributes["blob"].(map[string]any)
		if store["Type"] != "String" || store["Value"] != "example_corp" || blob["Type"] != "Binary" || blob["Value"] != "AAEC" {
			t.Errorf("attributes = %v", e.MessageAttributes)
		}
		if dl.traceparent != tp {
			t.Errorf("traceparent %q", dl.traceparent)
		}
	}
	for _, dl := range d.deliveries("queue:billing") {
		var nt map[string]any
		if err := json.Unmarshal([]byte(dl.body), &nt); err != nil {
			t.Fatalf("queue body is not JSON: %v", err)
		}
		id, _ := nt["MessageId"].(string)
		if nt["Type"] != "Notification" || nt["TopicArn"] != topicARN || nt["Message"] != want[id] || nt["Subject"] != "order placed" {
			t.Errorf("notification = %v", nt)
		}
		attrs, _ := nt["MessageAttributes"].(map[string]any)
		price, _ := attrs["price"].(map[string]any)
		if price["Type"] != "Number" || price["Value"] != "12.5" {
			t.Errorf("notification attributes = %v", attrs)
		}
		if dl.attrs != nil {
			t.Errorf("non-raw queue delivery got attributes %v", dl.attrs)
		}
	}
	var rawBodies []string
	for _, dl := range d.deliveries("queue:raw") {
		rawBodies = append(rawBodies, dl.body)
		if dl.attrs["store"].StringValue != "example_corp" || string(dl.attrs["blob"].BinaryValue) != "\x00\x01\x02" {
			t.Errorf("raw attributes = %v", dl.attrs)
		}
	}
	var wantBodies []string
	for _, body := range want {
		wantBodies = append(wantBodies, body)
	}
	slices.Sort(rawBodies)
	slices.Sort(wantBodies)
	if !slices.Equal(rawBodies, wantBodies) {
		t.Errorf("raw bodies = %q, want %q", rawBodies, wantBodies)
	}
	for _, target := range []string{"function:audit", "queue:billing", "queue:raw"} {
		if got := d.count(target); got != n {
			t.Errorf("%s received %d messages, want %d", target, got, n)
		}
	}
}

func TestFilterPolicies(t *testing.T) {
	b := bustest.Start(t)
	d := newFake()
	s := openService(t, b, d, true)
	ensure(t, s, "events")
	subscribe(t, s, Subscription{Topic: "events", Protocol: ProtocolQueue, Endpoint: "all"})
	subscribe(t, s, Subscription{Topic: "events", Protocol: ProtocolQueue, Endpoint: "big", RawDelivery: true,
		FilterPolicy: json.RawMessage(`{"store":["a"],"total":[{"numeric":[">=",100]}]}`)})
	subscribe(t, s, Subscription{Topic: "events", Protocol: ProtocolQueue, Endpoint: "body", RawDelivery: true,
		FilterPolicy: json.RawMessage(`{"kind":[{"prefix":"refund"}]}`), FilterScope: ScopeBody})

	msgs := []PublishInput{
		{Message: `{"kind":"sale"}`, Attributes: map[string]Attribute{"store": str("a"), "total": num("150")}},
		{Message: `{"kind":"sale"}`, Attributes: map[string]Attribute{"store": str("a"), "total": num("20")}},
		{Message: `{"kind":"refund-full"}`, Attributes: map[string]Attribute{"store": str("b"), "total": num("500")}},
		{Message: `not json`},
	}
	for _, m := range msgs {
		publish(t, s, "events", m)
	}
	waitFor(t, "every message at the unfiltered subscription", func() bool { return d.count("queue:all") == len(msgs) })
	// The filtered subscriptions settle every message too (skipped ones
	// are acknowledged), so the stream ends up empty.
	waitFor(t, "the stream to empty", func() bool {
		st, err := b.JetStream().Stream(testContext(t), streamName("events"))
		return err == nil && st.CachedInfo().State.Msgs == 0
	})
	if got := d.deliveries("queue:big"); len(got) != 1 || got[0].attrs["total"].StringValue != "150" {
		t.Errorf("attribute-filtered subscription got %+v, want the one message with total 150", got)
	}
	if got := d.deliveries("queue:body"); len(got) != 1 || got[0].body != `{"kind":"refund-full"}` {
		t.Errorf("body-filtered subscription got %+v, want the refund", got)
	}
}

func TestFailingSubscriberDoesNotDelayOthers(t *testing.T) {
	b := bustest.Start(t)
	d := newFake()
	d.setFail("function:broken", errors.New("boom"))
	s := openService(t, b, d, true)
	ensure(t, s, "t")
	subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolFunction, Endpoint: "broken", MaxAttempts: 100})
	subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolFunction, Endpoint: "healthy"})
	const n = 60
	for i := range n {
		publish(t, s, "t", PublishInput{Message: fmt.Sprint(i)})
	}
	waitFor(t, "the healthy subscriber to receive everything", func() bool { return d.count("function:healthy") == n })
	if got := d.attemptsOf("function:broken"); got < 1 {
		t.Errorf("broken subscriber tried %d times, want some", got)
	}
	if dl := d.deadLetters(); len(dl) != 0 {
		t.Errorf("dead-lettered %d messages already with 100 attempts allowed", len(dl))
	}
}

func TestRetriesThenDeadLetter(t *testing.T) {
	b := bustest.Start(t)
	d := newFake()
	d.setFail("function:broken", errors.New("boom"))
	d.deadFail = 2 // the dead-letter queue fails twice first: nothing is lost
	s := openService(t, b, d, true)
	ensure(t, s, "t")
	sub := subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolFunction, Endpoint: "broken", MaxAttempts: 3})
	subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolFunction, Endpoint: "broken", MaxAttempts: 1, DLQ: "mine", ID: "custom"})
	id := publish(t, s, "t", PublishInput{Message: "hello", Subject: "s", TraceParent: tp,
		Attributes: map[string]Attribute{"k": str("v")}})

	waitFor(t, "two dead letters", func() bool { return len(d.deadLetters()) == 2 })
	dead := d.deadLetters()
	slices.SortFunc(dead, func(a, b deadLettered) int { return strings.Compare(a.dlq, b.dlq) })
	mine, auto := dead[0], dead[1]
	if mine.dlq != "mine" || auto.dlq != "topic-t-dlq" {
		t.Fatalf("dead-letter queues %q %q, want mine and topic-t-dlq", mine.dlq, auto.dlq)
	}
	wantSrc := deadletter.Source{Kind: deadletter.KindSubscription, Name: "t", Sub: sub.ID}
	if auto.info.Source != wantSrc || auto.info.Count != 3 || !strings.Contains(auto.info.Reason, "boom") || auto.info.At.IsZero() {
		t.Errorf("info = %+v, want source %v, count 3, reason boom", auto.info, wantSrc)
	}
	if mine.info.Source.Sub != "custom" || mine.info.Count != 1 {
		t.Errorf("info = %+v, want subscription custom, count 1", mine.info)
	}
	m := auto.msg
	if m.Topic != "t" || m.MessageID != id || m.Body != "hello" || m.Subject != "s" || m.TraceParent != tp ||
		m.Attributes["k"].StringValue != "v" || m.Timestamp.IsZero() {
		t.Errorf("dead-lettered message = %+v", m)
	}
	// 3 + 1 delivery attempts, no more after the messages were dead-lettered.
	if got := d.attemptsOf("function:broken"); got != 4 {
		t.Errorf("%d delivery attempts, want 4", got)
	}
	waitFor(t, "the stream to empty", func() bool {
		st, err := b.JetStream().Stream(testContext(t), streamName("t"))
		return err == nil && st.CachedInfo().State.Msgs == 0
	})
}

func TestRedeliverReachesOneSubscription(t *testing.T) {
	b := bustest.Start(t)
	d := newFake()
	s := openService(t, b, d, true)
	ensure(t, s, "t")
	one := subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolQueue, Endpoint: "one", RawDelivery: true,
		FilterPolicy: json.RawMessage(`{"never":["matches"]}`)})
	subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolQueue, Endpoint: "two", RawDelivery: true})

	orig := Message{MessageID: newUUID(), Body: "replayed", Attributes: map[string]Attribute{"a": str("b")},
		Timestamp: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	if err := s.Redeliver(testContext(t), "t", one.ID, orig); err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	waitFor(t, "the replay at subscription one", func() bool { return d.count("queue:one") == 1 })
	if got := d.deliveries("queue:one")[0]; got.body != "replayed" || got.attrs["a"].StringValue != "b" {
		t.Errorf("replay = %+v", got)
	}
	// A later message reaches two; the replay never does.
	publish(t, s, "t", PublishInput{Message: "later"})
	waitFor(t, "the later message at two", func() bool { return d.count("queue:two") >= 1 })
	if got := d.deliveries("queue:two"); len(got) != 1 || got[0].body != "later" {
		t.Errorf("subscription two got %+v, want only the later message", got)
	}

	// The replay keeps its id: a function sees the same MessageId.
	fn := subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolFunction, Endpoint: "f"})
	if err := s.Redeliver(testContext(t), "t", fn.ID, orig); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replay at the function", func() bool { return d.count("function:f") == 1 })
	r := snsRecord(t, d.deliveries("function:f")[0].body)
	if r.SNS.MessageID != orig.MessageID || !r.SNS.Timestamp.Equal(orig.Timestamp) {
		t.Errorf("replay id %s at %v, want %s at %v", r.SNS.MessageID, r.SNS.Timestamp, orig.MessageID, orig.Timestamp)
	}

	if err := s.Redeliver(testContext(t), "t", "nope", orig); !errors.Is(err, ErrNotFound) {
		t.Errorf("Redeliver to a missing subscription = %v, want ErrNotFound", err)
	}
	if err := s.Redeliver(testContext(t), "t", one.ID, Message{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Redeliver of an empty message = %v, want ErrInvalid", err)
	}
}

func TestTwoNodes(t *testing.T) {
	b := bustest.Start(t)
	d1, d2 := newFake(), newFake()
	s1 := openService(t, b, d1, true)
	s2 := openService(t, b, d2, true)
	ensure(t, s1, "t")
	// Made on node 1 after both started: node 2 follows through the watch.
	sub := subscribe(t, s1, Subscription{Topic: "t", Protocol: ProtocolQueue, Endpoint: "q", RawDelivery: true})
	const n = 40
	for i := range n {
		publish(t, s2, "t", PublishInput{Message: fmt.Sprint(i)})
	}
	total := func() int { return d1.count("queue:q") + d2.count("queue:q") }
	waitFor(t, "every message on one of the nodes", func() bool { return total() == n })
	seen := map[string]bool{}
	for _, dl := range append(d1.deliveries("queue:q"), d2.deliveries("queue:q")...) {
		if seen[dl.body] {
			t.Errorf("message %s delivered twice", dl.body)
		}
		seen[dl.body] = true
	}

	// Node 1 stops; node 2 alone delivers, including to a subscription
	// whose filter changed on node 1 before it stopped.
	sub.FilterPolicy = json.RawMessage(`{"k":["yes"]}`)
	updated := subscribe(t, s1, *sub)
	if !updated.CreatedAt.Equal(sub.CreatedAt) || updated.ID != sub.ID {
		t.Errorf("update changed id or creation time: %+v", updated)
	}
	waitFor(t, "node 2 to see the new filter", func() bool {
		s2.mu.Lock()
		r := s2.runners["t/"+sub.ID]
		s2.mu.Unlock()
		return r != nil && string(r.state.Load().sub.FilterPolicy) == `{"k":["yes"]}`
	})
	if err := s1.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}
	publish(t, s1, "t", PublishInput{Message: "filtered out", Attributes: map[string]Attribute{"k": str("no")}})
	publish(t, s1, "t", PublishInput{Message: "kept", Attributes: map[string]Attribute{"k": str("yes")}})
	waitFor(t, "the matching message on node 2", func() bool {
		return slices.ContainsFunc(d2.deliveries("queue:q"), func(dl delivery) bool { return dl.body == "kept" })
	})
	waitFor(t, "the stream to empty", func() bool {
		st, err := b.JetStream().Stream(testContext(t), streamName("t"))
		return err == nil && st.CachedInfo().State.Msgs == 0
	})
	if total() != n+1 {
		t.Errorf("%d deliveries, want %d (the filtered message skipped)", total(), n+1)
	}
	if err := s1.Start(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Shutdown = %v, want ErrClosed", err)
	}
}

func TestPublishedBeforeStartAndRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)
	b1, err := bus.Start(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := Open(ctx, Config{JetStream: b1.JetStream()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Ensure(ctx, "t", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Subscribe(ctx, Subscription{Topic: "t", Protocol: ProtocolQueue, Endpoint: "q", RawDelivery: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s1.Publish(ctx, "t", PublishInput{Message: fmt.Sprint("before restart ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s1.Shutdown(ctx); err != nil { // never started: nothing to stop
		t.Fatal(err)
	}
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	b2 := bustest.StartIn(t, dir)
	d := newFake()
	s2 := openService(t, b2, d, false)
	if _, err := s2.Publish(ctx, "t", PublishInput{Message: "before start"}); err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the messages kept over the restart", func() bool { return d.count("queue:q") == 4 })
	var bodies []string
	for _, dl := range d.deliveries("queue:q") {
		bodies = append(bodies, dl.body)
	}
	slices.Sort(bodies)
	want := []string{"before restart 0", "before restart 1", "before restart 2", "before start"}
	if !slices.Equal(bodies, want) {
		t.Errorf("delivered %q, want %q", bodies, want)
	}
}

func TestManageTopics(t *testing.T) {
	b := bustest.Start(t)
	s := openService(t, b, newFake(), false)
	ctx := testContext(t)

	created, err := s.Ensure(ctx, "orders", "shop")
	if err != nil || !created {
		t.Fatalf("Ensure = %v, %v; want created", created, err)
	}
	created, err = s.Ensure(ctx, "orders", "other")
	if err != nil || created {
		t.Fatalf("Ensure again = %v, %v; want existing", created, err)
	}
	ensure(t, s, "alerts")
	sub := subscribe(t, s, Subscription{Topic: "orders", Protocol: ProtocolHTTPS, Endpoint: "https://example.com/hook", Owner: "function:audit"})
	if sub.MaxAttempts != DefaultMaxAttempts || !validUUID(sub.ID) || sub.ARN != "arn:aws:sns:us-east-1:000000000000:orders:"+sub.ID || sub.CreatedAt.IsZero() {
		t.Errorf("subscription = %+v", sub)
	}
	subscribe(t, s, Subscription{Topic: "orders", ID: "fixed", Protocol: ProtocolFunction, Endpoint: "audit:live",
		FilterPolicy: json.RawMessage("{ \"a\" : [ \"x\" ] }")})

	for scope, want := range map[string]string{"attributes": "", "MessageAttributes": "", "body": "body", "MessageBody": "body"} {
		got := subscribe(t, s, Subscription{Topic: "alerts", ID: "scoped", Protocol: ProtocolQueue, Endpoint: "q", FilterScope: scope})
		if got.FilterScope != want {
			t.Errorf("FilterScope %q stored as %q, want %q", scope, got.FilterScope, want)
		}
	}
	if err := s.Unsubscribe(ctx, "alerts", "scoped"); err != nil {
		t.Fatal(err)
	}

	info, err := s.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "orders" || info.App != "shop" || info.ARN != "arn:aws:sns:us-east-1:000000000000:orders" || info.Subscriptions != 2 {
		t.Errorf("Get = %+v", info)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "alerts" || list[1].Name != "orders" || list[1].Subscriptions != 2 || list[0].Subscriptions != 0 {
		t.Errorf("List = %+v", list)
	}
	subs, err := s.Subscriptions(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || subs[0].ID != sub.ID || subs[1].ID != "fixed" || string(subs[1].FilterPolicy) != `{"a":["x"]}` || subs[0].Owner != "function:audit" {
		t.Errorf("Subscriptions = %+v", subs)
	}

	if err := s.Unsubscribe(ctx, "orders", "fixed"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(ctx, "orders", "fixed"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unsubscribe twice = %v, want ErrNotFound", err)
	}
	if _, err := b.JetStream().Consumer(ctx, streamName("orders"), consumerName("fixed")); err == nil {
		t.Error("consumer of the removed subscription still exists")
	}

	if err := s.Delete(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "orders"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Subscriptions(ctx, "orders"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Subscriptions after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Publish(ctx, "orders", PublishInput{Message: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Publish after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "orders"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete twice = %v, want ErrNotFound", err)
	}
	if list, _ := s.List(ctx); len(list) != 1 {
		t.Errorf("List after Delete = %+v", list)
	}
}

func TestValidation(t *testing.T) {
	for _, name := range []string{"", "a.b", "a b", "ü", strings.Repeat("x", 65), "a*"} {
		if err := ValidName(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalid", name, err)
		}
	}
	for _, name := range []string{"a", "order-events_2", strings.Repeat("x", 64)} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}

	b := bustest.Start(t)
	s := openService(t, b, newFake(), false)
	ctx := testContext(t)
	ensure(t, s, "t")

	if _, err := s.Subscribe(ctx, Subscription{Topic: "missing", Protocol: ProtocolQueue, Endpoint: "q"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Subscribe to a missing topic = %v, want ErrNotFound", err)
	}
	badSubs := []Subscription{
		{Protocol: "email", Endpoint: "a@example.com"},
		{Protocol: ProtocolQueue, Endpoint: "a.b"},
		{Protocol: ProtocolFunction, Endpoint: ""},
		{Protocol: ProtocolFunction, Endpoint: "fn:"},
		{Protocol: ProtocolFunction, Endpoint: "fn", RawDelivery: true},
		{Protocol: ProtocolHTTP, Endpoint: "https://example.com"},
		{Protocol: ProtocolHTTPS, Endpoint: "example.com/hook"},
		{Protocol: ProtocolQueue, Endpoint: "q", MaxAttempts: 101},
		{Protocol: ProtocolQueue, Endpoint: "q", MaxAttempts: -1},
		{Protocol: ProtocolQueue, Endpoint: "q", DLQ: "a/b"},
		{Protocol: ProtocolQueue, Endpoint: "q", ID: "a.b"},
		{Protocol: ProtocolQueue, Endpoint: "q", FilterPolicy: json.RawMessage(`{"a":"b"}`)},
		{Protocol: ProtocolQueue, Endpoint: "q", FilterScope: "Headers"},
		{Protocol: ProtocolQueue, Endpoint: "q", FilterPolicy: json.RawMessage(`{"a":{"b":["c"]}}`)},
	}
	for _, sub := range badSubs {
		sub.Topic = "t"
		if _, err := s.Subscribe(ctx, sub); !errors.Is(err, ErrInvalid) {
			t.Errorf("Subscribe(%+v) = %v, want ErrInvalid", sub, err)
		}
	}
	// The nested policy is fine in the body scope.
	subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolQueue, Endpoint: "q",
		FilterPolicy: json.RawMessage(`{"a":{"b":["c"]}}`), FilterScope: ScopeBody})

	big := strings.Repeat("x", MaxMessageSize)
	if _, err := s.Publish(ctx, "t", PublishInput{Message: big}); err != nil {
		t.Errorf("Publish of exactly %d bytes: %v", MaxMessageSize, err)
	}
	if _, err := s.Publish(ctx, "t", PublishInput{Message: big[1:], Attributes: map[string]Attribute{"a": str("bc")}}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish over the limit with attributes = %v, want ErrTooLarge", err)
	}
	escaped := str(strings.Repeat("\x01", 200<<10)) // six bytes each in JSON
	if _, err := s.Publish(ctx, "t", PublishInput{Message: "x", Attributes: map[string]Attribute{"a": escaped}}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish of an attribute that encodes too large = %v, want ErrTooLarge", err)
	}
	eleven := map[string]Attribute{}
	for i := range 11 {
		eleven[fmt.Sprint("a", i)] = str("v")
	}
	badMsgs := []PublishInput{
		{Message: ""},
		{Message: "x", Subject: strings.Repeat("s", 101)},
		{Message: "x", Subject: "line\nbreak"},
		{Message: "x", TraceParent: "a\r\nb"},
		{Message: "x", Attributes: eleven},
		{Message: "x", Attributes: map[string]Attribute{"n": num("ten")}},
		{Message: "x", Attributes: map[string]Attribute{"n": {DataType: "Float", StringValue: "1"}}},
		{Message: "x", Attributes: map[string]Attribute{"n": {DataType: "Number.", StringValue: "1"}}},
		{Message: "x", Attributes: map[string]Attribute{"l": list(`"a"`)}},
		{Message: "x", Attributes: map[string]Attribute{"l": list(`[{"a":1}]`)}},
		{Message: "x", Attributes: map[string]Attribute{"s": str("")}},
		{Message: "x", Attributes: map[string]Attribute{"b": {DataType: "Binary"}}},
		{Message: "x", Attributes: map[string]Attribute{"b": {DataType: "Binary", StringValue: "x"}}},
		{Message: "x", Attributes: map[string]Attribute{"s": {DataType: "String", StringValue: "x", BinaryValue: []byte("x")}}},
		{Message: "x", Attributes: map[string]Attribute{"AWS.x": str("v")}},
		{Message: "x", Attributes: map[string]Attribute{"a..b": str("v")}},
		{Message: "x", Attributes: map[string]Attribute{"a b": str("v")}},
		{Message: "x", Attributes: map[string]Attribute{"": str("v")}},
		{Message: "\xff"},
	}
	for _, in := range badMsgs {
		if _, err := s.Publish(ctx, "t", in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Publish(%.80v) = %v, want ErrInvalid", in, err)
		}
	}
	if _, err := s.Publish(ctx, "t", PublishInput{Message: "x", Attributes: map[string]Attribute{
		"n": {DataType: "Number.int", StringValue: "-1.5e3"}, "l": list(`["a", 1, true, null]`), "b": {DataType: "Binary.png", BinaryValue: []byte{1}},
	}}); err != nil {
		t.Errorf("Publish with custom types: %v", err)
	}
	if _, err := s.Publish(ctx, "no-such-topic", PublishInput{Message: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Publish to a missing topic = %v, want ErrNotFound", err)
	}
	if _, err := s.Publish(ctx, "bad.name", PublishInput{Message: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Publish to a bad name = %v, want ErrInvalid", err)
	}
	if _, err := s.Ensure(ctx, "bad name", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Ensure(bad name) = %v, want ErrInvalid", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("second Start = %v, want ErrClosed", err)
	}
	noDeliverer, err := Open(ctx, Config{JetStream: b.JetStream()})
	if err != nil {
		t.Fatal(err)
	}
	if err := noDeliverer.Start(ctx); !errors.Is(err, ErrInvalid) {
		t.Errorf("Start without a deliverer = %v, want ErrInvalid", err)
	}
	if _, err := Open(ctx, Config{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open without JetStream = %v, want ErrInvalid", err)
	}
}

func TestAttributesRoundTrip(t *testing.T) {
	b := bustest.Start(t)
	d := newFake()
	s := openService(t, b, d, true)
	ensure(t, s, "t")
	subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolQueue, Endpoint: "raw", RawDelivery: true})
	in := map[string]Attribute{
		"text":  str("line one\nline two\r\n\ttab, \"quotes\", <tags> & ünïcödé 구름"),
		"large": str(strings.Repeat("가", 60000)), // 180 KB in a header
		"bin":   {DataType: "Binary.raw", BinaryValue: []byte{0, '\r', '\n', 0xff}},
		"arr":   list(`["a", 1.5, true, null]`),
	}
	publish(t, s, "t", PublishInput{Message: "body\nwith\r\nbreaks", Attributes: in})
	waitFor(t, "the message", func() bool { return d.count("queue:raw") == 1 })
	got := d.deliveries("queue:raw")[0]
	if got.body != "body\nwith\r\nbreaks" {
		t.Errorf("body = %q", got.body)
	}
	for name, want := range in {
		a := got.attrs[name]
		if a.DataType != want.DataType || a.StringValue != want.StringValue || string(a.BinaryValue) != string(want.BinaryValue) {
			t.Errorf("attribute %s = %+v, want %+v", name, a, want)
		}
	}
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	b := bustest.Start(t)
	d := newFake()
	s := openService(t, b, d, true)
	ensure(t, s, "t")
	gone := subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolQueue, Endpoint: "gone"})
	subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolQueue, Endpoint: "stays"})
	running := func(id string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.runners["t/"+id] != nil
	}
	waitFor(t, "the runner", func() bool { return running(gone.ID) })
	if err := s.Unsubscribe(testContext(t), "t", gone.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the runner to stop", func() bool { return !running(gone.ID) })
	publish(t, s, "t", PublishInput{Message: "after"})
	waitFor(t, "the remaining subscription", func() bool { return d.count("queue:stays") == 1 })
	if got := d.count("queue:gone"); got != 0 {
		t.Errorf("removed subscription received %d messages", got)
	}
}
