package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/build"
	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/process"
)

// The lambda-go function as its manifest declares it.
const (
	lambdaGoDir      = "examples/lambda-go"
	lambdaGoPackage  = "examples/lambda-go/greeter"
	lambdaGoFunction = "greeter"
	lambdaGoMemMiB   = 128
	lambdaGoTimeout  = 5 * time.Second
	greetPath        = "/greet/x"
)

// lambdaGoEnv is the function's own environment, from its manifest.
var lambdaGoEnv = map[string]string{"GREETING": "Hello"}

// lambdaGoBinary builds the lambda-go function natively once per run, as a
// node does for runtime: process, and returns its path.
func (e *env) lambdaGoBinary(ctx context.Context) (string, error) {
	if e.procPath != "" {
		return e.procPath, nil
	}
	dir := filepath.Join(e.work, "greeter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bootstrap")
	t0 := time.Now()
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := build.Go(bctx, build.Options{
		Dir:    filepath.Join(e.root, lambdaGoPackage),
		Output: out,
		Target: build.TargetNative,
		Env:    os.Environ(),
	}); err != nil {
		return "", err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return "", err
	}
	e.logf("built %s: %.1f MB in %s", lambdaGoPackage, float64(fi.Size())/1e6, time.Since(t0).Round(time.Millisecond))
	e.procPath = out
	return out, nil
}

// ensureProcTarget starts a node serving lambda-go and its bare twin on
// first use.
func (e *env) ensureProcTarget(ctx context.Context) (*target, error) {
	if e.procTarget != nil {
		return e.procTarget, nil
	}
	t := &target{}
	if err := t.start(ctx, e, "node-proc", lambdaGoDir, greetPath); err != nil {
		t.stop()
		return nil, err
	}
	e.procTarget = t
	return t, nil
}

