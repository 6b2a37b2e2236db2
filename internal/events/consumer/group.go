package consumer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrClosed reports a Group that was shut down, or started twice.
var ErrClosed = errors.New("consumer group closed")

// Config is what every Runner of a Group shares: where the consumers are,
// the words of its log lines, and how it retries.
type Config struct {
	// JetStream holds the consumers; required.
	JetStream jetstream.JetStream
	// Name starts every log line, e.g. "topics".
	Name string
	// Records names the KV records Start follows, e.g. "subscription".
	Records string
	// Item names one message in log lines, e.g. "message" or "event".
	Item string
	// Logger receives the warnings; nil discards.
	Logger *slog.Logger
	// RetryBase is the delay after the first failed attempt, doubled after
	// each further one up to RetryMax. Defaults 1 s and 60 s.
	RetryBase, RetryMax time.Duration
	// AttemptTimeout bounds one attempt and one dead-lettering; default
	// 15 s.
	AttemptTimeout time.Duration
	// MaxAckPending is the consumers' own setting; the memory of failures
	// holds at most four times as many messages. Default 1000.
	MaxAckPending int
	// MaxInFlight bounds the messages one runner handles at once; default 16.
	MaxInFlight int
	// NakAbortedDeadLetter hands a message back at once (a nak without
	// delay) when its dead-lettering failed while Shutdown was cancelling
	// deliveries; otherwise it waits the backoff, like any failed
	// dead-lettering.
	NakAbortedDeadLetter bool
}

// Defaults of Config.
const (
	DefaultRetryBase      = time.Second
	DefaultRetryMax       = 60 * time.Second
	DefaultAttemptTimeout = 15 * time.Second
	DefaultMaxAckPending  = 1000
	DefaultMaxInFlight    = 16
)

func (c Config) withDefaults() Config {
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	c.RetryMax = max(c.RetryMax, c.RetryBase)
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Backoff is the delay after the given failed attempt (1-based): base,
// doubled per further attempt, at most most.
func Backoff(base, most time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

// Group runs Runners and the watch that starts and stops them, and shuts
// them all down together. Make it with NewGroup.
type Group struct {
	cfg Config

	mu      sync.Mutex
	state   int             // stateNew, stateStarted, stateClosed
	fetch   context.Context // ends when fetching stops (watch and runners)
	stop    context.CancelFunc
	deliver context.Context // ends when deliveries in flight must stop
	abort   context.CancelFunc
	wg      sync.WaitGroup // the watch and every runner

	shutdownOnce sync.Once
	shutdownErr  error
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// NewGroup returns a Group that has not started. It does no I/O.
func NewGroup(cfg Config) *Group {
	return &Group{cfg: cfg.withDefaults()}
}

// Start follows the KV records matching keys: apply sees every record that
// exists (a put) before Start returns, then each change (a put or a
// delete) until Shutdown. apply is called from one goroutine at a time and
// starts or stops runners with Run and Runner.Stop. Start fails with
// ErrClosed once the Group was started or shut down; on any other failure
// (ctx ended before the records were read, the watch failed) everything
// apply started is stopped and the Group is closed.
func (g *Group) Start(ctx context.Context, kv jetstream.KeyValue, keys string, apply func(jetstream.KeyValueEntry)) error {
	g.mu.Lock()
	if g.state != stateNew {
		g.mu.Unlock()
		return ErrClosed
	}
	g.state = stateStarted
	g.fetch, g.stop = context.WithCancel(context.Background())
	g.deliver, g.abort = context.WithCancel(context.Background())
	g.mu.Unlock()

	fail := func(err error) error {
		g.mu.Lock()
		g.state = stateClosed
		g.mu.Unlock()
		g.stop()
		g.abort()
		g.wg.Wait()
		return err
	}
	// The watcher lives as long as fetching does, not as long as ctx.
	w, err := kv.Watch(g.fetch, keys)
	if err != nil {
		return fail(err)
	}
	for initial := true; initial; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return fail(errors.New(g.cfg.Records + " watch closed"))
			}
			if e == nil {
				initial = false
				break
			}
			apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return fail(ctx.Err())
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateStarted { // shut down meanwhile
		_ = w.Stop()
		return ErrClosed
	}
	g.wg.Add(1)
	go g.watch(w, apply)
	return nil
}

// watch follows record changes until fetching stops.
func (g *Group) watch(w jetstream.KeyWatcher, apply func(jetstream.KeyValueEntry)) {
	defer g.wg.Done()
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if g.fetch.Err() == nil {
					g.cfg.Logger.Error(g.cfg.Name + ": " + g.cfg.Records + " watch ended; changes are no longer followed")
				}
				return
			}
			if e != nil {
				apply(e)
			}
		case <-g.fetch.Done():
			return
		}
	}
}

// Run starts a Runner on spec's consumer, or returns nil when the Group is
// not running (not started yet, or shut down).
func (g *Group) Run(spec Spec) *Runner {
	if spec.Logger == nil {
		spec.Logger = g.cfg.Logger
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateStarted {
		return nil
	}
	ctx, cancel := context.WithCancel(g.fetch)
	r := &Runner{g: g, spec: spec, cancel: cancel, fails: failures{limit: 4 * g.cfg.MaxAckPending}}
	g.wg.Add(1)
	go r.run(ctx)
	return r
}

// Shutdown stops taking messages, lets deliveries in flight finish until
// ctx ends (then cancels them), and waits for every goroutine; it returns
// ctx.Err() when it had to cancel. Calling it again returns the first
// call's result.
func (g *Group) Shutdown(ctx context.Context) error {
	g.shutdownOnce.Do(func() { g.shutdownErr = g.shutdown(ctx) })
	return g.shutdownErr
}

func (g *Group) shutdown(ctx context.Context) error {
	g.mu.Lock()
	was := g.state
	g.state = stateClosed
	g.mu.Unlock()
	if was != stateStarted {
		return nil
	}
	g.stop()
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		g.abort()
		return nil
	case <-ctx.Done():
		g.abort()
		<-done
		return ctx.Err()
	}
}
