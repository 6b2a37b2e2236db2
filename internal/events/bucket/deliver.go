package bucket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	s      *Service
	key    string                       // its KV key
	note   atomic.Pointer[Notification] // replaced when the notification changes
	cancel context.CancelFunc           // stops fetching
	fails  failures
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
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return fmt.Errorf("start bucket events: %w", ErrClosed)
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
		return fmt.Errorf("start bucket events: %w", err)
	}
	// The watcher lives as long as fetching does, not as long as ctx.
	w, err := kv.Watch(s.fetch, notePrefix+">")
	if err != nil {
		return fail(err)
	}
	for initial := true; initial; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return fail(errors.New("notification watch closed"))
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
	if s.state != stateStarted { // shut down meanwhile
		_ = w.Stop()
		return fmt.Errorf("start bucket events: %w", ErrClosed)
	}
	s.wg.Add(1)
	go s.watch(w)
	return nil
}

// watch follows notification changes until fetching stops.
func (s *Service) watch(w jetstream.KeyWatcher) {
	defer s.wg.Done()
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if s.fetch.Err() == nil {
					s.cfg.Logger.Error("bucket events: notification watch ended; changes are no longer followed")
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
		r.cancel()
		delete(s.runners, e.Key())
	case n != nil && r != nil:
		r.note.Store(n)
	case n != nil && s.state == stateStarted:
		ctx, cancel := context.WithCancel(s.fetch)
		r = &runner{s: s, key: e.Key(), cancel: cancel}
		r.note.Store(n)
		s.runners[e.Key()] = r
		s.wg.Add(1)
		go r.run(ctx)
	}
}

// Shutdown stops taking events, lets deliveries in flight finish until ctx
// ends (then cancels them), and waits for every goroutine. Events not
// acknowledged are delivered later, by this node or another. Calling it
// again returns the first call's result.
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
		return fmt.Errorf("shutdown bucket events: %w", ctx.Err())
	}
}

// run fetches the notification's events until ctx ends, then waits for its
// deliveries in flight.
func (r *runner) run(ctx context.Context) {
	defer r.s.wg.Done()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	sem := make(chan struct{}, maxInFlight)
	for failed := 1; ; failed++ {
		err := r.consume(ctx, sem, &inflight)
		if ctx.Err() != nil {
			return
		}
		// The consumer can be missing for a moment (the notification is
		// being removed, or the stream restored): try again, slower.
		n := r.note.Load()
		r.s.cfg.Logger.Warn("bucket events: fetching stopped; retrying", "bucket", n.Bucket, "notification", n.ID, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(failed)*time.Second, 30*time.Second)):
		}
	}
}

// consume delivers events from the durable consumer, at most maxInFlight
// at once, until ctx ends or fetching fails.
func (r *runner) consume(ctx context.Context, sem chan struct{}, inflight *sync.WaitGroup) error {
	n := r.note.Load()
	cons, err := r.s.js.Consumer(ctx, StreamName, consumerName(n.Bucket, n.ID))
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
			release(it)
			return nil
		}
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				release(it)
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

// release hands back the events this node fetched but did not start, so
// that another node takes them now rather than after the ack wait.
func release(it jetstream.MessagesContext) {
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
// or when the notification does not take the event, a delayed nak to
// retry, or the dead-letter queue once the attempts are used up.
func (r *runner) handle(ctx context.Context, msg jetstream.Msg) {
	n := r.note.Load()
	log := r.s.cfg.Logger.With("bucket", n.Bucket, "notification", n.ID)
	attempt, seq := 1, uint64(0)
	if md, err := msg.Metadata(); err == nil {
		attempt, seq = int(md.NumDelivered), md.Sequence.Stream
	}
	traceparent := msg.Headers().Get(headerTraceParent)
	body, skip, err := r.s.event(n, msg)
	if err != nil {
		// It can never be delivered: keep it as it is, for a person.
		r.deadLetter(ctx, log, msg, string(msg.Data()), failure{reason: err.Error(), count: attempt}, attempt)
		return
	}
	if skip {
		settle(log, msg.Ack())
		return
	}
	limit := r.s.cfg.MaxAttempts
	f, known := r.fails.get(seq)
	if attempt <= limit {
		err := r.s.deliverOnce(ctx, n, body, traceparent)
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
		if attempt < limit {
			r.fails.remember(seq, f)
			delay := r.s.backoff(attempt)
			log.Warn("bucket events: delivery failed; will retry", "attempt", attempt, "retry_in", delay, "err", err)
			settle(log, msg.NakWithDelay(delay))
			return
		}
	} else if !known {
		f = failure{reason: fmt.Sprintf("not delivered in %d attempts", limit), count: limit}
	}
	r.deadLetter(ctx, log, msg, string(body), f, attempt)
}

// deadLetter moves msg, as body, to the bucket's dead-letter queue and
// acknowledges it; when the queue fails, the event is kept and tried again.
func (r *runner) deadLetter(ctx context.Context, log *slog.Logger, msg jetstream.Msg, body string, f failure, attempt int) {
	n := r.note.Load()
	seq := uint64(0)
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	dlq := DeadLetterQueue(n.Bucket)
	info := deadletter.Info{Source: DeadLetterSource(n.Bucket, n.ID), Reason: f.reason, Count: f.count, At: r.s.cfg.Now().UTC()}
	dctx, cancel := context.WithTimeout(ctx, r.s.cfg.AttemptTimeout)
	err := r.s.cfg.Deliverer.DeadLetter(dctx, dlq, body, info)
	cancel()
	if err != nil {
		r.fails.remember(seq, f)
		log.Error("bucket events: dead-letter failed; will retry", "dlq", dlq, "err", err)
		if ctx.Err() != nil {
			settle(log, msg.Nak())
			return
		}
		settle(log, msg.NakWithDelay(r.s.backoff(attempt)))
		return
	}
	r.fails.forget(seq)
	log.Warn("bucket events: event dead-lettered", "dlq", dlq, "attempts", f.count, "reason", f.reason)
	settle(log, msg.Ack())
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

func settle(log *slog.Logger, err error) {
	if err != nil {
		log.Warn("bucket events: ack failed; the event will come again", "err", err)
	}
}

// deliverOnce makes one attempt to hand an event to n's target.
func (s *Service) deliverOnce(ctx context.Context, n *Notification, body []byte, traceparent string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
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

// backoff is the delay after the given failed attempt (1-based).
func (s *Service) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// failure is the last failed attempt of an event, kept so that an event
// whose dead-lettering must be retried still carries its reason.
type failure struct {
	reason string
	count  int
}

// failures is bounded by the consumer's MaxAckPending; a node that only
// sees some attempts of an event falls back to a generic reason.
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
