package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// snapshotExports are the exports a reactor needs for snapshots, with
// their signatures.
var snapshotExports = []struct {
	name            string
	params, results []api.ValueType
}{
	{exportRestore, nil, nil},
	{exportSnapshot, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
}

// prepareSnapshots prepares a module for snapshots, if it is a reactor
// that can take them.
func prepareSnapshots(bin []byte) (*snapshot.Prepared, error) {
	p, err := snapshot.Prepare(bin)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{exportHandle, exportRestore, exportSnapshot} {
		if !slices.Contains(p.Exports, name) {
			return nil, fmt.Errorf("the module does not export %s: build it with the current gureum Go SDK", name)
		}
	}
	// The segments share the artifact's bytes; keep only theirs.
	var n int
	for _, d := range p.Data {
		n += len(d.Bytes)
	}
	buf := make([]byte, 0, n)
	for i, d := range p.Data {
		buf = append(buf, d.Bytes...)
		p.Data[i].Bytes = buf[len(buf)-len(d.Bytes):]
	}
	return p, nil
}

// snapshots is the snapshot of one function: taken by its first cold
// start, or read from the cache; used by every later one.
type snapshots struct {
	key    string // file name in the cache, without extension
	cap    *monoClock
	mu     sync.Mutex
	st     string // an engine.Snapshot* state
	err    error  // why st is SnapshotFailed
	img    *image // when st is SnapshotReady
	taking bool   // a cold start is taking the snapshot
	done   bool   // the function is closed

	// standby is an instance instantiated from img ahead of need, its
	// restore hook not run yet: the next cold start takes it and only
	// runs the hook, and another is made in the background. filling says
	// one is being made; fills is waited for by close.
	standby *reactor
	filling bool
	fills   sync.WaitGroup
}

// image is a snapshot: the memory of an initialized instance, in a file
// each restored instance maps copy-on-write, and its globals.
type image struct {
	meta imageMeta
	hot  hotPages // learned in this process, not stored

	mu   sync.RWMutex // held while file is mapped or read, and to close it
	file *os.File     // nil once closed
}

// imageMeta is what a snapshot records beside its memory.
type imageMeta struct {
	Format   int      `json:"format"`
	Size     int64    `json:"size"`     // bytes of memory, whole pages
	SHA256   string   `json:"sha256"`   // of the memory
	Globals  []uint64 `json:"globals"`  // values of the module's exported mutable globals, in order
	Nanotime int64    `json:"nanotime"` // the monotonic clock when the snapshot was taken
	BufPtr   uint32   `json:"bufPtr"`   // the guest's request buffer (gureum_buffer)
	BufCap   uint32   `json:"bufCap"`
}

// monoClock is a monotonic clock that starts at offset. Each restored
// instance has its own, starting at the snapshot's reading: its clock
// continues from the snapshot's, in any process, and the guest sees only
// the time since its own restore pass, as if it had just initialized (Go's
// runtime would otherwise force a garbage collection at once in an
// instance restored from a snapshot taken minutes before).
type monoClock struct {
	base   time.Time
	offset int64
}

func (c *monoClock) now() int64 { return int64(time.Since(c.base)) + c.offset }

// snapshotKey names a snapshot in the cache. Everything the image depends
// on is in it: the module, the instance's arguments and environment (copied
// into the guest's heap at initialization), the memory limit, the warm-up
// event, the snapshot format, gureum's and wazero's versions.
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
	return hash + "-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// configDigest is what of an instance's configuration a snapshot depends on.
func configDigest(args []string, env []string, memMiB int, warmup []byte) []byte {
	var b bytes.Buffer
	b.WriteString("memory " + strconv.Itoa(memMiB) + "\n")
	for _, a := range args {
		b.WriteString("arg " + strconv.Quote(a) + "\n")
	}
	for _, kv := range env {
		b.WriteString("env " + strconv.Quote(kv) + "\n")
	}
	b.WriteString("warmup " + strconv.Quote(string(warmup)) + "\n")
	return b.Bytes()
}

// status reports where the snapshot stands.
func (s *snapshots) status() engine.SnapshotStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := engine.SnapshotStatus{State: s.st, Standby: s.standby != nil}
	if s.err != nil {
		st.Reason = s.err.Error()
	}
	return st
}

