package pool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

var (
	v1 = Key{Function: "orders", Version: "1"}
	v2 = Key{Function: "orders", Version: "2"}
	v3 = Key{Function: "orders", Version: "3"}
)

func acquire(t *testing.T, m *Manager, key Key, s Starter, limits Limits) Lease {
	t.Helper()
	l, err := m.Acquire(context.Background(), key, s, limits, nil)
	if err != nil {
		t.Fatalf("Acquire %s: %v", key, err)
	}
	return l
}

func TestWarmReuse(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)

	l := acquire(t, m, v1, s, Limits{})
	if !l.Cold {
		t.Error("first lease is warm, want cold")
	}
	first := l.Instance
	l.Release(false)

	l = acquire(t, m, v1, s, Limits{})
	if l.Cold || l.InitDuration != 0 {
		t.Errorf("second lease: Cold %v, InitDuration %v; want warm", l.Cold, l.InitDuration)
	}
	if l.Instance != first {
		t.Error("second lease got another instance")
	}
	st := stats(t, m, v1)
	if st.ColdStarts != 1 || st.WarmStarts != 1 || st.Busy != 1 || st.Idle != 0 {
		t.Errorf("stats = %+v", st)
	}
	l.Release(false)
}

func TestWarmReuseIsLastInFirstOut(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	a := acquire(t, m, v1, s, Limits{})
	b := acquire(t, m, v1, s, Limits{})
	bi := b.Instance
	a.Release(false)
	b.Release(false)
	l := acquire(t, m, v1, s, Limits{})
	if l.Instance != bi {
		t.Error("got the instance released first, want the one released last")
	}
	l.Release(false)
}

func TestColdStartWhenAllBusy(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	a := acquire(t, m, v1, s, Limits{})
	b := acquire(t, m, v1, s, Limits{})
	if !b.Cold || b.Instance == a.Instance {
		t.Errorf("second concurrent lease: Cold %v, same instance %v; want a new cold instance", b.Cold, b.Instance == a.Instance)
	}
	if st := stats(t, m, v1); st.Busy != 2 || st.ColdStarts != 2 {
		t.Errorf("stats = %+v", st)
	}
	a.Release(false)
	b.Release(false)
}

func TestDoubleReleaseIsHarmless(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	l := acquire(t, m, v1, s, Limits{})
	stale := l
	l.Release(false)
	l.Release(false)
	l.Release(true)

	again := acquire(t, m, v1, s, Limits{})
	if again.Cold {
		t.Fatal("lease after release is cold")
	}
	stale.Release(true) // a copy of the first lease: must not touch the second
	if st := stats(t, m, v1); st.Busy != 1 || st.Discarded != 0 {
		t.Errorf("after stale release: %+v", st)
	}
	if s.instance(0).isClosed() {
		t.Error("stale release closed the instance")
	}
	again.Release(false)
	var zero Lease
	zero.Release(false)
}

func TestThrottleAcrossVersions(t *testing.T) {
	m, _ := newManager(t, Config{})
	s1, s2 := newStarter(nil), newStarter(nil)
	limits := Limits{Concurrency: 2}
	a := acquire(t, m, v1, s1, limits)
	b := acquire(t, m, v2, s2, limits)

	if _, err := m.Acquire(context.Background(), v2, s2, limits, nil); !errors.Is(err, ErrThrottled) {
		t.Errorf("third acquire (v2): %v, want ErrThrottled", err)
	}
	if _, err := m.Acquire(context.Background(), v1, s1, limits, nil); !errors.Is(err, ErrThrottled) {
		t.Errorf("third acquire (v1): %v, want ErrThrottled", err)
	}
	if st := stats(t, m, v2); st.Throttles != 1 || st.Starting != 0 {
		t.Errorf("v2 stats = %+v", st)
	}
	if s1.count()+s2.count() != 2 {
		t.Errorf("%d instances started, want 2", s1.count()+s2.count())
	}

	// Another function is not limited by this one.
	other := acquire(t, m, Key{Function: "billing", Version: "1"}, newStarter(nil), limits)
	other.Release(false)

	// A free slot serves the next request.
	b.Release(true)
	c := acquire(t, m, v2, s2, limits)
	a.Release(false)
	c.Release(false)
}

