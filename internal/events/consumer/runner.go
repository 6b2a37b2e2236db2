package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Spec is one Runner: the durable pull consumer it reads and what its
// messages become.
type Spec struct {
	// Stream and Consumer name the durable pull consumer. While it is
	// missing the runner tries again, slower and slower.
	Stream, Consumer string
	// Prepare says what one delivery of msg is; it is called once per
	// delivery, from several goroutines at once.
	Prepare func(msg jetstream.Msg) Delivery
	// Logger carries the attributes that name what the runner delivers;
	// nil is the Group's.
	Logger *slog.Logger
}

// Delivery is what a runner does with one delivery of a message.
type Delivery struct {
	// Reject, when not nil, is why the message can never be delivered: it
	// goes to the dead-letter queue at once with this reason.
	Reject error
	// Skip acknowledges the message without delivering it (a filter does
	// not take it).
	Skip bool
	// MaxAttempts bounds the attempts before the message is dead-lettered.
	MaxAttempts int
	// Attrs name the message in the log lines about its delivery.
	Attrs []any
	// Deliver makes one attempt; ctx carries the attempt timeout and ends
	// early when Shutdown cancels deliveries.
	Deliver func(ctx context.Context) error
	// DLQ names the dead-letter queue (in log lines); DeadLetter keeps the
	// message there, f being its last failure. nil means accepted.
	DLQ        string
	DeadLetter func(ctx context.Context, f Failure) error
}

// Failure is the last failed attempt of a message.
type Failure struct {
	Reason string // the error of that attempt
	Count  int    // the attempts made
}

// Runner delivers the messages of one durable pull consumer on this node.
// Group.Run starts it.
type Runner struct {
	g      *Group
	spec   Spec
	cancel context.CancelFunc // stops fetching
	fails  failures
}

// Stop stops fetching; deliveries in flight finish (or are cancelled by
// the Group's Shutdown). Messages fetched but not started are handed back
// at once.
func (r *Runner) Stop() { r.cancel() }

// run fetches until ctx ends, then waits for the deliveries in flight.
func (r *Runner) run(ctx context.Context) {
	defer r.g.wg.Done()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	sem := make(chan struct{}, r.g.cfg.MaxInFlight)
	for failed := 1; ; failed++ {
		err := r.consume(ctx, sem, &inflight)
		if ctx.Err() != nil {
			return
		}
		// The consumer can be missing for a moment (its record is being
		// removed, or the stream restored): try again, slower.
		r.spec.Logger.Warn(r.g.cfg.Name+": fetching stopped; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(failed)*time.Second, 30*time.Second)):
		}
	}
}

// consume delivers messages from the consumer, at most MaxInFlight at
// once, until ctx ends or fetching fails.
func (r *Runner) consume(ctx context.Context, sem chan struct{}, inflight *sync.WaitGroup) error {
	cons, err := r.g.cfg.JetStream.Consumer(ctx, r.spec.Stream, r.spec.Consumer)
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(cap(sem)))
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
			r.handle(r.g.deliver, msg)
		}()
	}
}

// release hands back the messages this node fetched but did not start, so
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

// handle makes one delivery of msg and settles it: an ack on success or a
// skip, a delayed nak to retry, or the dead-letter queue once the attempts
// are used up (or at once for a reject).
func (r *Runner) handle(ctx context.Context, msg jetstream.Msg) {
	d := r.spec.Prepare(msg)
	attempt, seq := position(msg)
	if d.Reject != nil {
		r.deadLetter(ctx, msg, d, Failure{Reason: d.Reject.Error(), Count: attempt})
		return
	}
	if d.Skip {
		r.settle(msg.Ack())
		return
	}
	f, known := r.fails.get(seq)
	if attempt <= d.MaxAttempts {
		actx, cancel := context.WithTimeout(ctx, r.g.cfg.AttemptTimeout)
		err := d.Deliver(actx)
		cancel()
		if err == nil {
			r.fails.forget(seq)
			r.settle(msg.Ack())
			return
		}
		if ctx.Err() != nil { // shutting down: another node takes it
			r.settle(msg.Nak())
			return
		}
		f = Failure{Reason: err.Error(), Count: attempt}
		if attempt < d.MaxAttempts {
			r.fails.remember(seq, f)
			delay := r.backoff(attempt)
			r.spec.Logger.With(d.Attrs...).Warn(r.g.cfg.Name+": delivery failed; will retry", "attempt", attempt, "retry_in", delay, "err", err)
			r.settle(msg.NakWithDelay(delay))
			return
		}
	} else if !known {
		f = Failure{Reason: fmt.Sprintf("not delivered in %d attempts", d.MaxAttempts), Count: d.MaxAttempts}
	}
	r.deadLetter(ctx, msg, d, f)
}

// deadLetter hands msg to its dead-letter queue and acknowledges it; when
// the queue fails, the message is kept and tried again after the backoff.
func (r *Runner) deadLetter(ctx context.Context, msg jetstream.Msg, d Delivery, f Failure) {
	attempt, seq := position(msg)
	log := r.spec.Logger.With(d.Attrs...)
	dctx, cancel := context.WithTimeout(ctx, r.g.cfg.AttemptTimeout)
	err := d.DeadLetter(dctx, f)
	cancel()
	if err != nil {
		// Never drop: keep the message and try the dead-letter queue again.
		r.fails.remember(seq, f)
		log.Error(r.g.cfg.Name+": dead-letter failed; will retry", "dlq", d.DLQ, "err", err)
		if ctx.Err() != nil && r.g.cfg.NakAbortedDeadLetter {
			r.settle(msg.Nak())
			return
		}
		r.settle(msg.NakWithDelay(r.backoff(attempt)))
		return
	}
	r.fails.forget(seq)
	log.Warn(r.g.cfg.Name+": "+r.g.cfg.Item+" dead-lettered", "dlq", d.DLQ, "attempts", f.Count, "reason", f.Reason)
	r.settle(msg.Ack())
}

// settle logs a failed ack or nak: the message comes again.
func (r *Runner) settle(err error) {
	if err != nil {
		r.spec.Logger.Warn(r.g.cfg.Name+": ack failed; the "+r.g.cfg.Item+" will come again", "err", err)
	}
}

func (r *Runner) backoff(attempt int) time.Duration {
	return Backoff(r.g.cfg.RetryBase, r.g.cfg.RetryMax, attempt)
}

// position is msg's delivery count (1 for the first delivery) and stream
// sequence; 1 and 0 when its metadata cannot be read.
func position(msg jetstream.Msg) (attempt int, seq uint64) {
	attempt, seq = 1, 0
	if md, err := msg.Metadata(); err == nil {
		attempt, seq = int(md.NumDelivered), md.Sequence.Stream
	}
	return attempt, seq
}

// failures remembers the last failure of the messages being retried, by
// stream sequence, so that a message whose dead-lettering must be retried
// still carries its reason. It is bounded by limit: past it, everything is
// forgotten, and a node that only sees some attempts of a message falls
// back to a generic reason.
type failures struct {
	limit int
	mu    sync.Mutex
	m     map[uint64]Failure
}

func (f *failures) get(seq uint64) (Failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[seq]
	return v, ok
}

func (f *failures) remember(seq uint64, v Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= f.limit {
		f.m = map[uint64]Failure{}
	}
	f.m[seq] = v
}

func (f *failures) forget(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, seq)
}