// toTake reports whether the snapshot is still to be taken and no cold
// start is taking it.
func (s *snapshots) toTake() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st == engine.SnapshotPending && !s.taking && !s.done
}

// newInstance starts an instance of a snapshot-enabled reactor: from the
// snapshot when there is one; else the normal way, taking the snapshot from
// the first instance. A snapshot that cannot be taken or used is reported
// in the function's status and once in the log of the cold start that
// tried; instances then start the normal way.
func (s *snapshots) newInstance(ctx context.Context, f *function, log io.Writer) (engine.Instance, error) {
	s.mu.Lock()
	if s.st == engine.SnapshotReady {
		img, r := s.img, s.standby
		s.standby = nil
		s.fillLocked(f)
		s.mu.Unlock()
		if r == nil {
			return restoreReactor(ctx, f, img, log)
		}
		if err := r.restore(ctx, log); err != nil {
			return nil, err
		}
		return r, nil
	}
	if s.st != engine.SnapshotPending || s.taking || s.done {
		s.mu.Unlock()
		return newReactor(ctx, f, f.config, log)
	}
	s.taking = true
	s.mu.Unlock()

	inst, img, err := s.take(ctx, f, log)
	s.mu.Lock()
	s.taking = false
	switch {
	case s.done:
		if img != nil {
			img.close()
		}
	case err == nil:
		s.st, s.img = engine.SnapshotReady, img
		s.fillLocked(f)
	case inst == nil:
		// This cold start failed; the next one tries again.
	default:
		s.st, s.err = engine.SnapshotFailed, err
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

// take reads the snapshot from the cache or takes it, and returns an
// instance for the cold start in progress: the capturing one, or one
// restored from the cached snapshot. err is set when there is no snapshot;
// inst may then still be a usable instance, or nil.
func (s *snapshots) take(ctx context.Context, f *function, log io.Writer) (inst engine.Instance, img *image, err error) {
	dir := f.e.snapshotDir()
	if dir != "" {
		if img, err = s.load(dir); err == nil {
			if err = s.validate(ctx, f, img); err == nil {
				if inst, err = restoreReactor(ctx, f, img, log); err == nil {
					return inst, img, nil
				}
			}
			img.close()
		}
		if !errors.Is(err, os.ErrNotExist) {
			// A cached snapshot that fails is replaced by a new one.
			fmt.Fprintf(log, "gureum: cached snapshot of %s not used: %v\n", f.name, err)
		}
	}

	// Capture: a normal cold start whose monotonic clock is s.cap.
	cfg := f.config.WithNanotime(s.cap.now, sys.ClockResolution(1))
	r, err := newReactor(ctx, f, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	img, mem, err := s.capture(ctx, f, r, log)
	if err == nil {
		err = s.validate(ctx, f, img)
		if err != nil {
			img.close()
		}
	}
	if err != nil {
		return r, nil, err
	}
	if dir != "" {
		if err := s.store(dir, img, mem); err != nil {
			fmt.Fprintf(log, "gureum: snapshot of %s not cached: %v\n", f.name, err)
		}
	}
	return r, img, nil
}

// capture serves the warm-up event, if any, on a freshly initialized
// instance, then takes its snapshot. It returns the image and its memory.
func (s *snapshots) capture(ctx context.Context, f *function, r *reactor, log io.Writer) (*image, []byte, error) {
	for _, w := range snapshotExports {
		fn := r.mod.ExportedFunction(w.name)
		if fn == nil {
			return nil, nil, fmt.Errorf("module does not export %s: build it with the current gureum Go SDK", w.name)
		}
		if !slices.Equal(fn.Definition().ParamTypes(), w.params) || !slices.Equal(fn.Definition().ResultTypes(), w.results) {
			return nil, nil, fmt.Errorf("module exports %s with the wrong signature", w.name)
		}
	}
	if w := f.spec.SnapshotWarmup; len(w) > 0 {
		if err := warmUp(ctx, f, r, w, log); err != nil {
			return nil, nil, err
		}
	}
	r.point(ctx, io.Discard)
	if !r.enter() {
		return nil, nil, errors.New("the instance was closed before its snapshot")
	}
	stop := r.watch(ctx)
	res, err := r.mod.ExportedFunction(exportSnapshot).Call(r.bind(ctx), uint64(r.mem.Size()))
	stop()
	r.leave()
	r.point(nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", exportSnapshot, f.cause(r.stopped(ctx, err), r.stderr.oom))
	}
	if res[0] != 0 {
		return nil, nil, fmt.Errorf("%s returned %d: the guest cannot give restored instances their own random state", exportSnapshot, res[0])
	}
	meta := imageMeta{Format: snapshot.FormatVersion, Nanotime: s.cap.now(), BufPtr: r.bufPtr, BufCap: r.bufCap}
	for _, g := range f.mod.globals {
		eg := r.mod.ExportedGlobal(g.Export)
		if eg == nil {
			return nil, nil, fmt.Errorf("global %d is not exported", g.Index)
		}
		meta.Globals = append(meta.Globals, eg.Get())
	}
	view, ok := r.mem.Read(0, r.mem.Size())
	if !ok {
		return nil, nil, errors.New("cannot read memory")
	}
	mem := bytes.Clone(view)
	meta.Size = int64(len(mem))
	sum := sha256.Sum256(mem)
	meta.SHA256 = hex.EncodeToString(sum[:])
	file, err := memoryFile(mem)
	if err != nil {
		return nil, nil, fmt.Errorf("keep the memory image: %w", err)
	}
	return &image{file: file, meta: meta}, mem, nil
}

// warmUp has r serve the warm-up event, with no host capabilities and its
// output in the cold start's log.
func warmUp(ctx context.Context, f *function, r *reactor, event []byte, log io.Writer) error {
	req := &engine.Request{
		ID:          "snapshot-warmup",
		Payload:     event,
		FunctionARN: "arn:aws:lambda:local:000000000000:function:" + f.name,
		Log:         log,
	}
	if f.timeout > 0 {
		req.Deadline = time.Now().Add(f.timeout)
	}
	resp, err := r.Invoke(ctx, req)
	if err != nil {
		return fmt.Errorf("warm-up invocation: %w", err)
	}
	if resp.FunctionError {
		return fmt.Errorf("warm-up invocation returned an error: %s", errorMessage(resp.Payload))
	}
	return nil
}

// store writes the snapshot to the cache: the memory, then its metadata,
// which names a complete image.
func (s *snapshots) store(dir string, img *image, mem []byte) error {
	meta, err := json.Marshal(img.meta)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(dir, s.key+".mem", mem); err != nil {
		return err
	}
	return writeFileAtomic(dir, s.key+".json", meta)
}

// load opens a cached snapshot and checks it is whole.
func (s *snapshots) load(dir string) (*image, error) {
	mb, err := os.ReadFile(filepath.Join(dir, s.key+".json"))
	if err != nil {
		return nil, err
	}
	var meta imageMeta
	if err := json.Unmarshal(mb, &meta); err != nil || meta.Format != snapshot.FormatVersion {
		return nil, fmt.Errorf("cached snapshot has another format")
	}
	file, err := os.Open(filepath.Join(dir, s.key+".mem"))
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(h, file)
	if err == nil && (n != meta.Size || n%pageBytes != 0 || hex.EncodeToString(h.Sum(nil)) != meta.SHA256) {
		err = errors.New("memory image does not match its checksum")
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	return &image{file: file, meta: meta}, nil
}

// validate starts an instance from img and checks it answers: the warm-up
// event when there is one, else a request for its buffer.
func (s *snapshots) validate(ctx context.Context, f *function, img *image) error {
	if len(img.meta.Globals) != len(f.mod.globals) {
		return fmt.Errorf("snapshot has %d globals, the module %d", len(img.meta.Globals), len(f.mod.globals))
	}
	r, err := restoreReactor(ctx, f, img, io.Discard)
	if err != nil {
		return fmt.Errorf("snapshot fails validation: %w", err)
	}
	defer r.Close(context.WithoutCancel(ctx))
	if w := f.spec.SnapshotWarmup; len(w) > 0 {
		err = warmUp(ctx, f, r, w, io.Discard)
	} else if r.enter() {
		stack := [1]uint64{1}
		stop := r.watch(ctx)
		err = r.buffer.CallWithStack(r.bind(ctx), stack[:])
		stop()
		r.leave()
	}
	if err != nil {
		return fmt.Errorf("snapshot fails validation: %w", err)
	}
	r.learnPages()
	return nil
}

// restoreReactor starts an instance from a snapshot: its memory is the
// image, mapped copy-on-write, its globals are the image's, and the only
// guest code it runs is the restore hook.
func restoreReactor(ctx context.Context, f *function, img *image, log io.Writer) (*reactor, error) {
	r, err := instantiateImage(ctx, f, img)
	if err != nil {
		return nil, err
	}
	// Writing the pages ahead in one call per run costs about a third
	// of taking their faults one by one.
	r.touchHotPages()
	if err := r.restore(ctx, log); err != nil {
		return nil, err
	}
	return r, nil
}

// instantiateImage does the part of a restore that runs no guest code:
// wazero instantiates the module (most of the time goes to filling its
// function table), with the image as its memory and the image's globals.
func instantiateImage(ctx context.Context, f *function, img *image) (*reactor, error) {
	clock := &monoClock{base: time.Now(), offset: img.meta.Nanotime + 1}
	cfg := f.config.WithNanotime(clock.now, sys.ClockResolution(1))
	r := &reactor{call: call{fn: f}, clock: clock, img: img}
	r.stderr.watch = true
	cfg = cfg.WithStdout(&r.stdout).WithStderr(&r.stderr).WithNanosleep(r.sleeper.sleep)
	alloc := &imageAllocator{img: img}
	if !f.e.enterGuest() {
		return nil, fmt.Errorf("%s: %w: the engine is closing", f.name, engine.ErrInit)
	}
	mod, err := f.rt.InstantiateModule(experimental.WithMemoryAllocator(r.bind(ctx), alloc), f.mod.compiled, cfg)
	f.e.leaveGuest()
	if err == nil && alloc.err != nil {
		_ = mod.Close(ctx)
		err = alloc.err
	}
	if err != nil {
		return nil, f.initFailure("instantiation from snapshot", err, r.stderr.oom)
	}
	mem := mod.Memory()
	if want := uint32(img.meta.Size / pageBytes); mem.Size()/pageBytes < want {
		if _, ok := mem.Grow(want - mem.Size()/pageBytes); !ok {
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("%s: %w: snapshot of %d MiB does not fit in %d MiB", f.name, engine.ErrInit, img.meta.Size>>20, f.memMiB)
		}
	}
	for i, g := range f.mod.globals {
		mg, ok := mod.ExportedGlobal(g.Export).(api.MutableGlobal)
		if !ok {
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("%s: %w: global %d is not exported as mutable", f.name, engine.ErrInit, g.Index)
		}
		mg.Set(img.meta.Globals[i])
	}
	r.attach(mod)
	if f.rt.interruptible && r.flag == nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("%s: %w: the instrumented module has no interrupt flag", f.name, engine.ErrInit)
	}
	r.guard, _ = alloc.mem.(memoryGuard)
	r.bufPtr, r.bufCap = img.meta.BufPtr, img.meta.BufCap
	return r, nil
}

// learnPages adds the pages the restored instance r has written to its
// image's hot pages.
func (r *reactor) learnPages() {
	if t, ok := r.guard.(pageToucher); ok {
		r.img.hot.add(t.written(uint64(r.mem.Size())))
	}
}

// touchHotPages writes the hot pages of r's image ahead of r's first call.
func (r *reactor) touchHotPages() {
	if t, ok := r.guard.(pageToucher); ok {
		t.populate(r.img.hot.runs())
	}
}

// restore finishes a restore begun by instantiateImage: the instance's
// clock starts, continuing from the snapshot's reading however long ago it
// was instantiated, and the guest's restore hook runs, its output in log.
func (r *reactor) restore(ctx context.Context, log io.Writer) error {
	f := r.fn
	r.clock.base = time.Now()
	r.point(ctx, log)
	defer r.point(nil, nil)
	ctx = r.bind(ctx)
	if !r.enter() {
		return fmt.Errorf("%s: %w: instance closed while it was restored", f.name, engine.ErrInit)
	}
	stop := r.watch(ctx)
	_, err := r.mod.ExportedFunction(exportRestore).Call(ctx)
	stop()
	r.leave()
	if err != nil {
		_ = r.mod.Close(ctx)
		return f.initFailure(exportRestore, r.stopped(ctx, err), r.stderr.oom)
	}
	return nil
}

// imageAllocator is the experimental.MemoryAllocator of one restored
// instance: its memory starts as the image. err says the image could not
// be mapped nor read.
type imageAllocator struct {
	img *image
	mem experimental.LinearMemory
	err error
}

// Allocate implements experimental.MemoryAllocator.
func (a *imageAllocator) Allocate(_, limit uint64) experimental.LinearMemory {
	a.img.mu.RLock()
	defer a.img.mu.RUnlock()
	if a.img.file == nil {
		a.err = errors.New("the snapshot was released")
		a.mem, _ = copyImage(nil, 0, limit)
		return a.mem
	}
	a.mem, a.err = mapImage(a.img.file, uint64(a.img.meta.Size), limit)
	return a.mem
}

// close releases the image's file once no instance is being mapped from
// it. Instances mapped already keep their mappings.
func (img *image) close() {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.file != nil {
		img.file.Close()
		img.file = nil
	}
}

const pageBytes = 65536

// snapshotDir is where snapshots are cached, beside the compiled modules;
// "" keeps them in memory only.
func (e *Engine) snapshotDir() string {
	if e.cfg.CacheDir == "" {
		return ""
	}
	return filepath.Join(e.cfg.CacheDir, "snapshots")
}

// fillLocked makes a standby instance in the background, unless there is
// one, one is being made, or the engine keeps none. s.mu must be held.
func (s *snapshots) fillLocked(f *function) {
	if f.e.cfg.NoStandby || s.standby != nil || s.filling || s.done || s.st != engine.SnapshotReady {
		return
	}
	s.filling = true
	s.fills.Add(1)
	img := s.img
	go func() {
		defer s.fills.Done()
		ctx, cancel := context.WithTimeout(context.Background(), f.e.cfg.InitTimeout)
		r, err := instantiateImage(ctx, f, img)
		cancel()
		if err == nil {
			r.touchHotPages()
		}
		s.mu.Lock()
		s.filling = false
		if err == nil && !s.done && s.standby == nil {
			s.standby, r = r, nil
		}
		s.mu.Unlock()
		if r != nil {
			_ = r.Close(context.Background())
		}
	}()
}

// close releases the image and the standby instance, once any being made
// is done. Restored instances keep their mappings.
func (s *snapshots) close() {
	s.mu.Lock()
	if s.img != nil {
		s.img.close()
		s.img = nil
	}
	s.done = true
	r := s.standby
	s.standby = nil
	s.mu.Unlock()
	if r != nil {
		_ = r.Close(context.Background())
	}
	s.fills.Wait()
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
