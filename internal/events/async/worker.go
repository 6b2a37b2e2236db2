package async

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/invoke"
)

// Timeouts of the worker's calls to JetStream and the Destinations.
const (
	fetchWait   = 5 * time.Second  // one pull request
	callTimeout = 30 * time.Second // a publish, an ack, a settings read, a delivery
)

// worker runs one function's events on this node.
type worker struct {
	fn     string
	ctx    context.Context // cancelled to stop fetching
	stop   context.CancelFunc
	active atomic.Int64  // events in flight
	wake   chan struct{} // signalled when one finishes
}

// Sync makes this node run workers for exactly functions: a new function
// gets a worker, a removed one's worker stops fetching (its events in flight
// finish; its consumer stays, so a later deploy continues where it left
// off). Calls before Start are remembered; calls after Shutdown are ignored.
func (s *Service) Sync(functions []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wanted = make(map[string]bool, len(functions))
	for _, fn := range functions {
		if validFunctionName(fn) {
			s.wanted[fn] = true
		} else {
			s.log.Warn("no async worker for an invalid function name", "function", fn)
		}
	}
	if s.started {
		s.syncLocked()
	}
}

// syncLocked starts and stops workers to match s.wanted.
func (s *Service) syncLocked() {
	for fn, w := range s.workers {
		if !s.wanted[fn] {
			w.stop()
			delete(s.workers, fn)
		}
	}
	for fn := range s.wanted {
		if s.workers[fn] != nil {
			continue
		}
		ctx, stop := context.WithCancel(s.runCtx)
		w := &worker{fn: fn, ctx: ctx, stop: stop, wake: make(chan struct{}, 1)}
		s.workers[fn] = w
		s.loops.Add(1)
		go func() {
			defer s.loops.Done()
			s.loop(w)
		}()
	}
}

// Start starts the workers of the functions given to Sync.
func (s *Service) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return errors.New("async service already started")
	}
	s.started = true
	s.syncLocked()
	return nil
}

// Shutdown stops fetching events and waits for those in flight until ctx
// ends; then it cancels them and waits for them to return. An event not
// finished is offered again later (on another node, or after a restart).
// Calling it again returns the first call's result.
func (s *Service) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Service) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for fn, w := range s.workers {
		w.stop()
		delete(s.workers, fn)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.loops.Wait()
		s.handlers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("shutdown async: events in flight cancelled: %w", ctx.Err())
		s.cancelRun()
		<-done
	}
	s.cancelRun()
	return err
}

// loop fetches w's events while there is room for them, until w stops.
func (s *Service) loop(w *worker) {
	log := s.log.With("function", w.fn)
	var cons jetstream.Consumer
	for failures := 1; cons == nil; failures++ {
		ctx, cancel := context.WithTimeout(w.ctx, callTimeout)
		c, err := s.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       "async-" + w.fn,
			Description:   "async invocations of " + w.fn,
			FilterSubject: SubjectPrefix + w.fn,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.cfg.AckWait,
			MaxDeliver:    -1,
		})
		cancel()
		if err == nil {
			cons = c
			break
		}
		if w.ctx.Err() != nil {
			return
		}
		log.Warn("create async consumer", "err", err)
		if !sleep(w.ctx, s.deferDelay(failures)) {
			return
		}
	}
	limit := DefaultConcurrency
	for failures := 0; w.ctx.Err() == nil; {
		if st, err := s.settings(w.ctx, w.fn); err == nil {
			limit = st.concurrency
		}
		free := limit - int(w.active.Load())
		if free <= 0 {
			select {
			case <-w.wake:
			case <-w.ctx.Done():
			}
			continue
		}
		ctx, cancel := context.WithTimeout(w.ctx, fetchWait)
		batch, err := cons.Fetch(free, jetstream.FetchContext(ctx))
		if err == nil {
			for msg := range batch.Messages() {
				if w.ctx.Err() != nil {
					// Stopping: let another node have it now.
					_ = msg.Nak()
					continue
				}
				w.active.Add(1)
				s.handlers.Add(1)
				go func() {
					defer s.handlers.Done()
					defer func() {
						w.active.Add(-1)
						select {
						case w.wake <- struct{}{}:
						default:
						}
					}()
					s.handle(msg)
				}()
			}
			err = batch.Error()
		}
		cancel()
		switch {
		case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, jetstream.ErrNoMessages):
			failures = 0
		default:
			failures++
			log.Warn("fetch async events", "err", err)
			sleep(w.ctx, s.deferDelay(failures))
		}
	}
}

