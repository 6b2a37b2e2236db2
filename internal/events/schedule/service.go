package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gureum/gureum/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket that holds tick leases: one key per schedule and
// tick, created by the node that fires the tick.
const Bucket = "gureum_schedule_ticks"

// ErrInvalidConfig reports a Config that New cannot use; match with errors.Is.
var ErrInvalidConfig = errors.New("invalid schedule service config")

// Timing of the service. Tests shorten retries through Service fields.
const (
	// leaseTTL is how long a lease key is kept. A tick is only ever claimed
	// within lateLimit of its time, so a day is ample.
	leaseTTL = 24 * time.Hour
	// lateLimit is how late a node may wake for a tick and still fire it.
	// A node that wakes later (it was suspended, or stalled) skips the tick:
	// missed ticks are not fired in a burst.
	lateLimit = time.Minute
	// maxSleep bounds one timer, so that a jump of the wall clock (or a
	// suspended machine) is noticed within a minute.
	maxSleep = time.Minute
	// Fire and lease attempts: 5 tries, waiting 0.5 s, 1 s, 2 s, 4 s between.
	retryAttempts = 5
	retryBase     = 500 * time.Millisecond
	retryMax      = 5 * time.Second
	// callTimeout bounds one JetStream request.
	callTimeout = 10 * time.Second
)

// Schedule is one scheduled trigger of a function.
type Schedule struct {
	// ID names the schedule stably across deploys and nodes, e.g.
	// "resize/0": the function and the index of the event in its manifest.
	ID       string `json:"id"`
	Function string `json:"function"`
	// Expression and Timezone are as Parse takes them.
	Expression string `json:"expression"`
	Timezone   string `json:"timezone,omitempty"`
	// Input, when set, is what the function receives instead of the
	// scheduled event (EventBridge's constant Input). It must be JSON.
	Input json.RawMessage `json:"input,omitempty"`
}

// Status is a schedule as this node sees it.
type Status struct {
	Schedule
	// Next is the next tick; zero when there is none or the schedule does
	// not run (see LastError).
	Next time.Time `json:"next,omitzero"`
	// Last is the most recent tick that came due while the schedule ran on
	// this node, whichever node fired it.
	Last time.Time `json:"last,omitzero"`
	// LastError says why the schedule does not run (an invalid expression)
	// or why this node failed to fire Last; empty otherwise.
	LastError string `json:"lastError,omitempty"`
}

// Config configures a Service. Zero fields take the defaults noted.
type Config struct {
	// JetStream holds the lease bucket; required.
	JetStream jetstream.JetStream
	// Replicas of the lease bucket; 0 means 1.
	Replicas int
	// Region and AccountID fill the scheduled event's region, account and
	// resource ARN; default "us-east-1" and "000000000000".
	Region, AccountID string
	// Fire hands one tick's event to the function; required. It is called
	// once per tick across all nodes sharing JetStream, by the node holding
	// the tick's lease, and should be a quick durable submit (an
	// asynchronous invocation). It must return when ctx is done. An error is
	// retried a few times with backoff with the same event bytes.
	Fire func(ctx context.Context, s Schedule, tick time.Time, event []byte) error
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per failed tick; nil discards.
	Logger *slog.Logger
}

// Default region and account of the scheduled events.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
)

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.JetStream == nil:
		return fmt.Errorf("%w: JetStream is required", ErrInvalidConfig)
	case c.Fire == nil:
		return fmt.Errorf("%w: Fire is required", ErrInvalidConfig)
	case c.Replicas < 0:
		return fmt.Errorf("%w: replicas %d must not be negative", ErrInvalidConfig, c.Replicas)
	case c.Region == "" || strings.ContainsAny(c.Region, ": /"):
		return fmt.Errorf("%w: region %q is not a region name, e.g. us-east-1", ErrInvalidConfig, c.Region)
	case c.AccountID == "" || strings.ContainsAny(c.AccountID, ": /"):
		return fmt.Errorf("%w: account id %q is not an account id, e.g. 000000000000", ErrInvalidConfig, c.AccountID)
	}
	return nil
}

