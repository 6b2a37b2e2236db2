package main

// Rows 17 to 19: wasm functions whose instances start from a snapshot of an
// initialized one (engine.Spec.Snapshot, `snapshot: true` in gureum.yaml),
// each figure beside the same function started the normal way in the same
// run. Everything here goes through the engine's and the node's public API,
// so the rows measure whichever snapshot implementation is in the tree.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/build"
	"github.com/gureum/gureum/internal/cli"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/wasm"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/server"
)

const (
	// heavyPackage is the heavy-initialization function (a 20,000-entry
	// map built by its package initialization).
	heavyPackage = "bench/testdata/heavy"
	// sleepPackage is the scale-from-zero function (an HTTP handler that
	// holds each request until a release URL of its query answers).
	sleepPackage = "bench/testdata/sleepfn"
	// sleepPath is the route the scale-from-zero function is deployed on.
	sleepPath = "/sleep"

	// snapVersion is the gureum version the snapshot engines are configured
	// with; it is part of every snapshot's cache key.
	snapVersion = "bench"
	// snapColdTarget is what a cold start from a snapshot, first response
	// included, is held to.
	snapColdTarget = 500 * time.Microsecond
)

// builtWasm is a function built into a wasm reactor.
type builtWasm struct {
	path, hash string
}

// wasmArtifact builds the Go package pkg (relative to the module root) into
// a wasm reactor once per run, logs its size and build time, and returns
// its path and hash. The quickstart function is built through it too.
func (e *env) wasmArtifact(ctx context.Context, pkg string) (string, string, error) {
	if b, ok := e.built[pkg]; ok {
		return b.path, b.hash, nil
	}
	out := filepath.Join(e.work, filepath.Base(pkg)+".wasm")
	t0 := time.Now()
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := build.Go(bctx, build.Options{
		Dir:    filepath.Join(e.root, filepath.FromSlash(pkg)),
		Output: out,
		Target: build.TargetWasm,
		Env:    os.Environ(),
	}); err != nil {
		return "", "", fmt.Errorf("build %s: %w", pkg, err)
	}
	hash, err := build.HashFile(out)
	if err != nil {
		return "", "", err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return "", "", err
	}
	e.logf("built %s: %.1f MB in %s", pkg, float64(fi.Size())/1e6, time.Since(t0).Round(time.Millisecond))
	if e.built == nil {
		e.built = make(map[string]builtWasm)
	}
	e.built[pkg] = builtWasm{path: out, hash: hash}
	return out, hash, nil
}

// snapFunction is a function of the snapshot rows: what it is called, the
// small event of its first invocation and how its answer is checked.
type snapFunction struct {
	kind  string // "light" or "heavy": the -child mode's suffix
	label string // in row names
	name  string // engine.Spec.Function
	event []byte
	want  string // the answer holds this
	path  string // the built module
	hash  string
}

// snapKind returns the fixed parts of the light or the heavy function.
func snapKind(kind string) (snapFunction, error) {
	switch kind {
	case "light":
		return snapFunction{
			kind:  kind,
			label: "light (quickstart)",
			name:  "hello",
			event: []byte(`{"version":"2.0","routeKey":"GET /hello","rawPath":"/hello","rawQueryString":"name=bench",` +
				`"queryStringParameters":{"name":"bench"},"requestContext":{"http":{"method":"GET","path":"/hello"}}}`),
			want: "hello, bench",
		}, nil
	case "heavy":
		return snapFunction{
			kind:  kind,
			label: "heavy (20,000-entry map at init)",
			name:  "heavy",
			event: []byte(`{"n":1}`),
			want:  `"size":20001`,
		}, nil
	}
	return snapFunction{}, fmt.Errorf("unknown snapshot function %q; want light or heavy", kind)
}

// snapFunctions builds the light and the heavy function.
func (e *env) snapFunctions(ctx context.Context) ([]snapFunction, error) {
	light, err := snapKind("light")
	if err != nil {
		return nil, err
	}
	if light.path, light.hash, err = e.quickstartWasm(ctx); err != nil {
		return nil, err
	}
	heavy, err := snapKind("heavy")
	if err != nil {
		return nil, err
	}
	if heavy.path, heavy.hash, err = e.wasmArtifact(ctx, heavyPackage); err != nil {
		return nil, err
	}
	return []snapFunction{light, heavy}, nil
}

// newSnapEngine returns a wasm engine configured as a node configures its
// own, with the bench's version, caching compiled code and snapshots in
// cacheDir. noStandby makes it keep no standby instance, so that every cold
// start restores on demand.
func newSnapEngine(cacheDir string, noStandby bool) (*wasm.Engine, error) {
	return wasm.New(wasm.Config{CacheDir: cacheDir, Version: snapVersion, NoStandby: noStandby})
}

// startMode is how the instances of a function start.
type startMode int

const (
	startNormal       startMode = iota // instantiation and initialization
	startSnapshot                      // from a snapshot of a freshly initialized instance
	startWarmSnapshot                  // from a snapshot taken after the function's own small event
	startOnDemand                      // as startWarmSnapshot, in an engine that keeps no standby instance
)

func (m startMode) String() string {
	switch m {
	case startSnapshot:
		return "snapshot"
	case startWarmSnapshot:
		return "snapshot with warm-up"
	case startOnDemand:
		return "snapshot with warm-up, no standby"
	}
	return "normal"
}

// prepareSnap prepares f in eng to start its instances as mode says.
func prepareSnap(ctx context.Context, eng *wasm.Engine, f snapFunction, mode startMode) (engine.Function, error) {
	spec := engine.Spec{
		Function:     f.name,
		Version:      "1",
		Runtime:      "wasm",
		ArtifactPath: f.path,
		ArtifactHash: f.hash,
		MemoryMiB:    quickstartMemMiB,
		Timeout:      quickstartTimeout,
		Snapshot:     mode != startNormal,
	}
	if mode == startWarmSnapshot || mode == startOnDemand {
		spec.SnapshotWarmup = f.event
	}
	fn, err := eng.Prepare(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("prepare %s (%s): %w", f.name, mode, err)
	}
	return fn, nil
}

