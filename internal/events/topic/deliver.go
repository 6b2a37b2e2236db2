package topic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/events/deadletter"
)

// Deliverer hands messages to the targets this package does not reach by
// itself. The node implements it (with the invoker and the queues), so this
// package imports neither.
type Deliverer interface {
	// Function hands an SNS event (events.SNSEvent JSON, one record) to a
	// function; the node does this as a durable asynchronous invocation, so
	// nil means accepted.
	Function(ctx context.Context, function string, event []byte, traceparent string) error
	// Queue sends body to a queue; attrs are the message attributes when
	// the subscription uses raw delivery, else nil.
	Queue(ctx context.Context, queue, body string, attrs map[string]Attribute, traceparent string) error
	// DeadLetter keeps a message that could not be delivered: dlq is the
	// subscription's dead-letter queue or deadletter.AutoQueue(src) when it
	// has none; body/attrs are the message as published so that a replay
	// can Redeliver it.
	DeadLetter(ctx context.Context, dlq string, msg Message, info deadletter.Info) error
}

// maxInFlight bounds the deliveries one node makes at once for one
// subscription.
const maxInFlight = 16

// runner delivers one subscription's messages on this node.
type runner struct {
	s         *Service
	topic, id string
	state     atomic.Pointer[subState] // replaced when the subscription changes
	cancel    context.CancelFunc       // stops fetching
	fails     failures
}

// subState is a subscription with its parsed filter policy.
type subState struct {
	sub    Subscription
	policy *FilterPolicy
}

// Start begins delivery for every subscription and follows subscription
// changes made through any node until Shutdown. It returns once delivery
// runs for every subscription that exists.
func (s *Service) Start(ctx context.Context) error {
	if s.cfg.Deliverer == nil {
		return fmt.Errorf("start topics: %w", invalidf("a deliverer is required"))
	}
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return fmt.Errorf("start topics: %w", ErrClosed)
	}
	s.state = stateStarted
	s.fetch, s.stop = context.WithCancel(context.Background())
	s.deliver, s.abort = context.WithCancel(context.Background())
	s.mu.Unlock()

	fail := func(err error) error {
		s.mu.Lock()
		s.state = stateClosed
		s.mu.Unlock()
		s.stop()
		s.abort()
		s.wg.Wait()
		return fmt.Errorf("start topics: %w", err)
	}
	// The watcher lives as long as fetching does, not as long as ctx.
	w, err := s.kv.Watch(s.fetch, subPrefix+">")
	if err != nil {
		return fail(err)
	}
	for initial := true; initial; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return fail(errors.New("subscription watch closed"))
			}
			if e == nil {
				initial = false
				break
			}
			s.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return fail(ctx.Err())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateStarted {
		_ = w.Stop()
		return fmt.Errorf("start topics: %w", ErrClosed)
	}
	s.wg.Add(1)
	go s.watch(w)
	return nil
}

// watch follows subscription changes until fetching stops.
func (s *Service) watch(w jetstream.KeyWatcher) {
	defer s.wg.Done()
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if s.fetch.Err() == nil {
					s.cfg.Logger.Error("topics: subscription watch ended; changes are no longer followed")
				}
				return
			}
			if e != nil {
				s.apply(e)
			}
		case <-s.fetch.Done():
			return
		}
	}
}

