package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limits of trigger options (AWS's event source mapping ones).
const (
	MaxTriggerBatch       = 10_000
	MaxTriggerWindow      = 5 * time.Minute
	MinTriggerConcurrency = 2
	MaxTriggerConcurrency = 1000
)

// Trigger tuning not exposed as options.
const (
	// pollWait is how long one waiting pull request lasts before the
	// collector asks again.
	pollWait = 20 * time.Second
	// ackParallel bounds the deletions of one batch in flight at once.
	ackParallel = 8
	// retryMin and retryMax bound the pause after a failed fetch.
	retryMin, retryMax = 100 * time.Millisecond, 5 * time.Second
)

// TriggerOptions shape how a queue feeds a function.
type TriggerOptions struct {
	Batch       int           // 1..10000 messages per handler call; default 10
	Window      time.Duration // 0..5m: wait this long after the first message to fill a batch; 0 = what one fetch returns
	Concurrency int           // most handler calls in flight on this node: 2..1000; default 2
}

func (o *TriggerOptions) validate() error {
	if o.Batch == 0 {
		o.Batch = 10
	}
	if o.Concurrency == 0 {
		o.Concurrency = MinTriggerConcurrency
	}
	switch {
	case o.Batch < 1 || o.Batch > MaxTriggerBatch:
		return fmt.Errorf("batch %d: want 1 to 10000: %w", o.Batch, ErrInvalid)
	case o.Window < 0 || o.Window > MaxTriggerWindow:
		return fmt.Errorf("window %s: want 0s to 5m: %w", o.Window, ErrInvalid)
	case o.Concurrency < MinTriggerConcurrency || o.Concurrency > MaxTriggerConcurrency:
		return fmt.Errorf("concurrency %d: want 2 to 1000: %w", o.Concurrency, ErrInvalid)
	}
	return nil
}

// Handler processes a batch. A nil error deletes every message except
// those whose MessageID is in failedMessageIDs (partial batch failure); an
// error, or a failed id not in the batch, fails the whole batch. Failed
// messages come back after their visibility timeout, or go to the
// dead-letter queue once received MaxReceives times. The handler must
// return when ctx ends.
type Handler func(ctx context.Context, msgs []Message) (failedMessageIDs []string, err error)

// Trigger feeds a queue's messages to a Handler, as AWS's SQS poller feeds
// a Lambda function. Stop it with Stop (or Service.Shutdown).
type Trigger struct {
	s     *Service
	queue string
	opt   TriggerOptions
	h     Handler

	// ctx is the handlers' context, canceled when Stop's wait runs out.
	ctx    context.Context
	cancel context.CancelFunc
	// fetchCtx ends the collector; canceled by Stop.
	fetchCtx  context.Context
	stopFetch context.CancelFunc

	slots         chan struct{} // one per handler call in flight
	collectorDone chan struct{}
	batches       sync.WaitGroup

	stopOnce sync.Once
	stopErr  error
}

// Consume starts feeding a queue to h on this node. ctx is used to check
// the queue; the trigger runs until Stop, with ctx's values but not its
// cancellation. Several nodes (or Services) may consume one queue: every
// message goes to one batch at a time.
func (s *Service) Consume(ctx context.Context, queue string, opt TriggerOptions, h Handler) (*Trigger, error) {
	if h == nil {
		return nil, fmt.Errorf("consume %s: nil handler: %w", queue, ErrInvalid)
	}
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("consume %s: %w", queue, err)
	}
	if _, err := s.lookup(ctx, queue); err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	if _, err := s.queueHandles(ctx, queue); err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	base := context.WithoutCancel(ctx)
	t := &Trigger{s: s, queue: queue, opt: opt, h: h,
		slots: make(chan struct{}, opt.Concurrency), collectorDone: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(base)
	t.fetchCtx, t.stopFetch = context.WithCancel(base)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		t.cancel()
		t.stopFetch()
		return nil, ErrClosed
	}
	s.triggers[t] = struct{}{}
	s.mu.Unlock()
	go t.run()
	return t, nil
}

