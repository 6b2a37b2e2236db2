package pool

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// fakeInstance is an engine.Instance that records its closing.
type fakeInstance struct {
	id     int
	owner  *fakeStarter
	closed chan struct{}
	closes atomic.Int32
}

func (i *fakeInstance) Invoke(context.Context, *engine.Request) (*engine.Response, error) {
	return &engine.Response{}, nil
}

func (i *fakeInstance) Close(context.Context) error {
	if i.closes.Add(1) == 1 {
		i.owner.live.Add(-1)
		close(i.closed)
	}
	return nil
}

func (i *fakeInstance) isClosed() bool {
	select {
	case <-i.closed:
		return true
	default:
		return false
	}
}

// liveCounter counts the instances alive at once (starting included) and
// remembers the most seen.
type liveCounter struct {
	n, most atomic.Int64
}

func (c *liveCounter) Add(d int64) {
	n := c.n.Add(d)
	for {
		most := c.most.Load()
		if n <= most || c.most.CompareAndSwap(most, n) {
			return
		}
	}
}

// fakeStarter starts fakeInstances. Its fields are set before use.
type fakeStarter struct {
	live *liveCounter // shared by the starters of one function

	mu      sync.Mutex
	started []*fakeInstance
	fails   int   // fail this many of the next starts
	err     error // the failure
	// gate, when set, holds every start until it receives a token.
	gate chan struct{}
	// calls, when set, receives a token as each start begins.
	calls chan struct{}
}

func newStarter(live *liveCounter) *fakeStarter {
	if live == nil {
		live = new(liveCounter)
	}
	return &fakeStarter{live: live, err: errors.New("init failed")}
}

func (s *fakeStarter) NewInstance(ctx context.Context, _ io.Writer) (engine.Instance, error) {
	s.live.Add(1)
	if s.calls != nil {
		s.calls <- struct{}{}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			s.live.Add(-1)
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		s.live.Add(-1)
		return nil, s.err
	}
	inst := &fakeInstance{id: len(s.started) + 1, owner: s, closed: make(chan struct{})}
	s.started = append(s.started, inst)
	return inst, nil
}

func (s *fakeStarter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.started)
}

func (s *fakeStarter) instance(i int) *fakeInstance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started[i]
}

func (s *fakeStarter) instances() []*fakeInstance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*fakeInstance(nil), s.started...)
}

// snapshotStarter is a fakeStarter that reports a snapshot status, as a
// wasm function that takes snapshots does.
type snapshotStarter struct {
	*fakeStarter

	mu     sync.Mutex
	status engine.SnapshotStatus
}

func (s *snapshotStarter) SnapshotStatus() engine.SnapshotStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *snapshotStarter) set(st engine.SnapshotStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = st
}

var _ engine.SnapshotReporter = (*snapshotStarter)(nil)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	changed chan struct{} // a token after each After call
}

type fakeWaiter struct {
	at   time.Time
	wait time.Duration
	c    chan time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), changed: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), wait: d, c: ch})
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock on by d and fires the waits that end.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.c <- c.now
	}
	c.waiters = kept
}

// waitFor blocks until someone waits for d.
func (c *fakeClock) waitFor(t *testing.T, d time.Duration) {
	t.Helper()
	for {
		c.mu.Lock()
		for _, w := range c.waiters {
			if w.wait == d {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		<-c.changed
	}
}

// newManager returns a Manager on a fake clock, shut down when t ends.
func newManager(t *testing.T, cfg Config) (*Manager, *fakeClock) {
	t.Helper()
	clock := newClock()
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = time.Hour
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.OnError == nil {
		cfg.OnError = func(key Key, err error) { t.Logf("%s: %v", key, err) }
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return m, clock
}

func stats(t *testing.T, m *Manager, key Key) Stats {
	t.Helper()
	s, ok := m.StatsOf(key)
	if !ok {
		t.Fatalf("no stats for %s", key)
	}
	return s
}

// backgroundGoroutines counts the Manager's own goroutines still running.
func backgroundGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "pool.(*Manager).provision(") || strings.Contains(g, "pool.(*Manager).reaper(") {
			count++
		}
	}
	return count
}
