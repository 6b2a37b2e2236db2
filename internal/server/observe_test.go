package server_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/cli"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/testutil"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogsFollowAcrossRestart(t *testing.T) {
	cfg := config.Default()
	cfg.S3Listen = "127.0.0.1:0"
	cfg.Listen = freeAddr(t)
	cfg.DataDir = t.TempDir()
	cfg.DrainTimeout = 10 * time.Second
	cfg.Env = os.Environ()
	n := testutil.StartWithConfig(t, cfg)
	n.Deploy(project(t, "follow", `
  echo:
    build: BUILD
`))
	if r := n.CLI("invoke", "echo", "--data", `{"op":"echo","msg":"before"}`); r.Code != 0 {
		t.Fatalf("invoke: %+v", r)
	}

	var out, errOut lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		env := append(os.Environ(), "GUREUM_URL=http://"+cfg.Listen, "GUREUM_TOKEN="+n.Server.Token())
		done <- cli.Run(ctx, []string{"logs", "echo", "-f"}, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Env: env})
	}()
	defer func() {
		cancel()
		<-done
	}()
	testutil.Eventually(t, 20*time.Second, "the line before the restart", func() bool {
		return strings.Contains(out.String(), "echo before")
	})

	n.Stop()
	n2 := testutil.StartWithConfig(t, cfg)
	if r := n2.CLI("invoke", "echo", "--data", `{"op":"echo","msg":"after"}`); r.Code != 0 {
		t.Fatalf("invoke after restart: %+v", r)
	}
	testutil.Eventually(t, 30*time.Second, "the line after the restart", func() bool {
		return strings.Contains(out.String(), "echo after")
	})
	if c := strings.Count(out.String(), "echo before"); c != 1 {
		t.Fatalf("the line before the restart was printed %d times:\n%s", c, out.String())
	}
	if !strings.Contains(errOut.String(), "node went away") {
		t.Fatalf("stderr does not say the node went away: %q", errOut.String())
	}
}

func recordsOf(t *testing.T, n *testutil.Node, fn string) []admin.InvocationRecord {
	t.Helper()
	recs, err := n.Server.Invocations(context.Background(), fn, admin.RecordQuery{Limit: 1000})
	if err != nil {
		t.Fatalf("records of %s: %v", fn, err)
	}
	return recs
}