// Stop stops taking messages and waits for the batches in flight. When
// ctx ends first, their handlers' context is canceled, Stop waits for them
// to return and reports ctx's error; their messages are made visible again
// at once for other nodes. Calling Stop again returns the first result.
func (t *Trigger) Stop(ctx context.Context) error {
	t.stopOnce.Do(func() { t.stopErr = t.stop(ctx) })
	return t.stopErr
}

func (t *Trigger) stop(ctx context.Context) error {
	t.stopFetch()
	<-t.collectorDone
	done := make(chan struct{})
	go func() {
		t.batches.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		t.cancel()
		<-done
		err = fmt.Errorf("stop trigger on %s: batches in flight cut short: %w", t.queue, ctx.Err())
	}
	t.cancel()
	t.s.mu.Lock()
	delete(t.s.triggers, t)
	t.s.mu.Unlock()
	return err
}

// run collects batches and hands each to a handler goroutine, at most
// Concurrency at once.
func (t *Trigger) run() {
	defer close(t.collectorDone)
	pause := retryMin
	failing := false
	for {
		select {
		case t.slots <- struct{}{}:
		case <-t.fetchCtx.Done():
			return
		}
		d, ds, err := t.collect()
		if len(ds) > 0 {
			t.batches.Add(1)
			go func() {
				defer func() { <-t.slots }()
				defer t.batches.Done()
				t.handle(d, ds)
			}()
		} else {
			<-t.slots
		}
		if t.fetchCtx.Err() != nil {
			return
		}
		if err == nil {
			pause, failing = retryMin, false
			continue
		}
		if !failing {
			t.s.log.Warn("queue trigger cannot fetch; retrying", "queue", t.queue, "err", err)
			failing = true
		}
		select {
		case <-time.After(pause):
		case <-t.fetchCtx.Done():
			return
		}
		pause = min(2*pause, retryMax)
	}
}

// collect waits for messages and returns a batch: what one fetch returns,
// or with a window what arrives until the window after the first message
// ends or the batch is full.
func (t *Trigger) collect() (*queueDef, []delivery, error) {
	ctx := t.fetchCtx
	d, err := t.s.lookup(ctx, t.queue) // the attributes may have changed
	if err != nil {
		return nil, nil, err
	}
	ds, _, err := t.s.take(ctx, d, t.opt.Batch, pollWait)
	if err != nil || len(ds) == 0 || t.opt.Window == 0 || len(ds) >= t.opt.Batch {
		return d, t.handBack(ds), err
	}
	// Fill the batch until the window ends. Collected messages are kept
	// invisible meanwhile (in-progress acknowledgements every half
	// visibility timeout), and a message redelivered anyway replaces its
	// earlier delivery, so a batch never holds one message twice.
	index := make(map[uint64]int, len(ds))
	for i, dl := range ds {
		index[dl.seq] = i
	}
	end := time.Now().Add(t.opt.Window)
	half := ackWait(d.attrs.Visibility) / 2
	refreshed := time.Now()
	for len(ds) < t.opt.Batch {
		left := time.Until(end)
		if left < minLongPoll {
			break
		}
		msgs, ferr := t.s.pull(ctx, t.queue, t.opt.Batch-len(ds), min(left, half), false)
		for _, dl := range t.s.accept(ctx, d, msgs) {
			if i, ok := index[dl.seq]; ok {
				ds[i] = dl
				continue
			}
			index[dl.seq] = len(ds)
			ds = append(ds, dl)
		}
		if ferr != nil || ctx.Err() != nil {
			if errors.Is(ferr, errConsumerGone) {
				ferr = fmt.Errorf("queue %s: %w", t.queue, ErrNotFound)
			}
			err = ferr
			break
		}
		if time.Since(refreshed) >= half {
			t.refresh(ds)
			refreshed = time.Now()
		}
	}
	// The handler gets a whole visibility timeout, however long the
	// window took.
	t.refresh(ds)
	return d, t.handBack(ds), err
}

