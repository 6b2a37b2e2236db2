package pool

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// Manager holds one pool of instances per function version. One Manager
// serves a node. Create it with New and stop it with Shutdown.
type Manager struct {
	cfg   Config
	clock Clock

	// ctx is handed to provisioned starts; cancelled by Shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{} // closed by Shutdown: background goroutines return
	done   chan struct{} // closed when Shutdown has finished
	wg     sync.WaitGroup

	// leased counts Acquire calls in progress plus leases not yet released.
	leased atomic.Int64
	// closing is set (under mu) when Shutdown begins.
	closing atomic.Bool
	// drained receives a token when leased drops to zero while closing.
	drained chan struct{}

	mu  sync.RWMutex
	fns map[string]*function
}

// function is the state of one function, all its versions included. Its lock
// guards every field of its versions and their instances.
type function struct {
	m    *Manager
	name string

	mu       sync.Mutex
	removed  bool                // taken out of Manager.fns; look it up again
	versions map[string]*version // served versions
	retired  []*version          // retired versions with instances left
	// instances counts every instance of the function that holds a slot of
	// its concurrency limit: idle, busy, starting and closing.
	instances int
}

// version is the pool of one function version.
type version struct {
	fn      *function
	key     Key
	starter Starter
	limits  Limits

	idle []*instance // last in, first out: idle[len-1] was used last
	all  []*instance // every started instance not yet closed

	busy, starting, closing int

	retired      bool
	provisioning bool          // a provision goroutine runs for this version
	wake         chan struct{} // capacity 1: the provisioner may find work
	quit         chan struct{} // closed on retirement
	ready        chan struct{} // closed when provisioned instances come up; nil when nobody waits

	coldStarts, warmStarts, throttles, startErrors uint64
	reaped, reclaimed, discarded                   uint64
}

// instance is one engine instance and its bookkeeping.
type instance struct {
	v         *version
	ei        engine.Instance
	gen       uint64 // bumped on every lease; a Lease remembers its own
	leased    bool
	killed    bool // closed by Shutdown while leased
	idleSince time.Time
}

// New returns a running Manager: its idle reaper is started.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg:     cfg,
		clock:   cfg.Clock,
		ctx:     ctx,
		cancel:  cancel,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		drained: make(chan struct{}, 1),
		fns:     make(map[string]*function),
	}
	m.wg.Add(1)
	go m.reaper()
	return m, nil
}

// Lease is one instance lent to one invocation. Release it when the
// invocation ends; Release clears Instance, and further releases, of the
// lease or of copies of it, do nothing. A Lease is a value so that a warm
// acquire allocates nothing.
type Lease struct {
	Instance     engine.Instance
	Cold         bool          // the instance was started for this lease
	InitDuration time.Duration // how long that start took; 0 when warm

	inst *instance
	gen  uint64
}

// Acquire leases an instance of key: the idle one used last if there is one,
// else a new one started in the caller's goroutine with starter (output of
// its initialization goes to initLog, which may be nil). starter may be nil
// when Ensure configured key with one. A change of limits takes effect as
// with Ensure. Past the function's concurrency limit Acquire fails with
// ErrThrottled; a failed start returns the starter's error, wrapped.
func (m *Manager) Acquire(ctx context.Context, key Key, starter Starter, limits Limits, initLog io.Writer) (Lease, error) {
	m.leased.Add(1)
	if m.closing.Load() {
		m.leaseDone()
		return Lease{}, ErrClosed
	}
	for {
		fn := m.function(key.Function)
		fn.mu.Lock()
		if fn.removed {
			fn.mu.Unlock()
			continue
		}
		v := fn.versions[key.Version]
		provision := false
		if v == nil || v.limits != limits {
			if err := limits.validate(m.cfg.DefaultConcurrency); err != nil {
				fn.mu.Unlock()
				m.leaseDone()
				return Lease{}, fmt.Errorf("%s: %w", key, err)
			}
			v, provision = fn.configureLocked(key, starter, limits)
		}
		if n := len(v.idle); n > 0 {
			inst := v.idle[n-1]
			v.idle[n-1] = nil
			v.idle = v.idle[:n-1]
			inst.leased = true
			inst.gen++
			v.busy++
			v.warmStarts++
			fn.mu.Unlock()
			if provision {
				m.startProvisioner(v)
			}
			return Lease{Instance: inst.ei, inst: inst, gen: inst.gen}, nil
		}
		if starter == nil {
			starter = v.starter
		}
		if starter == nil {
			fn.mu.Unlock()
			m.leaseDone()
			return Lease{}, fmt.Errorf("acquire %s: no starter", key)
		}
		var victim *instance
		if fn.instances >= m.limit(v.limits) {
			// The victim's slot passes to the new instance.
			victim = fn.reclaimLocked(v)
			if victim == nil {
				v.throttles++
				fn.mu.Unlock()
				if provision {
					m.startProvisioner(v)
				}
				m.leaseDone()
				return Lease{}, ErrThrottled
			}
		} else {
			fn.instances++
		}
		v.starting++
		fn.mu.Unlock()
		if provision {
			m.startProvisioner(v)
		}
		return m.coldStart(ctx, v, starter, victim, initLog)
	}
}

