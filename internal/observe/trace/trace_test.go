package trace

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

func startBus(t *testing.T) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := bus.Start(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("bus shutdown: %v", err)
		}
	})
	return b
}

// newTracer starts a tracer that is shut down when the test ends.
func newTracer(t *testing.T, cfg Config) *Tracer {
	t.Helper()
	tr, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			t.Errorf("tracer shutdown: %v", err)
		}
	})
	return tr
}

func flush(t *testing.T, tr *Tracer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStoreReadsTraceBack(t *testing.T) {
	b := startBus(t)
	tr := newTracer(t, Config{JetStream: b.JetStream(), NodeName: "node-1"})
	ctx := t.Context()

	t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	rootCtx, root := tr.Tracer().Start(ctx, "GET /orders/{id}", oteltrace.WithSpanKind(oteltrace.SpanKindServer), oteltrace.WithTimestamp(at(0)))
	invCtx, inv := tr.Tracer().Start(rootCtx, "invoke api v3 (cold)", oteltrace.WithTimestamp(at(200*time.Microsecond)),
		oteltrace.WithAttributes(attribute.String("faas.name", "api"), attribute.Bool("faas.coldstart", true), attribute.Int("gureum.version", 3)))
	_, pub := tr.Tracer().Start(invCtx, "publish order-events", oteltrace.WithSpanKind(oteltrace.SpanKindProducer), oteltrace.WithTimestamp(at(time.Millisecond)))
	pub.SetStatus(codes.Error, "topic not found")
	pub.End(oteltrace.WithTimestamp(at(1400 * time.Microsecond)))
	inv.End(oteltrace.WithTimestamp(at(12100 * time.Microsecond)))
	root.End(oteltrace.WithTimestamp(at(12300 * time.Microsecond)))

	// Another trace, which must not show up in the first one.
	_, other := tr.Tracer().Start(ctx, "other")
	other.End()

	flush(t, tr)
	traceID := root.SpanContext().TraceID().String()
	// Upper case is accepted too.
	spans, err := tr.Trace(ctx, strings.ToUpper(traceID))
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3: %+v", len(spans), spans)
	}
	want := []Span{
		{TraceID: traceID, SpanID: root.SpanContext().SpanID().String(), Name: "GET /orders/{id}", Kind: "server",
			Start: at(0), Duration: 12300 * time.Microsecond, Status: "unset", Node: "node-1"},
		{TraceID: traceID, SpanID: inv.SpanContext().SpanID().String(), ParentID: root.SpanContext().SpanID().String(),
			Name: "invoke api v3 (cold)", Kind: "internal", Start: at(200 * time.Microsecond), Duration: 11900 * time.Microsecond,
			Status: "unset", Node: "node-1", Attributes: map[string]string{"faas.name": "api", "faas.coldstart": "true", "gureum.version": "3"}},
		{TraceID: traceID, SpanID: pub.SpanContext().SpanID().String(), ParentID: inv.SpanContext().SpanID().String(),
			Name: "publish order-events", Kind: "producer", Start: at(time.Millisecond), Duration: 400 * time.Microsecond,
			Status: "error", StatusMessage: "topic not found", Node: "node-1"},
	}
	for i, w := range want {
		g := spans[i]
		if !g.Start.Equal(w.Start) {
			t.Errorf("span %d starts at %s, want %s", i, g.Start, w.Start)
		}
		g.Start, w.Start = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("span %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	var tree strings.Builder
	if err := WriteTree(&tree, spans); err != nil {
		t.Fatal(err)
	}
	wantTree := "GET /orders/{id}            12.3 ms  [node-1]\n" +
		"└─ invoke api v3 (cold)     11.9 ms\n" +
		"   └─ publish order-events   0.4 ms  error: topic not found\n"
	if tree.String() != wantTree {
		t.Errorf("tree:\n%s\nwant:\n%s", tree.String(), wantTree)
	}

	if st := tr.Stats(); st.Stored != 4 || st.Dropped != 0 || st.StoreFailed != 0 {
		t.Errorf("stats %+v, want 4 stored", st)
	}
}

func TestTraceErrors(t *testing.T) {
	b := startBus(t)
	tr := newTracer(t, Config{JetStream: b.JetStream()})
	if _, err := tr.Trace(t.Context(), "4bf92f3577b34da6a3ce929d0e0e4736"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown trace: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"", "xyz", "00000000000000000000000000000000", "4bf92f3577b34da6a3ce929d0e0e473", "4bf92f3577b34da6a3ce929d0e0e4736.>"} {
		if _, err := tr.Trace(t.Context(), id); !errors.Is(err, ErrInvalidTraceID) {
			t.Errorf("trace %q: %v, want ErrInvalidTraceID", id, err)
		}
	}
}

func TestContinuesIncomingTrace(t *testing.T) {
	b := startBus(t)
	tr := newTracer(t, Config{JetStream: b.JetStream()})

	ctx := ContextWithTraceParent(t.Context(), "00-"+incomingTrace+"-"+incomingSpan+"-01")
	ctx, span := tr.Tracer().Start(ctx, "queue orders", oteltrace.WithSpanKind(oteltrace.SpanKindConsumer))
	if got := TraceID(ctx); got != incomingTrace {
		t.Errorf("TraceID = %q, want the incoming %q", got, incomingTrace)
	}
	tp := TraceParent(ctx)
	wantTP := "00-" + incomingTrace + "-" + span.SpanContext().SpanID().String() + "-01"
	if tp != wantTP {
		t.Errorf("TraceParent = %q, want %q", tp, wantTP)
	}
	span.End()

	// The next hop continues from the traceparent written out.
	_, next := tr.Tracer().Start(ContextWithTraceParent(t.Context(), tp), "invoke mailer")
	next.End()

	flush(t, tr)
	spans, err := tr.Trace(t.Context(), incomingTrace)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2: %+v", len(spans), spans)
	}
	if spans[0].ParentID != incomingSpan {
		t.Errorf("parent of the first span = %q, want the incoming span %q", spans[0].ParentID, incomingSpan)
	}
	if spans[1].ParentID != spans[0].SpanID {
		t.Errorf("parent of the second span = %q, want %q", spans[1].ParentID, spans[0].SpanID)
	}

	// An unsampled caller's decision is followed: nothing is recorded.
	const unsampled = "5bf92f3577b34da6a3ce929d0e0e4736"
	_, s := tr.Tracer().Start(ContextWithTraceParent(t.Context(), "00-"+unsampled+"-"+incomingSpan+"-00"), "not recorded")
	s.End()
	flush(t, tr)
	if _, err := tr.Trace(t.Context(), unsampled); !errors.Is(err, ErrNotFound) {
		t.Errorf("unsampled trace: %v, want ErrNotFound", err)
	}
}

func TestShutdownStoresPendingSpans(t *testing.T) {
	b := startBus(t)
	tr, err := New(t.Context(), Config{JetStream: b.JetStream()})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer().Start(t.Context(), "last words")
	span.End()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Errorf("flush after shutdown: %v", err)
	}
	// Ended after Shutdown: dropped, and nothing panics.
	_, late := tr.Tracer().Start(t.Context(), "late")
	late.End()

	spans, err := tr.Trace(ctx, span.SpanContext().TraceID().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 || spans[0].Name != "last words" {
		t.Errorf("stored %+v, want the span ended before shutdown", spans)
	}
}

func TestNoGlobalProvider(t *testing.T) {
	b := startBus(t)
	before := otel.GetTracerProvider()
	a := newTracer(t, Config{JetStream: b.JetStream(), NodeName: "a"})
	c := newTracer(t, Config{JetStream: b.JetStream(), NodeName: "c"})
	if otel.GetTracerProvider() != before {
		t.Error("New changed the global tracer provider")
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		t.Error("the global tracer provider is an SDK provider")
	}
	// Two tracers on one stream: each span is stored once, marked with its node.
	ctx, sa := a.Tracer().Start(t.Context(), "on a")
	_, sc := c.Tracer().Start(ctx, "on c")
	sc.End()
	sa.End()
	flush(t, a)
	flush(t, c)
	spans, err := a.Trace(t.Context(), sa.SpanContext().TraceID().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 || spans[0].Node != "a" || spans[1].Node != "c" || spans[1].ParentID != spans[0].SpanID {
		t.Errorf("spans %+v, want one from each node, c's under a's", spans)
	}
}

func TestConfigValidation(t *testing.T) {
	b := startBus(t)
	js := b.JetStream()
	for name, cfg := range map[string]Config{
		"no jetstream":       {},
		"negative replicas":  {JetStream: js, Replicas: -1},
		"negative retention": {JetStream: js, Retention: -time.Hour},
		"negative buffer":    {JetStream: js, BufferSize: -1},
		"ratio above 1":      {JetStream: js, SampleRatio: 1.5},
		"negative ratio":     {JetStream: js, SampleRatio: -0.1},
		"endpoint scheme":    {JetStream: js, OTLPEndpoint: "127.0.0.1:4318"},
		"endpoint host":      {JetStream: js, OTLPEndpoint: "http://"},
		"endpoint syntax":    {JetStream: js, OTLPEndpoint: "http://[::1"},
	} {
		if tr, err := New(t.Context(), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
			if tr != nil {
				_ = tr.Shutdown(t.Context())
			}
		}
	}
}

func TestOTLPTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":                 "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":                "http://127.0.0.1:4318/v1/traces",
		"https://collector.example/otlp":        "https://collector.example/otlp/v1/traces",
		"http://127.0.0.1:4318/v1/traces":       "http://127.0.0.1:4318/v1/traces",
		"https://collector.example/x/v1/traces": "https://collector.example/x/v1/traces",
	} {
		got, err := otlpTracesURL(in)
		if err != nil || got != want {
			t.Errorf("otlpTracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// gatedJetStream is a real JetStream whose asynchronous publishes wait until
// the gate opens: a store that has fallen behind.
type gatedJetStream struct {
	jetstream.JetStream
	entered     chan struct{}
	enteredOnce sync.Once
	gate        chan struct{}
}

func (g *gatedJetStream) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	g.enteredOnce.Do(func() { close(g.entered) })
	<-g.gate
	return g.JetStream.PublishMsgAsync(m, opts...)
}

func TestSlowStoreDropsInsteadOfBlocking(t *testing.T) {
	b := startBus(t)
	js := &gatedJetStream{JetStream: b.JetStream(), entered: make(chan struct{}), gate: make(chan struct{})}
	var openGate sync.Once
	release := func() { openGate.Do(func() { close(js.gate) }) }
	const buffer = 16
	tr := newTracer(t, Config{JetStream: js, BufferSize: buffer})
	t.Cleanup(release) // cleanups run last first: the gate opens before the tracer shuts down

	ctx, root := tr.Tracer().Start(t.Context(), "root")
	root.End()
	// The writer picks the root up within FlushInterval and blocks on the gate.
	select {
	case <-js.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the store writer never published")
	}

	const more = 100
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for range more {
			_, s := tr.Tracer().Start(ctx, "child")
			s.End()
		}
	}()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		release()
		t.Fatal("ending spans blocked on a slow store")
	}
	if got := tr.Stats().Dropped; got != more-buffer {
		t.Errorf("dropped %d spans, want %d (the buffer holds %d)", got, more-buffer, buffer)
	}

	release()
	flush(t, tr)
	spans, err := tr.Trace(t.Context(), root.SpanContext().TraceID().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1+buffer {
		t.Errorf("stored %d spans, want %d", len(spans), 1+buffer)
	}
	if st := tr.Stats(); st.Stored != 1+buffer || st.StoreFailed != 0 {
		t.Errorf("stats %+v, want %d stored", st, 1+buffer)
	}
}

// Traces started here share bucket messages, and each is still read back
// alone; an incoming trace id without a time is stored under its own
// subject and read back too.
func TestManyTracesShareMessages(t *testing.T) {
	b := startBus(t)
	tr := newTracer(t, Config{JetStream: b.JetStream(), NodeName: "n"})
	ctx := t.Context()
	const traces = 200
	ids := make([]string, traces)
	for i := range traces {
		c, root := tr.Tracer().Start(ctx, "root")
		_, child := tr.Tracer().Start(c, "child")
		child.End()
		root.End()
		ids[i] = root.SpanContext().TraceID().String()
		if at := idTime(root.SpanContext().TraceID()); time.Since(at) > time.Minute || time.Until(at) > time.Second {
			t.Fatalf("trace id %s does not start with the time: %s", ids[i], at)
		}
	}
	remote := ContextWithTraceParent(ctx, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	_, sp := tr.Tracer().Start(remote, "from a client")
	sp.End()
	flush(t, tr)

	st, err := b.JetStream().Stream(ctx, SpanStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs > traces/4 {
		t.Fatalf("%d messages for %d traces: traces do not share messages", info.State.Msgs, traces)
	}
	for _, id := range ids {
		spans, err := tr.Trace(ctx, id)
		if err != nil || len(spans) != 2 {
			t.Fatalf("trace %s: %d spans, %v", id, len(spans), err)
		}
	}
	spans, err := tr.Trace(ctx, "0af7651916cd43dd8448eb211c80319c")
	if err != nil || len(spans) != 1 || spans[0].Name != "from a client" {
		t.Fatalf("incoming trace: %+v, %v", spans, err)
	}
}