// refresh restarts the visibility timeout of collected messages.
func (t *Trigger) refresh(ds []delivery) {
	for _, dl := range ds {
		_ = t.s.nc.Publish(dl.msg.Reply, ackProgress)
	}
}

// handBack makes collected messages visible again when the trigger is
// stopping, so that other nodes take them at once; otherwise it returns ds.
func (t *Trigger) handBack(ds []delivery) []delivery {
	if t.fetchCtx.Err() == nil || len(ds) == 0 {
		return ds
	}
	ctx, cancel := withTimeout(context.WithoutCancel(t.fetchCtx))
	defer cancel()
	_ = t.s.setVisibility(ctx, ds, 0)
	return nil
}

// handle calls the handler on one batch and settles every message:
// deleted, left to come back after its visibility timeout, moved to the
// dead-letter queue, or (when Stop cut the batch short) made visible again.
func (t *Trigger) handle(d *queueDef, ds []delivery) {
	msgs := make([]Message, len(ds))
	for i := range ds {
		msgs[i] = ds[i].m
	}
	// While the handler runs (a cold start included), the batch stays
	// invisible: a slow start never hands the same messages to a second
	// invocation. The function's own timeout bounds how long this lasts.
	stop := make(chan struct{})
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		tick := time.NewTicker(ackWait(d.attrs.Visibility) / 2)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				t.refresh(ds)
			}
		}
	}()
	failedIDs, err := t.call(msgs)
	close(stop)
	<-beat
	failed := make([]bool, len(ds))
	reason := ""
	switch {
	case err != nil:
		reason = err.Error()
		for i := range failed {
			failed[i] = true
		}
	case len(failedIDs) > 0:
		reason = "the handler reported the message as failed"
		byID := make(map[string]int, len(ds))
		for i, dl := range ds {
			byID[dl.m.MessageID] = i
		}
		for _, id := range failedIDs {
			i, ok := byID[id]
			if !ok {
				// As AWS does: an id not in the batch fails the whole batch.
				reason = fmt.Sprintf("the handler reported message id %q, which is not in the batch, as failed", id)
				for j := range failed {
					failed[j] = true
				}
				break
			}
			failed[i] = true
		}
	}
	ctx, cancel := withTimeout(context.WithoutCancel(t.ctx))
	defer cancel()
	var ok []delivery
	var again []delivery
	for i, dl := range ds {
		switch {
		case !failed[i]:
			ok = append(ok, dl)
		case t.ctx.Err() != nil:
			// Cut short by Stop: not the message's fault.
			again = append(again, dl)
		case d.attrs.MaxReceives > 0 && dl.delivered >= d.attrs.MaxReceives:
			t.s.deadLetter(ctx, d, dl.msg, dl.seq, reason, dl.delivered)
		}
	}
	t.deleteAll(ctx, ok)
	if len(again) > 0 {
		_ = t.s.setVisibility(ctx, again, 0)
	}
}

// call runs the handler, turning a panic into an error.
func (t *Trigger) call(msgs []Message) (failed []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("queue handler panicked: %v", r)
		}
	}()
	return t.h(t.ctx, msgs)
}

// deleteAll deletes messages, a few at a time, each confirmed by the
// server. One that cannot be deleted comes back after its visibility
// timeout (at-least-once).
func (t *Trigger) deleteAll(ctx context.Context, ds []delivery) {
	if len(ds) == 0 {
		return
	}
	sem := make(chan struct{}, ackParallel)
	var wg sync.WaitGroup
	for _, dl := range ds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := t.s.ackRequest(ctx, dl.msg.Reply, ackOK); err != nil {
				t.s.log.Warn("delete handled message", "queue", t.queue, "message", dl.m.MessageID, "err", err)
			}
		})
	}
	wg.Wait()
}