// coldStart starts an instance for a lease. The caller has counted it in
// v.starting and in the function's instances.
func (m *Manager) coldStart(ctx context.Context, v *version, starter Starter, victim *instance, initLog io.Writer) (Lease, error) {
	if victim != nil {
		m.closeEngine(victim)
	}
	if initLog == nil {
		initLog = io.Discard
	}
	begin := time.Now()
	ei, err := starter.NewInstance(ctx, initLog)
	initDuration := time.Since(begin)
	if err == nil && ei == nil {
		err = fmt.Errorf("starter returned no instance")
	}
	fn := v.fn
	fn.mu.Lock()
	v.starting--
	if err != nil {
		v.startErrors++
		empty := fn.goneLocked(v)
		fn.mu.Unlock()
		if empty {
			m.removeIfEmpty(fn)
		}
		m.leaseDone()
		return Lease{}, fmt.Errorf("start instance of %s: %w", v.key, err)
	}
	inst := &instance{v: v, ei: ei, leased: true, gen: 1}
	v.all = append(v.all, inst)
	v.busy++
	v.coldStarts++
	fn.mu.Unlock()
	return Lease{Instance: ei, Cold: true, InitDuration: initDuration, inst: inst, gen: inst.gen}, nil
}

// Release gives the instance back. discard closes it instead, for an
// invocation that broke it (an error from Invoke: timeout, crash). An
// instance of a retired version, or released during Shutdown, is closed too.
// Closing happens in the caller's goroutine.
func (l *Lease) Release(discard bool) {
	inst := l.inst
	if inst == nil {
		return
	}
	l.inst = nil
	l.Instance = nil
	v := inst.v
	fn := v.fn
	m := fn.m
	var now time.Time
	if !discard {
		now = m.clock.Now()
	}
	fn.mu.Lock()
	if !inst.leased || inst.gen != l.gen {
		fn.mu.Unlock()
		return
	}
	inst.leased = false
	v.busy--
	switch {
	case inst.killed:
		v.forgetLocked(inst)
		empty := fn.goneLocked(v)
		fn.mu.Unlock()
		if empty {
			m.removeIfEmpty(fn)
		}
	case discard || v.retired || m.closing.Load():
		if discard {
			v.discarded++
		}
		v.closing++
		fn.mu.Unlock()
		m.closeInstance(inst)
	default:
		inst.idleSince = now
		v.idle = append(v.idle, inst)
		fn.mu.Unlock()
	}
	m.leaseDone()
}

// Ensure configures key: the starter of its provisioned instances and its
// limits. Provisioned instances are started in the background; Ready waits
// for them. Call it when a version is deployed and at start-up.
func (m *Manager) Ensure(key Key, starter Starter, limits Limits) error {
	if starter == nil {
		return fmt.Errorf("ensure %s: no starter", key)
	}
	if err := limits.validate(m.cfg.DefaultConcurrency); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing.Load() {
		return ErrClosed
	}
	fn := m.fns[key.Function]
	if fn == nil {
		fn = m.newFunction(key.Function)
		m.fns[key.Function] = fn
	}
	fn.mu.Lock()
	v, provision := fn.configureLocked(key, starter, limits)
	fn.mu.Unlock()
	if provision {
		m.goLocked(func() { m.provision(v) })
	}
	return nil
}