func TestEveryTriggerProducesARecord(t *testing.T) {
	n := testutil.StartServer(t, fastEvents)
	at := time.Now().UTC().Add(4 * time.Second).Format("2006-01-02T15:04:05")
	dir := project(t, "records", `
  web:
    build: BUILD
    memory: 256
    events:
      - http: POST /web
  worker:
    build: EVENTFN
    events:
      - queue: jobs
      - topic: news
      - schedule: "at(`+at+`)"
queues:
  jobs: {}
topics:
  news: {}
`)
	n.Deploy(dir)
	if resp, body := n.Do("POST", "/web", []byte(`{"op":"echo","msg":"hi"}`), nil); resp.StatusCode != 200 {
		t.Fatalf("POST /web: %d %s", resp.StatusCode, body)
	}
	if resp, _ := n.Do("POST", "/web", []byte(`{"op":"fail","msg":"no"}`), nil); resp.StatusCode != 502 {
		t.Fatalf("POST /web failing: %d", resp.StatusCode)
	}
	runCLI(t, n, "invoke", "web", "--data", `{"op":"echo"}`)
	runCLI(t, n, "invoke", "worker", "--async", "--data", `{"msg":"later"}`)
	runCLI(t, n, "queue", "send", "jobs", "a job")
	runCLI(t, n, "topic", "publish", "news", "some news")

	want := map[string]bool{"http": true, "direct": true, "async": true, "queue": true, "topic": true, "schedule": true}
	var web, worker []admin.InvocationRecord
	testutil.Eventually(t, 30*time.Second, "a record for every trigger", func() bool {
		web, worker = recordsOf(t, n, "web"), recordsOf(t, n, "worker")
		got := map[string]bool{}
		for _, r := range append(slices.Clone(web), worker...) {
			got[r.Trigger] = true
		}
		for k := range want {
			if !got[k] {
				return false
			}
		}
		return true
	})
	for _, r := range append(slices.Clone(web), worker...) {
		if r.RequestID == "" || r.Version != "1" || r.Start.IsZero() || r.DurationMs <= 0 || r.BilledMs < 1 || r.GBSeconds <= 0 {
			t.Errorf("record %+v: missing fields", r)
		}
		if r.BilledMs < int64(r.DurationMs) {
			t.Errorf("record %s: billed %d ms for %.3f ms", r.RequestID, r.BilledMs, r.DurationMs)
		}
		want := float64(r.MemoryMiB) / 1024 * float64(r.BilledMs) / 1000
		if d := r.GBSeconds - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("record %s: %v GB-s, want %v", r.RequestID, r.GBSeconds, want)
		}
	}
	var failed, routed int
	for _, r := range web {
		if r.MemoryMiB != 256 {
			t.Errorf("web record memory %d, want 256", r.MemoryMiB)
		}
		if r.Trigger == "http" {
			routed++
			if r.Source != "POST /web" {
				t.Errorf("http record source %q, want the route key", r.Source)
			}
		}
		if r.Outcome == "error" {
			failed++
			if r.ErrorType == "" {
				t.Errorf("failed record without an error type: %+v", r)
			}
		}
	}
	if routed != 2 || failed != 1 {
		t.Fatalf("web: %d http records, %d failed; want 2 and 1: %+v", routed, failed, web)
	}
	for _, r := range worker {
		switch r.Trigger {
		case "queue":
			if !strings.HasSuffix(r.Source, ":jobs") {
				t.Errorf("queue record source %q", r.Source)
			}
		case "topic":
			if !strings.HasSuffix(r.Source, ":news") {
				t.Errorf("topic record source %q", r.Source)
			}
		}
	}
	// The CLI lists them, filters errors and shows one with its log.
	if out := runCLI(t, n, "invocations", "web", "--errors"); !strings.Contains(out, "error") || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Fatalf("invocations --errors:\n%s", out)
	}
	var echoID string
	for _, r := range web {
		if r.Trigger == "direct" {
			echoID = r.RequestID
		}
	}
	if out := runCLI(t, n, "invocation", echoID); !strings.Contains(out, "direct") || !strings.Contains(out, "REPORT RequestId: "+echoID) {
		t.Fatalf("invocation %s:\n%s", echoID, out)
	}
	// Cost: every request counted, per function.
	out := runCLI(t, n, "cost", "--since", "1h")
	if !strings.Contains(out, "web") || !strings.Contains(out, "worker") {
		t.Fatalf("cost:\n%s", out)
	}
	rep, err := n.Server.Cost(context.Background(), time.Now().Add(-time.Hour), "function")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Requests != int64(len(web)+len(worker)) || rep.Total.Cost <= 0 || rep.Total.AlwaysOnCost <= rep.Total.Cost {
		t.Fatalf("cost total %+v for %d records", rep.Total, len(web)+len(worker))
	}
}

