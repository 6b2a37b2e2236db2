package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/wasm/snapshot"
)

// exportRestore is the hook the host calls in every instance started from a
// snapshot, before any invocation (ABI.md, "Snapshots").
const exportRestore = "gureum_restore"

// exportSnapshot prepares an instance for the snapshot about to be taken.
const exportSnapshot = "gureum_snapshot"

// snapshots is the snapshot of one function: built by its first cold start,
// used by every later one. See ABI.md, "Snapshots".
type snapshots struct {
	key  string // file name in the cache: module, config and versions
	mu   sync.Mutex
	st   snapState
	err  error                 // why st is snapFailed
	cm   wazero.CompiledModule // the restored module, when st is snapReady
	mono *monoClock            // the clock of restored instances
	cap  *monoClock            // the clock of the capturing instance
	done bool                  // the function is closed
}

type snapState int

const (
	snapNone     snapState = iota // not tried yet
	snapBuilding                  // the first cold start is taking it
	snapReady
	snapFailed
)

// monoClock is a monotonic clock that starts at offset: a restored
// instance's clock continues from its snapshot's, even in another process.
type monoClock struct {
	base   time.Time
	offset int64
}

func (c *monoClock) now() int64 { return int64(time.Since(c.base)) + c.offset }

// snapshotKey names a snapshot in the cache. Everything the image depends
// on is in it: the module, the instance's arguments and environment (copied
// into the guest's heap at initialization), the memory limit, the snapshot
// format, gureum's and wazero's versions.
func snapshotKey(e *Engine, hash string, cfgDigest []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "format %d\ngureum %s\n", snapshot.FormatVersion, e.cfg.Version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(h, "main %s\n", bi.Main.Version)
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				fmt.Fprintf(h, "wazero %s\n", d.Version)
			}
		}
	}
	h.Write(cfgDigest)
	return hash + "-" + hex.EncodeToString(h.Sum(nil))[:32] + ".wasm"
}

// configDigest is what of an instance's configuration a snapshot depends on.
func configDigest(args []string, env []string, memMiB int) []byte {
	var b bytes.Buffer
	b.WriteString("memory " + strconv.Itoa(memMiB) + "\n")
	for _, a := range args {
		b.WriteString("arg " + strconv.Quote(a) + "\n")
	}
	for _, kv := range env {
		b.WriteString("env " + strconv.Quote(kv) + "\n")
	}
	return b.Bytes()
}

// newInstance starts an instance of a snapshot-enabled reactor: from the
// snapshot when there is one; else the normal way, taking the snapshot from
// the first instance. A snapshot that cannot be taken or used is reported
// once, to the log of the cold start that tried, and instances then start
// the normal way.
func (s *snapshots) newInstance(ctx context.Context, f *function, log io.Writer) (engine.Instance, error) {
	s.mu.Lock()
	switch s.st {
	case snapReady:
		cm, mono := s.cm, s.mono
		s.mu.Unlock()
		return restoreReactor(ctx, f, cm, mono, log)
	case snapBuilding, snapFailed:
		s.mu.Unlock()
		return newReactor(ctx, f, f.mod.compiled, f.config, log)
	}
	s.st = snapBuilding
	s.mu.Unlock()

	inst, cm, mono, err := s.take(ctx, f, log)
	s.mu.Lock()
	switch {
	case s.done:
		if cm != nil {
			_ = cm.Close(context.Background())
		}
	case err == nil:
		s.st, s.cm, s.mono = snapReady, cm, mono
	case inst == nil:
		s.st = snapNone // this cold start failed; the next one tries again
	default:
		s.st, s.err = snapFailed, err
	}
	s.mu.Unlock()
	if inst == nil {
		return nil, err
	}
	if err != nil {
		fmt.Fprintf(log, "gureum: no snapshot for %s, instances start without one: %v\n", f.name, err)
	}
	return inst, nil
}