// handle runs one event to its next state and settles its message.
func (s *Service) handle(msg jetstream.Msg) {
	defer s.heartbeat(msg)()
	env, err := decode(msg.Headers(), msg.Data())
	if err == nil && SubjectPrefix+env.Function != msg.Subject() {
		err = fmt.Errorf("%s %q on subject %s: %w", HeaderFunction, env.Function, msg.Subject(), ErrInvalid)
	}
	if err != nil {
		s.deadLetterMalformed(msg, err)
		return
	}
	log := s.log.With("function", env.Function, "requestId", env.RequestID)
	now := s.cfg.Now()
	st, err := s.settings(s.runCtx, env.Function)
	if err != nil {
		if s.runCtx.Err() != nil {
			_ = msg.Nak()
			return
		}
		if now.Sub(env.AcceptedAt) <= MaxMaxEventAge {
			log.Warn("read async settings; event delayed", "err", err)
			s.nakLater(msg)
			return
		}
		log.Warn("read async settings; using defaults for an event past the longest age", "err", err)
		st = Settings{}.resolve(env.Function)
	}
	if env.outcome == "" {
		if age := now.Sub(env.AcceptedAt); age > st.maxAge {
			env.outcome = ConditionEventAgeExceeded
			env.reason = fmt.Sprintf("event age %s exceeds the maximum of %s", age.Round(time.Second), st.maxAge)
			if a := lastAttempt(env); a != nil {
				env.reason += "; last error: " + attemptError(a)
			}
		} else if !s.run(msg, env, st) {
			return
		}
	}
	s.finish(msg, env, st)
}

// run invokes the event once. It settles msg and returns false, or decides
// env's outcome and returns true for finish to deliver it.
func (s *Service) run(msg jetstream.Msg, env *envelope, st resolved) bool {
	ev := &env.Event
	log := s.log.With("function", ev.Function, "requestId", ev.RequestID)
	res, err := s.cfg.Invoker.Invoke(s.runCtx, &invoke.Request{
		Function:  ev.Function,
		Qualifier: ev.Qualifier,
		Payload:   ev.Payload,
		RequestID: ev.RequestID,
		Trigger:   ev.Trigger,
		Source:    ev.Source,
		TraceID:   ev.TraceParent,
	})
	if s.runCtx.Err() != nil {
		// Cut short by Shutdown: not an attempt. Offer it again.
		_ = msg.Nak()
		return false
	}
	switch {
	case errors.Is(err, invoke.ErrThrottled), errors.Is(err, invoke.ErrShuttingDown):
		s.nakLater(msg)
		return false
	case errors.Is(err, invoke.ErrFunctionNotFound):
		env.outcome = ConditionRetriesExhausted
		env.reason = "function not found"
		return true
	case err != nil && !functionFailure(res, err):
		// The node could not run it (registry or store trouble): not the
		// function's fault, so not an attempt.
		log.Warn("async invocation not run; event delayed", "err", err)
		s.nakLater(msg)
		return false
	}
	a := Attempt{At: s.cfg.Now().UTC()}
	if res != nil {
		a.Duration, a.Version = res.Duration, res.Version
	}
	if err == nil && res != nil && !res.FunctionError {
		ev.Attempts = append(ev.Attempts, a)
		env.outcome = ConditionSuccess
		if st.onSuccess != nil && len(ev.Payload)+len(res.Payload) <= MaxRecordBytes {
			env.response = res.Payload
		}
		return true
	}
	a.Error, a.ErrorType = describeFailure(res, err)
	ev.Attempts = append(ev.Attempts, a)
	if failed := len(ev.Attempts); failed <= st.retries {
		delay := s.cfg.RetryBase << (failed - 1)
		if perr := s.publishLater(env, delay); perr != nil {
			log.Warn("schedule async retry; event offered again", "err", perr)
			s.nakLater(msg)
			return false
		}
		s.ack(msg)
		if s.cfg.OnRetry != nil {
			s.cfg.OnRetry(ev.Function)
		}
		return false
	}
	env.outcome = ConditionRetriesExhausted
	env.reason = attemptError(&a)
	if res != nil && res.FunctionError && len(ev.Payload)+len(res.Payload) <= MaxRecordBytes {
		env.response = res.Payload
	}
	return true
}