func TestTraceSpansHTTPQueueAndSecondFunction(t *testing.T) {
	n := testutil.StartServer(t, fastEvents)
	dir := project(t, "traced", `
  front:
    build: BUILD
    permissions: {send: [work]}
    events:
      - http: POST /front
  back:
    build: EVENTFN
    events:
      - queue: work
queues:
  work: {}
`)
	n.Deploy(dir)
	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	hdr := http.Header{"Traceparent": {"00-" + traceID + "-00f067aa0ba902b7-01"}}
	if resp, body := n.Do("POST", "/front", []byte(`{"op":"send","to":"work","msg":"traced"}`), hdr); resp.StatusCode != 200 {
		t.Fatalf("POST /front: %d %s", resp.StatusCode, body)
	}
	var spans []admin.TraceSpan
	testutil.Eventually(t, 30*time.Second, "the second function's span in the trace", func() bool {
		var err error
		spans, err = n.Server.Trace(context.Background(), traceID)
		if err != nil {
			return false
		}
		for _, s := range spans {
			if s.Name == "invoke back" {
				return true
			}
		}
		return false
	})
	byID := map[string]admin.TraceSpan{}
	byName := map[string]admin.TraceSpan{}
	for _, s := range spans {
		byID[s.SpanID] = s
		byName[s.Name] = s
	}
	// The chain: POST /front → invoke front → send work → invoke back.
	chain := []string{"POST /front", "invoke front", "send work", "invoke back"}
	for i, name := range chain {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q in %+v", name, spans)
		}
		if i == 0 {
			if s.ParentID != "00f067aa0ba902b7" {
				t.Fatalf("%s: parent %q, want the incoming span", name, s.ParentID)
			}
			continue
		}
		if parent := byID[s.ParentID]; parent.Name != chain[i-1] {
			t.Fatalf("%s: parent %q, want %q", name, parent.Name, chain[i-1])
		}
	}
	out := runCLI(t, n, "trace", traceID)
	for _, name := range chain {
		if !strings.Contains(out, name) {
			t.Fatalf("gureum trace lacks %q:\n%s", name, out)
		}
	}
	// The function sees its invocation's trace context (the invoke span),
	// on both runtimes.
	for _, path := range []string{"/front"} {
		resp, body := n.Do("POST", path, []byte(`{"op":"trace"}`), hdr)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "00-"+traceID+"-") || strings.Contains(string(body), "00f067aa0ba902b7") {
			t.Fatalf("POST %s trace: %d %s (want the trace id with the invoke span as parent)", path, resp.StatusCode, body)
		}
	}
	// The queue-triggered invocation's record names the same trace.
	testutil.Eventually(t, 10*time.Second, "back's record", func() bool {
		recs := recordsOf(t, n, "back")
		return len(recs) == 1 && recs[0].TraceID == traceID
	})
}

func TestMetricsCountWhatHappened(t *testing.T) {
	n := testutil.StartServer(t, fastEvents)
	n.Deploy(project(t, "metered", `
  m:
    build: BUILD
    events:
      - http: GET /m
queues:
  backlog: {}
`))
	for range 3 {
		if resp, _ := n.Get("/m"); resp.StatusCode != 200 {
			t.Fatalf("GET /m: %d", resp.StatusCode)
		}
	}
	n.CLI("invoke", "m", "--data", `{"op":"fail"}`)
	runCLI(t, n, "queue", "send", "backlog", "one")
	runCLI(t, n, "queue", "send", "backlog", "two")
	resp, body := n.Get("/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := families[name]
		if !ok {
			t.Fatalf("no metric %s", name)
		}
		var sum float64
	next:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return sum
	}
	if v := value("gureum_invocations_total", map[string]string{"function": "m", "trigger": "http", "outcome": "success"}); v != 3 {
		t.Errorf("http successes: %v, want 3", v)
	}
	if v := value("gureum_invocations_total", map[string]string{"function": "m", "trigger": "direct", "outcome": "error"}); v != 1 {
		t.Errorf("direct errors: %v, want 1", v)
	}
	if v := value("gureum_cold_starts_total", map[string]string{"function": "m"}); v < 1 {
		t.Errorf("cold starts: %v", v)
	}
	if v := value("gureum_http_requests_total", map[string]string{"route": "GET /m", "code": "200"}); v != 3 {
		t.Errorf("http requests: %v, want 3", v)
	}
	if v := value("gureum_queue_messages", map[string]string{"queue": "backlog", "state": "visible"}); v != 2 {
		t.Errorf("backlog visible: %v, want 2", v)
	}
	if v := value("gureum_invocation_duration_seconds", map[string]string{"function": "m"}); v != 4 {
		t.Errorf("duration samples: %v, want 4", v)
	}
}