// Service runs schedules: it wakes at each tick and, on the one node that
// wins the tick's lease, calls Config.Fire. Create it with New, give it
// schedules with Set (before or after Start), and stop it with Shutdown.
type Service struct {
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
	node string // written into the leases this service takes

	// Set by New; tests change them before Start.
	parse     func(expr, timezone string) (*Expression, error)
	attempts  int
	backoff   time.Duration
	maxWait   time.Duration
	lateLimit time.Duration

	runCtx    context.Context // done at Shutdown: stops timers and retries
	stopRun   context.CancelFunc
	fireCtx   context.Context // done when Shutdown gives up waiting: aborts Fire
	stopFires context.CancelFunc
	wg        sync.WaitGroup // one per running schedule

	mu      sync.Mutex
	state   state
	kv      jetstream.KeyValue
	entries map[string]*entry
}

type state uint8

const (
	stateNew state = iota
	stateStarting
	stateRunning
	stateStopped
)

// entry is one schedule in the set; its status fields are guarded by
// Service.mu.
type entry struct {
	sched  Schedule
	expr   *Expression // nil when invalid
	cancel context.CancelFunc

	invalid string
	next    time.Time
	last    time.Time
	lastErr string
}

// New returns a service that has not started.
func New(cfg Config) (*Service, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:       cfg,
		now:       cfg.Now,
		log:       cfg.Logger,
		node:      newUUID(),
		parse:     Parse,
		attempts:  retryAttempts,
		backoff:   retryBase,
		maxWait:   retryMax,
		lateLimit: lateLimit,
		entries:   make(map[string]*entry),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.runCtx, s.stopRun = context.WithCancel(context.Background())
	s.fireCtx, s.stopFires = context.WithCancel(context.Background())
	return s, nil
}

// Start creates the lease bucket and starts the schedules given so far.
// ctx bounds the setup only.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return errors.New("start schedules: already started")
	}
	s.state = stateStarting
	s.mu.Unlock()

	kv, err := bus.EnsureKeyValue(ctx, s.cfg.JetStream, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "gureum schedule tick leases: the node that creates a key fires that tick",
		History:     1,
		TTL:         leaseTTL,
		Replicas:    s.cfg.Replicas,
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateStarting {
		return errors.New("start schedules: shut down while starting")
	}
	if err != nil {
		s.state = stateNew
		return fmt.Errorf("start schedules: %w", err)
	}
	s.kv = kv
	s.state = stateRunning
	for _, e := range s.entries {
		s.runLocked(e)
	}
	return nil
}

// Shutdown stops every schedule. A Fire in progress may finish until ctx is
// done; then its context is cancelled. Calling it again does nothing.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.state == stateStopped {
		s.mu.Unlock()
		return nil
	}
	s.state = stateStopped
	s.stopRun()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	defer s.stopFires()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.stopFires()
		<-done
		return fmt.Errorf("shutdown schedules: %w", ctx.Err())
	}
}

// Set replaces the whole set of schedules. A schedule whose ID, function,
// expression, time zone and input are unchanged keeps running as it was;
// others start from their next tick after now. An invalid schedule is
// logged and listed with its error, and does not run.
func (s *Service) Set(schedules []Schedule) {
	want := make(map[string]Schedule, len(schedules))
	for _, sc := range schedules {
		if _, dup := want[sc.ID]; dup {
			s.log.Warn("schedule: duplicate id; the first one is used", "id", sc.ID, "function", sc.Function)
			continue
		}
		sc.Input = bytes.Clone(sc.Input)
		want[sc.ID] = sc
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.entries {
		if sc, ok := want[id]; ok && same(e.sched, sc) {
			delete(want, id)
			continue
		}
		if e.cancel != nil {
			e.cancel()
		}
		delete(s.entries, id)
	}
	for id, sc := range want {
		e := &entry{sched: sc}
		if err := s.check(sc, &e.expr); err != nil {
			e.invalid = err.Error()
			s.log.Warn("schedule: not running", "id", sc.ID, "function", sc.Function, "error", err)
		}
		s.entries[id] = e
		if s.state == stateRunning {
			s.runLocked(e)
		}
	}
}

// check validates sc and parses its expression into expr.
func (s *Service) check(sc Schedule, expr **Expression) error {
	switch {
	case sc.ID == "":
		return errors.New("schedule has no id")
	case sc.Function == "":
		return fmt.Errorf("schedule %s names no function", sc.ID)
	case len(sc.Input) > 0 && !json.Valid(sc.Input):
		return fmt.Errorf("schedule %s: input is not valid JSON", sc.ID)
	}
	e, err := s.parse(sc.Expression, sc.Timezone)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", sc.ID, err)
	}
	*expr = e
	return nil
}