// greetEvent is the API Gateway HTTP API (payload 2.0) event of GET
// /greet/x, as a direct caller hands it to the function.
func greetEvent() []byte {
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "GET /greet/{name}",
		RawPath:        greetPath,
		Headers:        map[string]string{"host": "127.0.0.1", "user-agent": "Go-http-client/1.1"},
		PathParameters: map[string]string{"name": "x"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  "GET /greet/{name}",
			Stage:     "$default",
			RequestID: "bench",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    http.MethodGet,
				Path:      greetPath,
				Protocol:  "HTTP/1.1",
				SourceIP:  "127.0.0.1",
				UserAgent: "Go-http-client/1.1",
			},
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

// checkGreeting reports whether payload is the function's answer to
// greetEvent.
func checkGreeting(payload []byte) error {
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return fmt.Errorf("answer %q: %w", payload, err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains([]byte(resp.Body), []byte(`"Hello, x"`)) {
		return fmt.Errorf("unexpected answer %q", payload)
	}
	return nil
}

// miniRuntime is the baseline's Runtime API: the smallest HTTP server an
// unmodified Lambda bootstrap runs against (next, response, error,
// init/error), with nothing of gureum. It serves one process.
type miniRuntime struct {
	srv     *http.Server
	addr    string
	done    chan struct{}
	events  chan miniEvent
	results chan miniResult
	seq     atomic.Uint64
}

type miniEvent struct {
	id      string
	payload []byte
}

type miniResult struct {
	id      string
	payload []byte
	err     error
}

func newMiniRuntime() (*miniRuntime, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &miniRuntime{
		addr:    ln.Addr().String(),
		done:    make(chan struct{}),
		events:  make(chan miniEvent),
		results: make(chan miniResult, 1),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case ev := <-m.events:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", ev.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(lambdaGoTimeout).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:"+lambdaGoFunction)
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(ev.payload)
		case <-r.Context().Done():
		}
	})
	result := func(isError bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			res := miniResult{id: r.PathValue("id"), payload: body, err: err}
			if isError && err == nil {
				res.err = fmt.Errorf("function error: %s", body)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"status":"OK"}`))
			m.results <- res
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", result(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", result(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		select {
		case m.results <- miniResult{err: fmt.Errorf("init error: %s", body)}:
		default:
		}
	})
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(m.done)
		_ = m.srv.Serve(ln)
	}()
	return m, nil
}

// invoke hands payload to the process's next request and waits for its
// result.
func (m *miniRuntime) invoke(ctx context.Context, payload []byte, exited <-chan struct{}) ([]byte, error) {
	id := strconv.FormatUint(m.seq.Add(1), 10)
	ctx, cancel := context.WithTimeout(ctx, lambdaGoTimeout)
	defer cancel()
	select {
	case m.events <- miniEvent{id: id, payload: payload}:
	case r := <-m.results: // an init error
		return nil, r.err
	case <-exited:
		return nil, errors.New("the process exited")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-m.results:
		if r.err == nil && r.id != id {
			r.err = fmt.Errorf("result for request %s, want %s", r.id, id)
		}
		return r.payload, r.err
	case <-exited:
		return nil, errors.New("the process exited")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *miniRuntime) close() {
	_ = m.srv.Close()
	<-m.done
}

// bareProcess is the baseline instance: the function's executable started
// with exec.Command against its own miniRuntime, in its own process group,
// with the Lambda variables it needs and the function's environment.
type bareProcess struct {
	rt     *miniRuntime
	cmd    *exec.Cmd
	exited chan struct{}
}

func startBareProcess(path string) (*bareProcess, error) {
	rt, err := newMiniRuntime()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"AWS_LAMBDA_RUNTIME_API=" + rt.addr,
		"AWS_LAMBDA_FUNCTION_NAME=" + lambdaGoFunction,
		"AWS_LAMBDA_FUNCTION_VERSION=1",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(lambdaGoMemMiB),
	}
	for k, v := range lambdaGoEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		rt.close()
		return nil, err
	}
	p := &bareProcess{rt: rt, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *bareProcess) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return p.rt.invoke(ctx, payload, p.exited)
}

// close kills the process group and waits for the process.
func (p *bareProcess) close() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	p.rt.close()
}

// prepareProcess prepares the lambda-go binary in gureum's process engine,
// configured as a node configures it.
func prepareProcess(ctx context.Context, path string) (*process.Engine, engine.Function, error) {
	eng, err := process.New(process.Config{})
	if err != nil {
		return nil, nil, err
	}
	hash, err := build.HashFile(path)
	if err != nil {
		_ = eng.Close(ctx)
		return nil, nil, err
	}
	fn, err := eng.Prepare(ctx, engine.Spec{
		Function:     lambdaGoFunction,
		Version:      "1",
		Runtime:      "process",
		ArtifactPath: path,
		ArtifactHash: hash,
		MemoryMiB:    lambdaGoMemMiB,
		Timeout:      lambdaGoTimeout,
		Env:          lambdaGoEnv,
	})
	if err != nil {
		_ = eng.Close(ctx)
		return nil, nil, err
	}
	return eng, fn, nil
}

var reqSeq atomic.Uint64

func engineRequest(payload []byte) *engine.Request {
	return &engine.Request{
		ID:       fmt.Sprintf("bench-%d", reqSeq.Add(1)),
		Payload:  payload,
		Deadline: time.Now().Add(lambdaGoTimeout),
		Log:      io.Discard,
	}
}

// benchProcLatency measures sequential GET /greet/x through a node on one
// connection, a direct Runtime API call of the same binary and the bare
// server, alternating one request to each.
func benchProcLatency(ctx context.Context, e *env) ([]row, error) {
	path, err := e.lambdaGoBinary(ctx)
	if err != nil {
		return nil, err
	}
	t, err := e.ensureProcTarget(ctx)
	if err != nil {
		return nil, err
	}
	direct, err := startBareProcess(path)
	if err != nil {
		return nil, err
	}
	defer direct.close()
	payload := greetEvent()
	out, err := direct.invoke(ctx, payload)
	if err != nil {
		return nil, fmt.Errorf("direct call: %w", err)
	}
	if err := checkGreeting(out); err != nil {
		return nil, fmt.Errorf("direct call: %w", err)
	}

	gc, bc := newClient(1), newClient(1)
	defer gc.CloseIdleConnections()
	defer bc.CloseIdleConnections()
	greq, err := http.NewRequestWithContext(ctx, http.MethodGet, t.gureumURL, nil)
	if err != nil {
		return nil, err
	}
	breq, err := http.NewRequestWithContext(ctx, http.MethodGet, t.bareURL, nil)
	if err != nil {
		return nil, err
	}
	n := e.opts.requests
	warm := max(50, n/10)
	g := make([]time.Duration, 0, n)
	d := make([]time.Duration, 0, n)
	b := make([]time.Duration, 0, n)
	var gSum, dSum, bSum time.Duration
	for i := range warm + n {
		t0 := time.Now()
		if err := get(gc, greq); err != nil {
			return nil, fmt.Errorf("gureum: %w", err)
		}
		t1 := time.Now()
		if _, err := direct.invoke(ctx, payload); err != nil {
			return nil, fmt.Errorf("direct call: %w", err)
		}
		t2 := time.Now()
		if err := get(bc, breq); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		t3 := time.Now()
		if i >= warm {
			g = append(g, t1.Sub(t0))
			d = append(d, t2.Sub(t1))
			b = append(b, t3.Sub(t2))
			gSum += t1.Sub(t0)
			dSum += t2.Sub(t1)
			bSum += t3.Sub(t2)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	gs, ds, bs := summarize(g), summarize(d), summarize(b)
	// Throughput of one connection: requests over the time spent in them.
	gr, dr, br := float64(n)/gSum.Seconds(), float64(n)/dSum.Seconds(), float64(n)/bSum.Seconds()
	e.logf("gureum   p50 %s p99 %s %.0f rps (n=%d)", fmtDur(gs.p50), fmtDur(gs.p99), gr, n)
	e.logf("direct   p50 %s p99 %s %.0f rps (n=%d)", fmtDur(ds.p50), fmtDur(ds.p99), dr, n)
	e.logf("baseline p50 %s p99 %s %.0f rps (n=%d)", fmtDur(bs.p50), fmtDur(bs.p99), br, n)
	over := func(x, y time.Duration) string { return fmt.Sprintf("— (%+.0f µs)", float64(x-y)/1e3) }
	return []row{
		{
			Name:     fmt.Sprintf("6. process GET /greet/x latency p50, 1 connection, %d sequential: gureum vs direct Runtime API call of the binary", n),
			Gureum:   fmtDur(gs.p50),
			Baseline: fmtDur(ds.p50),
			Ratio:    fmtRatio(gs.p50.Seconds(), ds.p50.Seconds()),
			Target:   "—",
			Met:      over(gs.p50, ds.p50),
		},
		{
			Name:     "6. process GET /greet/x latency p99: gureum vs direct Runtime API call",
			Gureum:   fmtDur(gs.p99),
			Baseline: fmtDur(ds.p99),
			Ratio:    fmtRatio(gs.p99.Seconds(), ds.p99.Seconds()),
			Target:   "—",
			Met:      over(gs.p99, ds.p99),
		},
		{
			Name:     "6. process GET /greet/x latency p50: gureum vs bare net/http",
			Gureum:   fmtDur(gs.p50),
			Baseline: fmtDur(bs.p50),
			Ratio:    fmtRatio(gs.p50.Seconds(), bs.p50.Seconds()),
			Target:   "—",
			Met:      over(gs.p50, bs.p50),
		},
		{
			Name:     "6. process GET /greet/x latency p99: gureum vs bare net/http",
			Gureum:   fmtDur(gs.p99),
			Baseline: fmtDur(bs.p99),
			Ratio:    fmtRatio(gs.p99.Seconds(), bs.p99.Seconds()),
			Target:   "—",
			Met:      over(gs.p99, bs.p99),
		},
		{
			Name:     "6. process GET /greet/x throughput, 1 connection: gureum vs direct Runtime API call",
			Gureum:   fmtRPS(gr),
			Baseline: fmtRPS(dr),
			Ratio:    fmtRatio(gr, dr),
			Target:   "—",
			Met:      "—",
		},
		{
			Name:     "6. process GET /greet/x throughput, 1 connection: gureum vs bare net/http",
			Gureum:   fmtRPS(gr),
			Baseline: fmtRPS(br),
			Ratio:    fmtRatio(gr, br),
			Target:   "—",
			Met:      "—",
		},
	}, nil
}

// benchProcCold measures NewInstance plus the first Invoke of the lambda-go
// binary in gureum's process engine against the same binary started with
// exec.Command and served its first event by miniRuntime, alternating one
// of each after a few warm-up rounds.
func benchProcCold(ctx context.Context, e *env) ([]row, error) {
	path, err := e.lambdaGoBinary(ctx)
	if err != nil {
		return nil, err
	}
	eng, fn, err := prepareProcess(ctx, path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = eng.Close(context.Background()) }()
	e.logf("process engine: cgroups %v", eng.Cgroups())
	payload := greetEvent()

	gureum := func() (time.Duration, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t0 := time.Now()
		in, err := fn.NewInstance(cctx, io.Discard)
		if err != nil {
			return 0, err
		}
		resp, err := in.Invoke(cctx, engineRequest(payload))
		d := time.Since(t0)
		_ = in.Close(cctx)
		if err != nil {
			return 0, err
		}
		if resp.FunctionError {
			return 0, fmt.Errorf("function error: %s", resp.Payload)
		}
		return d, checkGreeting(resp.Payload)
	}
	bare := func() (time.Duration, error) {
		t0 := time.Now()
		p, err := startBareProcess(path)
		if err != nil {
			return 0, err
		}
		out, err := p.invoke(ctx, payload)
		d := time.Since(t0)
		p.close()
		if err != nil {
			return 0, err
		}
		return d, checkGreeting(out)
	}

	n := e.opts.procColdN
	const warm = 5
	g, b, err := alternate(ctx, warm, n, "gureum", gureum, "baseline", bare)
	if err != nil {
		return nil, err
	}
	gs, bs := summarize(g), summarize(b)
	e.logf("gureum   p50 %s p99 %s min %s max %s (n=%d)", fmtDur(gs.p50), fmtDur(gs.p99), fmtDur(gs.min), fmtDur(gs.max), n)
	e.logf("baseline p50 %s p99 %s min %s max %s (n=%d)", fmtDur(bs.p50), fmtDur(bs.p99), fmtDur(bs.min), fmtDur(bs.max), n)
	return []row{
		{
			Name:     fmt.Sprintf("7. process cold start p50, spawn → first response (n=%d): NewInstance + first Invoke vs exec.Command + minimal Runtime API", n),
			Gureum:   fmtDur(gs.p50),
			Baseline: fmtDur(bs.p50),
			Ratio:    fmtRatio(gs.p50.Seconds(), bs.p50.Seconds()),
			Target:   "≤ 5 ms",
			Met:      yesNo(gs.p50 <= 5*time.Millisecond, ""),
		},
		{
			Name:     fmt.Sprintf("7. process cold start p99 (n=%d)", n),
			Gureum:   fmtDur(gs.p99),
			Baseline: fmtDur(bs.p99),
			Ratio:    fmtRatio(gs.p99.Seconds(), bs.p99.Seconds()),
			Target:   "—",
			Met:      "—",
		},
	}, nil
}

// benchProcConc measures requests per second of GET /greet/x through a node
// from procConc client goroutines, then of the bare server with as many.
func benchProcConc(ctx context.Context, e *env) ([]row, error) {
	if _, err := e.lambdaGoBinary(ctx); err != nil {
		return nil, err
	}
	t, err := e.ensureProcTarget(ctx)
	if err != nil {
		return nil, err
	}
	conns, d := e.opts.procConc, e.opts.duration
	g, err := e.measureLoad(ctx, "gureum", t.gureumURL, conns, d)
	if err != nil {
		return nil, err
	}
	b, err := e.measureLoad(ctx, "baseline", t.bareURL, conns, d)
	if err != nil {
		return nil, err
	}
	return []row{{
		Name:     fmt.Sprintf("8. process GET /greet/x rps, concurrency %d (%d client goroutines), %s each: gureum vs bare net/http", conns, conns, d),
		Gureum:   fmtRPS(g.rps()),
		Baseline: fmtRPS(b.rps()),
		Ratio:    fmtRatio(g.rps(), b.rps()),
		Target:   "—",
		Met:      "—",
	}}, nil
}