// apply starts, updates or stops the runner of one subscription record.
func (s *Service) apply(e jetstream.KeyValueEntry) {
	topic, id, ok := strings.Cut(strings.TrimPrefix(e.Key(), subPrefix), ".")
	if !ok {
		return
	}
	rk := topic + "/" + id
	var st *subState
	if e.Operation() == jetstream.KeyValuePut {
		sub, err := s.decodeSub(e.Key(), e.Value())
		if err != nil {
			s.cfg.Logger.Error("topics: unreadable subscription", "key", e.Key(), "err", err)
			return
		}
		st = &subState{sub: *sub}
		if len(sub.FilterPolicy) > 0 {
			// Subscribe validated it; a policy that no longer parses
			// lets everything through rather than lose messages.
			p, err := ParseFilterPolicyScope(sub.FilterPolicy, sub.FilterScope)
			if err != nil {
				s.cfg.Logger.Error("topics: filter policy ignored", "topic", topic, "subscription", id, "err", err)
			}
			st.policy = p
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runners[rk]
	switch {
	case st == nil && r != nil:
		r.cancel()
		delete(s.runners, rk)
	case st != nil && r != nil:
		r.state.Store(st)
	case st != nil && s.state == stateStarted:
		ctx, cancel := context.WithCancel(s.fetch)
		r = &runner{s: s, topic: topic, id: id, cancel: cancel}
		r.state.Store(st)
		s.runners[rk] = r
		s.wg.Add(1)
		go r.run(ctx)
	}
}

// Shutdown stops taking messages, lets deliveries in flight finish until
// ctx ends (then cancels them), and waits for every goroutine. Messages not
// acknowledged are delivered again later, by this node or another. Calling
// it again returns the first call's result.
func (s *Service) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Service) shutdown(ctx context.Context) error {
	s.mu.Lock()
	was := s.state
	s.state = stateClosed
	s.mu.Unlock()
	if was != stateStarted {
		return nil
	}
	s.stop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.abort()
		return nil
	case <-ctx.Done():
		s.abort()
		<-done
		return fmt.Errorf("shutdown topics: %w", ctx.Err())
	}
}

// run fetches the subscription's messages until ctx ends, then waits for
// its deliveries in flight.
func (r *runner) run(ctx context.Context) {
	defer r.s.wg.Done()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	sem := make(chan struct{}, maxInFlight)
	for failed := 0; ; failed++ {
		err := r.consume(ctx, sem, &inflight)
		if ctx.Err() != nil {
			return
		}
		// The consumer can be missing for a moment (the subscription is
		// being removed, or the stream restored): try again, slower.
		r.s.cfg.Logger.Warn("topics: fetching stopped; retrying", "topic", r.topic, "subscription", r.id, "err", err)
		wait := min(time.Duration(failed+1)*time.Second, 30*time.Second)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// consume delivers messages from the durable consumer, at most maxInFlight
// at once, until ctx ends or fetching fails.
func (r *runner) consume(ctx context.Context, sem chan struct{}, inflight *sync.WaitGroup) error {
	cons, err := r.s.js.Consumer(ctx, streamName(r.topic), consumerName(r.id))
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(maxInFlight))
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			r.release(it)
			return nil
		}
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				r.release(it)
				return nil
			}
			return err
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-sem }()
			r.handle(r.s.deliver, msg)
		}()
	}
}

// release hands back the messages this node fetched but did not start, so
// another node takes them now rather than after the ack wait.
func (r *runner) release(it jetstream.MessagesContext) {
	it.Drain()
	for {
		msg, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			return
		}
		_ = msg.Nak()
	}
}