// snapRequest is the invocation of f's small event.
func snapRequest(f snapFunction) *engine.Request {
	return &engine.Request{
		ID:       fmt.Sprintf("bench-%d", reqSeq.Add(1)),
		Payload:  f.event,
		Deadline: time.Now().Add(quickstartTimeout),
		Log:      io.Discard,
	}
}

// checkAnswer reports an invocation that failed or answered other than f
// answers.
func checkAnswer(f snapFunction, resp *engine.Response, err error) error {
	if err != nil {
		return fmt.Errorf("invoke %s: %w", f.name, err)
	}
	if resp.FunctionError {
		return fmt.Errorf("invoke %s: function error %s", f.name, resp.Payload)
	}
	if !bytes.Contains(resp.Payload, []byte(f.want)) {
		return fmt.Errorf("invoke %s: answer %s holds no %q", f.name, resp.Payload, f.want)
	}
	return nil
}

// snapshotStatus is where fn's snapshot stands, as the engine reports it;
// its State is "" when the engine reports nothing.
func snapshotStatus(fn engine.Function) engine.SnapshotStatus {
	if r, ok := fn.(engine.SnapshotReporter); ok {
		return r.SnapshotStatus()
	}
	return engine.SnapshotStatus{}
}

// checkStartMode reports a function whose snapshot does not stand as mode
// wants: in use for the snapshot modes, off for the normal one. No row
// passes normal starts off as restored ones, or the other way round.
func checkStartMode(fn engine.Function, name string, mode startMode) error {
	st := snapshotStatus(fn)
	want := engine.SnapshotReady
	if mode == startNormal {
		want = engine.SnapshotOff
	}
	if st.State == want {
		return nil
	}
	if st.Reason != "" {
		return fmt.Errorf("%s (%s): the engine reports its snapshot %q, not %q: %s", name, mode, st.State, want, st.Reason)
	}
	return fmt.Errorf("%s (%s): the engine reports its snapshot %q, not %q", name, mode, st.State, want)
}

// takeSnapshot makes the first cold start of a function, which with a
// snapshot mode takes the snapshot (or loads it from the cache), serves one
// event on the instance and closes it. It fails unless the engine then
// reports the snapshot in use (or, for the normal mode, off).
func takeSnapshot(ctx context.Context, fn engine.Function, f snapFunction, mode startMode) error {
	inst, err := fn.NewInstance(ctx, io.Discard)
	if err != nil {
		return fmt.Errorf("%s (%s): the first cold start: %w", f.name, mode, err)
	}
	resp, err := inst.Invoke(ctx, snapRequest(f))
	_ = inst.Close(ctx)
	if err := checkAnswer(f, resp, err); err != nil {
		return fmt.Errorf("the first instance (%s): %w", mode, err)
	}
	return checkStartMode(fn, f.name, mode)
}

// coldModes are the ways row 17 starts each function, the normal one
// first. The snapshot modes but the last take the standby instance the
// engine keeps (each timed start waits, untimed, until there is one); the
// last restores every start on demand, as the cold starts of a burst
// beyond the standby do.
var coldModes = []startMode{startNormal, startSnapshot, startWarmSnapshot, startOnDemand}