func same(a, b Schedule) bool {
	return a.ID == b.ID && a.Function == b.Function && a.Expression == b.Expression &&
		a.Timezone == b.Timezone && bytes.Equal(a.Input, b.Input)
}

// List returns every schedule of the set with its state, sorted by ID.
func (s *Service) List() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.entries))
	for _, e := range s.entries {
		st := Status{Schedule: e.sched, Next: e.next, Last: e.last, LastError: e.lastErr}
		st.Input = bytes.Clone(e.sched.Input)
		if e.invalid != "" {
			st.LastError = e.invalid
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// runLocked starts e's loop unless it is invalid.
func (s *Service) runLocked(e *entry) {
	if e.expr == nil {
		return
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	e.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx, e)
	}()
}

// run waits for e's ticks until ctx is done or there are none left.
func (s *Service) run(ctx context.Context, e *entry) {
	after := s.now()
	for {
		tick := e.expr.Next(after)
		s.update(e, func() { e.next = tick })
		if tick.IsZero() || !s.sleepUntil(ctx, tick) {
			return
		}
		if late := s.now().Sub(tick); late > s.lateLimit {
			// The node was suspended or stalled: skip what was missed.
			s.log.Warn("schedule: skipped a tick this node woke too late for",
				"id", e.sched.ID, "tick", tick, "late", late)
			after = s.now()
			continue
		}
		s.fire(ctx, e, tick)
		after = tick
	}
}

// sleepUntil waits until the wall clock reaches t; false when ctx ends first.
func (s *Service) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(s.now())
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer := time.NewTimer(min(d, maxSleep))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

// fire claims tick's lease and, when this node wins it, calls Fire.
func (s *Service) fire(ctx context.Context, e *entry, tick time.Time) {
	sc := e.sched
	won, err := s.claim(ctx, leaseKey(sc.ID, tick))
	if err != nil {
		s.log.Error("schedule: tick not fired: cannot take its lease", "id", sc.ID, "function", sc.Function, "tick", tick, "error", err)
		s.update(e, func() { e.last, e.lastErr = tick, err.Error() })
		return
	}
	if !won {
		s.update(e, func() { e.last, e.lastErr = tick, "" })
		return
	}
	event, err := s.event(sc, tick)
	if err == nil {
		err = s.retry(ctx, func(int) error { return s.cfg.Fire(s.fireCtx, sc, tick, event) })
	}
	if err != nil {
		s.log.Error("schedule: tick not fired", "id", sc.ID, "function", sc.Function, "tick", tick, "error", err)
		s.update(e, func() { e.last, e.lastErr = tick, err.Error() })
		return
	}
	s.update(e, func() { e.last, e.lastErr = tick, "" })
}

// claim creates the lease key; won is false when another node holds it.
func (s *Service) claim(ctx context.Context, key string) (won bool, err error) {
	err = s.retry(ctx, func(attempt int) error {
		cctx, cancel := context.WithTimeout(s.fireCtx, callTimeout)
		defer cancel()
		_, err := s.kv.Create(cctx, key, []byte(s.node))
		switch {
		case err == nil:
			won = true
			return nil
		case errors.Is(err, jetstream.ErrKeyExists):
			// A create whose reply was lost may have succeeded: the lease
			// is ours when it carries this node's id.
			if attempt > 1 {
				if got, gerr := s.kv.Get(cctx, key); gerr == nil && string(got.Value()) == s.node {
					won = true
				}
			}
			return nil
		default:
			return fmt.Errorf("lease %s: %w", key, err)
		}
	})
	return won, err
}

// retry calls f until it succeeds, s.attempts times at most, waiting with
// exponential backoff between calls; it gives up early when ctx ends.
func (s *Service) retry(ctx context.Context, f func(attempt int) error) error {
	wait := s.backoff
	for attempt := 1; ; attempt++ {
		err := f(attempt)
		if err == nil || attempt >= s.attempts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("stopped after %d attempts: %w", attempt, err)
		case <-timer.C:
		}
		wait = min(2*wait, s.maxWait)
	}
}

func (s *Service) update(e *entry, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}
