package wasm

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

type snapResult struct {
	Table     int    `json:"table"`
	Restored  int    `json:"restored"`
	Global    uint64 `json:"global"`
	Own       uint64 `json:"own"`
	Crypto    uint64 `json:"crypto"`
	SinceInit int64  `json:"sinceInit"`
	Sum       int    `json:"sum"`
	Calls     int    `json:"calls"`
	Instance  string `json:"instance"`
}

func snapshotSpec(s *engine.Spec) { s.Snapshot = true }

// snapshotEngine returns an engine with its own cache directory, so that
// snapshots do not leak between tests.
func snapshotEngine(t *testing.T) (*Engine, string) {
	dir := t.TempDir()
	return newEngine(t, Config{CacheDir: dir}), dir
}

// restored starts the first instance (which takes the snapshot) and
// returns a second one, started from it.
func restored(t *testing.T, fn engine.Function) engine.Instance {
	t.Helper()
	first, log := start(t, fn)
	if strings.Contains(log, "snapshot") {
		t.Fatalf("first cold start: %s", log)
	}
	var r snapResult
	ok(t, first, `{"action":"echo"}`, &r)
	if r.Restored != 0 {
		t.Fatalf("the capturing instance reports %d restores", r.Restored)
	}
	inst, log := start(t, fn)
	if log != "" {
		t.Fatalf("restored cold start logged %q", log)
	}
	ok(t, inst, `{"action":"echo"}`, &r)
	if r.Restored != 1 {
		t.Fatalf("instance was not restored: %+v", r)
	}
	return inst
}

func TestSnapshotSameOutput(t *testing.T) {
	e, dir := snapshotEngine(t)
	plain, _ := start(t, prepare(t, e, "snap", artifacts.snap, nil))
	inst := restored(t, prepare(t, e, "snap", artifacts.snap, snapshotSpec))

	for _, p := range []string{`{"action":"echo"}`, `{"action":"work","mib":40}`, `{"action":"nope"}`} {
		a, b := invoke(plain, p, 30*time.Second), invoke(inst, p, 30*time.Second)
		if a.err != nil || b.err != nil {
			t.Fatalf("%s: %v / %v", p, a.err, b.err)
		}
		// Restored differs from the plain instance only in its restore count.
		want := strings.Replace(string(a.resp.Payload), `"restored":0`, `"restored":1`, 1)
		if string(b.resp.Payload) != want || a.resp.FunctionError != b.resp.FunctionError || a.log != b.log {
			t.Errorf("%s:\nplain    %s %q\nrestored %s %q", p, a.resp.Payload, a.log, b.resp.Payload, b.log)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "snapshots", artifacts.snap.hash+"-*.mem"))
	if len(files) != 1 {
		t.Fatalf("cached snapshots: %v", files)
	}
	if fi, err := os.Stat(files[0]); err == nil {
		orig, _ := os.Stat(artifacts.snap.path)
		t.Logf("module %d bytes, snapshot %d bytes", orig.Size(), fi.Size())
	}
}

// TestSnapshotAfterRestore runs heap growth, the garbage collector,
// goroutines, timers and stdout in restored instances, repeatedly.
func TestSnapshotAfterRestore(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	inst := restored(t, fn)
	for i := range 3 {
		var r snapResult
		o := ok(t, inst, `{"action":"work","mib":60}`, &r)
		if r.Sum != 28+60 || o.log != "worked 88\n" || r.Table != 19999*19999 {
			t.Fatalf("call %d: %+v, log %q", i, r, o.log)
		}
	}
}

func TestSnapshotRandomness(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	_ = restored(t, fn)
	var a, b snapResult
	i1, _ := start(t, fn)
	i2, _ := start(t, fn)
	ok(t, i1, `{"action":"rand"}`, &a)
	ok(t, i2, `{"action":"rand"}`, &b)
	if a.Crypto == b.Crypto {
		t.Errorf("crypto/rand gave %d in two restored instances", a.Crypto)
	}
	if a.Own == b.Own {
		t.Errorf("a generator reseeded by OnRestore gave %d in two restored instances", a.Own)
	}
	// Go's runtime-seeded source, behind math/rand/v2's global functions,
	// is reseeded by the SDK's restore hook.
	if a.Global == b.Global {
		t.Errorf("math/rand/v2 gave %d in two restored instances", a.Global)
	}
}

