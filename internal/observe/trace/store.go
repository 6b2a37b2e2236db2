package trace

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/jsontext"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

const (
	// SpanStream is the JetStream stream of the local span store.
	SpanStream = "GUREUM_SPANS"
	// SpanSubjectPrefix starts the subject of a trace's spans: the prefix
	// and the trace id in lowercase hex.
	SpanSubjectPrefix = "gureum.span."

	// FlushInterval is the longest an ended span waits for the store writer.
	FlushInterval = 100 * time.Millisecond

	// maxBatch makes the writer publish early once this many spans wait.
	maxBatch = 1024
	// maxMessage caps one stored message (JSON lines of one trace's spans).
	maxMessage = 256 << 10
	// maxValue caps a stored name, attribute value or status message.
	maxValue = 1 << 10
	// publishTimeout bounds one batch's wait for JetStream's acknowledgements.
	publishTimeout = 10 * time.Second
	// maxSpans caps how many spans Trace returns.
	maxSpans = 10000
)

// Span is one stored span.
type Span struct {
	TraceID       string            `json:"traceId"`
	SpanID        string            `json:"spanId"`
	ParentID      string            `json:"parentId,omitempty"` // "" for a root
	Name          string            `json:"name"`
	Kind          string            `json:"kind"` // internal, server, client, producer, consumer
	Start         time.Time         `json:"start"`
	Duration      time.Duration     `json:"durationNs"`
	Status        string            `json:"status"` // unset, ok, error
	StatusMessage string            `json:"statusMessage,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	Node          string            `json:"node,omitempty"`
}

// store is the local span store: a span processor that hands every ended
// span to a writer goroutine through a bounded buffer, never blocking the
// goroutine that ends the span, and the writer publishes them to JetStream
// in batches, one message per trace and batch.
type store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	node   string

	in      chan sdktrace.ReadOnlySpan
	flushes chan chan error
	stop    chan struct{}
	done    chan struct{}

	runCtx    context.Context // ends when Shutdown gives up waiting
	cancelRun context.CancelFunc
	stopOnce  sync.Once

	stored, dropped, failed atomic.Uint64
	lastErr                 atomic.Pointer[error]
}

func openStore(ctx context.Context, cfg Config) (*store, error) {
	maxBytes := cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	st, err := cfg.JetStream.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       SpanStream,
		Subjects:   []string{SpanSubjectPrefix + "*", bucketPrefix + "*.*"},
		Storage:    jetstream.FileStorage,
		MaxAge:     cfg.Retention,
		MaxBytes:   maxBytes,
		Replicas:   cfg.Replicas,
		Discard:    jetstream.DiscardOld,
		MaxMsgSize: 1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("create span stream: %w", err)
	}
	s := &store{
		js: cfg.JetStream, stream: st, node: cfg.NodeName,
		in:      make(chan sdktrace.ReadOnlySpan, cfg.BufferSize),
		flushes: make(chan chan error),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// OnStart does nothing: spans are stored once they end.
func (s *store) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues the span for the writer, or counts it dropped when the
// buffer is full. It never blocks.
func (s *store) OnEnd(sp sdktrace.ReadOnlySpan) {
	if !sp.SpanContext().IsSampled() {
		return
	}
	select {
	case s.in <- sp:
	default:
		s.dropped.Add(1)
	}
}

// ForceFlush stores what waits; the provider calls it from its own ForceFlush.
func (s *store) ForceFlush(ctx context.Context) error { return s.flush(ctx) }

// Shutdown stores what waits within ctx and stops the writer. Idempotent.
func (s *store) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		// Abandon the publishes in flight; the writer then ends promptly.
		s.cancelRun()
		<-s.done
		return fmt.Errorf("store spans: %w", ctx.Err())
	}
}

// flush asks the writer to publish everything queued before the call and
// waits for the outcome. After Shutdown there is nothing left to publish.
func (s *store) flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.flushes <- reply:
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer goroutine.
func (s *store) run() {
	defer close(s.done)
	defer s.cancelRun()
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	var pending []sdktrace.ReadOnlySpan
	for {
		select {
		case sp := <-s.in:
			pending = append(pending, sp)
			if len(pending) >= maxBatch {
				_ = s.publish(pending)
				pending = pending[:0]
			}
		case <-tick.C:
			if len(pending) > 0 {
				_ = s.publish(pending)
				pending = pending[:0]
			}
		case reply := <-s.flushes:
			pending = s.drain(pending)
			reply <- s.publish(pending)
			pending = pending[:0]
		case <-s.stop:
			_ = s.publish(s.drain(pending))
			return
		}
	}
}

// drain moves everything buffered into pending.
func (s *store) drain(pending []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	for {
		select {
		case sp := <-s.in:
			pending = append(pending, sp)
		default:
			return pending
		}
	}
}

// publish stores spans, one or more messages per trace, and waits for the
// acknowledgements. It returns the first failure; every failed span is
// counted.
func (s *store) publish(spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.runCtx, publishTimeout)
	defer cancel()

	type message struct {
		subject string
		data    bytes.Buffer
		count   int
	}
	var (
		order    []*message
		current  = make(map[string]*message) // by subject
		line     bytes.Buffer
		firstErr error
	)
	fail := func(n int, err error) {
		s.failed.Add(uint64(n))
		s.lastErr.Store(&err)
		if firstErr == nil {
			firstErr = err
		}
	}
	now := time.Now()
	buf := make([]byte, 0, 512)
	for _, sp := range spans {
		line.Reset()
		buf = s.appendSpan(buf[:0], sp)
		line.Write(buf)
		subject := spanSubject(sp.SpanContext().TraceID(), now)
		m := current[subject]
		if m == nil || m.data.Len()+line.Len() > maxMessage {
			m = &message{subject: subject}
			current[subject] = m
			order = append(order, m)
		}
		m.data.Write(line.Bytes())
		m.count++
	}

	type sent struct {
		f     jetstream.PubAckFuture
		count int
	}
	futures := make([]sent, 0, len(order))
	for _, m := range order {
		f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: m.subject, Data: m.data.Bytes()})
		if err != nil {
			fail(m.count, fmt.Errorf("publish spans to %s: %w", m.subject, err))
			continue
		}
		futures = append(futures, sent{f, m.count})
	}
	for _, p := range futures {
		select {
		case <-p.f.Ok():
			s.stored.Add(uint64(p.count))
		case err := <-p.f.Err():
			fail(p.count, fmt.Errorf("publish spans to %s: %w", p.f.Msg().Subject, err))
		case <-ctx.Done():
			fail(p.count, fmt.Errorf("publish spans to %s: %w", p.f.Msg().Subject, ctx.Err()))
		}
	}
	return firstErr
}

// Where spans are stored. A trace whose id starts with the time it began
// (the ids this package makes; see idGenerator) shares a bucket subject with
// the other traces of that minute and shard, so that one message holds the
// spans of many traces: a busy node stores a few messages per flush, not
// one per request. Any other trace (an incoming id from a client) gets a
// subject of its own. Readers look in both places, so each trace is found
// whichever way it was stored.
const (
	bucketPrefix = SpanSubjectPrefix + "m."
	bucketShards = 32
	// A trace id's time counts as one when it is this close to the clock
	// of the node storing it (a trace continues through async retries for
	// up to 6 hours).
	bucketPast   = 8 * time.Hour
	bucketFuture = 5 * time.Minute
)

// idTime reads the time in the first four bytes of a trace id.
func idTime(tid oteltrace.TraceID) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint32(tid[:4])), 0)
}

func bucketSubject(tid oteltrace.TraceID) string {
	return bucketPrefix + strconv.FormatInt(idTime(tid).Unix()/60, 10) + "." + strconv.Itoa(int(tid[15])%bucketShards)
}

// spanSubject is where the spans of tid are stored at now.
func spanSubject(tid oteltrace.TraceID, now time.Time) string {
	if t := idTime(tid); t.After(now.Add(-bucketPast)) && t.Before(now.Add(bucketFuture)) {
		return bucketSubject(tid)
	}
	return SpanSubjectPrefix + tid.String()
}

// readSubjects are the subjects that may hold spans of a trace.
func readSubjects(traceID string) []string {
	var tid oteltrace.TraceID
	if !decodeHex(tid[:], traceID) {
		return []string{SpanSubjectPrefix + traceID}
	}
	return []string{SpanSubjectPrefix + traceID, bucketSubject(tid)}
}

// idGenerator makes trace ids that start with the current Unix time in
// seconds (as X-Ray's do), followed by 12 random bytes, and random span ids.
type idGenerator struct{}

func (idGenerator) NewIDs(context.Context) (oteltrace.TraceID, oteltrace.SpanID) {
	var tid oteltrace.TraceID
	binary.BigEndian.PutUint32(tid[:4], uint32(time.Now().Unix()))
	binary.BigEndian.PutUint64(tid[4:12], rand.Uint64())
	binary.BigEndian.PutUint32(tid[12:], rand.Uint32())
	return tid, newSpanID()
}

func (idGenerator) NewSpanID(context.Context, oteltrace.TraceID) oteltrace.SpanID {
	return newSpanID()
}

func newSpanID() oteltrace.SpanID {
	var sid oteltrace.SpanID
	for !sid.IsValid() {
		binary.BigEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}

// appendSpan appends the stored form of an ended span as one line of JSON,
// the encoding of record's Span (the writer's hot loop: no reflection, no
// intermediate map).
func (s *store) appendSpan(b []byte, sp sdktrace.ReadOnlySpan) []byte {
	sc := sp.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = append(b, `{"traceId":"`...)
	b = appendHex(b, tid[:])
	b = append(b, `","spanId":"`...)
	b = appendHex(b, sid[:])
	b = append(b, '"')
	if p := sp.Parent(); p.IsValid() {
		pid := p.SpanID()
		b = append(b, `,"parentId":"`...)
		b = appendHex(b, pid[:])
		b = append(b, '"')
	}
	b = append(b, `,"name":`...)
	b = jsontext.AppendString(b, cut(sp.Name()))
	b = append(b, `,"kind":"`...)
	b = append(b, kindName(sp.SpanKind())...)
	b = append(b, `","start":"`...)
	b = sp.StartTime().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","durationNs":`...)
	b = strconv.AppendInt(b, int64(sp.EndTime().Sub(sp.StartTime())), 10)
	b = append(b, `,"status":"`...)
	b = append(b, statusName(sp.Status().Code)...)
	b = append(b, '"')
	if d := sp.Status().Description; d != "" {
		b = append(b, `,"statusMessage":`...)
		b = jsontext.AppendString(b, cut(d))
	}
	if attrs := sp.Attributes(); len(attrs) > 0 {
		b = append(b, `,"attributes":{`...)
		seen := 0
		for i, kv := range attrs {
			if slices.ContainsFunc(attrs[i+1:], func(o attribute.KeyValue) bool { return o.Key == kv.Key }) {
				continue // a later value of the same key wins, as in a map
			}
			if seen > 0 {
				b = append(b, ',')
			}
			seen++
			b = jsontext.AppendString(b, string(kv.Key))
			b = append(b, ':')
			b = jsontext.AppendString(b, cut(kv.Value.Emit()))
		}
		b = append(b, '}')
	}
	if s.node != "" {
		b = append(b, `,"node":`...)
		b = jsontext.AppendString(b, s.node)
	}
	return append(b, '}', '\n')
}

func appendHex(b []byte, v []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range v {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}

// record turns an ended span into its stored form.
func (s *store) record(sp sdktrace.ReadOnlySpan) Span {
	r := Span{
		TraceID:       sp.SpanContext().TraceID().String(),
		SpanID:        sp.SpanContext().SpanID().String(),
		Name:          cut(sp.Name()),
		Kind:          kindName(sp.SpanKind()),
		Start:         sp.StartTime(),
		Duration:      sp.EndTime().Sub(sp.StartTime()),
		Status:        statusName(sp.Status().Code),
		StatusMessage: cut(sp.Status().Description),
		Node:          s.node,
	}
	if p := sp.Parent(); p.IsValid() {
		r.ParentID = p.SpanID().String()
	}
	if attrs := sp.Attributes(); len(attrs) > 0 {
		r.Attributes = make(map[string]string, len(attrs))
		for _, kv := range attrs {
			r.Attributes[string(kv.Key)] = cut(kv.Value.Emit())
		}
	}
	return r
}

func cut(s string) string {
	if len(s) <= maxValue {
		return s
	}
	return strings.ToValidUTF8(s[:maxValue], "") + "…"
}

func kindName(k oteltrace.SpanKind) string {
	switch k {
	case oteltrace.SpanKindServer:
		return "server"
	case oteltrace.SpanKindClient:
		return "client"
	case oteltrace.SpanKindProducer:
		return "producer"
	case oteltrace.SpanKindConsumer:
		return "consumer"
	}
	return "internal"
}

func statusName(c codes.Code) string {
	switch c {
	case codes.Ok:
		return "ok"
	case codes.Error:
		return "error"
	}
	return "unset"
}

// Trace returns the stored spans of one trace ordered by start time, from
// every node sharing the span stream. Spans reach the store within
// FlushInterval of ending (Flush forces this node's); a trace with no stored
// span is ErrNotFound.
func (t *Tracer) Trace(ctx context.Context, traceID string) ([]Span, error) {
	id, err := normalizeTraceID(traceID)
	if err != nil {
		return nil, err
	}
	spans, err := t.store.read(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read trace %s: %w", id, err)
	}
	return spans, nil
}

// normalizeTraceID accepts 32 hex digits in either case and returns them in
// lowercase, the form of the store's subjects.
func normalizeTraceID(s string) (string, error) {
	var tid oteltrace.TraceID
	low := strings.ToLower(s)
	if !decodeHex(tid[:], low) || !tid.IsValid() {
		return "", fmt.Errorf("trace id %q: %w", s, ErrInvalidTraceID)
	}
	return low, nil
}

func (s *store) read(ctx context.Context, traceID string) ([]Span, error) {
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: readSubjects(traceID),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	remaining := info.NumPending
	if remaining == 0 {
		return nil, ErrNotFound
	}
	var spans []Span
	for remaining > 0 && len(spans) < maxSpans {
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
				break // messages aged out while reading
			}
			return nil, err
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, err
		}
		remaining = md.NumPending
		for _, line := range bytes.Split(msg.Data(), []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			var sp Span
			if json.Unmarshal(line, &sp) != nil || sp.TraceID != traceID {
				continue // not a span of this trace; keep the rest readable
			}
			spans = append(spans, sp)
		}
	}
	if len(spans) == 0 {
		return nil, ErrNotFound
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].Start.Before(spans[j].Start) })
	return spans, nil
}
