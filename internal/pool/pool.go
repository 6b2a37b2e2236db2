// Package pool keeps the instances of function versions on one node: it reuses
// warm instances, starts new ones (cold starts) up to a function's concurrency
// limit, keeps provisioned instances initialized, reaps idle ones (scale to
// zero) and drains everything on shutdown.
//
// The semantics are AWS Lambda's:
//
//   - One in-flight invocation per instance. An idle instance is reused last in,
//     first out, so a small load keeps few instances warm and the rest age out.
//   - A function's concurrency limit counts every instance of the function
//     (idle, busy, starting and closing) across all its versions, so the number of
//     live instances never exceeds it. Idle instances never cause a throttle:
//     at the limit, an idle instance of another version of the function is
//     closed to make room (one beyond its version's provisioned count first).
//     Past the limit, Acquire fails with ErrThrottled at once; nothing queues.
//   - Provisioned instances are started in the background, count toward the
//     concurrency limit, are refilled when one is discarded, and are never
//     reaped. Requests beyond them spill over to on-demand (cold) instances.
//     Instances are not marked as provisioned or on-demand: a version keeps at
//     least Limits.Provisioned instances, idle or busy, and only those beyond
//     that count age out.
//   - An idle instance beyond its version's provisioned count is closed once it
//     has been idle for Config.IdleTimeout.
//
// Locking: Manager.mu (the function map) is taken before function.mu (all the
// state of one function, every version included). No lock is held while an
// engine Instance or a Starter is called, nor while Config.OnError runs.
// Methods whose names end in Locked need function.mu held.
package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// Errors; match with errors.Is.
var (
	// ErrThrottled: the function is at its concurrency limit and no idle
	// instance can make room. Returned unwrapped so that throttling stays cheap.
	ErrThrottled = errors.New("pool: function is at its concurrency limit")
	// ErrClosed: the Manager is shut down (or shutting down).
	ErrClosed = errors.New("pool: shut down")
	// ErrNotServed: the version is not configured on this node or was retired.
	ErrNotServed = errors.New("pool: version not served")
	// ErrInvalidLimits: Limits hold a negative count, or more provisioned
	// instances than the concurrency limit allows.
	ErrInvalidLimits = errors.New("pool: invalid limits")
)

// Key names one function version.
type Key struct {
	Function string // function name
	Version  string // immutable version, e.g. "3"
}

func (k Key) String() string { return k.Function + ":" + k.Version }

// Starter starts initialized instances of one function version.
// engine.Function satisfies it.
type Starter interface {
	// NewInstance starts and initializes one instance (a cold start). Output
	// written during initialization goes to log.
	NewInstance(ctx context.Context, log io.Writer) (engine.Instance, error)
}

// engine.Function starts instances for the pool.
var _ Starter = engine.Function(nil)

// Limits are a function version's scaling settings.
type Limits struct {
	// Concurrency is the most instances the function may have at once, across
	// all its versions; 0 means Config.DefaultConcurrency. When versions of one
	// function disagree, each acquire is checked against its own version's.
	Concurrency int
	// Provisioned is how many initialized instances of this version are kept
	// at all times.
	Provisioned int
}

func (l Limits) validate(defaultConcurrency int) error {
	limit := l.Concurrency
	if limit == 0 {
		limit = defaultConcurrency
	}
	switch {
	case l.Concurrency < 0:
		return fmt.Errorf("%w: concurrency %d is negative", ErrInvalidLimits, l.Concurrency)
	case l.Provisioned < 0:
		return fmt.Errorf("%w: provisioned %d is negative", ErrInvalidLimits, l.Provisioned)
	case l.Provisioned > limit:
		return fmt.Errorf("%w: provisioned %d exceeds concurrency %d", ErrInvalidLimits, l.Provisioned, limit)
	}
	return nil
}