func TestSnapshotClock(t *testing.T) {
	e, dir := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	capturing, _ := start(t, fn)
	time.Sleep(200 * time.Millisecond)
	inst, _ := start(t, fn)
	var r, c, again snapResult
	ok(t, inst, `{"action":"clock"}`, &r)
	ok(t, capturing, `{"action":"clock"}`, &c)
	ok(t, inst, `{"action":"clock"}`, &again)
	if r.Restored != 1 || r.SinceInit <= 0 || again.SinceInit < r.SinceInit {
		t.Fatalf("time since init %d, then %d", r.SinceInit, again.SinceInit)
	}
	// A restored instance's clock continues from the snapshot's reading
	// when it is restored: the 200 ms between the snapshot and the restore
	// never passed for it, while they did for the capturing instance.
	if c.SinceInit-r.SinceInit < int64(200*time.Millisecond) {
		t.Errorf("capturing instance: %s since init; restored: %s", time.Duration(c.SinceInit), time.Duration(r.SinceInit))
	}

	// A new process: a fresh engine whose monotonic clock starts anew
	// loads the cached snapshot, taken much "later" than now.
	files, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.mem"))
	if len(files) != 1 {
		t.Fatalf("cached snapshots: %v", files)
	}
	e2 := newEngine(t, Config{CacheDir: dir})
	fn2 := prepare(t, e2, "snap", artifacts.snap, snapshotSpec)
	f2 := fn2.(*function)
	f2.snap.cap.base = time.Now().Add(time.Hour) // the host clock reads -1h
	inst2, log := start(t, fn2)
	if log != "" {
		t.Fatalf("cold start from cached snapshot logged %q", log)
	}
	var r2 snapResult
	ok(t, inst2, `{"action":"clock"}`, &r2)
	if r2.Restored != 1 || r2.SinceInit <= 0 {
		t.Fatalf("from cache: %+v", r2)
	}
}

func TestSnapshotOtherVersion(t *testing.T) {
	e, dir := snapshotEngine(t)
	_ = restored(t, prepare(t, e, "snap", artifacts.snap, snapshotSpec))

	// The same cache, another gureum version: the snapshot is not used.
	e2 := newEngine(t, Config{CacheDir: dir, Version: "other"})
	fn := prepare(t, e2, "snap", artifacts.snap, snapshotSpec)
	inst, _ := start(t, fn)
	var r snapResult
	ok(t, inst, `{"action":"echo"}`, &r)
	if r.Restored != 0 {
		t.Fatal("a snapshot of another version was used")
	}

	// A damaged memory image fails its checksum, and is replaced.
	files, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.mem"))
	if len(files) == 0 {
		t.Fatal("no snapshot in the cache")
	}
	for _, f := range files {
		if err := os.WriteFile(f, make([]byte, 65536), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e3 := newEngine(t, Config{CacheDir: dir})
	inst3, log := start(t, prepare(t, e3, "snap", artifacts.snap, snapshotSpec))
	if !strings.Contains(log, "cached snapshot of snap not used") {
		t.Errorf("log %q", log)
	}
	ok(t, inst3, `{"action":"echo"}`, &r)
	if r.Restored != 0 {
		t.Fatal("a corrupt snapshot was used")
	}
}

// TestSnapshotFallback: a module without the restore hook (a command here
// is never snapshotted; the hello reactor has one) still starts.
func TestSnapshotFallback(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "command", artifacts.command, snapshotSpec)
	if fn.(*function).snap != nil {
		t.Fatal("a command got a snapshot")
	}
	inst, _ := start(t, fn)
	if o := invoke(inst, `{}`, 30*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
}

// TestSnapshotConcurrentColdStarts: cold starts while the snapshot is being
// taken start the normal way; all succeed.
func TestSnapshotConcurrentColdStarts(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	insts := make([]engine.Instance, 4)
	errs := make([]error, len(insts))
	var wg sync.WaitGroup
	for i := range insts {
		wg.Go(func() { insts[i], errs[i] = fn.NewInstance(context.Background(), io.Discard) })
	}
	wg.Wait()
	for i, inst := range insts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { _ = inst.Close(context.Background()) })
		var r snapResult
		ok(t, inst, `{"action":"echo"}`, &r)
	}
	if fn.(*function).SnapshotStatus().State != engine.SnapshotReady {
		t.Error("no snapshot after the cold starts")
	}
}