// benchSnapCold measures cold starts from a snapshot, with and without a
// warm-up event, against normal ones, for the light and the heavy function,
// to ready-to-call and to the first response.
func benchSnapCold(ctx context.Context, e *env) ([]row, error) {
	fns, err := e.snapFunctions(ctx)
	if err != nil {
		return nil, err
	}
	eng, err := newSnapEngine(filepath.Join(e.work, "snap-cache"), false)
	if err != nil {
		return nil, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	onDemand, err := newSnapEngine(filepath.Join(e.work, "snap-cache-no-standby"), true)
	if err != nil {
		return nil, err
	}
	defer onDemand.Close(context.WithoutCancel(ctx))
	var rows []row
	for _, f := range fns {
		r, err := snapColdRows(ctx, e, eng, onDemand, f)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func snapColdRows(ctx context.Context, e *env, eng, onDemand *wasm.Engine, f snapFunction) ([]row, error) {
	fns := make([]engine.Function, len(coldModes))
	for i, mode := range coldModes {
		in := eng
		if mode == startOnDemand {
			in = onDemand
		}
		fn, err := prepareSnap(ctx, in, f, mode)
		if err != nil {
			return nil, err
		}
		defer fn.Close(context.WithoutCancel(ctx))
		fns[i] = fn
		t0 := time.Now()
		if err := takeSnapshot(ctx, fn, f, mode); err != nil {
			return nil, err
		}
		if mode != startNormal {
			e.logf("%s (%s): snapshot taken by the first cold start (with its first invocation) in %s", f.name, mode, time.Since(t0).Round(100*time.Microsecond))
		}
	}

	first := func(fn engine.Function, mode startMode) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			req := snapRequest(f)
			if err := awaitStandby(ctx, fn, mode); err != nil {
				return 0, err
			}
			t := time.Now()
			inst, err := fn.NewInstance(ctx, io.Discard)
			if err != nil {
				return 0, err
			}
			resp, err := inst.Invoke(ctx, req)
			d := time.Since(t)
			cerr := inst.Close(ctx)
			if err := checkAnswer(f, resp, err); err != nil {
				return 0, err
			}
			return d, cerr
		}
	}
	// ops[i] is the ready-to-call start of coldModes[i], ops[len+i] its
	// first response.
	var ops []namedOp
	for i, mode := range coldModes {
		ready := timeNewInstance(ctx, fns[i])
		ops = append(ops, namedOp{mode.String() + " NewInstance", func() (time.Duration, error) {
			if err := awaitStandby(ctx, fns[i], mode); err != nil {
				return 0, err
			}
			return ready()
		}})
	}
	for i, mode := range coldModes {
		ops = append(ops, namedOp{mode.String() + " NewInstance + Invoke", first(fns[i], mode)})
	}
	n := e.opts.coldN
	samples, err := interleave(ctx, max(5, n/20), n, ops)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	// The snapshots stayed in use throughout.
	for i, mode := range coldModes {
		if err := checkStartMode(fns[i], f.name, mode); err != nil {
			return nil, err
		}
	}
	m := len(coldModes)
	readyS, firstS := make([]stats, m), make([]stats, m)
	for i := range coldModes {
		readyS[i], firstS[i] = summarize(samples[i]), summarize(samples[m+i])
	}
	for _, c := range []struct {
		what string
		s    []stats
	}{{"ready         ", readyS}, {"first response", firstS}} {
		var b strings.Builder
		for i, mode := range coldModes {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s p50 %s p99 %s", mode, fmtDur(c.s[i].p50), fmtDur(c.s[i].p99))
		}
		e.logf("%s %s: %s (n=%d)", f.name, c.what, b.String(), n)
	}

	durRow := func(name string, s, b time.Duration, target, met string) row {
		return row{Name: name, Gureum: fmtDur(s), Baseline: fmtDur(b), Ratio: fmtRatio(s.Seconds(), b.Seconds()), Target: target, Met: met}
	}
	normal := 0
	var rows []row
	for _, c := range []struct {
		what   string // the measure, in the first row of each kind
		short  string // in the following rows
		s      []stats
		target bool
	}{
		{"ready to call (NewInstance)", "ready to call", readyS, false},
		{"to the first response (NewInstance + Invoke)", "to the first response", firstS, true},
	} {
		for _, pct := range []string{"p50", "p99"} {
			for i, mode := range coldModes {
				if mode == startNormal {
					continue
				}
				s, b := c.s[i].p50, c.s[normal].p50
				if pct == "p99" {
					s, b = c.s[i].p99, c.s[normal].p99
				}
				what := c.short
				if mode == startOnDemand {
					what += " (restored on demand)"
				} else if mode != startNormal {
					what += " (from standby)"
				}
				if pct == "p50" && mode == startSnapshot {
					what = c.what
				}
				name := fmt.Sprintf("17. %s cold start %s, %s: %s vs normal (n=%d)", f.label, pct, what, mode, n)
				target, met := "—", "—"
				if c.target && pct == "p50" {
					target, met = "≤ 0.5 ms", yesNo(s <= snapColdTarget, "")
				}
				rows = append(rows, durRow(name, s, b, target, met))
			}
		}
	}
	return rows, nil
}

// awaitStandby waits until fn, started as mode says, has a standby
// instance, if mode is one that takes it: the instance a cold start after a
// pause takes.
func awaitStandby(ctx context.Context, fn engine.Function, mode startMode) error {
	if mode == startNormal || mode == startOnDemand {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for !snapshotStatus(fn).Standby {
		if time.Now().After(deadline) {
			return errors.New("no standby instance after 5 s")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

// namedOp is one timed operation of interleave.
type namedOp struct {
	name string
	fn   func() (time.Duration, error)
}

// interleave times every op once per round, warm+n rounds, and keeps the
// last n samples of each. Each round starts one op further along, so that
// no op always follows the same other one (a heavy normal start leaves
// garbage that the next op's time may pay for).
func interleave(ctx context.Context, warm, n int, ops []namedOp) ([][]time.Duration, error) {
	out := make([][]time.Duration, len(ops))
	for i := range out {
		out[i] = make([]time.Duration, 0, n)
	}
	for round := range warm + n {
		for k := range ops {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			j := (round + k) % len(ops)
			d, err := ops[j].fn()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ops[j].name, err)
			}
			if round >= warm {
				out[j] = append(out[j], d)
			}
		}
	}
	return out, nil
}

// memFigures are a process's resident memory (VmRSS) and its proportional
// set size (Pss of /proc/self/smaps_rollup), in bytes. RSS counts a page
// shared by several mappings once per mapping; Pss divides it between the
// mappings that share it, so that copy-on-write instances of one snapshot
// are charged only for what they hold alone.
type memFigures struct {
	RSS int64 `json:"rss"`
	PSS int64 `json:"pss"`
}

// settledMemory returns the process's memory after a garbage collection
// that returns freed memory to the system.
func settledMemory() (memFigures, error) {
	rss, err := settledRSS()
	if err != nil {
		return memFigures{}, err
	}
	pss, err := readStatusField("/proc/self/smaps_rollup", "Pss")
	if err != nil {
		return memFigures{}, err
	}
	return memFigures{RSS: rss, PSS: pss}, nil
}

// snapMemoryResult is what a snap-memory child reports: memory with no
// instance, with K idle instances just started, and with the same K idle
// after each served one event.
type snapMemoryResult struct {
	Instances int        `json:"instances"`
	Before    memFigures `json:"before"`
	Started   memFigures `json:"started"`
	Invoked   memFigures `json:"invoked"`
}

// perInstance is the growth from Before to after, RSS and Pss, divided by
// the instances.
func (r snapMemoryResult) perInstance(after memFigures) (rss, pss float64) {
	k := float64(r.Instances)
	return float64(after.RSS-r.Before.RSS) / k, float64(after.PSS-r.Before.PSS) / k
}

// benchSnapMemory measures the memory of K idle instances started from a
// snapshot against K started normally, each in a fresh child process.
func benchSnapMemory(ctx context.Context, e *env) ([]row, error) {
	fns, err := e.snapFunctions(ctx)
	if err != nil {
		return nil, err
	}
	cacheDir := filepath.Join(e.work, "snap-cache")
	k := e.opts.instances
	var rows []row
	for _, f := range fns {
		var res [2]snapMemoryResult // normal, snapshot
		for i, snapshot := range []bool{false, true} {
			if err := e.runJSONChild(ctx, 5*time.Minute, &res[i],
				"-child=snap-memory-"+f.kind,
				"-snapshot="+strconv.FormatBool(snapshot),
				"-instances="+strconv.Itoa(k),
				"-wasm="+f.path,
				"-cache="+cacheDir); err != nil {
				return nil, err
			}
			r := res[i]
			sr, sp := r.perInstance(r.Started)
			ir, ip := r.perInstance(r.Invoked)
			e.logf("%s snapshot=%t, %d instances: RSS %s → %s started → %s after one invocation each (%s and %s each); Pss %s → %s → %s (%s and %s each)",
				f.name, snapshot, k,
				fmtMiB(float64(r.Before.RSS)), fmtMiB(float64(r.Started.RSS)), fmtMiB(float64(r.Invoked.RSS)), fmtMiB(sr), fmtMiB(ir),
				fmtMiB(float64(r.Before.PSS)), fmtMiB(float64(r.Started.PSS)), fmtMiB(float64(r.Invoked.PSS)), fmtMiB(sp), fmtMiB(ip))
		}
		n, s := res[0], res[1]
		nsr, nsp := n.perInstance(n.Started)
		nir, nip := n.perInstance(n.Invoked)
		ssr, ssp := s.perInstance(s.Started)
		sir, sip := s.perInstance(s.Invoked)
		memRow := func(name string, s, b float64) row {
			return row{Name: name, Gureum: fmtMiB(s), Baseline: fmtMiB(b), Ratio: fmtRatio(s, b), Target: "—", Met: "—"}
		}
		rows = append(rows,
			memRow(fmt.Sprintf("19. %s memory per idle instance after its cold start: Pss growth / K, snapshot vs normal (K=%d)", f.label, k), ssp, nsp),
			memRow(fmt.Sprintf("19. %s memory per idle instance after one invocation each: Pss growth / K (K=%d)", f.label, k), sip, nip),
			memRow(fmt.Sprintf("19. %s memory per idle instance after its cold start: RSS growth / K, counting shared pages once per instance (K=%d)", f.label, k), ssr, nsr),
			memRow(fmt.Sprintf("19. %s memory per idle instance after one invocation each: RSS growth / K (K=%d)", f.label, k), sir, nir),
		)
	}
	return rows, nil
}

// runJSONChild runs this program again with args, bounded by timeout, its
// standard error going to the run's log, and decodes what it prints into v.
func (e *env) runJSONChild(ctx context.Context, timeout time.Duration, v any, args ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(cctx, exe, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = e.log
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("%s: %w: %q", strings.Join(args, " "), err, stdout.String())
	}
	return nil
}

// runSnapChild runs one -child measurement of the snapshot rows.
func runSnapChild(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer) error {
	switch o.child {
	case "snap-memory-light", "snap-memory-heavy":
		r, err := childSnapMemory(ctx, o, strings.TrimPrefix(o.child, "snap-memory-"))
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	case "snap-scale":
		return childSnapScale(ctx, o, stdin, stdout, stderr)
	}
	return fmt.Errorf("unknown child mode %q", o.child)
}

func childSnapMemory(ctx context.Context, o options, kind string) (snapMemoryResult, error) {
	r := snapMemoryResult{Instances: o.instances}
	if o.wasm == "" || o.cache == "" || o.instances < 1 {
		return r, errors.New("-wasm, -cache and -instances are required")
	}
	f, err := snapKind(kind)
	if err != nil {
		return r, err
	}
	f.path = o.wasm
	if f.hash, err = build.HashFile(o.wasm); err != nil {
		return r, err
	}
	// Every idle instance counts; the standby would add one more.
	eng, err := newSnapEngine(o.cache, true)
	if err != nil {
		return r, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	mode := startNormal
	if o.snapshot {
		mode = startSnapshot
	}
	fn, err := prepareSnap(ctx, eng, f, mode)
	if err != nil {
		return r, err
	}
	defer fn.Close(context.WithoutCancel(ctx))
	// One instance first, not counted: it takes the snapshot (or loads it
	// from the cache) and builds whatever runtime state is built lazily.
	if err := takeSnapshot(ctx, fn, f, mode); err != nil {
		return r, err
	}

	insts, before, started, err := startIdle(ctx, fn, o.instances, settledMemory)
	if err != nil {
		return r, err
	}
	defer closeInstances(ctx, insts)
	r.Before, r.Started = before, started
	for _, in := range insts {
		resp, err := in.Invoke(ctx, snapRequest(f))
		if err := checkAnswer(f, resp, err); err != nil {
			return r, err
		}
	}
	if r.Invoked, err = settledMemory(); err != nil {
		return r, err
	}
	if err := checkStartMode(fn, f.name, mode); err != nil {
		return r, err
	}
	runtime.KeepAlive(insts)
	return r, nil
}

// scaleReady is what the snap-scale child reports once its node serves the
// function with no instance left.
type scaleReady struct {
	URL       string                `json:"url"`       // the function's route
	Health    string                `json:"health"`    // the node's /healthz
	Idle      memFigures            `json:"idle"`      // with no instance
	PeakReset bool                  `json:"peakReset"` // VmHWM was reset, so it is the peak from now on
	Snapshot  engine.SnapshotStatus `json:"snapshot"`  // where the function's snapshot stands
}

// scaleEnd is what the snap-scale child reports after the burst.
type scaleEnd struct {
	// ToN is the time from the burst's first request until the node had
	// N instances started (idle or busy), or 0 if it never had.
	ToN         time.Duration         `json:"toN"`
	MaxStarted  int                   `json:"maxStarted"` // most instances the sampling saw started
	Peak        int64                 `json:"peak"`       // VmHWM, bytes
	End         memFigures            `json:"end"`        // every instance idle
	Idle        int                   `json:"idle"`
	Busy        int                   `json:"busy"`
	ColdStarts  uint64                `json:"coldStarts"` // during the burst
	WarmStarts  uint64                `json:"warmStarts"`
	Throttles   uint64                `json:"throttles"`
	StartErrors uint64                `json:"startErrors"`
	Snapshot    engine.SnapshotStatus `json:"snapshot"`
}

// scaleResult is one side of the scale-from-zero row.
type scaleResult struct {
	ready    scaleReady
	end      scaleEnd
	elapsed  time.Duration // until every request was answered
	p50      time.Duration // of the answers' times
	failed   int
	firstErr string
	sampled  int64 // highest VmRSS the parent saw
	release  releaseResult
}

// perInstance is the growth of the node's memory from no instance to its
// idle instances at the end, per instance.
func (r scaleResult) perInstance() (rss, pss float64) {
	k := float64(max(r.end.Idle, 1))
	return float64(r.end.End.RSS-r.ready.Idle.RSS) / k, float64(r.end.End.PSS-r.ready.Idle.PSS) / k
}

// releaser holds the requests of the scale-from-zero burst in the function:
// each instance GETs /release from it through the node, and every such GET
// is answered at once when each request of the burst has either reached an
// instance (made its GET) or failed, or when the hold passes.
type releaser struct {
	n    int
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	t0      time.Time
	arrived int
	failed  int
	nth     time.Duration // when the n-th request arrived, since t0
	capped  bool          // released by the hold, not by the arrivals
	timer   *time.Timer
}

// releaseResult is how the burst's requests were released.
type releaseResult struct {
	arrived, failed int
	nth             time.Duration // 0 if fewer than n arrived
	capped          bool
}

// startReleaser serves the release on a random port of 127.0.0.1.
func startReleaser(n int) (*releaser, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("release endpoint: %w", err)
	}
	r := &releaser{n: n, ln: ln, done: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// addr is the host:port the function is granted and GETs.
func (r *releaser) addr() string { return r.ln.Addr().String() }

// start marks the burst's start, t0, and releases every request hold after
// it at the latest.
func (r *releaser) start(t0 time.Time, hold time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t0 = t0
	r.timer = time.AfterFunc(hold, func() { r.release(true) })
}

// fail counts a request of the burst that failed: it will never arrive.
func (r *releaser) fail() {
	r.mu.Lock()
	r.failed++
	all := r.arrived+r.failed >= r.n
	r.mu.Unlock()
	if all {
		r.release(false)
	}
}

func (r *releaser) release(capped bool) {
	r.once.Do(func() {
		r.mu.Lock()
		r.capped = capped
		r.mu.Unlock()
		close(r.done)
	})
}

// ServeHTTP holds a GET /release until the release.
func (r *releaser) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/release" {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	r.arrived++
	if r.arrived == r.n && !r.t0.IsZero() {
		r.nth = time.Since(r.t0)
	}
	all := r.arrived+r.failed >= r.n
	r.mu.Unlock()
	if all {
		r.release(false)
	}
	select {
	case <-r.done:
		_, _ = io.WriteString(w, "released")
	case <-req.Context().Done():
	}
}

// result reports how the requests were released.
func (r *releaser) result() releaseResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return releaseResult{arrived: r.arrived, failed: r.failed, nth: r.nth, capped: r.capped}
}

// close releases whatever still waits and stops serving.
func (r *releaser) close() {
	r.release(true)
	r.mu.Lock()
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
	_ = r.srv.Close()
}

// benchSnapScale starts a node in a child process, deploys a function that
// holds each request until all -scale-n have reached an instance, with
// concurrency -scale-n, scales it to zero and sends -scale-n concurrent
// requests, with and without snapshots.
func benchSnapScale(ctx context.Context, e *env) ([]row, error) {
	n := e.opts.scaleN
	// Row 4 measures about 6.3 MiB per idle instance started normally; the
	// node, the requests in flight and the garbage collector's headroom
	// come on top.
	need := int64(n)*10<<20 + 1<<30
	avail, err := memAvailable()
	if err != nil {
		return nil, err
	}
	if avail < need {
		return nil, fmt.Errorf("%d instances may need about %s of memory and %s is available; lower -scale-n", n, fmtMiB(float64(need)), fmtMiB(float64(avail)))
	}
	limit := min(avail-1<<30, int64(n)*16<<20+2<<30)
	e.logf("memory available %s; the node is stopped if it grows past %s", fmtMiB(float64(avail)), fmtMiB(float64(limit)))
	path, _, err := e.wasmArtifact(ctx, sleepPackage)
	if err != nil {
		return nil, err
	}
	var res [2]scaleResult // normal, snapshot
	for i, snapshot := range []bool{false, true} {
		if res[i], err = e.runScaleChild(ctx, path, snapshot, n, limit); err != nil {
			return nil, fmt.Errorf("snapshot %t: %w", snapshot, err)
		}
		r := res[i]
		toN := "never"
		if r.end.ToN > 0 {
			toN = fmtDur(r.end.ToN)
		}
		nth := "never"
		if r.release.nth > 0 {
			nth = fmtDur(r.release.nth)
		}
		e.logf("snapshot=%t: %d instances started after %s (the %d-th request reached its instance's release GET after %s; at most %d started seen); released %s with %d arrived, %d failed; all answered in %s (p50 %s, %d failed); %d cold starts, %d warm, %d throttled, %d start errors",
			snapshot, n, toN, n, nth, r.end.MaxStarted, map[bool]string{true: "by the hold", false: "by the arrivals"}[r.release.capped],
			r.release.arrived, r.release.failed, fmtDur(r.elapsed), fmtDur(r.p50), r.failed,
			r.end.ColdStarts, r.end.WarmStarts, r.end.Throttles, r.end.StartErrors)
		pr, pp := r.perInstance()
		e.logf("snapshot=%t: node memory with no instance RSS %s Pss %s; peak %s (sampled RSS %s); with %d idle instances RSS %s Pss %s (%s and %s each)",
			snapshot, fmtMiB(float64(r.ready.Idle.RSS)), fmtMiB(float64(r.ready.Idle.PSS)), fmtMiB(float64(r.end.Peak)), fmtMiB(float64(r.sampled)),
			r.end.Idle, fmtMiB(float64(r.end.End.RSS)), fmtMiB(float64(r.end.End.PSS)), fmtMiB(pr), fmtMiB(pp))
		if r.failed > 0 {
			e.logf("snapshot=%t: first failure: %s", snapshot, r.firstErr)
		}
	}
	nr, sr := res[0], res[1]
	toN := func(r scaleResult) string {
		if r.end.ToN > 0 {
			return fmtDur(r.end.ToN)
		}
		return fmt.Sprintf("not reached (%d started, %d start failures)", r.end.MaxStarted, r.end.StartErrors)
	}
	toNRatio := "—"
	if nr.end.ToN > 0 && sr.end.ToN > 0 {
		toNRatio = fmtRatio(sr.end.ToN.Seconds(), nr.end.ToN.Seconds())
	}
	answered := func(r scaleResult) string {
		s := fmtDur(r.elapsed)
		if r.failed > 0 {
			s += fmt.Sprintf(" (%d of %d failed", r.failed, n)
			if r.end.StartErrors > 0 {
				s += fmt.Sprintf(", %d start failures", r.end.StartErrors)
			}
			s += ")"
		}
		if r.release.capped {
			s += fmt.Sprintf(" (released by the %s hold)", fmtDur(e.opts.scaleHold))
		}
		return s
	}
	idleMem := func(total int64, each float64) string {
		return fmt.Sprintf("%s (%s each)", fmtMiB(float64(total)), fmtMiB(each))
	}
	nrr, nrp := nr.perInstance()
	srr, srp := sr.perInstance()
	return []row{
		{
			Name: fmt.Sprintf("18. scale from zero to %d instances on one node, %d concurrent GET /sleep each held until all have reached an instance: time from the first request until %d instances are started, snapshot vs normal",
				n, n, n),
			Gureum:   toN(sr),
			Baseline: toN(nr),
			Ratio:    toNRatio,
			Target:   "—",
			Met:      "—",
		},
		{
			Name:     fmt.Sprintf("18. the same, until all %d answered (cold starts %d vs %d)", n, sr.end.ColdStarts, nr.end.ColdStarts),
			Gureum:   answered(sr),
			Baseline: answered(nr),
			Ratio:    fmtRatio(sr.elapsed.Seconds(), nr.elapsed.Seconds()),
			Target:   "—",
			Met:      "—",
		},
		{
			Name:     fmt.Sprintf("18. peak resident memory of the node process during the scale-up to %d (VmHWM)", n),
			Gureum:   fmtMiB(float64(sr.end.Peak)),
			Baseline: fmtMiB(float64(nr.end.Peak)),
			Ratio:    fmtRatio(float64(sr.end.Peak), float64(nr.end.Peak)),
			Target:   "—",
			Met:      "—",
		},
		{
			Name:     fmt.Sprintf("18. memory of the node process afterwards with %d vs %d idle instances: Pss (total, and growth per instance)", sr.end.Idle, nr.end.Idle),
			Gureum:   idleMem(sr.end.End.PSS, srp),
			Baseline: idleMem(nr.end.End.PSS, nrp),
			Ratio:    fmtRatio(float64(sr.end.End.PSS), float64(nr.end.End.PSS)),
			Target:   "—",
			Met:      "—",
		},
		{
			Name:     fmt.Sprintf("18. memory of the node process afterwards with %d vs %d idle instances: RSS (total, and growth per instance)", sr.end.Idle, nr.end.Idle),
			Gureum:   idleMem(sr.end.End.RSS, srr),
			Baseline: idleMem(nr.end.End.RSS, nrr),
			Ratio:    fmtRatio(float64(sr.end.End.RSS), float64(nr.end.End.RSS)),
			Target:   "—",
			Met:      "—",
		},
	}, nil
}

// runScaleChild runs one side of the scale-from-zero row: a child process
// serving the function, the release endpoint and the burst from this
// process, and the child's figures. A watchdog stops the child if its
// resident memory passes limit.
func (e *env) runScaleChild(ctx context.Context, wasmPath string, snapshot bool, n int, limit int64) (scaleResult, error) {
	var r scaleResult
	exe, err := os.Executable()
	if err != nil {
		return r, err
	}
	hold := e.opts.scaleHold
	rel, err := startReleaser(n)
	if err != nil {
		return r, err
	}
	defer rel.close()
	dir := filepath.Join(e.work, "snap-scale-"+strconv.FormatBool(snapshot))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute+hold)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe,
		"-child=snap-scale",
		"-snapshot="+strconv.FormatBool(snapshot),
		"-scale-n="+strconv.Itoa(n),
		"-scale-hold="+hold.String(),
		"-release="+rel.addr(),
		"-wasm="+wasmPath,
		"-dir="+dir)
	cmd.Stderr = e.log
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return r, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	waited := false
	defer func() {
		_ = stdin.Close()
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	// The watchdog samples the child's resident memory.
	var sampled, killed atomic.Int64
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-t.C:
			}
			rss, err := readStatusField(status, "VmRSS")
			if err != nil {
				continue // exiting
			}
			if rss > sampled.Load() {
				sampled.Store(rss)
			}
			if rss > limit {
				killed.Store(rss)
				_ = cmd.Process.Kill()
				return
			}
		}
	})
	// Stopped before the child is waited for, so that it never reads the
	// status of another process given the same id.
	stopWatching := sync.OnceFunc(func() {
		close(stopWatch)
		watch.Wait()
	})
	defer stopWatching()
	fail := func(err error) (scaleResult, error) {
		if k := killed.Load(); k > 0 {
			return r, fmt.Errorf("the node was stopped at %s of resident memory, past the limit of %s: %w", fmtMiB(float64(k)), fmtMiB(float64(limit)), err)
		}
		return r, err
	}

	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		return fail(fmt.Errorf("the node child ended before it was ready: %v", lines.Err()))
	}
	if err := json.Unmarshal(lines.Bytes(), &r.ready); err != nil {
		return fail(fmt.Errorf("node child: %w: %q", err, lines.Text()))
	}
	if err := checkScaleSnapshot(r.ready.Snapshot, snapshot); err != nil {
		return fail(err)
	}
	if !r.ready.PeakReset {
		e.logf("the node's VmHWM could not be reset; the peak includes its start")
	}
	e.logf("snapshot=%t: node ready at %s with no instance, RSS %s, Pss %s; %d concurrent requests, released once all have reached an instance (or %s)",
		snapshot, r.ready.URL, fmtMiB(float64(r.ready.Idle.RSS)), fmtMiB(float64(r.ready.Idle.PSS)), n, fmtDur(hold))

	url := r.ready.URL + "?release=" + neturl.QueryEscape("http://"+rel.addr()+"/release")
	begin := func(t0 time.Time) error {
		rel.start(t0, hold)
		_, err := fmt.Fprintf(stdin, "burst %d\n", t0.UnixNano())
		return err
	}
	if err := burst(cctx, r.ready.Health, url, "released", n, hold, begin, rel.fail, &r); err != nil {
		return fail(err)
	}
	r.release = rel.result()

	if _, err := io.WriteString(stdin, "measure\n"); err != nil {
		return fail(fmt.Errorf("node child: %w", err))
	}
	if !lines.Scan() {
		return fail(fmt.Errorf("the node child ended before it measured: %v", lines.Err()))
	}
	if err := json.Unmarshal(lines.Bytes(), &r.end); err != nil {
		return fail(fmt.Errorf("node child: %w: %q", err, lines.Text()))
	}
	_ = stdin.Close()
	stopWatching()
	waited = true
	if err := cmd.Wait(); err != nil {
		return fail(fmt.Errorf("node child: %w", err))
	}
	if err := checkScaleSnapshot(r.end.Snapshot, snapshot); err != nil {
		return r, fmt.Errorf("after the burst: %w", err)
	}
	r.sampled = sampled.Load()
	return r, nil
}

