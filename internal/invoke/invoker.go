package invoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/observe/records"
	"github.com/gureum/gureum/internal/pool"
	"github.com/gureum/gureum/internal/registry"
)

// Registry is what the invoker needs from the function registry.
type Registry interface {
	Get(ctx context.Context, name, qualifier string) (*registry.Version, error)
	ArtifactPath(ctx context.Context, hash string) (string, error)
}

// Config wires an Invoker.
type Config struct {
	Registry Registry
	Engines  map[string]engine.Engine // by runtime name
	Pools    *pool.Manager
	Logs     *observe.Logs
	Region   string // for ARNs; default "local"
	Account  string // for ARNs; default "000000000000"
	// Host gives invocations their host capabilities (publish, send, …);
	// nil means none.
	Host Host
	// Observer records, counts and traces invocations; nil means none.
	Observer Observer
	// Node names this node in invocation records.
	Node string
}

// Observer watches invocations: their records, metrics and traces.
type Observer interface {
	// Begin starts watching one invocation of a function version that
	// resolved. parentTrace is the incoming W3C trace context ("" for
	// none). It returns the trace context the invocation runs in (handed to
	// the function and its host calls; "" when not traced) and end, which
	// takes the invocation's record when it is over.
	Begin(ctx context.Context, function, version, parentTrace string) (trace string, end func(*records.Record))
}

// Host is what the invoker needs to give functions host capabilities.
type Host interface {
	// Bind returns the capabilities of one invocation of v, bound to its
	// grants, request id and trace context.
	Bind(v *registry.Version, requestID, trace string) engine.Host
	// Endpoint is where process functions of v reach the node's host API,
	// and the token that names them there; empty when there is none. env
	// holds further variables for the node's other services (engine.Spec.HostEnv).
	Endpoint(v *registry.Version) (url, token string, env map[string]string)
}

// Invoker runs invocations. It is safe for concurrent use.
type Invoker struct {
	cfg Config

	mu       sync.Mutex
	versions map[string]map[string]*registry.Version // function -> qualifier -> version
	prepared map[string]*preparedFn                  // "fn@version" -> prepared function

	inflight sync.WaitGroup
	closing  atomic.Bool
}

type preparedFn struct {
	once sync.Once
	done atomic.Bool // once has run: fn and err are set
	fn   engine.Function
	err  error
	key  pool.Key
	lim  pool.Limits
	arn  string
	ver  *registry.Version
}

// New returns an Invoker.
func New(cfg Config) *Invoker {
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	return &Invoker{
		cfg:      cfg,
		versions: make(map[string]map[string]*registry.Version),
		prepared: make(map[string]*preparedFn),
	}
}

// NewRequestID returns a new request id: a UUID in Lambda's 36-character
// form, version 7, so that it carries the time it was made (its first 48
// bits, Unix milliseconds). Clients treat it as opaque, as they do Lambda's;
// gureum uses the time to find an invocation's record without an index
// (records.RequestTime).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ARN returns the function ARN of name (qualified when version is not empty).
func (inv *Invoker) ARN(name, version string) string {
	arn := "arn:aws:lambda:" + inv.cfg.Region + ":" + inv.cfg.Account + ":function:" + name
	if version != "" {
		arn += ":" + version
	}
	return arn
}

// Forget drops what the invoker cached about a function; the registry watch
// calls it whenever the function changes.
func (inv *Invoker) Forget(name string) {
	inv.mu.Lock()
	delete(inv.versions, name)
	inv.mu.Unlock()
}

// Resolve returns the version a qualifier names, from the cache when possible.
func (inv *Invoker) Resolve(ctx context.Context, name, qualifier string) (*registry.Version, error) {
	if qualifier == "" {
		qualifier = registry.LatestQualifier
	}
	inv.mu.Lock()
	v := inv.versions[name][qualifier]
	inv.mu.Unlock()
	if v != nil {
		return v, nil
	}
	v, err := inv.cfg.Registry.Get(ctx, name, qualifier)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s:%s", ErrFunctionNotFound, name, qualifier)
		}
		return nil, fmt.Errorf("resolve %s:%s: %w", name, qualifier, err)
	}
	inv.mu.Lock()
	m := inv.versions[name]
	if m == nil {
		m = make(map[string]*registry.Version)
		inv.versions[name] = m
	}
	m[qualifier] = v
	inv.mu.Unlock()
	return v, nil
}