// TestSnapshotWarmup: the warm-up event runs once in the capturing
// instance before the snapshot, so restored instances start with its
// effects; each restored instance then has memory of its own (copy on
// write), and its own instance id.
func TestSnapshotWarmup(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, func(s *engine.Spec) {
		s.Snapshot = true
		s.SnapshotWarmup = []byte(`{"action":"count"}`)
	})
	if st := fn.(engine.SnapshotReporter).SnapshotStatus(); st.State != engine.SnapshotPending {
		t.Fatalf("status before the first cold start: %+v", st)
	}
	first, _ := start(t, fn)
	if st := fn.(engine.SnapshotReporter).SnapshotStatus(); st.State != engine.SnapshotReady {
		t.Fatalf("status after the first cold start: %+v", st)
	}
	a, _ := start(t, fn)
	b, _ := start(t, fn)

	var r snapResult
	ids := map[string]bool{}
	for _, c := range []struct {
		inst     engine.Instance
		calls    []int
		restored int
	}{
		{first, []int{2, 3}, 0}, // it served the warm-up itself
		{a, []int{2, 3, 4}, 1},  // the warm-up's count is in the snapshot
		{b, []int{2}, 1},        // a's calls are not: its writes are its own
	} {
		for _, want := range c.calls {
			ok(t, c.inst, `{"action":"count"}`, &r)
			if r.Calls != want || r.Restored != c.restored {
				t.Fatalf("count: %+v, want calls %d restored %d", r, want, c.restored)
			}
		}
		ids[r.Instance] = true
	}
	if len(ids) != 3 {
		t.Errorf("instance ids %v: want three different", ids)
	}
}

// TestSnapshotWarmupFails: a warm-up that fails leaves the function
// without a snapshot, says why in its status, and instances still start.
func TestSnapshotWarmupFails(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, func(s *engine.Spec) {
		s.Snapshot = true
		s.SnapshotWarmup = []byte(`{"action":"explode"}`)
	})
	inst, log := start(t, fn)
	if !strings.Contains(log, "no snapshot for snap") || !strings.Contains(log, `unknown action "explode"`) {
		t.Errorf("log %q", log)
	}
	st := fn.(engine.SnapshotReporter).SnapshotStatus()
	if st.State != engine.SnapshotFailed || !strings.Contains(st.Reason, "warm-up invocation returned an error") {
		t.Errorf("status %+v", st)
	}
	var r snapResult
	ok(t, inst, `{"action":"echo"}`, &r)
	again, _ := start(t, fn)
	ok(t, again, `{"action":"echo"}`, &r)
	if r.Restored != 0 {
		t.Error("an instance was restored from a failed snapshot")
	}
}

// TestSnapshotOff: a function without snapshots reports so.
func TestSnapshotOff(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, nil)
	if st := fn.(engine.SnapshotReporter).SnapshotStatus(); st.State != engine.SnapshotOff {
		t.Errorf("status %+v", st)
	}
}

// TestSnapshotStopped: a restored instance stopped by its timeout, or
// closed from another goroutine while it runs, stops cleanly (its mapped
// memory stays until the guest has left it), and the function goes on.
func TestSnapshotStopped(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	_ = restored(t, fn)
	for range 3 {
		inst, _ := start(t, fn)
		if o := invoke(inst, `{"action":"spin"}`, 200*time.Millisecond); !errors.Is(o.err, engine.ErrTimeout) {
			t.Fatalf("spin: %v", o.err)
		}
	}
	for range 3 {
		inst, _ := start(t, fn)
		done := make(chan outcome)
		go func() { done <- invoke(inst, `{"action":"spin"}`, time.Minute) }()
		time.Sleep(50 * time.Millisecond)
		if err := inst.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if o := <-done; o.err == nil {
			t.Fatal("an instance closed while it ran answered")
		}
		if o := invoke(inst, `{"action":"echo"}`, time.Minute); o.err == nil {
			t.Fatal("a closed instance answered")
		}
	}
	inst, _ := start(t, fn)
	var r snapResult
	ok(t, inst, `{"action":"echo"}`, &r)
	if r.Restored != 1 {
		t.Errorf("not restored: %+v", r)
	}
}

// TestSnapshotWarm: Warm takes the snapshot ahead of the first cold start,
// which then restores from it; a second Warm does nothing.
func TestSnapshotWarm(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	var log strings.Builder
	if err := fn.(engine.Warmer).Warm(context.Background(), &log); err != nil {
		t.Fatal(err)
	}
	if st := fn.(engine.SnapshotReporter).SnapshotStatus(); st.State != engine.SnapshotReady {
		t.Fatalf("status after Warm: %+v, log %q", st, log.String())
	}
	if err := fn.(engine.Warmer).Warm(context.Background(), &log); err != nil {
		t.Fatal(err)
	}
	inst, _ := start(t, fn)
	var r snapResult
	ok(t, inst, `{"action":"echo"}`, &r)
	if r.Restored != 1 {
		t.Errorf("the first cold start after Warm was not restored: %+v", r)
	}
	// A function without snapshots has nothing to warm.
	plain := prepare(t, e, "snap", artifacts.snap, nil)
	if err := plain.(engine.Warmer).Warm(context.Background(), &log); err != nil {
		t.Fatal(err)
	}
}