// checkScaleSnapshot reports a node whose function's snapshot does not
// stand as the run wants: in use with snapshots, off without.
func checkScaleSnapshot(st engine.SnapshotStatus, snapshot bool) error {
	want := engine.SnapshotOff
	if snapshot {
		want = engine.SnapshotReady
	}
	if st.State == want {
		return nil
	}
	if st.Reason != "" {
		return fmt.Errorf("the node reports the function's snapshot %q, not %q: %s", st.State, want, st.Reason)
	}
	return fmt.Errorf("the node reports the function's snapshot %q, not %q", st.State, want)
}

// burst opens one connection per request to the node first (GET health on
// each), then calls begin with the burst's start, sends n concurrent GETs
// of url at once and waits for every answer, which must be want. fail is
// called for each request that fails. Only the burst is timed: connection
// set-up is not the node's scaling. hold is the longest the function holds
// a request.
func burst(ctx context.Context, health, url, want string, n int, hold time.Duration, begin func(time.Time) error, fail func(), r *scaleResult) error {
	ctx, cancel := context.WithTimeout(ctx, hold+3*time.Minute)
	defer cancel()
	clients := make([]*http.Client, n)
	for i := range clients {
		clients[i] = &http.Client{
			Timeout: hold + 2*time.Minute,
			Transport: &http.Transport{
				Proxy:               nil,
				MaxIdleConnsPerHost: 1,
				MaxConnsPerHost:     1,
				IdleConnTimeout:     hold + 5*time.Minute,
				DisableCompression:  true,
			},
		}
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	var (
		connected, done sync.WaitGroup
		start           = make(chan struct{})
		t0              time.Time
		abort           atomic.Bool
		mu              sync.Mutex
		connErr         error
		ok              = make([]time.Duration, 0, n) // answers' times
		last            time.Duration                 // of every answer, failures included
	)
	connected.Add(n)
	for _, c := range clients {
		done.Go(func() {
			resp, _, err := fetch(ctx, c, health)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("GET %s: status %d", health, resp.StatusCode)
			}
			if err != nil {
				abort.Store(true)
				mu.Lock()
				connErr = cmp.Or(connErr, err)
				mu.Unlock()
			}
			connected.Done()
			<-start
			if abort.Load() {
				return
			}
			resp, body, err := fetch(ctx, c, url)
			d := time.Since(t0)
			if err == nil && (resp.StatusCode != http.StatusOK || string(body) != want) {
				err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
			}
			if err != nil {
				fail()
			}
			mu.Lock()
			defer mu.Unlock()
			last = max(last, d)
			if err != nil {
				r.failed++
				if r.firstErr == "" {
					r.firstErr = err.Error()
				}
				return
			}
			ok = append(ok, d)
		})
	}
	connected.Wait()
	t0 = time.Now()
	if connErr == nil {
		if err := begin(t0); err != nil {
			abort.Store(true)
			connErr = fmt.Errorf("start the burst: %w", err)
		}
	}
	close(start)
	done.Wait()
	if connErr != nil {
		return fmt.Errorf("connect %d clients: %w", n, connErr)
	}
	if len(ok) == 0 {
		return fmt.Errorf("no request succeeded: %s", r.firstErr)
	}
	slices.Sort(ok)
	r.elapsed, r.p50 = last, percentile(ok, 0.5)
	return nil
}