// Prepare makes a version ready to start instances (compiles it once).
func (inv *Invoker) Prepare(ctx context.Context, v *registry.Version) (engine.Function, pool.Key, pool.Limits, error) {
	p := inv.preparedFor(v)
	p.once.Do(func() {
		p.fn, p.err = inv.prepare(ctx, v)
		p.done.Store(true)
	})
	return p.fn, p.key, p.lim, p.err
}

// Warm prepares v and does ahead of its first cold start what can be done
// there (engine.Warmer: a wasm function takes its snapshot), so that the
// first request after a deploy does not pay for it. Output goes to the
// function's log under the request id "init".
func (inv *Invoker) Warm(ctx context.Context, v *registry.Version) error {
	fn, _, _, err := inv.Prepare(ctx, v)
	if err != nil {
		return err
	}
	w, ok := fn.(engine.Warmer)
	if !ok {
		return nil
	}
	log := inv.cfg.Logs.Writer(v.Config.Name, v.VersionString(), "init", false)
	defer log.Close()
	return w.Warm(ctx, log)
}

// SnapshotStatus reports where the snapshot of a prepared version stands,
// when its runtime says (engine.SnapshotReporter). ok is false for a
// version not prepared on this node, or still being prepared.
func (inv *Invoker) SnapshotStatus(key pool.Key) (st engine.SnapshotStatus, ok bool) {
	inv.mu.Lock()
	p := inv.prepared[key.Function+"@"+key.Version]
	inv.mu.Unlock()
	if p == nil || !p.done.Load() {
		return st, false
	}
	r, isReporter := p.fn.(engine.SnapshotReporter)
	if !isReporter {
		return st, false
	}
	return r.SnapshotStatus(), true
}

func (inv *Invoker) preparedFor(v *registry.Version) *preparedFn {
	id := v.Config.Name + "@" + v.VersionString()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	p := inv.prepared[id]
	if p == nil {
		p = &preparedFn{
			key: pool.Key{Function: v.Config.Name, Version: v.VersionString()},
			lim: pool.Limits{Concurrency: v.Config.Concurrency, Provisioned: v.Config.Provisioned},
			arn: inv.ARN(v.Config.Name, v.VersionString()),
			ver: v,
		}
		inv.prepared[id] = p
	}
	return p
}

func (inv *Invoker) prepare(ctx context.Context, v *registry.Version) (engine.Function, error) {
	eng := inv.cfg.Engines[v.Config.Runtime]
	if eng == nil {
		return nil, fmt.Errorf("%w: runtime %q is not available on this node", ErrInitFailed, v.Config.Runtime)
	}
	path, err := inv.cfg.Registry.ArtifactPath(ctx, v.Config.ArtifactHash)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch artifact of %s:%d: %v", ErrInitFailed, v.Config.Name, v.Number, err)
	}
	var hostURL, hostToken string
	var hostEnv map[string]string
	if inv.cfg.Host != nil {
		hostURL, hostToken, hostEnv = inv.cfg.Host.Endpoint(v)
	}
	fn, err := eng.Prepare(ctx, engine.Spec{
		HostURL:        hostURL,
		HostToken:      hostToken,
		HostEnv:        hostEnv,
		Function:       v.Config.Name,
		Version:        v.VersionString(),
		Runtime:        v.Config.Runtime,
		ArtifactPath:   path,
		ArtifactHash:   v.Config.ArtifactHash,
		Handler:        v.Config.Handler,
		MemoryMiB:      v.Config.MemoryMiB,
		Timeout:        time.Duration(v.Config.Timeout),
		Env:            v.Config.Env,
		Snapshot:       v.Config.Snapshot,
		SnapshotWarmup: v.Config.SnapshotWarmup,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInitFailed, err)
	}
	return fn, nil
}

// Unprepare releases a version that is no longer served.
func (inv *Invoker) Unprepare(ctx context.Context, name, version string) {
	id := name + "@" + version
	inv.mu.Lock()
	p := inv.prepared[id]
	delete(inv.prepared, id)
	inv.mu.Unlock()
	if p == nil {
		return
	}
	inv.cfg.Pools.Retire(p.key)
	p.once.Do(func() { p.err = errors.New("retired") })
	if p.fn != nil {
		_ = p.fn.Close(ctx)
	}
}