// waitStandby waits until fn keeps a standby instance and returns it.
func waitStandby(t *testing.T, fn engine.Function) *reactor {
	t.Helper()
	s := fn.(*function).snap
	deadline := time.Now().Add(10 * time.Second)
	for !s.status().Standby {
		if time.Now().After(deadline) {
			t.Fatal("no standby instance after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.standby
}

// TestSnapshotStandby: once the snapshot is taken, a standby instance is
// instantiated from it; the next cold start takes it and runs only the
// restore hook, and another is made. Instances taken from standby are
// restored instances like the others: their own random state and
// instance id, and a clock on which their wait never passed.
func TestSnapshotStandby(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	capturing, _ := start(t, fn)

	sb := waitStandby(t, fn)
	time.Sleep(200 * time.Millisecond)
	i1, log := start(t, fn)
	if i1 != engine.Instance(sb) {
		t.Fatal("the cold start did not take the standby instance")
	}
	if log != "" {
		t.Fatalf("cold start from standby logged %q", log)
	}
	var r1, c snapResult
	ok(t, i1, `{"action":"clock"}`, &r1)
	ok(t, capturing, `{"action":"clock"}`, &c)
	if r1.Restored != 1 || r1.SinceInit <= 0 {
		t.Fatalf("from standby: %+v", r1)
	}
	if c.SinceInit-r1.SinceInit < int64(200*time.Millisecond) {
		t.Errorf("the wait on standby passed for the guest: capturing instance %s since init, standby %s",
			time.Duration(c.SinceInit), time.Duration(r1.SinceInit))
	}

	sb2 := waitStandby(t, fn)
	if sb2 == sb {
		t.Fatal("the standby taken is still the standby")
	}
	i2, _ := start(t, fn)
	if i2 != engine.Instance(sb2) {
		t.Fatal("the second cold start did not take the new standby instance")
	}
	var a, b snapResult
	ok(t, i1, `{"action":"rand"}`, &a)
	ok(t, i2, `{"action":"rand"}`, &b)
	if a.Crypto == b.Crypto || a.Own == b.Own || a.Global == b.Global {
		t.Errorf("two instances from standby share random state: %+v / %+v", a, b)
	}
	ok(t, i1, `{"action":"count"}`, &a)
	ok(t, i2, `{"action":"count"}`, &b)
	if a.Instance == "" || a.Instance == b.Instance {
		t.Errorf("instance ids %q and %q", a.Instance, b.Instance)
	}

	// Closing the function closes its standby; cold starts then fail.
	waitStandby(t, fn)
	if err := fn.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fn.(*function).snap.status().Standby {
		t.Error("a closed function keeps a standby instance")
	}
	if _, err := fn.NewInstance(context.Background(), io.Discard); err == nil {
		t.Error("a closed function started an instance")
	}
}

// TestSnapshotNoStandby: an engine configured with NoStandby restores every
// cold start on demand.
func TestSnapshotNoStandby(t *testing.T) {
	e := newEngine(t, Config{CacheDir: t.TempDir(), NoStandby: true})
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	_ = restored(t, fn)
	s := fn.(*function).snap
	s.mu.Lock()
	standby, filling := s.standby != nil, s.filling
	s.mu.Unlock()
	if standby || filling {
		t.Errorf("standby %v, filling %v with NoStandby", standby, filling)
	}
}

// TestSnapshotHotPages: the pages restored instances write early (in the
// restore hook and their first invocation) are learned from the image's
// first restored instances, and a standby instance has written them before
// it is taken, so that its first invocation does not fault on them.
func TestSnapshotHotPages(t *testing.T) {
	e, _ := snapshotEngine(t)
	fn := prepare(t, e, "snap", artifacts.snap, snapshotSpec)
	_ = restored(t, fn) // its first invocation is learned
	img := fn.(*function).snap.img
	hot := img.hot.runs()
	if len(hot) == 0 {
		t.Skip("the kernel's page map shows no written pages here")
	}
	var n uint32
	for _, r := range hot {
		n += r.count
	}
	t.Logf("%d hot pages in %d runs", n, len(hot))

	// The standby made after the learning has them written.
	_, _ = start(t, fn) // takes the standby made before the first invocation was learned
	sb := waitStandby(t, fn)
	written := map[uint32]bool{}
	for _, r := range sb.guard.(pageToucher).written(uint64(sb.mem.Size())) {
		for p := r.first; p < r.first+r.count; p++ {
			written[p] = true
		}
	}
	for _, r := range hot {
		for p := r.first; p < r.first+r.count; p++ {
			if !written[p] {
				t.Fatalf("hot page %d is not written in the standby instance", p)
			}
		}
	}
	inst, _ := start(t, fn)
	var res snapResult
	ok(t, inst, `{"action":"work","mib":10}`, &res)
	if res.Restored != 1 || res.Sum != 28+10 {
		t.Errorf("standby instance with its hot pages written: %+v", res)
	}
}
