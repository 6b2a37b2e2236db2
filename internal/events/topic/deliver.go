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
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/events/consumer"
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
	c         *consumer.Runner
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
	if err := s.group.Start(ctx, s.kv, subPrefix+">", s.apply); err != nil {
		if errors.Is(err, consumer.ErrClosed) {
			err = ErrClosed
		}
		return fmt.Errorf("start topics: %w", err)
	}
	return nil
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
		r.c.Stop()
		delete(s.runners, rk)
	case st != nil && r != nil:
		r.state.Store(st)
	case st != nil:
		r = &runner{s: s, topic: topic, id: id}
		r.state.Store(st)
		r.c = s.group.Run(consumer.Spec{
			Stream:   streamName(topic),
			Consumer: consumerName(id),
			Prepare:  r.prepare,
			Logger:   s.cfg.Logger.With("topic", topic, "subscription", id),
		})
		if r.c != nil { // nil once shut down
			s.runners[rk] = r
		}
	}
}

// Shutdown stops taking messages, lets deliveries in flight finish until
// ctx ends (then cancels them), and waits for every goroutine. Messages not
// acknowledged are delivered again later, by this node or another. Calling
// it again returns the first call's result.
func (s *Service) Shutdown(ctx context.Context) error {
	if err := s.group.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown topics: %w", err)
	}
	return nil
}

// prepare says how msg reaches the subscription: acknowledged at once
// when the filter policy does not match, else attempts at the endpoint
// and, once they are used up, the dead-letter queue.
func (r *runner) prepare(msg jetstream.Msg) consumer.Delivery {
	st := r.state.Load()
	sub := &st.sub
	m := decodeMessage(r.topic, msg.Headers(), msg.Data())
	// A message sent to this subscription alone (a replay) skips the filter.
	if msg.Subject() == topicSubject(r.topic) && !st.policy.MatchMessage(m) {
		return consumer.Delivery{Skip: true}
	}
	src := deadletter.Source{Kind: deadletter.KindSubscription, Name: r.topic, Sub: r.id}
	dlq := sub.DLQ
	if dlq == "" {
		dlq = deadletter.AutoQueue(src)
	}
	return consumer.Delivery{
		MaxAttempts: sub.MaxAttempts,
		Attrs:       []any{"message", m.MessageID},
		Deliver:     func(ctx context.Context) error { return r.s.deliverOnce(ctx, sub, m) },
		DLQ:         dlq,
		DeadLetter: func(ctx context.Context, f consumer.Failure) error {
			info := deadletter.Info{Source: src, Reason: f.Reason, Count: f.Count, At: time.Now().UTC()}
			return r.s.cfg.Deliverer.DeadLetter(ctx, dlq, m, info)
		},
	}
}

// deliverOnce makes one attempt to hand m to sub's endpoint; ctx carries
// the attempt timeout.
func (s *Service) deliverOnce(ctx context.Context, sub *Subscription, m Message) error {
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
