package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/cli"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/server"
)

const helloPath = "/hello"

// target is a gureum node serving the quickstart function and, beside it, a
// bare net/http server answering with the same status, headers and body.
type target struct {
	node      *server.Server
	gureumURL string
	bare      *http.Server
	bareURL   string
	bareDone  chan struct{}
}

// ensureTarget starts the node and its bare twin on first use.
func (e *env) ensureTarget(ctx context.Context) (*target, error) {
	return e.ensureNode(ctx, &e.target, "node", quickstartDir, helloPath)
}

// ensureNode returns *slot, first starting it (t.start with data,
// projectDir and path) when it is nil.
func (e *env) ensureNode(ctx context.Context, slot **target, data, projectDir, path string) (*target, error) {
	if *slot != nil {
		return *slot, nil
	}
	t := &target{}
	if err := t.start(ctx, e, data, projectDir, path); err != nil {
		t.stop()
		return nil, err
	}
	*slot = t
	return t, nil
}

// start starts a node in the data directory named data under the scratch
// directory, deploys the project in exampleDir (relative to the module's
// root, or absolute) with the CLI, waits until GET path answers 200 and
// starts the bare twin answering the same bytes.
func (t *target) start(ctx context.Context, e *env, data, exampleDir, path string, mutate ...func(*config.Config)) error {
	cfg := config.Default()
	cfg.S3Listen = "127.0.0.1:0"
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(e.work, data)
	cfg.DrainTimeout = 10 * time.Second
	cfg.Env = os.Environ()
	for _, m := range mutate {
		m(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, server.WithLogger(logger))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := srv.Start(sctx); err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	t.node = srv
	t.gureumURL = "http://" + srv.Addr() + path
	e.logf("node listening on %s", srv.Addr())

	// Deploy the project as a user does, with the CLI.
	t0 := time.Now()
	var out bytes.Buffer
	dctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	project := exampleDir
	if !filepath.IsAbs(project) {
		project = filepath.Join(e.root, project)
	}
	code := cli.Run(dctx, []string{"deploy", project}, cli.IO{
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &out,
		Env:    append(os.Environ(), "GUREUM_URL=http://"+srv.AdminAddr(), "GUREUM_TOKEN="+srv.Token()),
	})
	if code != 0 {
		return fmt.Errorf("gureum deploy %s: exit %d\n%s", exampleDir, code, strings.TrimSpace(out.String()))
	}
	e.logf("deployed %s in %s", exampleDir, time.Since(t0).Round(time.Millisecond))

	// The route is served once the node has applied the deploy.
	client := newClient(1)
	defer client.CloseIdleConnections()
	var resp *http.Response
	var body []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body, err = fetch(ctx, client, t.gureumURL)
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
			}
			return fmt.Errorf("GET %s never succeeded: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The bare twin answers with exactly what gureum answered; net/http adds
	// the Date header to both.
	header := resp.Header.Clone()
	header.Del("Date")
	status := resp.StatusCode
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	t.bare = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			for k, v := range header {
				h[k] = v
			}
			w.WriteHeader(status)
			_, _ = w.Write(body)
		}),
	}
	t.bareURL = "http://" + ln.Addr().String() + path
	t.bareDone = make(chan struct{})
	go func() {
		defer close(t.bareDone)
		_ = t.bare.Serve(ln)
	}()

	bresp, bbody, err := fetch(ctx, client, t.bareURL)
	if err != nil {
		return fmt.Errorf("bare server: %w", err)
	}
	bh := bresp.Header.Clone()
	bh.Del("Date")
	if bresp.StatusCode != status || !bytes.Equal(bbody, body) || !slices.Equal(headerLines(bh), headerLines(header)) {
		return fmt.Errorf("bare server answers %d %v %q, gureum %d %v %q", bresp.StatusCode, headerLines(bh), bbody, status, headerLines(header), body)
	}
	e.logf("both answer %d, %d header(s) %s, %d-byte body %s", status, len(header), strings.Join(slices.Sorted(maps.Keys(header)), ", "), len(body), body)
	return nil
}