// finish delivers a decided outcome: the record to its destination, or the
// event to its dead-letter queue. A failed delivery is tried again later.
func (s *Service) finish(msg jetstream.Msg, env *envelope, st resolved) {
	ev := &env.Event
	log := s.log.With("function", ev.Function, "requestId", ev.RequestID)
	ctx, cancel := context.WithTimeout(s.runCtx, callTimeout)
	defer cancel()
	var err error
	switch {
	case env.outcome == ConditionSuccess:
		if st.onSuccess != nil {
			err = s.cfg.Destinations.Send(ctx, *st.onSuccess, s.record(env, s.cfg.Now()), ev.TraceParent)
		}
	case st.onFailure != nil:
		err = s.cfg.Destinations.Send(ctx, *st.onFailure, s.record(env, s.cfg.Now()), ev.TraceParent)
	default:
		info := deadletter.Info{
			Source: deadletter.Source{Kind: deadletter.KindFunction, Name: ev.Function},
			Reason: env.reason,
			Count:  len(ev.Attempts),
			At:     s.cfg.Now().UTC(),
		}
		err = s.cfg.Destinations.DeadLetter(ctx, st.dlq, *ev, info)
	}
	if err == nil {
		s.ack(msg)
		return
	}
	if s.runCtx.Err() != nil {
		_ = msg.Nak()
		return
	}
	env.deferrals++
	delay := s.deferDelay(env.deferrals)
	log.Warn("deliver async outcome; trying again later", "outcome", env.outcome, "retryIn", delay, "err", err)
	if perr := s.publishLater(env, delay); perr != nil {
		log.Warn("keep async outcome for later", "err", perr)
		s.nakLater(msg)
		return
	}
	s.ack(msg)
}

// publishLater stores env to come back to its function's subject after
// delay, through a message schedule: a message on a subject of its own with
// "Nats-Schedule: @at TIME" that the server republishes to the target
// subject at TIME, then deletes.
func (s *Service) publishLater(env *envelope, delay time.Duration) error {
	subject := DelayedPrefix + env.Function + "." + uniqueToken()
	m := encode(env, subject)
	m.Header.Set("Nats-Schedule", "@at "+time.Now().Add(delay).UTC().Format(time.RFC3339Nano))
	m.Header.Set("Nats-Schedule-Target", SubjectPrefix+env.Function)
	ctx, cancel := context.WithTimeout(s.runCtx, callTimeout)
	defer cancel()
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectStream(StreamName)); err != nil {
		return fmt.Errorf("publish delayed %s: %w", subject, err)
	}
	return nil
}

// deadLetterMalformed moves a message that is not a valid envelope to the
// function's automatic dead-letter queue, as it is: it cannot be run, and it
// must not be lost.
func (s *Service) deadLetterMalformed(msg jetstream.Msg, cause error) {
	fn := strings.TrimPrefix(msg.Subject(), SubjectPrefix)
	s.log.Error("malformed async event; dead-lettered", "function", fn, "err", cause)
	ev := Event{
		RequestID:   msg.Headers().Get(HeaderRequestID),
		Function:    fn,
		Qualifier:   msg.Headers().Get(HeaderQualifier),
		Payload:     msg.Data(),
		TraceParent: msg.Headers().Get(HeaderTraceParent),
	}
	src := deadletter.Source{Kind: deadletter.KindFunction, Name: fn}
	ctx, cancel := context.WithTimeout(s.runCtx, callTimeout)
	defer cancel()
	err := s.cfg.Destinations.DeadLetter(ctx, deadletter.AutoQueue(src), ev, deadletter.Info{
		Source: src,
		Reason: oneLine("malformed async event: " + cause.Error()),
		At:     s.cfg.Now().UTC(),
	})
	if err != nil {
		s.log.Warn("dead-letter malformed async event; trying again later", "function", fn, "err", err)
		s.nakLater(msg)
		return
	}
	s.ack(msg)
}