func TestDefaultConcurrency(t *testing.T) {
	m, _ := newManager(t, Config{DefaultConcurrency: 1})
	s := newStarter(nil)
	l := acquire(t, m, v1, s, Limits{})
	if _, err := m.Acquire(context.Background(), v1, s, Limits{}, nil); !errors.Is(err, ErrThrottled) {
		t.Errorf("second acquire: %v, want ErrThrottled", err)
	}
	l.Release(false)
}

func TestReclaimIdleInstanceOfOldVersion(t *testing.T) {
	m, _ := newManager(t, Config{})
	s1, s2 := newStarter(nil), newStarter(nil)
	limits := Limits{Concurrency: 1}
	idle := acquire(t, m, v1, s1, limits)
	idle.Release(false)

	l := acquire(t, m, v2, s2, limits)
	if !l.Cold {
		t.Error("v2 lease is warm")
	}
	if !s1.instance(0).isClosed() {
		t.Error("v1's idle instance is still open")
	}
	if st := stats(t, m, v1); st.Idle != 0 || st.Reclaimed != 1 {
		t.Errorf("v1 stats = %+v", st)
	}
	l.Release(false)
}

func TestReclaimPrefersSpareInstances(t *testing.T) {
	m, _ := newManager(t, Config{})
	s1, s2 := newStarter(nil), newStarter(nil)
	l1 := Limits{Concurrency: 3, Provisioned: 1}
	l2 := Limits{Concurrency: 3}
	if err := m.Ensure(v1, s1, l1); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	a := acquire(t, m, v1, s1, l1) // the provisioned one
	b := acquire(t, m, v1, s1, l1) // a spare one
	a.Release(false)
	b.Release(false) // v1: 2 idle, 1 of them beyond the provisioned count

	x := acquire(t, m, v2, s2, l2) // a free slot: no reclaim
	if st := stats(t, m, v1); st.Idle != 2 {
		t.Fatalf("v1 stats after first v2 start = %+v", st)
	}
	y := acquire(t, m, v2, s2, l2) // at the limit: the spare v1 instance goes
	if st := stats(t, m, v1); st.Idle != 1 || st.Reclaimed != 1 {
		t.Fatalf("v1 stats after second v2 start = %+v", st)
	}
	z := acquire(t, m, v2, s2, l2) // still an idle v1 instance: it goes too, no throttle
	if st := stats(t, m, v1); st.Idle != 0 || st.Reclaimed != 2 {
		t.Fatalf("v1 stats after third v2 start = %+v", st)
	}
	if _, err := m.Acquire(context.Background(), v2, s2, l2, nil); !errors.Is(err, ErrThrottled) {
		t.Fatalf("fourth v2 acquire: %v, want ErrThrottled", err)
	}

	// Once v2 is gone, v1's provisioned instance comes back.
	x.Release(false)
	y.Release(false)
	z.Release(false)
	m.Retire(v2)
	if err := m.Ready(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, m, v1); st.Idle != 1 {
		t.Errorf("v1 stats after refill = %+v", st)
	}
}

func TestProvisioningWaitsForRoom(t *testing.T) {
	m, clock := newManager(t, Config{IdleTimeout: time.Minute})
	s1, s2 := newStarter(nil), newStarter(nil)
	limits := Limits{Concurrency: 1, Provisioned: 1}
	a := acquire(t, m, v1, s1, Limits{Concurrency: 1})
	// v2 is first configured by a throttled acquire; its provisioner waits.
	if _, err := m.Acquire(context.Background(), v2, s2, limits, nil); !errors.Is(err, ErrThrottled) {
		t.Fatalf("Acquire v2: %v, want ErrThrottled", err)
	}
	a.Release(false)
	if n := m.Reap(clock.Now().Add(time.Hour)); n != 1 {
		t.Fatalf("Reap closed %d, want v1's instance", n)
	}
	if err := m.Ready(context.Background(), v2); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, m, v2); st.Idle != 1 || s2.count() != 1 {
		t.Errorf("v2 stats = %+v, %d starts", st, s2.count())
	}
}

