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
	"net/http"
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
	// sleeps 300 ms, or the ms of its query).
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
// a wasm reactor once per run, as the quickstart is built.
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
// cacheDir.
func newSnapEngine(cacheDir string) (*wasm.Engine, error) {
	return wasm.New(wasm.Config{CacheDir: cacheDir, Version: snapVersion})
}

// prepareSnap prepares f in eng with or without snapshots.
func prepareSnap(ctx context.Context, eng *wasm.Engine, f snapFunction, snapshot bool) (engine.Function, error) {
	fn, err := eng.Prepare(ctx, engine.Spec{
		Function:     f.name,
		Version:      "1",
		Runtime:      "wasm",
		ArtifactPath: f.path,
		ArtifactHash: f.hash,
		MemoryMiB:    quickstartMemMiB,
		Timeout:      quickstartTimeout,
		Snapshot:     snapshot,
	})
	if err != nil {
		return nil, fmt.Errorf("prepare %s (snapshot %t): %w", f.name, snapshot, err)
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

// snapshotLines returns the lines of log that speak of a snapshot. The
// engine writes such a line to the log of the cold start that tried to take
// or load a snapshot and could not; the functions measured here write none.
func snapshotLines(log string) []string {
	var out []string
	for line := range strings.Lines(log) {
		if strings.Contains(strings.ToLower(line), "snapshot") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// takeSnapshot makes the first cold start of a snapshot function, which
// takes the snapshot (or loads it from the cache), serves one event on the
// instance and closes it. It fails when the engine reports it has no
// snapshot, so that no row passes normal starts off as restored ones.
func takeSnapshot(ctx context.Context, fn engine.Function, f snapFunction) error {
	var log bytes.Buffer
	inst, err := fn.NewInstance(ctx, &log)
	if err != nil {
		return fmt.Errorf("%s: the first cold start, which takes the snapshot: %w", f.name, err)
	}
	resp, err := inst.Invoke(ctx, snapRequest(f))
	_ = inst.Close(ctx)
	if err := checkAnswer(f, resp, err); err != nil {
		return fmt.Errorf("the instance the snapshot was taken from: %w", err)
	}
	if lines := snapshotLines(log.String()); len(lines) > 0 {
		return fmt.Errorf("%s: the engine has no snapshot to start from: %s", f.name, strings.Join(lines, "; "))
	}
	return nil
}

// benchSnapCold measures cold starts from a snapshot against normal ones,
// for the light and the heavy function, to ready-to-call and to the first
// response.
func benchSnapCold(ctx context.Context, e *env) ([]row, error) {
	fns, err := e.snapFunctions(ctx)
	if err != nil {
		return nil, err
	}
	eng, err := newSnapEngine(filepath.Join(e.work, "snap-cache"))
	if err != nil {
		return nil, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	var rows []row
	for _, f := range fns {
		r, err := snapColdRows(ctx, e, eng, f)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func snapColdRows(ctx context.Context, e *env, eng *wasm.Engine, f snapFunction) ([]row, error) {
	normal, err := prepareSnap(ctx, eng, f, false)
	if err != nil {
		return nil, err
	}
	defer normal.Close(context.WithoutCancel(ctx))
	snap, err := prepareSnap(ctx, eng, f, true)
	if err != nil {
		return nil, err
	}
	defer snap.Close(context.WithoutCancel(ctx))
	t0 := time.Now()
	if err := takeSnapshot(ctx, snap, f); err != nil {
		return nil, err
	}
	e.logf("%s: snapshot taken by the first cold start (with its first invocation) in %s", f.name, time.Since(t0).Round(100*time.Microsecond))

	ready := func(fn engine.Function) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			t := time.Now()
			inst, err := fn.NewInstance(ctx, io.Discard)
			d := time.Since(t)
			if err != nil {
				return 0, err
			}
			return d, inst.Close(ctx)
		}
	}
	first := func(fn engine.Function) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			req := snapRequest(f)
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
	ops := []namedOp{
		{"normal NewInstance", ready(normal)},
		{"snapshot NewInstance", ready(snap)},
		{"normal NewInstance + Invoke", first(normal)},
		{"snapshot NewInstance + Invoke", first(snap)},
	}
	n := e.opts.coldN
	samples, err := interleave(ctx, max(5, n/20), n, ops)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	nr, sr, nf, sf := summarize(samples[0]), summarize(samples[1]), summarize(samples[2]), summarize(samples[3])
	e.logf("%s ready:          normal p50 %s p99 %s, snapshot p50 %s p99 %s (n=%d)", f.name, fmtDur(nr.p50), fmtDur(nr.p99), fmtDur(sr.p50), fmtDur(sr.p99), n)
	e.logf("%s first response: normal p50 %s p99 %s, snapshot p50 %s p99 %s (n=%d)", f.name, fmtDur(nf.p50), fmtDur(nf.p99), fmtDur(sf.p50), fmtDur(sf.p99), n)
	durRow := func(name string, s, b time.Duration, target, met string) row {
		return row{Name: name, Gureum: fmtDur(s), Baseline: fmtDur(b), Ratio: fmtRatio(s.Seconds(), b.Seconds()), Target: target, Met: met}
	}
	return []row{
		durRow(fmt.Sprintf("17. %s cold start p50, ready to call (NewInstance): snapshot vs normal (n=%d)", f.label, n), sr.p50, nr.p50, "—", "—"),
		durRow(fmt.Sprintf("17. %s cold start p99, ready to call (n=%d)", f.label, n), sr.p99, nr.p99, "—", "—"),
		durRow(fmt.Sprintf("17. %s cold start p50, to the first response (NewInstance + Invoke): snapshot vs normal (n=%d)", f.label, n), sf.p50, nf.p50, "≤ 0.5 ms", yesNo(sf.p50 <= snapColdTarget, "")),
		durRow(fmt.Sprintf("17. %s cold start p99, to the first response (n=%d)", f.label, n), sf.p99, nf.p99, "—", "—"),
	}, nil
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

// snapMemoryResult is what a snap-memory child reports: resident memory
// with no instance, with K idle instances just started, and with the same
// K idle after each served one event.
type snapMemoryResult struct {
	Instances  int   `json:"instances"`
	RSSBefore  int64 `json:"rssBefore"`
	RSSStarted int64 `json:"rssStarted"`
	RSSInvoked int64 `json:"rssInvoked"`
}

func (r snapMemoryResult) started() float64 {
	return float64(r.RSSStarted-r.RSSBefore) / float64(r.Instances)
}

func (r snapMemoryResult) invoked() float64 {
	return float64(r.RSSInvoked-r.RSSBefore) / float64(r.Instances)
}

// benchSnapMemory measures the resident memory of K idle instances started
// from a snapshot against K started normally, each in a fresh child process.
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
			e.logf("%s snapshot=%t, %d instances: RSS %s → %s started → %s after one invocation each; %s and %s each",
				f.name, snapshot, k, fmtMiB(float64(r.RSSBefore)), fmtMiB(float64(r.RSSStarted)), fmtMiB(float64(r.RSSInvoked)),
				fmtMiB(r.started()), fmtMiB(r.invoked()))
		}
		n, s := res[0], res[1]
		rows = append(rows,
			row{
				Name:   fmt.Sprintf("19. %s memory per idle instance after its cold start: RSS growth / K, snapshot vs normal (K=%d)", f.label, k),
				Gureum: fmtMiB(s.started()), Baseline: fmtMiB(n.started()), Ratio: fmtRatio(s.started(), n.started()), Target: "—", Met: "—",
			},
			row{
				Name:   fmt.Sprintf("19. %s memory per idle instance after one invocation each: RSS growth / K, snapshot vs normal (K=%d)", f.label, k),
				Gureum: fmtMiB(s.invoked()), Baseline: fmtMiB(n.invoked()), Ratio: fmtRatio(s.invoked(), n.invoked()), Target: "—", Met: "—",
			})
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
	eng, err := newSnapEngine(o.cache)
	if err != nil {
		return r, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	fn, err := prepareSnap(ctx, eng, f, o.snapshot)
	if err != nil {
		return r, err
	}
	defer fn.Close(context.WithoutCancel(ctx))
	// One instance first, not counted: it takes the snapshot (or loads it
	// from the cache) and builds whatever runtime state is built lazily.
	if err := takeSnapshot(ctx, fn, f); err != nil {
		return r, err
	}

	if r.RSSBefore, err = settledRSS(); err != nil {
		return r, err
	}
	insts := make([]engine.Instance, 0, o.instances)
	defer func() {
		for _, in := range insts {
			_ = in.Close(context.WithoutCancel(ctx))
		}
	}()
	for range o.instances {
		in, err := fn.NewInstance(ctx, io.Discard)
		if err != nil {
			return r, err
		}
		insts = append(insts, in)
	}
	if r.RSSStarted, err = settledRSS(); err != nil {
		return r, err
	}
	for _, in := range insts {
		resp, err := in.Invoke(ctx, snapRequest(f))
		if err := checkAnswer(f, resp, err); err != nil {
			return r, err
		}
	}
	if r.RSSInvoked, err = settledRSS(); err != nil {
		return r, err
	}
	runtime.KeepAlive(insts)
	return r, nil
}

// scaleReady is what the snap-scale child reports once its node serves the
// function with no instance left.
type scaleReady struct {
	URL       string `json:"url"`       // the function's route
	Health    string `json:"health"`    // the node's /healthz
	RSSIdle   int64  `json:"rssIdle"`   // bytes, with no instance
	PeakReset bool   `json:"peakReset"` // VmHWM was reset, so it is the peak from now on
	Snapshot  string `json:"snapshot"`  // what the function's log says of its snapshot, if anything
}

// scaleEnd is what the snap-scale child reports after the burst.
type scaleEnd struct {
	Peak        int64  `json:"peak"`   // VmHWM, bytes
	RSSEnd      int64  `json:"rssEnd"` // bytes, every instance idle
	Idle        int    `json:"idle"`
	Busy        int    `json:"busy"`
	ColdStarts  uint64 `json:"coldStarts"` // during the burst
	WarmStarts  uint64 `json:"warmStarts"`
	Throttles   uint64 `json:"throttles"`
	StartErrors uint64 `json:"startErrors"`
	Snapshot    string `json:"snapshot"`
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
}

// benchSnapScale starts a node in a child process, deploys a function that
// sleeps -scale-hold (300 ms) with concurrency -scale-n, scales it to zero
// and sends -scale-n concurrent requests, with and without snapshots.
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
		e.logf("snapshot=%t: %d requests answered in %s (p50 %s, %d failed), %d cold starts, %d warm, %d throttled, %d start errors; RSS %s idle → peak %s (sampled %s) → %s with %d idle instances (%s each)",
			snapshot, n, fmtDur(r.elapsed), fmtDur(r.p50), r.failed, r.end.ColdStarts, r.end.WarmStarts, r.end.Throttles, r.end.StartErrors,
			fmtMiB(float64(r.ready.RSSIdle)), fmtMiB(float64(r.end.Peak)), fmtMiB(float64(r.sampled)), fmtMiB(float64(r.end.RSSEnd)), r.end.Idle,
			fmtMiB(float64(r.end.RSSEnd-r.ready.RSSIdle)/float64(max(r.end.Idle, 1))))
		if r.failed > 0 {
			e.logf("snapshot=%t: first failure: %s", snapshot, r.firstErr)
		}
	}
	nr, sr := res[0], res[1]
	withFailures := func(s string, r scaleResult) string {
		if r.failed > 0 {
			s += fmt.Sprintf(" (%d of %d failed)", r.failed, n)
		}
		return s
	}
	return []row{
		{
			Name: fmt.Sprintf("18. scale from zero on one node, %d concurrent GET /sleep (each holds its instance %s), concurrency %d, until all answered: snapshot vs normal (cold starts %d vs %d)",
				n, fmtDur(e.opts.scaleHold), n, sr.end.ColdStarts, nr.end.ColdStarts),
			Gureum:   withFailures(fmtDur(sr.elapsed), sr),
			Baseline: withFailures(fmtDur(nr.elapsed), nr),
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
			Name:     fmt.Sprintf("18. resident memory of the node process afterwards, %d and %d idle instances (RSS)", sr.end.Idle, nr.end.Idle),
			Gureum:   fmtMiB(float64(sr.end.RSSEnd)),
			Baseline: fmtMiB(float64(nr.end.RSSEnd)),
			Ratio:    fmtRatio(float64(sr.end.RSSEnd), float64(nr.end.RSSEnd)),
			Target:   "—",
			Met:      "—",
		},
	}, nil
}

// runScaleChild runs one side of the scale-from-zero row: a child process
// serving the function, the burst from this process, and the child's
// figures. A watchdog stops the child if its resident memory passes limit.
func (e *env) runScaleChild(ctx context.Context, wasmPath string, snapshot bool, n int, limit int64) (scaleResult, error) {
	var r scaleResult
	exe, err := os.Executable()
	if err != nil {
		return r, err
	}
	dir := filepath.Join(e.work, "snap-scale-"+strconv.FormatBool(snapshot))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe,
		"-child=snap-scale",
		"-snapshot="+strconv.FormatBool(snapshot),
		"-scale-n="+strconv.Itoa(n),
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
	if snapshot && r.ready.Snapshot != "" {
		return fail(fmt.Errorf("the node has no snapshot of the function: %s", r.ready.Snapshot))
	}
	if !r.ready.PeakReset {
		e.logf("the node's VmHWM could not be reset; the peak includes its start")
	}
	e.logf("snapshot=%t: node ready at %s with no instance, RSS %s; %d concurrent requests", snapshot, r.ready.URL, fmtMiB(float64(r.ready.RSSIdle)), n)

	hold := r.ready.URL + "?ms=" + strconv.FormatInt(e.opts.scaleHold.Milliseconds(), 10)
	if err := burst(cctx, r.ready.Health, hold, n, &r); err != nil {
		return fail(err)
	}

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
	if snapshot && r.end.Snapshot != "" {
		return r, fmt.Errorf("the node did not start every instance from the snapshot: %s", r.end.Snapshot)
	}
	r.sampled = sampled.Load()
	return r, nil
}

// burst opens one connection per request to the node first (GET health on
// each), then sends n concurrent GETs of url at once and waits for every
// answer. Only the burst is timed: connection set-up is not the node's
// scaling.
func burst(ctx context.Context, health, url string, n int, r *scaleResult) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	clients := make([]*http.Client, n)
	for i := range clients {
		clients[i] = &http.Client{
			Timeout: 2 * time.Minute,
			Transport: &http.Transport{
				Proxy:               nil,
				MaxIdleConnsPerHost: 1,
				MaxConnsPerHost:     1,
				IdleConnTimeout:     5 * time.Minute,
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
			if err == nil && (resp.StatusCode != http.StatusOK || string(body) != "slept") {
				err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
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
// node, deploys the sleep function, serves one request (which takes the
// snapshot), closes the instance, reports itself ready on stdout as one JSON
// line and waits for a line on stdin; then it reports its memory and the
// function's instances as a second line and stops the node.
func childSnapScale(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer) error {
	if o.wasm == "" || o.dir == "" || o.scaleN < 1 {
		return errors.New("-wasm, -dir and -scale-n are required")
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
	manifest := fmt.Sprintf(`app: bench
functions:
  sleep:
    runtime: wasm
    artifact: %s
    memory: %d
    timeout: 60s
    concurrency: %d
    snapshot: %t
    events:
      - http: GET %s
`, filepath.ToSlash(rel), quickstartMemMiB, o.scaleN, o.snapshot, sleepPath)
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
	// compiles the module, in both modes).
	url := "http://" + srv.Addr() + sleepPath
	client := newClient(1)
	deadline := time.Now().Add(time.Minute)
	t0 := time.Now()
	for {
		resp, body, err := fetch(ctx, client, url)
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
	ready := scaleReady{URL: url, Health: "http://" + srv.Addr() + "/healthz"}
	if o.snapshot {
		ready.Snapshot = functionSnapshotLog(ctx, srv, t0)
	}
	if ready.RSSIdle, err = settledRSS(); err != nil {
		return err
	}
	ready.PeakReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	if err := json.NewEncoder(stdout).Encode(ready); err != nil {
		return err
	}

	// Wait for the parent's burst to end, or for it to go away.
	line := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(stdin).ReadString('\n')
		line <- err
	}()
	select {
	case <-line:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Minute):
		return errors.New("no word from the parent in 5 minutes")
	}

	var end scaleEnd
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
	if o.snapshot {
		end.Snapshot = functionSnapshotLog(ctx, srv, t0)
	}
	if end.RSSEnd, err = settledRSS(); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(end)
}

// instanceCounts adds up the sleep function's pool figures over its
// versions.
type instanceCounts struct {
	Idle, Busy, Starting                           int
	ColdStarts, WarmStarts, Throttles, StartErrors uint64
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
	}
	return c
}

// functionSnapshotLog returns the lines of the sleep function's log since
// since that speak of a snapshot: the engine writes one to the log of a
// cold start that could not take or use one. The function writes none.
func functionSnapshotLog(ctx context.Context, srv *server.Server, since time.Time) string {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	entries, err := srv.ReadLogs(lctx, "sleep", observe.Query{Since: since, Limit: 100000})
	if err != nil {
		return "reading the function's log: " + err.Error()
	}
	var b strings.Builder
	for _, en := range entries {
		for _, line := range snapshotLines(en.Message) {
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(line)
		}
	}
	return b.String()
}

// readStatusField reads a "kB" field, such as VmRSS or VmHWM, from a
// /proc/PID/status file, in bytes.
func readStatusField(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("resident memory needs Linux's /proc: %w", err)
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