// PreparedVersions lists the versions the invoker has prepared, as "fn@version".
func (inv *Invoker) PreparedVersions() []pool.Key {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	keys := make([]pool.Key, 0, len(inv.prepared))
	for _, p := range inv.prepared {
		keys = append(keys, p.key)
	}
	return keys
}

// maxDeliveryAttempts bounds how often an event that no instance took is
// offered to another one.
const maxDeliveryAttempts = 3

// Invoke runs one synchronous invocation.
func (inv *Invoker) Invoke(ctx context.Context, req *Request) (*Result, error) {
	inv.inflight.Add(1)
	defer inv.inflight.Done()
	if inv.closing.Load() {
		return nil, ErrShuttingDown
	}
	if len(req.Payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: request of %d bytes is over the %d byte limit", ErrPayloadTooLarge, len(req.Payload), MaxPayloadBytes)
	}
	rid := req.RequestID
	if rid == "" {
		rid = NewRequestID()
	}
	v, err := inv.Resolve(ctx, req.Function, req.Qualifier)
	if err != nil {
		return nil, err
	}
	trace := req.TraceID
	var end func(*records.Record)
	if inv.cfg.Observer != nil {
		trace, end = inv.cfg.Observer.Begin(ctx, v.Config.Name, v.VersionString(), req.TraceID)
	}
	res, err := inv.invoke(ctx, req, v, rid, trace)
	if end != nil {
		end(inv.record(req, v, rid, trace, res, err))
	}
	return res, err
}

// record is the invocation record of one outcome of invoke.
func (inv *Invoker) record(req *Request, v *registry.Version, rid, trace string, res *Result, err error) *records.Record {
	r := &records.Record{
		RequestID: rid, Function: v.Config.Name, Version: v.VersionString(),
		Trigger: req.Trigger, Source: req.Source, MemoryMiB: v.Config.MemoryMiB,
		Node: inv.cfg.Node, Outcome: "success",
	}
	if len(trace) == 55 && trace[53:] == "01" { // sampled: its spans are recorded
		r.TraceID = trace[3:35]
	}
	if res != nil {
		r.Cold, r.InitDuration, r.Duration, r.Start = res.Cold, res.InitDuration, res.Duration, res.Start
	}
	if r.Start.IsZero() {
		r.Start = time.Now()
	}
	switch {
	case errors.Is(err, ErrThrottled):
		r.Outcome, r.ErrorType = "throttled", "TooManyRequestsException"
		return r // nothing ran: nothing billed
	case errors.Is(err, ErrTimeout):
		r.Outcome, r.ErrorType = "timeout", "Sandbox.Timedout"
	case errors.Is(err, ErrInitFailed):
		r.Outcome, r.ErrorType = "init_error", "Runtime.InitError"
	case err != nil || res != nil && res.FunctionError:
		r.Outcome, r.ErrorType = "error", errorType(res)
	}
	r.BilledMs, r.GBSeconds = records.Billing(r.Duration+r.InitDuration, r.MemoryMiB)
	return r
}

// errorType reads the errorType of a Lambda error document.
func errorType(res *Result) string {
	if res == nil || len(res.Payload) == 0 {
		return "Unhandled"
	}
	var doc struct {
		Type string `json:"errorType"`
	}
	if json.Unmarshal(res.Payload, &doc) != nil || doc.Type == "" {
		return "Unhandled"
	}
	return doc.Type
}