func TestReleaseDiscardClosesInstance(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	l := acquire(t, m, v1, s, Limits{})
	l.Release(true)
	if !s.instance(0).isClosed() {
		t.Fatal("discarded instance is open")
	}
	if st := stats(t, m, v1); st.Idle != 0 || st.Busy != 0 || st.Discarded != 1 {
		t.Errorf("stats = %+v", st)
	}
	l = acquire(t, m, v1, s, Limits{})
	if !l.Cold || s.count() != 2 {
		t.Errorf("lease after discard: Cold %v, %d starts; want a new cold instance", l.Cold, s.count())
	}
	l.Release(false)
}

func TestStartErrorFreesSlot(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	s.fails = 1
	limits := Limits{Concurrency: 1}
	_, err := m.Acquire(context.Background(), v1, s, limits, nil)
	if !errors.Is(err, s.err) {
		t.Fatalf("Acquire: %v, want the start error", err)
	}
	if st := stats(t, m, v1); st.Starting != 0 || st.Busy != 0 || st.StartErrors != 1 {
		t.Errorf("stats = %+v", st)
	}
	if got := s.live.n.Load(); got != 0 {
		t.Errorf("%d live instances, want 0", got)
	}
	l := acquire(t, m, v1, s, limits) // the slot is free again
	l.Release(false)
}

func TestInvalidLimits(t *testing.T) {
	m, _ := newManager(t, Config{DefaultConcurrency: 2})
	s := newStarter(nil)
	for _, l := range []Limits{{Concurrency: -1}, {Provisioned: -1}, {Provisioned: 3}, {Concurrency: 1, Provisioned: 2}} {
		if err := m.Ensure(v1, s, l); !errors.Is(err, ErrInvalidLimits) {
			t.Errorf("Ensure %+v: %v, want ErrInvalidLimits", l, err)
		}
		if _, err := m.Acquire(context.Background(), v1, s, l, nil); !errors.Is(err, ErrInvalidLimits) {
			t.Errorf("Acquire %+v: %v, want ErrInvalidLimits", l, err)
		}
	}
	if _, err := New(Config{IdleTimeout: -time.Second}); err == nil {
		t.Error("New accepted a negative IdleTimeout")
	}
}

func TestProvisionedInstancesStartInBackground(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	limits := Limits{Provisioned: 2}
	if err := m.Ensure(v1, s, limits); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, m, v1); st.Idle != 2 || st.Provisioned != 2 {
		t.Errorf("stats = %+v", st)
	}
	l := acquire(t, m, v1, nil, limits) // the starter Ensure gave serves
	if l.Cold {
		t.Error("first lease is cold, want a provisioned (warm) instance")
	}
	if st := stats(t, m, v1); st.ColdStarts != 0 || st.WarmStarts != 1 || s.count() != 2 {
		t.Errorf("stats = %+v, %d starts", st, s.count())
	}
	l.Release(false)
}

func TestProvisionedRefillAfterDiscard(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	limits := Limits{Provisioned: 1}
	if err := m.Ensure(v1, s, limits); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	l := acquire(t, m, v1, s, limits)
	l.Release(true)
	if err := m.Ready(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, m, v1); st.Idle != 1 || s.count() != 2 {
		t.Errorf("stats = %+v, %d starts; want a second provisioned instance", st, s.count())
	}
	if !s.instance(0).isClosed() || s.instance(1).isClosed() {
		t.Error("want the first instance closed and the second open")
	}
}