// take loads the snapshot from the cache or takes it, and returns an
// instance for the cold start in progress: the captured one, or one
// restored from the cached snapshot. err is set when there is no snapshot;
// inst may then still be a usable instance, or nil.
func (s *snapshots) take(ctx context.Context, f *function, log io.Writer) (inst engine.Instance, cm wazero.CompiledModule, mono *monoClock, err error) {
	dir := f.e.snapshotDir()
	if dir != "" {
		if bin, rerr := os.ReadFile(filepath.Join(dir, s.key)); rerr == nil {
			// A cached snapshot that fails is replaced by a new one.
			if cm, mono, err = s.load(ctx, f, bin); err == nil {
				if inst, err = restoreReactor(ctx, f, cm, mono, log); err == nil {
					return inst, cm, mono, nil
				}
				_ = cm.Close(context.Background())
			}
			fmt.Fprintf(log, "gureum: cached snapshot of %s not used: %v\n", f.name, err)
		}
	}

	// Capture: a normal cold start whose monotonic clock is s.cap.
	cfg := f.config.WithNanotime(s.cap.now, sys.ClockResolution(1))
	r, err := newReactor(ctx, f, f.mod.compiled, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	bin, err := takeImage(ctx, r, s.cap.now())
	if err == nil {
		cm, mono, err = s.load(context.WithoutCancel(ctx), f, bin)
	}
	if err != nil {
		return r, nil, nil, err
	}
	if dir != "" {
		if err := writeFileAtomic(dir, s.key, bin); err != nil {
			fmt.Fprintf(log, "gureum: snapshot of %s not cached: %v\n", f.name, err)
		}
	}
	return r, cm, mono, nil
}

// takeImage takes the image of a freshly initialized instance and returns the
// restored module.
func takeImage(ctx context.Context, r *reactor, now int64) ([]byte, error) {
	i32 := api.ValueTypeI32
	for _, w := range []struct {
		name            string
		params, results []api.ValueType
	}{
		{exportRestore, nil, nil},
		{exportSnapshot, []api.ValueType{i32}, []api.ValueType{i32}},
	} {
		fn := r.mod.ExportedFunction(w.name)
		if fn == nil {
			return nil, fmt.Errorf("module does not export %s: rebuild it with the current gureum Go SDK", w.name)
		}
		if !slices.Equal(fn.Definition().ParamTypes(), w.params) || !slices.Equal(fn.Definition().ResultTypes(), w.results) {
			return nil, fmt.Errorf("module exports %s with the wrong signature", w.name)
		}
	}
	r.point(ctx, io.Discard)
	res, err := r.mod.ExportedFunction(exportSnapshot).Call(r.bind(ctx), uint64(r.mem.Size()))
	r.point(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", exportSnapshot, r.fn.cause(err, r.stderr.oom))
	}
	if res[0] != 0 {
		return nil, fmt.Errorf("%s returned %d: the guest cannot give restored instances their own random state", exportSnapshot, res[0])
	}
	im, ok := r.mod.(experimental.InternalModule)
	if !ok {
		return nil, errors.New("wazero does not expose the module's globals")
	}
	img := snapshot.Image{Meta: snapshot.Meta{Nanotime: now}}
	for i := range im.NumGlobal() {
		img.Globals = append(img.Globals, im.Global(i).Get())
	}
	mem, ok := r.mem.Read(0, r.mem.Size())
	if !ok {
		return nil, errors.New("cannot read memory")
	}
	img.Memory = mem // Build copies what it keeps
	orig, err := readArtifact(r.fn.spec)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(orig); hex.EncodeToString(sum[:]) != r.fn.mod.key.hash {
		return nil, fmt.Errorf("%s changed since it was compiled", r.fn.spec.ArtifactPath)
	}
	return snapshot.Build(orig, img)
}

// load compiles a restored module and validates it: it must be a reactor
// of this format, and an instance of it must answer a call.
func (s *snapshots) load(ctx context.Context, f *function, bin []byte) (wazero.CompiledModule, *monoClock, error) {
	meta, ok := snapshot.ReadMeta(bin)
	if !ok || meta.Version != snapshot.FormatVersion {
		return nil, nil, errors.New("cached snapshot has another format")
	}
	cm, err := f.rt.CompileModule(context.WithoutCancel(ctx), bin)
	if err != nil {
		return nil, nil, fmt.Errorf("compile snapshot: %w", err)
	}
	if k, err := classify(f.rt, cm); err != nil || k != kindReactor {
		_ = cm.Close(ctx)
		return nil, nil, fmt.Errorf("snapshot is not a reactor: %v", err)
	}
	mono := &monoClock{base: s.cap.base}
	if now := mono.now(); now <= meta.Nanotime {
		mono.offset = meta.Nanotime - now + 1
	}
	inst, err := restoreReactor(ctx, f, cm, mono, io.Discard)
	if err == nil {
		var stack [1]uint64
		stack[0] = 1
		err = inst.buffer.CallWithStack(ctx, stack[:])
		_ = inst.Close(ctx)
	}
	if err != nil {
		_ = cm.Close(ctx)
		return nil, nil, fmt.Errorf("snapshot fails validation: %w", err)
	}
	return cm, mono, nil
}

// restoreReactor starts an instance from a restored module: it does not run
// the initialization again, only the guest's restore hook.
func restoreReactor(ctx context.Context, f *function, cm wazero.CompiledModule, mono *monoClock, log io.Writer) (*reactor, error) {
	cfg := f.config.WithNanotime(mono.now, sys.ClockResolution(1))
	r := &reactor{call: call{fn: f}}
	r.stderr.watch = true
	r.point(ctx, log)
	defer r.point(nil, nil)
	cfg = cfg.WithStdout(&r.stdout).WithStderr(&r.stderr).WithNanosleep(r.sleeper.sleep)
	ctx = r.bind(ctx)
	mod, err := f.rt.InstantiateModule(ctx, cm, cfg)
	if err != nil {
		return nil, f.initFailure("instantiation from snapshot", err, r.stderr.oom)
	}
	r.attach(mod)
	if _, err := mod.ExportedFunction(exportRestore).Call(ctx); err != nil {
		_ = mod.Close(ctx)
		return nil, f.initFailure(exportRestore, err, r.stderr.oom)
	}
	return r, nil
}

// snapshotDir is where snapshots are cached, beside the compiled modules;
// "" keeps them in memory only.
func (e *Engine) snapshotDir() string {
	if e.cfg.CacheDir == "" {
		return ""
	}
	return filepath.Join(e.cfg.CacheDir, "snapshots")
}

// close releases the restored module.
func (s *snapshots) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cm != nil {
		_ = s.cm.Close(context.Background())
		s.cm = nil
	}
	s.st, s.done = snapFailed, true
	s.err = errors.New("function closed")
}

func writeFileAtomic(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