// invoke runs an invocation of a resolved version in the trace context trace.
func (inv *Invoker) invoke(ctx context.Context, req *Request, v *registry.Version, rid, trace string) (*Result, error) {
	fn, key, lim, err := inv.Prepare(ctx, v)
	if err != nil {
		return nil, err
	}
	p := inv.preparedFor(v)
	ver := key.Version
	res := &Result{RequestID: rid, Function: v.Config.Name, Version: ver}

	log := inv.cfg.Logs.Writer(v.Config.Name, ver, rid, req.KeepLog)
	defer log.Close()

	// An instance may have stopped while it sat idle (a process runtime
	// exits after reporting a panic); its event was never delivered, so it
	// runs on another instance, a bounded number of times.
	var (
		lease      pool.Lease
		resp       *engine.Response
		acquireErr error
		start      time.Time
	)
	timeout := time.Duration(v.Config.Timeout)
	var callCtx context.Context
	for attempt := 0; ; attempt++ {
		lease, acquireErr = inv.cfg.Pools.Acquire(ctx, key, fn, lim, log)
		if acquireErr != nil {
			err = acquireErr
			break
		}
		res.Cold, res.InitDuration = lease.Cold, lease.InitDuration
		start = time.Now()
		res.Start = start
		var cancel context.CancelFunc
		callCtx, cancel = context.WithDeadline(ctx, start.Add(timeout))
		ereq := engine.Request{
			ID:          rid,
			Payload:     req.Payload,
			Deadline:    start.Add(timeout),
			FunctionARN: p.arn,
			TraceID:     trace,
			Log:         log,
		}
		if inv.cfg.Host != nil {
			ereq.Host = inv.cfg.Host.Bind(v, rid, trace)
		}
		resp, err = lease.Instance.Invoke(callCtx, &ereq)
		res.Duration = time.Since(start)
		cancel()
		lease.Release(err != nil)
		if !errors.Is(err, engine.ErrNotDelivered) || attempt == maxDeliveryAttempts-1 {
			break
		}
	}
	if acquireErr != nil {
		if errors.Is(err, pool.ErrThrottled) {
			return nil, fmt.Errorf("%w: %s", ErrThrottled, v.Config.Name)
		}
		inv.report(log, res, v, "init error")
		res.Log = bytesClone(log.Tail())
		return res, initError(err)
	}

	outcome := "success"
	switch {
	case err == nil && resp.FunctionError:
		outcome = "function error"
	case errors.Is(err, engine.ErrTimeout), err != nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		outcome = "timeout"
		log.Printf("%s Task timed out after %.2f seconds", time.Now().UTC().Format(time.RFC3339Nano), timeout.Seconds())
	case err != nil:
		outcome = "error"
	}
	inv.report(log, res, v, outcome)
	if req.KeepLog {
		res.Log = bytesClone(log.Tail())
	}
	if resp != nil {
		res.Payload = resp.Payload
		res.FunctionError = resp.FunctionError
	}
	switch {
	case err == nil:
		return res, nil
	case outcome == "timeout":
		res.FunctionError = true
		res.Payload = errorDocument(fmt.Sprintf("%s Task timed out after %.2f seconds", rid, timeout.Seconds()), "Sandbox.Timedout")
		return res, fmt.Errorf("%w after %s", ErrTimeout, timeout)
	case errors.Is(err, engine.ErrResponseTooLarge):
		res.FunctionError = true
		res.Payload = errorDocument(err.Error(), "Function.ResponseSizeTooLarge")
		return res, fmt.Errorf("%w: %v", ErrFunctionFailed, err)
	default:
		if res.Payload == nil {
			res.FunctionError = true
			res.Payload = errorDocument(err.Error(), "Runtime.ExitError")
		}
		return res, fmt.Errorf("%w: %v", ErrFunctionFailed, err)
	}
}

func (inv *Invoker) report(log *observe.InvocationLog, res *Result, v *registry.Version, outcome string) {
	billed := int64(math.Ceil(float64(res.Duration) / float64(time.Millisecond)))
	if billed < 1 {
		billed = 1
	}
	line := "REPORT RequestId: " + res.RequestID +
		" Version: " + res.Version +
		" Duration: " + strconv.FormatFloat(float64(res.Duration)/float64(time.Millisecond), 'f', 2, 64) + " ms" +
		" Billed Duration: " + strconv.FormatInt(billed, 10) + " ms" +
		" Memory Size: " + strconv.Itoa(v.Config.MemoryMiB) + " MB"
	if res.Cold {
		line += " Init Duration: " + strconv.FormatFloat(float64(res.InitDuration)/float64(time.Millisecond), 'f', 2, 64) + " ms"
	}
	if outcome != "success" {
		line += " Status: " + outcome
	}
	log.Line(line)
}

func initError(err error) error {
	if errors.Is(err, ErrInitFailed) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrInitFailed, err)
}

// errorDocument is a Lambda error payload.
func errorDocument(msg, typ string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{msg, typ})
	return b
}

func bytesClone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Shutdown stops accepting invocations and waits for those in flight until
// ctx ends.
func (inv *Invoker) Shutdown(ctx context.Context) error {
	inv.closing.Store(true)
	done := make(chan struct{})
	go func() { inv.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain invocations: %w", ctx.Err())
	}
}