func TestProvisioningRetriesWithBackoff(t *testing.T) {
	errs := make(chan error, 10)
	m, clock := newManager(t, Config{
		RetryMin: time.Second,
		RetryMax: time.Minute,
		OnError:  func(_ Key, err error) { errs <- err },
	})
	s := newStarter(nil)
	s.fails = 2
	if err := m.Ensure(v1, s, Limits{Provisioned: 1}); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, s.err) {
		t.Fatalf("reported %v, want the start error", err)
	}
	clock.waitFor(t, time.Second)
	if st := stats(t, m, v1); st.StartErrors != 1 || st.Starting != 0 {
		t.Fatalf("while backing off: %+v", st)
	}
	clock.Advance(time.Second)
	<-errs
	clock.waitFor(t, 2*time.Second) // the backoff doubles
	if st := stats(t, m, v1); st.StartErrors != 2 {
		t.Fatalf("while backing off again: %+v", st)
	}
	clock.Advance(2 * time.Second)
	if err := m.Ready(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, m, v1); st.Idle != 1 || st.StartErrors != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestReapKeepsProvisioned(t *testing.T) {
	m, clock := newManager(t, Config{IdleTimeout: 10 * time.Minute})
	s := newStarter(nil)
	limits := Limits{Provisioned: 1}
	if err := m.Ensure(v1, s, limits); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now()
	a := acquire(t, m, v1, s, limits)
	b := acquire(t, m, v1, s, limits)
	c := acquire(t, m, v1, s, limits)
	ai, bi, ci := a.Instance.(*fakeInstance), b.Instance.(*fakeInstance), c.Instance.(*fakeInstance)
	a.Release(false)
	clock.Advance(time.Minute)
	b.Release(false)
	clock.Advance(time.Minute)
	c.Release(false)

	if n := m.Reap(t0.Add(7 * time.Minute)); n != 0 {
		t.Errorf("Reap before IdleTimeout closed %d", n)
	}
	if n := m.Reap(t0.Add(10*time.Minute + 30*time.Second)); n != 1 || !ai.isClosed() {
		t.Errorf("Reap closed %d (oldest closed: %v), want the oldest", n, ai.isClosed())
	}
	if n := m.Reap(t0.Add(time.Hour)); n != 1 || !bi.isClosed() || ci.isClosed() {
		t.Errorf("Reap closed %d, want 1 and the provisioned count kept", n)
	}
	if st := stats(t, m, v1); st.Idle != 1 || st.Reaped != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBackgroundReaperScalesToZero(t *testing.T) {
	m, clock := newManager(t, Config{IdleTimeout: 5 * time.Minute, ReapInterval: time.Minute})
	s := newStarter(nil)
	idle := acquire(t, m, v1, s, Limits{})
	idle.Release(false)
	clock.waitFor(t, time.Minute)
	clock.Advance(5 * time.Minute)
	<-s.instance(0).closed
	if st := stats(t, m, v1); st.Idle != 0 || st.Reaped != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRetire(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	a := acquire(t, m, v1, s, Limits{})
	b := acquire(t, m, v1, s, Limits{})
	ai, bi := a.Instance.(*fakeInstance), b.Instance.(*fakeInstance)
	a.Release(false)

	m.Retire(v1)
	if !ai.isClosed() {
		t.Error("idle instance open after Retire")
	}
	if bi.isClosed() {
		t.Error("busy instance closed by Retire")
	}
	if _, ok := m.StatsOf(v1); ok {
		t.Error("retired version still served")
	}
	if all := m.Stats(); len(all) != 1 || !all[0].Retired || all[0].Busy != 1 {
		t.Errorf("Stats = %+v, want the retired version with one busy instance", all)
	}
	b.Release(false)
	if !bi.isClosed() {
		t.Error("instance of a retired version kept after release")
	}
	if all := m.Stats(); len(all) != 0 {
		t.Errorf("Stats = %+v, want none", all)
	}

	// Served again, it starts afresh.
	l := acquire(t, m, v1, s, Limits{})
	if !l.Cold {
		t.Error("lease after Retire is warm")
	}
	l.Release(false)
}

func TestRetireStopsProvisioning(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	if err := m.Ensure(v1, s, Limits{Provisioned: 1}); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	m.Retire(v1)
	if !s.instance(0).isClosed() {
		t.Error("provisioned instance open after Retire")
	}
	if err := m.Ready(context.Background(), v1); !errors.Is(err, ErrNotServed) {
		t.Errorf("Ready after Retire: %v, want ErrNotServed", err)
	}
	for backgroundGoroutines() > 1 { // the reaper stays
		runtime.Gosched()
	}
	if s.count() != 1 {
		t.Errorf("%d starts, want 1", s.count())
	}
}

func TestShutdownWaitsForLease(t *testing.T) {
	m, _ := newManager(t, Config{})
	s1, s2 := newStarter(nil), newStarter(nil)
	if err := m.Ensure(v2, s2, Limits{Provisioned: 1}); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(context.Background(), v2); err != nil {
		t.Fatal(err)
	}
	l := acquire(t, m, v1, s1, Limits{})

	done := make(chan error, 1)
	go func() { done <- m.Shutdown(context.Background()) }()
	<-s2.instance(0).closed // idle instances close first

	if _, err := m.Acquire(context.Background(), v1, s1, Limits{}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire during Shutdown: %v, want ErrClosed", err)
	}
	if err := m.Ensure(v3, s1, Limits{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Ensure during Shutdown: %v, want ErrClosed", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a lease out", err)
	default:
	}
	if s1.instance(0).isClosed() {
		t.Fatal("leased instance closed before its release")
	}
	l.Release(false)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !s1.instance(0).isClosed() {
		t.Error("released instance open after Shutdown")
	}
	for backgroundGoroutines() > 0 {
		runtime.Gosched()
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestShutdownDeadlineClosesLeased(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	l := acquire(t, m, v1, s, Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want context.Canceled", err)
	}
	if !s.instance(0).isClosed() {
		t.Error("leased instance open after Shutdown gave up waiting")
	}
	l.Release(false)
	if n := s.instance(0).closes.Load(); n != 1 {
		t.Errorf("instance closed %d times, want 1", n)
	}
}

func TestShutdownCancelsProvisioningStart(t *testing.T) {
	m, _ := newManager(t, Config{})
	s := newStarter(nil)
	s.gate = make(chan struct{}) // never opened: the start waits for its context
	s.calls = make(chan struct{}, 1)
	if err := m.Ensure(v1, s, Limits{Provisioned: 1}); err != nil {
		t.Fatal(err)
	}
	<-s.calls
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for backgroundGoroutines() > 0 {
		runtime.Gosched()
	}
	if st := stats(t, m, v1); st.Starting != 0 || st.Idle != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestConcurrentAcquireRelease checks that a function never has more
// instances than its limit, whatever the interleaving.
func TestConcurrentAcquireRelease(t *testing.T) {
	const (
		limit      = 4
		workers    = 8
		iterations = 500
	)
	m, clock := newManager(t, Config{IdleTimeout: time.Minute})
	live := new(liveCounter)
	keys := []Key{v1, v2, v3}
	starters := []*fakeStarter{newStarter(live), newStarter(live), newStarter(live)}
	limits := []Limits{{Concurrency: limit, Provisioned: 1}, {Concurrency: limit}, {Concurrency: limit}}
	if err := m.Ensure(v1, starters[0], limits[0]); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var checkers sync.WaitGroup
	checkers.Add(2)
	go func() { // the pool's own view
		defer checkers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := 0
			for _, st := range m.Stats() {
				n += st.Idle + st.Busy + st.Starting
			}
			if n > limit {
				t.Errorf("idle+busy+starting = %d > %d", n, limit)
				return
			}
			runtime.Gosched()
		}
	}()
	go func() { // scale to zero now and then
		defer checkers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			clock.Advance(time.Minute)
			m.Reap(clock.Now())
			runtime.Gosched()
		}
	}()

	var ok, throttled atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range iterations {
				k := (w + i) % len(keys)
				l, err := m.Acquire(context.Background(), keys[k], starters[k], limits[k], nil)
				switch {
				case errors.Is(err, ErrThrottled):
					throttled.Add(1)
					continue
				case err != nil:
					t.Errorf("Acquire: %v", err)
					return
				}
				ok.Add(1)
				runtime.Gosched()
				l.Release(i%7 == 0)
			}
		})
	}
	wg.Wait()
	close(stop)
	checkers.Wait()

	if most := live.most.Load(); most > limit {
		t.Errorf("%d instances alive at once, limit %d", most, limit)
	}
	if ok.Load() == 0 {
		t.Error("no acquire succeeded")
	}
	t.Logf("%d leases, %d throttled, %d instances most", ok.Load(), throttled.Load(), live.most.Load())

	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range starters {
		for _, inst := range s.instances() {
			if n := inst.closes.Load(); n != 1 {
				t.Errorf("instance %d closed %d times, want 1", inst.id, n)
			}
		}
	}
	if n := live.n.Load(); n != 0 {
		t.Errorf("%d instances alive after Shutdown", n)
	}
}