// stop shuts down the bare server and the node.
func (t *target) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if t.bare != nil {
		if err := t.bare.Shutdown(ctx); err != nil {
			_ = t.bare.Close()
		}
		<-t.bareDone
	}
	if t.node != nil {
		_ = t.node.Shutdown(ctx)
	}
}

func headerLines(h http.Header) []string {
	var lines []string
	for k, vs := range h {
		for _, v := range vs {
			lines = append(lines, k+": "+v)
		}
	}
	slices.Sort(lines)
	return lines
}

// newClient returns a keep-alive client holding at most conns connections
// to a host.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

func fetch(ctx context.Context, c *http.Client, url string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// get sends req and reads the whole answer, which must be 200.
func get(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// loadResult is one closed-loop load run.
type loadResult struct {
	requests int64
	errors   int64
	firstErr error
	elapsed  time.Duration
}

func (r loadResult) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// load sends requests to url from conns goroutines, each on its own
// keep-alive connection, one request at a time, for d.
func load(ctx context.Context, url string, conns int, d time.Duration) loadResult {
	client := newClient(conns)
	defer client.CloseIdleConnections()
	var (
		ok, failed atomic.Int64
		errOnce    sync.Once
		firstErr   error
		wg         sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for range conns {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				errOnce.Do(func() { firstErr = err })
				return
			}
			var n, bad int64
			for time.Now().Before(end) && ctx.Err() == nil {
				if err := get(client, req); err != nil {
					bad++
					errOnce.Do(func() { firstErr = err })
					continue
				}
				n++
			}
			ok.Add(n)
			failed.Add(bad)
		})
	}
	wg.Wait()
	return loadResult{requests: ok.Load(), errors: failed.Load(), firstErr: firstErr, elapsed: time.Since(start)}
}

// measureLoad warms url up, then loads it from conns connections for d, and
// refuses a run with no answers or more than 1% errors.
func (e *env) measureLoad(ctx context.Context, name, url string, conns int, d time.Duration) (loadResult, error) {
	if e.opts.warmup > 0 {
		w := load(ctx, url, conns, e.opts.warmup)
		e.logf("%-8s warm-up: %d requests, %d errors", name, w.requests, w.errors)
	}
	r := load(ctx, url, conns, d)
	e.logf("%-8s %d requests in %s: %.0f rps, %d errors", name, r.requests, r.elapsed.Round(time.Millisecond), r.rps(), r.errors)
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if r.requests == 0 || r.errors*100 > r.requests {
		return r, fmt.Errorf("%s: %d errors in %d requests, first: %v", name, r.errors, r.requests+r.errors, r.firstErr)
	}
	return r, nil
}

// benchRPS measures requests per second at many connections through the
// quickstart's node and its bare twin (row 2).
func benchRPS(ctx context.Context, e *env) ([]row, error) {
	t, err := e.ensureTarget(ctx)
	if err != nil {
		return nil, err
	}
	return rpsRows(ctx, e, t, "2.", "GET /hello")
}

// rpsRows measures requests per second at many connections, t's node then
// its bare twin, with the same in-process generator (and wrk when present),
// and returns rows numbered num that name the request route.
func rpsRows(ctx context.Context, e *env, t *target, num, route string) ([]row, error) {
	conns, d := e.opts.conns, e.opts.duration
	g, err := e.measureLoad(ctx, "gureum", t.gureumURL, conns, d)
	if err != nil {
		return nil, err
	}
	b, err := e.measureLoad(ctx, "baseline", t.bareURL, conns, d)
	if err != nil {
		return nil, err
	}
	ratio := g.rps() / b.rps()
	rows := []row{{
		Name:     fmt.Sprintf("%s warm %s rps, %d connections, Go client, %s each: gureum vs bare net/http", num, route, conns, d),
		Gureum:   fmtRPS(g.rps()),
		Baseline: fmtRPS(b.rps()),
		Ratio:    fmtRatio(g.rps(), b.rps()),
		Target:   "≥ 50% of bare",
		Met:      yesNo(ratio >= 0.5, fmt.Sprintf("%.0f%%", ratio*100)),
	}}

	if !e.opts.wrk {
		return rows, nil
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		e.logf("wrk not installed; skipping its rows")
		return rows, nil
	}
	wg, err := runWrk(ctx, e, wrk, t.gureumURL, conns, d)
	if err != nil {
		return nil, fmt.Errorf("wrk against gureum: %w", err)
	}
	wb, err := runWrk(ctx, e, wrk, t.bareURL, conns, d)
	if err != nil {
		return nil, fmt.Errorf("wrk against the bare server: %w", err)
	}
	ratio = wg / wb
	rows = append(rows, row{
		Name:     fmt.Sprintf("%s warm %s rps, %d connections, wrk -t2, %s each: gureum vs bare net/http", num, route, conns, d),
		Gureum:   fmtRPS(wg),
		Baseline: fmtRPS(wb),
		Ratio:    fmtRatio(wg, wb),
		Target:   "≥ 50% of bare",
		Met:      yesNo(ratio >= 0.5, fmt.Sprintf("%.0f%%", ratio*100)),
	})
	return rows, nil
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
)