// handle makes one delivery attempt of msg and settles it: ack on success
// or when the filter policy does not match, a delayed nak to retry, or the
// dead-letter queue once the attempts are used up.
func (r *runner) handle(ctx context.Context, msg jetstream.Msg) {
	st := r.state.Load()
	sub := &st.sub
	log := r.s.cfg.Logger.With("topic", r.topic, "subscription", r.id)
	m := decodeMessage(r.topic, msg.Headers(), msg.Data())
	attempt, seq := 1, uint64(0)
	if md, err := msg.Metadata(); err == nil {
		attempt, seq = int(md.NumDelivered), md.Sequence.Stream
	}
	// A message sent to this subscription alone (a replay) skips the filter.
	if msg.Subject() == topicSubject(r.topic) && !st.policy.MatchMessage(m) {
		settle(log, msg.Ack())
		return
	}
	f, known := r.fails.get(seq)
	if attempt <= sub.MaxAttempts {
		err := r.s.deliverOnce(ctx, sub, m)
		if err == nil {
			r.fails.forget(seq)
			settle(log, msg.Ack())
			return
		}
		if ctx.Err() != nil { // shutting down: another node takes it
			settle(log, msg.Nak())
			return
		}
		f = failure{reason: err.Error(), count: attempt}
		if attempt < sub.MaxAttempts {
			r.fails.remember(seq, f)
			delay := r.s.backoff(attempt)
			log.Warn("topics: delivery failed; will retry", "message", m.MessageID, "attempt", attempt, "retry_in", delay, "err", err)
			settle(log, msg.NakWithDelay(delay))
			return
		}
	} else if !known {
		f = failure{reason: fmt.Sprintf("not delivered in %d attempts", sub.MaxAttempts), count: sub.MaxAttempts}
	}
	src := deadletter.Source{Kind: deadletter.KindSubscription, Name: r.topic, Sub: r.id}
	dlq := sub.DLQ
	if dlq == "" {
		dlq = deadletter.AutoQueue(src)
	}
	info := deadletter.Info{Source: src, Reason: f.reason, Count: f.count, At: time.Now().UTC()}
	dctx, cancel := context.WithTimeout(ctx, r.s.cfg.AttemptTimeout)
	err := r.s.cfg.Deliverer.DeadLetter(dctx, dlq, m, info)
	cancel()
	if err != nil {
		// Never drop: keep the message and try the dead-letter queue again.
		r.fails.remember(seq, f)
		log.Error("topics: dead-letter failed; will retry", "message", m.MessageID, "dlq", dlq, "err", err)
		settle(log, msg.NakWithDelay(r.s.backoff(attempt)))
		return
	}
	r.fails.forget(seq)
	log.Warn("topics: message dead-lettered", "message", m.MessageID, "dlq", dlq, "attempts", f.count, "reason", f.reason)
	settle(log, msg.Ack())
}

func settle(log interface{ Warn(string, ...any) }, err error) {
	if err != nil {
		log.Warn("topics: ack failed; the message will come again", "err", err)
	}
}

// backoff is the delay after the given failed attempt (1-based).
func (s *Service) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// failure is the last failed attempt of a message, kept so that a message
// whose dead-lettering must be retried still carries its reason.
type failure struct {
	reason string
	count  int
}

// failures is bounded by the consumer's MaxAckPending; a node that only
// sees some attempts of a message falls back to a generic reason.
type failures struct {
	mu sync.Mutex
	m  map[uint64]failure // by stream sequence
}

func (f *failures) get(seq uint64) (failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[seq]
	return v, ok
}

func (f *failures) remember(seq uint64, v failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= 4*maxAckPending {
		f.m = map[uint64]failure{}
	}
	f.m[seq] = v
}

func (f *failures) forget(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, seq)
}

// deliverOnce makes one attempt to hand m to sub's endpoint.
func (s *Service) deliverOnce(ctx context.Context, sub *Subscription, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	switch sub.Protocol {
	case ProtocolFunction:
		if err := s.cfg.Deliverer.Function(ctx, sub.Endpoint, s.functionEvent(sub, m), m.TraceParent); err != nil {
			return fmt.Errorf("function %s: %w", sub.Endpoint, err)
		}
	case ProtocolQueue:
		var err error
		if sub.RawDelivery {
			err = s.cfg.Deliverer.Queue(ctx, sub.Endpoint, m.Body, m.Attributes, m.TraceParent)
		} else {
			err = s.cfg.Deliverer.Queue(ctx, sub.Endpoint, string(s.notification(sub, m)), nil, m.TraceParent)
		}
		if err != nil {
			return fmt.Errorf("queue %s: %w", sub.Endpoint, err)
		}
	case ProtocolHTTP, ProtocolHTTPS:
		return s.post(ctx, sub, m)
	default:
		return fmt.Errorf("protocol %q: %w", sub.Protocol, ErrInvalid)
	}
	return nil
}