// Clock tells the time and waits. The Manager uses it for idle times, the
// reaper's ticks and provisioning backoff, so that tests can drive them.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config is a Manager's node-wide settings. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// IdleTimeout: an idle instance beyond its version's provisioned count is
	// closed after this long without work.
	IdleTimeout time.Duration
	// ReapInterval is how often the background reaper looks for such
	// instances. Default: IdleTimeout/10, between 1s and 1m.
	ReapInterval time.Duration
	// DefaultConcurrency is the concurrency limit of a function that sets none.
	DefaultConcurrency int
	// CloseTimeout bounds closing one instance when no caller context does
	// (release, reaping, retiring).
	CloseTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between failed attempts to
	// start a provisioned instance; it doubles from RetryMin up to RetryMax.
	RetryMin, RetryMax time.Duration
	// InitLog, if set, gives the writer that receives the initialization output
	// of a provisioned instance of key. Default: discarded.
	InitLog func(key Key) io.Writer
	// OnError, if set, is told about errors no caller receives: failed starts
	// of provisioned instances and failed closes. It must not block for long.
	OnError func(key Key, err error)
	// Clock defaults to the system clock.
	Clock Clock
}

// DefaultConfig returns the settings of a node configured with nothing.
func DefaultConfig() Config {
	return Config{
		IdleTimeout:        10 * time.Minute,
		DefaultConcurrency: 100,
		CloseTimeout:       10 * time.Second,
		RetryMin:           time.Second,
		RetryMax:           time.Minute,
	}
}

// Validate reports settings that make no sense.
func (c Config) Validate() error {
	var errs []error
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("pool: IdleTimeout %v is negative", c.IdleTimeout))
	}
	if c.ReapInterval < 0 {
		errs = append(errs, fmt.Errorf("pool: ReapInterval %v is negative", c.ReapInterval))
	}
	if c.DefaultConcurrency < 0 {
		errs = append(errs, fmt.Errorf("pool: DefaultConcurrency %d is negative", c.DefaultConcurrency))
	}
	if c.CloseTimeout < 0 {
		errs = append(errs, fmt.Errorf("pool: CloseTimeout %v is negative", c.CloseTimeout))
	}
	if c.RetryMin < 0 || c.RetryMax < 0 {
		errs = append(errs, fmt.Errorf("pool: retry backoff %v..%v is negative", c.RetryMin, c.RetryMax))
	}
	if c.RetryMin > 0 && c.RetryMax > 0 && c.RetryMin > c.RetryMax {
		errs = append(errs, fmt.Errorf("pool: RetryMin %v exceeds RetryMax %v", c.RetryMin, c.RetryMax))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = min(max(c.IdleTimeout/10, time.Second), time.Minute)
	}
	if c.DefaultConcurrency == 0 {
		c.DefaultConcurrency = d.DefaultConcurrency
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = d.CloseTimeout
	}
	if c.RetryMin == 0 {
		c.RetryMin = d.RetryMin
		if c.RetryMax > 0 {
			c.RetryMin = min(c.RetryMin, c.RetryMax)
		}
	}
	if c.RetryMax == 0 {
		c.RetryMax = max(d.RetryMax, c.RetryMin)
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	return c
}

// Stats describe one function version's pool.
type Stats struct {
	Key Key
	// Retired: the version is no longer served; these are instances still
	// leased when it was retired.
	Retired bool

	Idle        int // initialized, waiting for work
	Busy        int // leased to an invocation
	Starting    int // being initialized (cold or provisioned)
	Provisioned int // provisioned target

	ColdStarts  uint64 // leases served by a newly started instance
	WarmStarts  uint64 // leases served by an idle instance (provisioned ones included)
	Throttles   uint64 // acquires refused with ErrThrottled
	StartErrors uint64 // failed starts, cold and provisioned
	Reaped      uint64 // idle instances closed after IdleTimeout
	Reclaimed   uint64 // idle instances closed to make room for another version
	Discarded   uint64 // instances closed because their invocation broke them

	// Snapshot is where the version's snapshot stands, as its starter
	// reports it (engine.SnapshotReporter); State is "" when the starter
	// reports none.
	Snapshot engine.SnapshotStatus
}