// childSnapScale is the node side of the scale-from-zero row. It starts a
// node, deploys the sleep function granted the parent's release endpoint,
// serves one request (which takes the snapshot), closes the instance,
// reports itself ready on stdout as one JSON line and waits for the line
// "burst T" on stdin, T the burst's start in Unix nanoseconds; it then
// samples the function's instances until N are started, and on the line
// "measure" reports its memory and the function's instances as a second
// JSON line and stops the node.
func childSnapScale(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer) error {
	if o.wasm == "" || o.dir == "" || o.scaleN < 1 || o.release == "" || o.scaleHold <= 0 {
		return errors.New("-wasm, -dir, -scale-n, -scale-hold and -release are required")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s   node: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.S3Listen = "off"
	cfg.DataDir = filepath.Join(o.dir, "data")
	cfg.DrainTimeout = 10 * time.Second
	cfg.IdleTimeout = time.Hour // nothing is reaped while measured
	cfg.Env = os.Environ()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, server.WithLogger(logger))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = srv.Start(sctx)
	cancel()
	if err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	defer func() {
		t0 := time.Now()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = srv.Shutdown(dctx)
		logf("stopped in %s", time.Since(t0).Round(time.Millisecond))
	}()

	// Deploy with the CLI, the module built by the parent as its artifact.
	project := filepath.Join(o.dir, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(project, o.wasm)
	if err != nil {
		return err
	}
	timeout := int((o.scaleHold + time.Minute).Seconds())
	manifest := fmt.Sprintf(`app: bench
functions:
  sleep:
    runtime: wasm
    artifact: %s
    memory: %d
    timeout: %ds
    concurrency: %d
    snapshot: %t
    permissions:
      http: [%q]
    events:
      - http: GET %s
`, filepath.ToSlash(rel), quickstartMemMiB, timeout, o.scaleN, o.snapshot, o.release, sleepPath)
	if err := os.WriteFile(filepath.Join(project, "gureum.yaml"), []byte(manifest), 0o644); err != nil {
		return err
	}
	var out bytes.Buffer
	dctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	code := cli.Run(dctx, []string{"deploy", project}, cli.IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
		Env: append(os.Environ(), "GUREUM_URL=http://"+srv.AdminAddr(), "GUREUM_TOKEN="+srv.Token()),
	})
	cancel()
	if code != 0 {
		return fmt.Errorf("deploy: exit %d\n%s", code, strings.TrimSpace(out.String()))
	}

	// The first request, once the route is served, takes the snapshot (and
	// compiles the module, in both modes). It holds nothing.
	url := "http://" + srv.Addr() + sleepPath
	client := newClient(1)
	deadline := time.Now().Add(time.Minute)
	t0 := time.Now()
	for {
		resp, body, err := fetch(ctx, client, url+"?ms=0")
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if err == nil {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("GET %s never succeeded: %w", sleepPath, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	client.CloseIdleConnections()
	logf("snapshot=%t: first request answered %s after the deploy", o.snapshot, time.Since(t0).Round(time.Millisecond))
	// The node takes the snapshot in the background once it serves the
	// version; a first request that came before it started normally.
	for o.snapshot && sleepStats(srv).Snapshot.State == engine.SnapshotPending {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New("the snapshot is still pending a minute after the deploy")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Scale to zero: close every idle instance, as the reaper does after
	// the idle timeout.
	srv.Pools().Reap(time.Now().Add(cfg.IdleTimeout + time.Minute))
	deadline = time.Now().Add(30 * time.Second)
	for {
		st := sleepStats(srv)
		if st.Idle+st.Busy+st.Starting == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the function still has %d idle, %d busy, %d starting instances after scaling to zero", st.Idle, st.Busy, st.Starting)
		}
		time.Sleep(50 * time.Millisecond)
		srv.Pools().Reap(time.Now().Add(cfg.IdleTimeout + time.Minute))
	}
	before := sleepStats(srv)
	ready := scaleReady{URL: url, Health: "http://" + srv.Addr() + "/healthz", Snapshot: before.Snapshot}
	if ready.Idle, err = settledMemory(); err != nil {
		return err
	}
	ready.PeakReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	if err := json.NewEncoder(stdout).Encode(ready); err != nil {
		return err
	}

	// The parent's lines. The reader ends when the parent closes stdin.
	lines := make(chan string, 4)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	wait := o.scaleHold + 5*time.Minute
	next := func(what string) (string, error) {
		select {
		case l, ok := <-lines:
			if !ok {
				return "", fmt.Errorf("the parent went away before %s", what)
			}
			return l, nil
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
			return "", fmt.Errorf("no %s from the parent in %s", what, wait)
		}
	}
	line, err := next("the burst")
	if err != nil {
		return err
	}
	ns, err := strconv.ParseInt(strings.TrimPrefix(line, "burst "), 10, 64)
	if err != nil || !strings.HasPrefix(line, "burst ") {
		return fmt.Errorf("want burst T from the parent, got %q", line)
	}
	burstStart := time.Unix(0, ns)

	// Sample the instances started until there are N, or until the parent
	// says to measure.
	var (
		end      scaleEnd
		sampling sync.WaitGroup
	)
	stop := make(chan struct{})
	sampling.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			st := sleepStats(srv)
			started := st.Idle + st.Busy
			end.MaxStarted = max(end.MaxStarted, started)
			if started >= o.scaleN {
				end.ToN = time.Now().Sub(burstStart)
				return
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	line, err = next("the word to measure")
	close(stop)
	sampling.Wait()
	if err != nil {
		return err
	}
	if line != "measure" {
		return fmt.Errorf("want measure from the parent, got %q", line)
	}

	if end.Peak, err = readStatusField("/proc/self/status", "VmHWM"); err != nil {
		return err
	}
	// Let the server side of the closed connections wind down first.
	time.Sleep(500 * time.Millisecond)
	after := sleepStats(srv)
	end.Idle, end.Busy = after.Idle, after.Busy
	end.ColdStarts = after.ColdStarts - before.ColdStarts
	end.WarmStarts = after.WarmStarts - before.WarmStarts
	end.Throttles = after.Throttles - before.Throttles
	end.StartErrors = after.StartErrors - before.StartErrors
	end.Snapshot = after.Snapshot
	if end.End, err = settledMemory(); err != nil {
		return err
	}
	logFunctionErrors(ctx, srv, burstStart, logf)
	return json.NewEncoder(stdout).Encode(end)
}

// logFunctionErrors logs the most frequent lines of the sleep function's
// log since since that speak of an error, a failure or a timeout, with
// their counts: the gateway answers a failed start or invocation with a
// bare 502, and this says why. Reading the log is bounded and may fail;
// that only goes to the log too.
func logFunctionErrors(ctx context.Context, srv *server.Server, since time.Time, logf func(string, ...any)) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	entries, err := srv.ReadLogs(lctx, "sleep", observe.Query{Since: since, Limit: 100000})
	if err != nil {
		logf("reading the function's log: %v", err)
		return
	}
	counts := make(map[string]int)
	for _, en := range entries {
		for line := range strings.Lines(en.Message) {
			l := strings.ToLower(line)
			if !strings.Contains(l, "error") && !strings.Contains(l, "fail") && !strings.Contains(l, "timeout") && !strings.Contains(l, "timed out") {
				continue
			}
			line = strings.TrimSpace(line)
			if len(line) > 300 {
				line = line[:300] + "…"
			}
			counts[line]++
		}
	}
	lines := slices.Collect(maps.Keys(counts))
	slices.SortFunc(lines, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	for _, l := range lines[:min(len(lines), 5)] {
		logf("function log, %d×: %s", counts[l], l)
	}
	if len(lines) > 5 {
		logf("function log: %d more distinct lines of that kind", len(lines)-5)
	}
}

// instanceCounts adds up the sleep function's pool figures over its
// versions.
type instanceCounts struct {
	Idle, Busy, Starting                           int
	ColdStarts, WarmStarts, Throttles, StartErrors uint64
	Snapshot                                       engine.SnapshotStatus // of the version served
}

func sleepStats(srv *server.Server) instanceCounts {
	var c instanceCounts
	for _, s := range srv.Pools().Stats() {
		if s.Key.Function != "sleep" {
			continue
		}
		c.Idle += s.Idle
		c.Busy += s.Busy
		c.Starting += s.Starting
		c.ColdStarts += s.ColdStarts
		c.WarmStarts += s.WarmStarts
		c.Throttles += s.Throttles
		c.StartErrors += s.StartErrors
		if !s.Retired {
			c.Snapshot = s.Snapshot
		}
	}
	return c
}

// readStatusField reads a "kB" field, such as VmRSS or VmHWM, from a
// /proc/PID/status file (or Pss from smaps_rollup), in bytes.
func readStatusField(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("memory figures need Linux's /proc: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", field, strings.TrimSpace(rest), err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes.
func memAvailable() (int64, error) {
	return readStatusField("/proc/meminfo", "MemAvailable")
}