// post delivers m to an http or https endpoint. There is no
// subscription-confirmation handshake: SNS uses it to prove that an
// endpoint's owner wants the messages, but here subscriptions are made
// with the admin token (or a deploy), by someone already trusted to send
// the node's traffic anywhere.
func (s *Service) post(ctx context.Context, sub *Subscription, m Message) error {
	body := []byte(m.Body)
	if !sub.RawDelivery {
		body = s.notification(sub, m)
	}
	where := redact(sub.Endpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", where, err)
	}
	h := req.Header
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("User-Agent", "gureum-topics/1")
	h.Set("x-amz-sns-message-type", "Notification")
	h.Set("x-amz-sns-message-id", m.MessageID)
	h.Set("x-amz-sns-topic-arn", s.TopicARN(m.Topic))
	h.Set("x-amz-sns-subscription-arn", s.SubscriptionARN(sub.Topic, sub.ID))
	if sub.RawDelivery {
		h.Set("x-amz-sns-rawdelivery", "true")
	}
	if m.TraceParent != "" {
		h.Set("traceparent", m.TraceParent)
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is in our own message already
		}
		return fmt.Errorf("POST %s: %w", where, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: %s", where, resp.Status)
	}
	return nil
}

// redact keeps an endpoint's scheme, host and path: a query or user info
// may hold a secret, and the error text reaches logs and dead-letter
// headers.
func redact(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "endpoint"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// notification is the JSON SNS posts to HTTP endpoints and sends to queues.
type notification struct {
	Type              string                   `json:"Type"`
	MessageID         string                   `json:"MessageId"`
	TopicArn          string                   `json:"TopicArn"`
	Subject           string                   `json:"Subject,omitempty"`
	Message           string                   `json:"Message"`
	Timestamp         string                   `json:"Timestamp"`
	SignatureVersion  string                   `json:"SignatureVersion"`
	Signature         string                   `json:"Signature"`
	SigningCertURL    string                   `json:"SigningCertURL"`
	UnsubscribeURL    string                   `json:"UnsubscribeURL"`
	MessageAttributes map[string]attributeJSON `json:"MessageAttributes,omitempty"`
}

// attributeJSON is an attribute as SNS notifications show it; Binary
// values are base64.
type attributeJSON struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// Messages are not signed (Signature is empty): gureum holds no signing
// certificate, and receivers reach the node over a link they already trust.
func (s *Service) notification(sub *Subscription, m Message) []byte {
	n := notification{
		Type:             "Notification",
		MessageID:        m.MessageID,
		TopicArn:         s.TopicARN(m.Topic),
		Subject:          m.Subject,
		Message:          m.Body,
		Timestamp:        m.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"),
		SignatureVersion: "1",
	}
	if len(m.Attributes) > 0 {
		n.MessageAttributes = make(map[string]attributeJSON, len(m.Attributes))
		for name, a := range m.Attributes {
			n.MessageAttributes[name] = attributeJSON{Type: a.DataType, Value: attributeValue(a)}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(n) // plain strings: cannot fail
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// functionEvent is the events.SNSEvent a function receives.
func (s *Service) functionEvent(sub *Subscription, m Message) []byte {
	attrs := make(map[string]any, len(m.Attributes))
	for name, a := range m.Attributes {
		attrs[name] = attributeJSON{Type: a.DataType, Value: attributeValue(a)}
	}
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{
		EventVersion:         "1.0",
		EventSubscriptionArn: s.SubscriptionARN(sub.Topic, sub.ID),
		EventSource:          "aws:sns",
		SNS: events.SNSEntity{
			Type:              "Notification",
			MessageID:         m.MessageID,
			TopicArn:          s.TopicARN(m.Topic),
			Subject:           m.Subject,
			Message:           m.Body,
			Timestamp:         m.Timestamp.UTC(),
			SignatureVersion:  "1",
			MessageAttributes: attrs,
		},
	}}}
	return mustJSON(ev)
}

func attributeValue(a Attribute) string {
	if baseType(a.DataType) == "Binary" {
		return base64.StdEncoding.EncodeToString(a.BinaryValue)
	}
	return a.StringValue
}