// settings reads and resolves fn's settings.
func (s *Service) settings(ctx context.Context, fn string) (resolved, error) {
	if s.cfg.Settings == nil {
		return Settings{}.resolve(fn), nil
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	st, err := s.cfg.Settings(ctx, fn)
	if err != nil {
		return resolved{}, fmt.Errorf("settings of %s: %w", fn, err)
	}
	return st.resolve(fn), nil
}

// heartbeat keeps msg from being redelivered while it is handled; call the
// function it returns when done.
func (s *Service) heartbeat(msg jetstream.Msg) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(max(s.cfg.AckWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// ack removes a settled event; a lost ack means the event is offered again
// (at least once).
func (s *Service) ack(msg jetstream.Msg) {
	ctx, cancel := context.WithTimeout(s.runCtx, callTimeout)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		s.log.Warn("ack async event", "subject", msg.Subject(), "err", err)
	}
}

// nakLater offers msg again after a delay that grows with its deliveries.
func (s *Service) nakLater(msg jetstream.Msg) {
	n := 1
	if md, err := msg.Metadata(); err == nil {
		n = int(min(md.NumDelivered, 64))
	}
	_ = msg.NakWithDelay(s.deferDelay(n))
}

// deferDelay is DeferBase doubled n-1 times, at most MaxDefer.
func (s *Service) deferDelay(n int) time.Duration {
	d := s.cfg.DeferBase
	for i := 1; i < n && d < s.cfg.MaxDefer; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxDefer)
}

// functionFailure reports whether a failed invocation reached the function
// (an error, a timeout, a failed initialization) and so counts as an attempt.
func functionFailure(res *invoke.Result, err error) bool {
	return res != nil && res.FunctionError ||
		errors.Is(err, invoke.ErrTimeout) ||
		errors.Is(err, invoke.ErrFunctionFailed) ||
		errors.Is(err, invoke.ErrInitFailed)
}

// describeFailure turns a failed invocation into an attempt's error.
func describeFailure(res *invoke.Result, err error) (msg, typ string) {
	if res != nil && res.FunctionError && len(res.Payload) > 0 {
		var doc struct {
			Message string `json:"errorMessage"`
			Type    string `json:"errorType"`
		}
		if json.Unmarshal(res.Payload, &doc) == nil && (doc.Message != "" || doc.Type != "") {
			return oneLine(doc.Message), oneLine(doc.Type)
		}
		return oneLine(string(res.Payload)), "Unhandled"
	}
	switch {
	case err == nil:
		return "function error", "Unhandled"
	case errors.Is(err, invoke.ErrTimeout):
		return oneLine(err.Error()), "Sandbox.Timedout"
	case errors.Is(err, invoke.ErrInitFailed):
		return oneLine(err.Error()), "Runtime.InitError"
	default:
		return oneLine(err.Error()), "Runtime.ExitError"
	}
}

func lastAttempt(env *envelope) *Attempt {
	if n := len(env.Attempts); n > 0 {
		return &env.Attempts[n-1]
	}
	return nil
}

// attemptError is an attempt's error as one reason line.
func attemptError(a *Attempt) string {
	if a.ErrorType != "" && a.Error != "" {
		return oneLine(a.ErrorType + ": " + a.Error)
	}
	return oneLine(a.ErrorType + a.Error)
}

// uniqueToken is a random subject token.
func uniqueToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