func BenchmarkAcquireReleaseWarm(b *testing.B) {
	m, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	s := newStarter(nil)
	ctx := context.Background()
	l, err := m.Acquire(ctx, v1, s, Limits{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	l.Release(false)
	b.ReportAllocs()
	for b.Loop() {
		l, err := m.Acquire(ctx, v1, s, Limits{}, nil)
		if err != nil || l.Cold {
			b.Fatal(err, l.Cold)
		}
		l.Release(false)
	}
}

func BenchmarkAcquireReleaseWarmParallel(b *testing.B) {
	m, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	s := newStarter(nil)
	ctx := context.Background()
	b.ReportAllocs()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		key := Key{Function: fmt.Sprintf("fn%d", n.Add(1)%4), Version: "1"}
		for pb.Next() {
			l, err := m.Acquire(ctx, key, s, Limits{}, nil)
			if err != nil {
				b.Error(err)
				return
			}
			l.Release(false)
		}
	})
}

// TestSnapshotStatus checks that Stats and StatsOf carry the snapshot
// status a version's starter reports, as it changes, and nothing for a
// starter that reports none.
func TestSnapshotStatus(t *testing.T) {
	m, _ := newManager(t, Config{})
	snap := &snapshotStarter{fakeStarter: newStarter(nil), status: engine.SnapshotStatus{State: engine.SnapshotPending}}
	plain := newStarter(nil)
	other := Key{Function: "users", Version: "1"}

	l := acquire(t, m, v1, snap, Limits{})
	l.Release(false)
	l = acquire(t, m, other, plain, Limits{})
	l.Release(false)
	if got := stats(t, m, v1).Snapshot; got.State != engine.SnapshotPending || got.Reason != "" {
		t.Errorf("StatsOf(%s).Snapshot = %+v, want pending", v1, got)
	}
	if got := stats(t, m, other).Snapshot; got != (engine.SnapshotStatus{}) {
		t.Errorf("StatsOf(%s).Snapshot = %+v, want none from a starter that reports none", other, got)
	}

	failed := engine.SnapshotStatus{State: engine.SnapshotFailed, Reason: "warm-up returned an error"}
	snap.set(failed)
	if got := stats(t, m, v1).Snapshot; got != failed {
		t.Errorf("StatsOf(%s).Snapshot = %+v, want %+v", v1, got, failed)
	}
	all := m.Stats()
	if len(all) != 2 || all[0].Key != v1 || all[1].Key != other {
		t.Fatalf("Stats = %+v, want %s and %s", all, v1, other)
	}
	if all[0].Snapshot != failed || all[1].Snapshot != (engine.SnapshotStatus{}) {
		t.Errorf("Stats snapshots = %+v, %+v; want %+v and none", all[0].Snapshot, all[1].Snapshot, failed)
	}

	// A version configured with Ensure reports before any instance runs,
	// and a retired version with an instance still leased keeps reporting.
	snap2 := &snapshotStarter{fakeStarter: newStarter(nil), status: engine.SnapshotStatus{State: engine.SnapshotReady}}
	if err := m.Ensure(v2, snap2, Limits{}); err != nil {
		t.Fatal(err)
	}
	if got := stats(t, m, v2).Snapshot.State; got != engine.SnapshotReady {
		t.Errorf("StatsOf(%s).Snapshot.State = %q, want ready", v2, got)
	}
	l = acquire(t, m, v1, nil, Limits{})
	m.Retire(v1)
	found := false
	for _, st := range m.Stats() {
		if st.Key == v1 {
			found = true
			if !st.Retired || st.Snapshot != failed {
				t.Errorf("retired %s: Retired %t, Snapshot %+v; want true, %+v", v1, st.Retired, st.Snapshot, failed)
			}
		}
	}
	if !found {
		t.Errorf("Stats has no retired %s with its leased instance", v1)
	}
	l.Release(false)
}
