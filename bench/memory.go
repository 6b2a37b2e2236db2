package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gureum/gureum/internal/build"
	"github.com/gureum/gureum/internal/engine"
)

// memoryResult is what a memory child reports.
type memoryResult struct {
	Instances   int    `json:"instances"`
	RSSBefore   int64  `json:"rssBefore"` // bytes, compiled module loaded, no instance
	RSSAfter    int64  `json:"rssAfter"`  // bytes, with every instance idle
	LinearInit  uint32 `json:"linearInit,omitempty"`
	LinearStart uint32 `json:"linearStart,omitempty"`
}

func (r memoryResult) perInstance() float64 {
	return float64(r.RSSAfter-r.RSSBefore) / float64(r.Instances)
}

// benchMemory measures the resident memory of K idle instances, each side in
// a fresh child process so that neither inherits the other's heap.
func benchMemory(ctx context.Context, e *env) ([]row, error) {
	path, _, err := e.quickstartWasm(ctx)
	if err != nil {
		return nil, err
	}
	cacheDir := filepath.Join(e.work, "wasm-cache")
	k := e.opts.instances
	var g, b memoryResult
	for _, c := range []struct {
		mode string
		res  *memoryResult
	}{
		{"memory-gureum", &g},
		{"memory-bare", &b},
	} {
		r, err := e.runMemoryChild(ctx, c.mode, path, cacheDir)
		if err != nil {
			return nil, err
		}
		*c.res = r
	}
	e.logf("gureum   %d instances: RSS %s → %s, %s each", k, fmtMiB(float64(g.RSSBefore)), fmtMiB(float64(g.RSSAfter)), fmtMiB(g.perInstance()))
	e.logf("baseline %d instances: RSS %s → %s, %s each", k, fmtMiB(float64(b.RSSBefore)), fmtMiB(float64(b.RSSAfter)), fmtMiB(b.perInstance()))
	return []row{
		{
			Name:     fmt.Sprintf("4. memory per idle warm instance: RSS growth / K, gureum engine vs bare wazero (K=%d)", k),
			Gureum:   fmtMiB(g.perInstance()),
			Baseline: fmtMiB(b.perInstance()),
			Ratio:    fmtRatio(g.perInstance(), b.perInstance()),
			Target:   "—",
			Met:      "—",
		},
		{
			Name:     "4. linear memory of one instance: after gureum's init (_initialize + gureum_start) vs after _initialize",
			Gureum:   fmtMiB(float64(b.LinearStart)),
			Baseline: fmtMiB(float64(b.LinearInit)),
			Ratio:    fmtRatio(float64(b.LinearStart), float64(b.LinearInit)),
			Target:   "—",
			Met:      "—",
		},
	}, nil
}

// runMemoryChild runs this program again in one memory mode.
func (e *env) runMemoryChild(ctx context.Context, mode, path, cacheDir string) (memoryResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return memoryResult{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(cctx, exe,
		"-child="+mode,
		"-instances="+strconv.Itoa(e.opts.instances),
		"-wasm="+path,
		"-cache="+cacheDir)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return memoryResult{}, fmt.Errorf("%s: %w\n%s", mode, err, strings.TrimSpace(stderr.String()))
	}
	var r memoryResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return memoryResult{}, fmt.Errorf("%s: %w: %q", mode, err, stdout.String())
	}
	return r, nil
}

// runChild runs one -child measurement and prints its JSON result.
func runChild(ctx context.Context, o options, stdout io.Writer) error {
	if o.wasm == "" || o.cache == "" || o.instances < 1 {
		return errors.New("-wasm, -cache and -instances are required")
	}
	var (
		r   memoryResult
		err error
	)
	switch o.child {
	case "memory-gureum":
		r, err = childGureum(ctx, o)
	case "memory-bare":
		r, err = childBare(ctx, o)
	default:
		return fmt.Errorf("unknown child mode %q", o.child)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(r)
}

func childGureum(ctx context.Context, o options) (memoryResult, error) {
	r := memoryResult{Instances: o.instances}
	hash, err := build.HashFile(o.wasm)
	if err != nil {
		return r, err
	}
	eng, fn, err := prepareGureum(ctx, o.cache, o.wasm, hash)
	if err != nil {
		return r, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	defer fn.Close(context.WithoutCancel(ctx))
	// One instance started and closed first, so that lazily built runtime
	// state is not counted against the instances.
	first, err := fn.NewInstance(ctx, io.Discard)
	if err != nil {
		return r, err
	}
	_ = first.Close(ctx)

	insts, before, after, err := startIdle(ctx, fn, o.instances, settledRSS)
	if err != nil {
		return r, err
	}
	defer closeInstances(ctx, insts)
	r.RSSBefore, r.RSSAfter = before, after
	runtime.KeepAlive(insts)
	return r, nil
}

// startIdle starts n instances of fn and leaves them idle, measuring the
// process with measure just before the first starts and once all have
// started. On success the caller owns the instances and closes them with
// closeInstances; on an error those already started are closed.
func startIdle[M any](ctx context.Context, fn engine.Function, n int, measure func() (M, error)) (insts []engine.Instance, before, after M, err error) {
	if before, err = measure(); err != nil {
		return nil, before, after, err
	}
	insts = make([]engine.Instance, 0, n)
	for range n {
		in, err := fn.NewInstance(ctx, io.Discard)
		if err != nil {
			closeInstances(ctx, insts)
			return nil, before, after, err
		}
		insts = append(insts, in)
	}
	if after, err = measure(); err != nil {
		closeInstances(ctx, insts)
		return nil, before, after, err
	}
	return insts, before, after, nil
}

// closeInstances closes every instance in insts, even once ctx is done.
func closeInstances(ctx context.Context, insts []engine.Instance) {
	for _, in := range insts {
		_ = in.Close(context.WithoutCancel(ctx))
	}
}

func childBare(ctx context.Context, o options) (memoryResult, error) {
	r := memoryResult{Instances: o.instances}
	bare, err := newBareWazero(ctx, o.cache, o.wasm)
	if err != nil {
		return r, err
	}
	defer bare.Close(context.WithoutCancel(ctx))
	first, err := bare.instantiate(ctx)
	if err != nil {
		return r, err
	}
	// The linear memory of one instance, after _initialize and after the
	// SDK's start, which is all gureum's NewInstance adds; the start
	// registers the handler and calls no host function.
	r.LinearInit = first.Memory().Size()
	if _, err := first.ExportedFunction("gureum_start").Call(ctx); err != nil {
		return r, fmt.Errorf("gureum_start: %w", err)
	}
	r.LinearStart = first.Memory().Size()
	_ = first.Close(ctx)

	if r.RSSBefore, err = settledRSS(); err != nil {
		return r, err
	}
	mods := make([]interface{ Close(context.Context) error }, 0, o.instances)
	defer func() {
		for _, m := range mods {
			_ = m.Close(context.WithoutCancel(ctx))
		}
	}()
	for range o.instances {
		m, err := bare.instantiate(ctx)
		if err != nil {
			return r, err
		}
		mods = append(mods, m)
	}
	if r.RSSAfter, err = settledRSS(); err != nil {
		return r, err
	}
	runtime.KeepAlive(mods)
	return r, nil
}

// settledRSS collects garbage, returns free memory to the OS and reads the
// process's resident set size.
func settledRSS() (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	return readRSS()
}

// readRSS reads VmRSS from /proc/self/status, in bytes.
func readRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("resident memory needs Linux's /proc: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", rest, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}