// Ready waits until key's provisioned instances are all initialized. It
// fails with ErrNotServed if key is not configured (or is retired meanwhile),
// with ErrClosed on Shutdown, or with ctx's error.
func (m *Manager) Ready(ctx context.Context, key Key) error {
	for {
		m.mu.RLock()
		fn := m.fns[key.Function]
		m.mu.RUnlock()
		if m.closing.Load() {
			return ErrClosed
		}
		if fn == nil {
			return fmt.Errorf("%s: %w", key, ErrNotServed)
		}
		fn.mu.Lock()
		if fn.removed {
			fn.mu.Unlock()
			continue
		}
		v := fn.versions[key.Version]
		if v == nil {
			fn.mu.Unlock()
			return fmt.Errorf("%s: %w", key, ErrNotServed)
		}
		if len(v.idle)+v.busy >= v.limits.Provisioned {
			fn.mu.Unlock()
			return nil
		}
		if v.ready == nil {
			v.ready = make(chan struct{})
		}
		ready := v.ready
		fn.mu.Unlock()
		select {
		case <-ready:
		case <-m.stop:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Retire stops serving key: its idle instances are closed now, its leased
// ones when released, and it is no longer provisioned. A later Acquire or
// Ensure of key starts afresh.
func (m *Manager) Retire(key Key) {
	m.mu.RLock()
	fn := m.fns[key.Function]
	m.mu.RUnlock()
	if fn == nil {
		return
	}
	fn.mu.Lock()
	v := fn.versions[key.Version]
	if v == nil || fn.removed {
		fn.mu.Unlock()
		return
	}
	delete(fn.versions, key.Version)
	v.retired = true
	close(v.quit)
	v.notifyReadyLocked()
	victims := v.takeIdleLocked(len(v.idle))
	if v.busy+v.starting+v.closing > 0 {
		fn.retired = append(fn.retired, v)
	}
	empty := fn.emptyLocked()
	fn.mu.Unlock()
	for _, inst := range victims {
		m.closeInstance(inst)
	}
	if empty {
		m.removeIfEmpty(fn)
	}
}

// Reap closes the instances that have been idle since now-IdleTimeout or
// earlier, beyond each version's provisioned count, least recently used
// first, and returns how many it closed. The background reaper calls it.
func (m *Manager) Reap(now time.Time) int {
	cutoff := now.Add(-m.cfg.IdleTimeout)
	var victims []*instance
	for _, fn := range m.functions() {
		fn.mu.Lock()
		for _, v := range fn.versions {
			n := 0
			for n < len(v.idle) && v.countLocked()-n > v.limits.Provisioned && !v.idle[n].idleSince.After(cutoff) {
				n++
			}
			v.reaped += uint64(n)
			victims = append(victims, v.takeIdleLocked(n)...)
		}
		fn.mu.Unlock()
	}
	for _, inst := range victims {
		m.closeInstance(inst)
	}
	return len(victims)
}

// Shutdown stops the reaper and the provisioners, closes idle instances,
// waits until every leased instance is released or ctx ends, and then closes
// those still leased (their invocations fail). It returns ctx's error if
// leases had to be cut short. Acquire and Ensure fail with ErrClosed from
// the start of Shutdown. Calling it again waits for the first call.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.closing.Load() {
		m.mu.Unlock()
		select {
		case <-m.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.closing.Store(true)
	close(m.stop)
	m.cancel()
	m.mu.Unlock()

	var victims []*instance
	for _, fn := range m.functions() {
		fn.mu.Lock()
		for _, v := range fn.versions {
			victims = append(victims, v.takeIdleLocked(len(v.idle))...)
		}
		fn.mu.Unlock()
	}
	for _, inst := range victims {
		m.closeInstance(inst)
	}

	var err error
wait:
	for m.leased.Load() > 0 {
		select {
		case <-m.drained:
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		}
	}
	if err != nil {
		m.killLeased()
	}
	m.wg.Wait()
	close(m.done)
	return err
}

// killLeased closes the instances still leased; their leases' Release then
// only forgets them.
func (m *Manager) killLeased() {
	var victims []*instance
	for _, fn := range m.functions() {
		fn.mu.Lock()
		for _, v := range fn.versions {
			victims = v.killLeasedLocked(victims)
		}
		for _, v := range fn.retired {
			victims = v.killLeasedLocked(victims)
		}
		fn.mu.Unlock()
	}
	for _, inst := range victims {
		m.closeEngine(inst)
	}
}

func (v *version) killLeasedLocked(victims []*instance) []*instance {
	for _, inst := range v.all {
		if inst.leased && !inst.killed {
			inst.killed = true
			victims = append(victims, inst)
		}
	}
	return victims
}

// Stats returns every version's figures, ordered by function and version.
func (m *Manager) Stats() []Stats {
	var out []Stats
	var starters []Starter
	for _, fn := range m.functions() {
		fn.mu.Lock()
		for _, v := range fn.versions {
			out = append(out, v.statsLocked())
			starters = append(starters, v.starter)
		}
		for _, v := range fn.retired {
			out = append(out, v.statsLocked())
			starters = append(starters, v.starter)
		}
		fn.mu.Unlock()
	}
	// The starters are asked with no lock held, as every call to them is.
	for i, s := range starters {
		out[i].Snapshot = snapshotStatus(s)
	}
	slices.SortFunc(out, func(a, b Stats) int {
		return cmp.Or(
			cmp.Compare(a.Key.Function, b.Key.Function),
			cmp.Compare(len(a.Key.Version), len(b.Key.Version)), // numeric versions: 9 before 10
			cmp.Compare(a.Key.Version, b.Key.Version),
			compareBool(a.Retired, b.Retired),
		)
	})
	return out
}

// StatsOf returns key's figures, if key is served.
func (m *Manager) StatsOf(key Key) (Stats, bool) {
	m.mu.RLock()
	fn := m.fns[key.Function]
	m.mu.RUnlock()
	if fn == nil {
		return Stats{}, false
	}
	fn.mu.Lock()
	v := fn.versions[key.Version]
	if v == nil {
		fn.mu.Unlock()
		return Stats{}, false
	}
	st, starter := v.statsLocked(), v.starter
	fn.mu.Unlock()
	st.Snapshot = snapshotStatus(starter)
	return st, true
}

// snapshotStatus asks a starter where its snapshot stands; the zero status
// when it does not say (nil, or no engine.SnapshotReporter).
func snapshotStatus(s Starter) engine.SnapshotStatus {
	if r, ok := s.(engine.SnapshotReporter); ok {
		return r.SnapshotStatus()
	}
	return engine.SnapshotStatus{}
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func (v *version) statsLocked() Stats {
	return Stats{
		Key:         v.key,
		Retired:     v.retired,
		Idle:        len(v.idle),
		Busy:        v.busy,
		Starting:    v.starting,
		Provisioned: v.limits.Provisioned,
		ColdStarts:  v.coldStarts,
		WarmStarts:  v.warmStarts,
		Throttles:   v.throttles,
		StartErrors: v.startErrors,
		Reaped:      v.reaped,
		Reclaimed:   v.reclaimed,
		Discarded:   v.discarded,
	}
}

// reaper calls Reap every ReapInterval until Shutdown.
func (m *Manager) reaper() {
	defer m.wg.Done()
	for {
		select {
		case <-m.clock.After(m.cfg.ReapInterval):
			m.Reap(m.clock.Now())
		case <-m.stop:
			return
		}
	}
}

// provision keeps v's provisioned instances started until v is retired, its
// target drops to zero or the Manager shuts down.
func (m *Manager) provision(v *version) {
	defer m.wg.Done()
	fn := v.fn
	backoff := m.cfg.RetryMin
	for {
		fn.mu.Lock()
		if v.retired || m.closing.Load() || v.limits.Provisioned == 0 {
			v.provisioning = false
			fn.mu.Unlock()
			return
		}
		if v.countLocked() >= v.limits.Provisioned || fn.instances >= m.limit(v.limits) {
			fn.mu.Unlock()
			select {
			case <-v.wake:
			case <-v.quit:
			case <-m.stop:
			}
			continue
		}
		v.starting++
		fn.instances++
		starter := v.starter
		fn.mu.Unlock()

		initLog := io.Writer(io.Discard)
		if m.cfg.InitLog != nil {
			initLog = m.cfg.InitLog(v.key)
		}
		ei, err := starter.NewInstance(m.ctx, initLog)
		if err == nil && ei == nil {
			err = fmt.Errorf("starter returned no instance")
		}

		fn.mu.Lock()
		v.starting--
		if err != nil {
			v.startErrors++
			empty := fn.goneLocked(v)
			fn.mu.Unlock()
			if empty {
				m.removeIfEmpty(fn)
			}
			if m.closing.Load() {
				continue
			}
			m.report(v.key, fmt.Errorf("start provisioned instance of %s: %w", v.key, err))
			select {
			case <-m.clock.After(backoff):
			case <-v.quit:
			case <-m.stop:
			}
			backoff = min(backoff*2, m.cfg.RetryMax)
			continue
		}
		backoff = m.cfg.RetryMin
		inst := &instance{v: v, ei: ei}
		v.all = append(v.all, inst)
		if v.retired || m.closing.Load() {
			v.closing++
			fn.mu.Unlock()
			m.closeInstance(inst)
			continue
		}
		inst.idleSince = m.clock.Now()
		v.idle = append(v.idle, inst)
		v.notifyReadyLocked()
		fn.mu.Unlock()
	}
}

// startProvisioner starts v's provision goroutine unless the Manager is
// shutting down.
func (m *Manager) startProvisioner(v *version) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.goLocked(func() { m.provision(v) })
}

// goLocked runs f in a goroutine that Shutdown awaits; m.mu must be held, so
// that no goroutine starts once Shutdown waits.
func (m *Manager) goLocked(f func()) {
	if m.closing.Load() {
		return
	}
	m.wg.Add(1)
	go f()
}

// function returns the function called name, creating it if needed.
func (m *Manager) function(name string) *function {
	m.mu.RLock()
	fn := m.fns[name]
	m.mu.RUnlock()
	if fn != nil {
		return fn
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fn = m.fns[name]
	if fn == nil {
		fn = m.newFunction(name)
		m.fns[name] = fn
	}
	return fn
}

func (m *Manager) newFunction(name string) *function {
	return &function{m: m, name: name, versions: make(map[string]*version)}
}

// functions returns a snapshot of the functions.
func (m *Manager) functions() []*function {
	m.mu.RLock()
	defer m.mu.RUnlock()
	fns := make([]*function, 0, len(m.fns))
	for _, fn := range m.fns {
		fns = append(fns, fn)
	}
	return fns
}

// removeIfEmpty forgets fn if it has no versions and no instances left.
func (m *Manager) removeIfEmpty(fn *function) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if !fn.removed && fn.emptyLocked() && m.fns[fn.name] == fn {
		fn.removed = true
		delete(m.fns, fn.name)
	}
}

// limit is the concurrency limit that l sets.
func (m *Manager) limit(l Limits) int {
	if l.Concurrency > 0 {
		return l.Concurrency
	}
	return m.cfg.DefaultConcurrency
}

// leaseDone ends one Acquire or lease.
func (m *Manager) leaseDone() {
	if m.leased.Add(-1) == 0 && m.closing.Load() {
		select {
		case m.drained <- struct{}{}:
		default:
		}
	}
}

// closeInstance closes inst, which the caller has taken out of the idle
// list and counted in its version's closing count, and then forgets it.
func (m *Manager) closeInstance(inst *instance) {
	m.closeEngine(inst)
	v := inst.v
	fn := v.fn
	fn.mu.Lock()
	v.closing--
	v.forgetLocked(inst)
	empty := fn.goneLocked(v)
	fn.mu.Unlock()
	if empty {
		m.removeIfEmpty(fn)
	}
}

// closeEngine closes inst's engine instance, reporting a failure.
func (m *Manager) closeEngine(inst *instance) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.CloseTimeout)
	defer cancel()
	if err := inst.ei.Close(ctx); err != nil {
		m.report(inst.v.key, fmt.Errorf("close instance of %s: %w", inst.v.key, err))
	}
}

func (m *Manager) report(key Key, err error) {
	if m.cfg.OnError != nil {
		m.cfg.OnError(key, err)
	}
}

// configureLocked creates or updates the version named by key. It reports
// whether the caller must start the version's provision goroutine.
func (fn *function) configureLocked(key Key, starter Starter, limits Limits) (v *version, provision bool) {
	v = fn.versions[key.Version]
	if v == nil {
		v = &version{
			fn:   fn,
			key:  key,
			wake: make(chan struct{}, 1),
			quit: make(chan struct{}),
		}
		fn.versions[key.Version] = v
	}
	if starter != nil {
		v.starter = starter
	}
	v.limits = limits
	v.notifyReadyLocked() // Ready re-checks against the new target
	fn.wakeLocked()       // a higher limit may make room for provisioning
	if limits.Provisioned > 0 && !v.provisioning && v.starter != nil {
		v.provisioning = true
		provision = true
	}
	return v, provision
}

// reclaimLocked takes an idle instance of another version of fn out of its
// pool to make room for one of except: the least recently used among those
// beyond their version's provisioned count, else among all. The caller
// closes it; its slot of the concurrency limit passes to the caller.
func (fn *function) reclaimLocked(except *version) *instance {
	var best *version
	bestSpare := false
	for _, v := range fn.versions {
		if v == except || len(v.idle) == 0 {
			continue
		}
		spare := v.countLocked() > v.limits.Provisioned
		if best == nil || (spare && !bestSpare) ||
			(spare == bestSpare && v.idle[0].idleSince.Before(best.idle[0].idleSince)) {
			best, bestSpare = v, spare
		}
	}
	if best == nil {
		return nil
	}
	inst := best.takeIdleLocked(1)[0]
	best.closing--
	best.forgetLocked(inst)
	best.reclaimed++
	best.notifyReadyLocked()
	return inst
}

// goneLocked accounts for an instance of v that no longer exists (closed or
// never started) and reports whether fn is now empty.
func (fn *function) goneLocked(v *version) bool {
	fn.instances--
	fn.wakeLocked()
	if v.retired && v.busy+v.starting+v.closing == 0 {
		if i := slices.Index(fn.retired, v); i >= 0 {
			fn.retired = slices.Delete(fn.retired, i, i+1)
		}
	}
	return fn.emptyLocked()
}

func (fn *function) emptyLocked() bool {
	return len(fn.versions) == 0 && len(fn.retired) == 0 && fn.instances == 0
}

// wakeLocked tells fn's provisioners that a slot may have come free.
func (fn *function) wakeLocked() {
	for _, v := range fn.versions {
		if v.provisioning {
			select {
			case v.wake <- struct{}{}:
			default:
			}
		}
	}
}

// countLocked is how many instances v has, closing ones excepted.
func (v *version) countLocked() int {
	return len(v.idle) + v.busy + v.starting
}

// takeIdleLocked removes the n least recently used idle instances and counts
// them as closing.
func (v *version) takeIdleLocked(n int) []*instance {
	if n == 0 {
		return nil
	}
	taken := slices.Clone(v.idle[:n])
	rest := copy(v.idle, v.idle[n:])
	clear(v.idle[rest:])
	v.idle = v.idle[:rest]
	v.closing += n
	return taken
}

// forgetLocked drops inst from v's instances.
func (v *version) forgetLocked(inst *instance) {
	if i := slices.Index(v.all, inst); i >= 0 {
		last := len(v.all) - 1
		v.all[i] = v.all[last]
		v.all[last] = nil
		v.all = v.all[:last]
	}
}

// notifyReadyLocked wakes the callers of Ready.
func (v *version) notifyReadyLocked() {
	if v.ready != nil {
		close(v.ready)
		v.ready = nil
	}
}
