package bucket

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/events/consumer"
	"github.com/gureum/gureum/internal/events/deadletter"
)

// Deliverer hands events to their targets. The node implements it (with
// the asynchronous invoker, the queues and the topics), so this package
// imports none of them. event and body are the S3 event JSON.
type Deliverer interface {
	// Function submits an asynchronous invocation of function (NAME or
	// NAME:QUALIFIER); nil means accepted. Its retries and dead letters
	// are the asynchronous path's.
	Function(ctx context.Context, function string, event []byte, traceparent string) error
	// Queue sends body to a queue.
	Queue(ctx context.Context, queue, body, traceparent string) error
	// Topic publishes message to a topic.
	Topic(ctx context.Context, topic, message, traceparent string) error
	// DeadLetter keeps an event that could not be delivered in the queue
	// dlq, which is DeadLetterQueue(bucket); the node creates it when
	// missing. info.Source is DeadLetterSource(bucket, id).
	DeadLetter(ctx context.Context, dlq, body string, info deadletter.Info) error
}

// SourcePrefix starts the Name of a bucket notification's dead-letter
// source (see DeadLetterSource). No topic name holds a ':', so these
// sources never name a topic subscription.
const SourcePrefix = "bucket:"

// DeadLetterSource is the dead-letter source of notification id on bucket:
// a subscription-kind source whose Name is SourcePrefix+bucket, written
// "subscription:bucket:NAME/ID".
func DeadLetterSource(bucket, id string) deadletter.Source {
	return deadletter.Source{Kind: deadletter.KindSubscription, Name: SourcePrefix + bucket, Sub: id}
}

// ParseDeadLetterSource recognizes DeadLetterSource's form; a replay sends
// the dead letter to Redeliver(bucket, id, ...).
func ParseDeadLetterSource(src deadletter.Source) (bucket, id string, ok bool) {
	if src.Kind != deadletter.KindSubscription || src.Sub == "" {
		return "", "", false
	}
	bucket, ok = strings.CutPrefix(src.Name, SourcePrefix)
	if !ok || bucket == "" {
		return "", "", false
	}
	return bucket, src.Sub, true
}

// DeadLetterQueue is the automatic dead-letter queue of a bucket's
// notifications: "bucket-NAME-dlq", with every byte of NAME that a queue
// name cannot hold written as '-', and NAME cut to keep the queue name
// within 80 bytes.
func DeadLetterQueue(bucket string) string {
	const most = maxNameLen - len("bucket-") - len("-dlq")
	b := []byte(bucket[:min(len(bucket), most)])
	for i, c := range b {
		if !nameByte(c) {
			b[i] = '-'
		}
	}
	return "bucket-" + string(b) + "-dlq"
}

// runner delivers one notification's events on this node.
type runner struct {
	s    *Service
	key  string                       // its KV key
	note atomic.Pointer[Notification] // replaced when the notification changes
	c    *consumer.Runner
}

// Start begins delivery for every notification and follows changes made
// through any node until Shutdown. It returns once delivery runs for every
// notification that exists.
func (s *Service) Start(ctx context.Context) error {
	if s.cfg.Deliverer == nil {
		return fmt.Errorf("start bucket events: %w", invalidf("a deliverer is required"))
	}
	kv, err := s.kv(ctx)
	if err != nil {
		return fmt.Errorf("start bucket events: %w", err)
	}
	if err := s.group.Start(ctx, kv, notePrefix+">", s.apply); err != nil {
		if errors.Is(err, consumer.ErrClosed) {
			err = ErrClosed
		}
		return fmt.Errorf("start bucket events: %w", err)
	}
	return nil
}

// apply starts, updates or stops the runner of one notification record.
func (s *Service) apply(e jetstream.KeyValueEntry) {
	var n *Notification
	if e.Operation() == jetstream.KeyValuePut {
		var err error
		if n, err = decodeNotification(e.Key(), e.Value()); err != nil {
			s.cfg.Logger.Error("bucket events: unreadable notification", "key", e.Key(), "err", err)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runners[e.Key()]
	switch {
	case n == nil && r != nil:
		r.c.Stop()
		delete(s.runners, e.Key())
	case n != nil && r != nil:
		r.note.Store(n)
	case n != nil:
		// The key holds the bucket and the id, so they never change.
		r = &runner{s: s, key: e.Key()}
		r.note.Store(n)
		r.c = s.group.Run(consumer.Spec{
			Stream:   StreamName,
			Consumer: consumerName(n.Bucket, n.ID),
			Prepare:  r.prepare,
			Logger:   s.cfg.Logger.With("bucket", n.Bucket, "notification", n.ID),
		})
		if r.c != nil { // nil once shut down
			s.runners[e.Key()] = r
		}
	}
}

// Shutdown stops taking events, lets deliveries in flight finish until ctx
// ends (then cancels them), and waits for every goroutine. Events not
// acknowledged are delivered later, by this node or another. Calling it
// again returns the first call's result.
func (s *Service) Shutdown(ctx context.Context) error {
	if err := s.group.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown bucket events: %w", err)
	}
	return nil
}

// prepare says how msg reaches the notification's target: acknowledged at
// once when the notification does not take the event, dead-lettered as it
// is when it can never be delivered, else attempts at the target and,
// once they are used up, the bucket's dead-letter queue.
func (r *runner) prepare(msg jetstream.Msg) consumer.Delivery {
	n := r.note.Load()
	traceparent := msg.Headers().Get(headerTraceParent)
	dlq := DeadLetterQueue(n.Bucket)
	body, skip, err := r.s.event(n, msg)
	if err != nil {
		// It can never be delivered: keep it as it is, for a person.
		body = msg.Data()
	}
	return consumer.Delivery{
		Reject:      err,
		Skip:        skip,
		MaxAttempts: r.s.cfg.MaxAttempts,
		Deliver:     func(ctx context.Context) error { return r.s.deliverOnce(ctx, n, body, traceparent) },
		DLQ:         dlq,
		DeadLetter: func(ctx context.Context, f consumer.Failure) error {
			info := deadletter.Info{Source: DeadLetterSource(n.Bucket, n.ID), Reason: f.Reason, Count: f.Count, At: r.s.cfg.Now().UTC()}
			return r.s.cfg.Deliverer.DeadLetter(ctx, dlq, string(body), info)
		},
	}
}

// event is the S3 event JSON n delivers for msg; skip reports an event n
// does not take. A replay is delivered as it is.
func (s *Service) event(n *Notification, msg jetstream.Msg) (body []byte, skip bool, err error) {
	if msg.Headers().Get(headerReplay) != "" {
		return msg.Data(), false, nil
	}
	ev, err := decodeEvent(msg.Data(), msg.Headers().Get(headerTraceParent))
	if err != nil {
		return nil, false, err
	}
	if ev.Bucket != n.Bucket || !n.Matches(ev.Name, ev.Key) {
		return nil, true, nil
	}
	return eventJSON(Record(s.cfg.Region, *n, ev)), false, nil
}

// deliverOnce makes one attempt to hand an event to n's target; ctx
// carries the attempt timeout.
func (s *Service) deliverOnce(ctx context.Context, n *Notification, body []byte, traceparent string) error {
	kind, name, err := ParseTarget(n.Target)
	if err != nil {
		return err
	}
	d := s.cfg.Deliverer
	switch kind {
	case TargetFunction:
		err = d.Function(ctx, name, body, traceparent)
	case TargetQueue:
		err = d.Queue(ctx, name, string(body), traceparent)
	case TargetTopic:
		err = d.Topic(ctx, name, string(body), traceparent)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", n.Target, err)
	}
	return nil
}