// runWrk loads url with wrk for d and returns its requests per second.
func runWrk(ctx context.Context, e *env, wrk, url string, conns int, d time.Duration) (float64, error) {
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	secs := max(1, int(d.Round(time.Second)/time.Second))
	out, err := exec.CommandContext(cctx, wrk, "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s", "--timeout", "10s", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w\n%s", err, out)
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		return 0, fmt.Errorf("%s non-2xx responses\n%s", m[1], out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return 0, errors.New("no Requests/sec in wrk's output:\n" + string(out))
	}
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, err
	}
	e.logf("wrk %s: %.0f rps", url, rps)
	return rps, nil
}

// benchLatency measures warm latency at one connection through the
// quickstart's node and its bare twin (row 3).
func benchLatency(ctx context.Context, e *env) ([]row, error) {
	t, err := e.ensureTarget(ctx)
	if err != nil {
		return nil, err
	}
	return latencyRows(ctx, e, t, "3.", "GET /hello")
}

// latencyRows measures sequential requests on one connection each to t's
// node and its bare twin, alternating one request to each, and returns
// rows numbered num that name the request route.
func latencyRows(ctx context.Context, e *env, t *target, num, route string) ([]row, error) {
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
	b := make([]time.Duration, 0, n)
	for i := range warm + n {
		t0 := time.Now()
		if err := get(gc, greq); err != nil {
			return nil, fmt.Errorf("gureum: %w", err)
		}
		t1 := time.Now()
		if err := get(bc, breq); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		t2 := time.Now()
		if i >= warm {
			g = append(g, t1.Sub(t0))
			b = append(b, t2.Sub(t1))
		}
	}
	gs, bs := summarize(g), summarize(b)
	diff := gs.p50 - bs.p50
	e.logf("gureum   p50 %s p99 %s (n=%d)", fmtDur(gs.p50), fmtDur(gs.p99), n)
	e.logf("baseline p50 %s p99 %s (n=%d)", fmtDur(bs.p50), fmtDur(bs.p99), n)
	e.logf("p50 overhead %+.0f µs", float64(diff)/1e3)
	return []row{
		{
			Name:     fmt.Sprintf("%s warm %s latency p50, 1 connection, %d sequential: gureum vs bare net/http", num, route, n),
			Gureum:   fmtDur(gs.p50),
			Baseline: fmtDur(bs.p50),
			Ratio:    fmtRatio(gs.p50.Seconds(), bs.p50.Seconds()),
			Target:   "≤ bare + 100 µs",
			Met:      yesNo(diff <= 100*time.Microsecond, fmt.Sprintf("%+.0f µs", float64(diff)/1e3)),
		},
		{
			Name:     fmt.Sprintf("%s warm %s latency p99, 1 connection", num, route),
			Gureum:   fmtDur(gs.p99),
			Baseline: fmtDur(bs.p99),
			Ratio:    fmtRatio(gs.p99.Seconds(), bs.p99.Seconds()),
			Target:   "—",
			Met:      fmt.Sprintf("— (%+.0f µs)", float64(gs.p99-bs.p99)/1e3),
		},
	}, nil
}
