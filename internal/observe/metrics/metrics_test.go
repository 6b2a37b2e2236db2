package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches m's Handler over HTTP and parses the text format.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// find returns the metric of family name whose labels are exactly labels
// ("k=v" pairs), or nil.
func find(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	want := slices.Clone(labels)
	slices.Sort(want)
	for _, m := range f.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return m
		}
	}
	return nil
}

// value is a counter's or gauge's value; it fails the test when the series
// is missing.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := find(fams, name, labels...)
	if m == nil {
		t.Fatalf("no series %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is not a counter or gauge", name, labels)
	return 0
}

func histogram(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Histogram {
	t.Helper()
	m := find(fams, name, labels...)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v", name, labels)
	}
	return m.Histogram
}

// cumulative is the histogram's count at upper bound le.
func cumulative(t *testing.T, h *dto.Histogram, le float64) uint64 {
	t.Helper()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%g", le)
	return 0
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestInvocation(t *testing.T) {
	m := New()
	ms := time.Millisecond
	m.Invocation("api", "http", OutcomeSuccess, false, 0, 3*ms)
	m.Invocation("api", "http", OutcomeSuccess, true, 2*ms, 4*ms)
	m.Invocation("api", "http", OutcomeError, false, 0, 20*ms)
	m.Invocation("api", "queue", OutcomeTimeout, false, 0, 10*time.Second)
	m.Invocation("api", "queue", OutcomeInitError, true, 700*ms, 0)
	m.Invocation("api", "http", OutcomeThrottled, false, 0, 5*ms) // counted as a throttle, not timed
	m.Throttled("api", "async")
	m.Invocation("api", "http", "exploded", false, 0, ms) // outside the known set
	m.Invocation("worker", "schedule", OutcomeSuccess, false, 0, ms)

	f := scrape(t, m)
	for _, c := range []struct {
		trigger, outcome string
		want             float64
	}{
		{"http", OutcomeSuccess, 2},
		{"http", OutcomeError, 1},
		{"http", OutcomeTimeout, 0},
		{"http", OutcomeThrottled, 1},
		{"http", OutcomeInitError, 0},
		{"http", "exploded", 1},
		{"queue", OutcomeTimeout, 1},
		{"queue", OutcomeInitError, 1},
		{"queue", OutcomeSuccess, 0},
		{"async", OutcomeThrottled, 1},
	} {
		got := value(t, f, "gureum_invocations_total", "function=api", "trigger="+c.trigger, "outcome="+c.outcome)
		if got != c.want {
			t.Errorf("invocations{api,%s,%s} = %v, want %v", c.trigger, c.outcome, got, c.want)
		}
	}
	if got := value(t, f, "gureum_invocations_total", "function=worker", "trigger=schedule", "outcome=success"); got != 1 {
		t.Errorf("invocations{worker} = %v, want 1", got)
	}
	if got := value(t, f, "gureum_throttles_total", "function=api"); got != 2 {
		t.Errorf("throttles = %v, want 2", got)
	}
	if got := value(t, f, "gureum_cold_starts_total", "function=api"); got != 2 {
		t.Errorf("cold starts = %v, want 2", got)
	}
	if got := value(t, f, "gureum_cold_starts_total", "function=worker"); got != 0 {
		t.Errorf("worker cold starts = %v, want 0", got)
	}

	h := histogram(t, f, "gureum_invocation_duration_seconds", "function=api")
	// success 3ms, success 4ms, error 20ms, timeout 10s, init_error 0, exploded 1ms.
	if h.GetSampleCount() != 6 {
		t.Errorf("duration count = %d, want 6", h.GetSampleCount())
	}
	if want := 0.003 + 0.004 + 0.020 + 10 + 0.001; !near(h.GetSampleSum(), want) {
		t.Errorf("duration sum = %v, want %v", h.GetSampleSum(), want)
	}
	for _, b := range []struct {
		le   float64
		want uint64
	}{{0.0005, 1}, {0.001, 2}, {0.0025, 2}, {0.005, 4}, {0.025, 5}, {5, 5}, {10, 6}, {60, 6}} {
		if got := cumulative(t, h, b.le); got != b.want {
			t.Errorf("duration le=%g: %d, want %d", b.le, got, b.want)
		}
	}

	ih := histogram(t, f, "gureum_init_duration_seconds", "function=api")
	if ih.GetSampleCount() != 2 || !near(ih.GetSampleSum(), 0.702) {
		t.Errorf("init duration count %d sum %v, want 2 and 0.702", ih.GetSampleCount(), ih.GetSampleSum())
	}
	if got := cumulative(t, ih, 0.0025); got != 1 {
		t.Errorf("init le=0.0025: %d, want 1", got)
	}
}

func TestInvocationStarted(t *testing.T) {
	m := New()
	done1 := m.InvocationStarted("api")
	done2 := m.InvocationStarted("api")
	doneW := m.InvocationStarted("worker")
	f := scrape(t, m)
	if got := value(t, f, "gureum_concurrent_executions", "function=api"); got != 2 {
		t.Errorf("api in flight = %v, want 2", got)
	}
	if got := value(t, f, "gureum_concurrent_executions", "function=worker"); got != 1 {
		t.Errorf("worker in flight = %v, want 1", got)
	}
	done1()
	doneW()
	f = scrape(t, m)
	if got := value(t, f, "gureum_concurrent_executions", "function=api"); got != 1 {
		t.Errorf("api in flight = %v, want 1", got)
	}
	if got := value(t, f, "gureum_concurrent_executions", "function=worker"); got != 0 {
		t.Errorf("worker in flight = %v, want 0", got)
	}
	done2()
	if got := value(t, scrape(t, m), "gureum_concurrent_executions", "function=api"); got != 0 {
		t.Errorf("api in flight = %v, want 0", got)
	}
}

func TestAsyncRetryAndRecordsDropped(t *testing.T) {
	m := New()
	if got := value(t, scrape(t, m), "gureum_records_dropped_total"); got != 0 {
		t.Errorf("records dropped at start = %v, want 0", got)
	}
	m.AsyncRetry("resize")
	m.AsyncRetry("resize")
	m.AsyncRetry("thumb")
	m.RecordsDropped(3)
	m.RecordsDropped(0)
	m.RecordsDropped(-5) // ignored: a counter only goes up
	m.RecordsDropped(4)
	f := scrape(t, m)
	if got := value(t, f, "gureum_async_retries_total", "function=resize"); got != 2 {
		t.Errorf("retries resize = %v, want 2", got)
	}
	if got := value(t, f, "gureum_async_retries_total", "function=thumb"); got != 1 {
		t.Errorf("retries thumb = %v, want 1", got)
	}
	if got := value(t, f, "gureum_records_dropped_total"); got != 7 {
		t.Errorf("records dropped = %v, want 7", got)
	}
}

func TestHTTPRequest(t *testing.T) {
	m := New()
	ms := time.Millisecond
	m.HTTPRequest("GET /orders/{id}", "GET", 200, 2*ms)
	m.HTTPRequest("GET /orders/{id}", "GET", 200, 3*ms)
	m.HTTPRequest("GET /orders/{id}", "GET", 404, ms)
	m.HTTPRequest("POST /orders", "POST", 201, 40*ms)
	m.HTTPRequest(RouteUnmatched, "BREW", 404, ms) // invented method
	m.HTTPRequest("", "get", 404, ms)              // empty route; methods are case-sensitive
	m.HTTPRequest(RouteReserved, "GET", 1000, ms)  // out-of-range code
	m.HTTPRequest(RouteReserved, "GET", 0, ms)

	f := scrape(t, m)
	for _, c := range []struct {
		route, method, code string
		want                float64
	}{
		{"GET /orders/{id}", "GET", "200", 2},
		{"GET /orders/{id}", "GET", "404", 1},
		{"POST /orders", "POST", "201", 1},
		{RouteUnmatched, LabelOther, "404", 2},
		{RouteReserved, "GET", LabelOther, 2},
	} {
		got := value(t, f, "gureum_http_requests_total", "route="+c.route, "method="+c.method, "code="+c.code)
		if got != c.want {
			t.Errorf("requests{%s,%s,%s} = %v, want %v", c.route, c.method, c.code, got, c.want)
		}
	}
	if n := len(f["gureum_http_requests_total"].GetMetric()); n != 5 {
		t.Errorf("%d request series, want 5", n)
	}
	h := histogram(t, f, "gureum_http_request_duration_seconds", "route=GET /orders/{id}", "method=GET")
	if h.GetSampleCount() != 3 || !near(h.GetSampleSum(), 0.006) {
		t.Errorf("duration count %d sum %v, want 3 and 0.006", h.GetSampleCount(), h.GetSampleSum())
	}
	if got := cumulative(t, h, 0.0025); got != 2 {
		t.Errorf("duration le=0.0025: %d, want 2", got)
	}
}

// node is the test's Snapshot: fixed figures, and the deadlines it saw.
type node struct {
	instances []InstanceStat
	queues    []QueueStat
	pending   map[string]int

	mu        sync.Mutex
	deadlines int
}

func (n *node) Instances() []InstanceStat { return n.instances }

func (n *node) Queues(ctx context.Context) []QueueStat {
	n.sawDeadline(ctx)
	return n.queues
}

func (n *node) AsyncPending(ctx context.Context) map[string]int {
	n.sawDeadline(ctx)
	return n.pending
}

func (n *node) sawDeadline(ctx context.Context) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= SnapshotTimeout {
		n.mu.Lock()
		n.deadlines++
		n.mu.Unlock()
	}
}

func TestSnapshot(t *testing.T) {
	m := New()
	f := scrape(t, m)
	for _, name := range []string{"gureum_instances", "gureum_queue_messages", "gureum_async_pending_events"} {
		if f[name] != nil {
			t.Errorf("%s exported with no source", name)
		}
	}

	n := &node{
		instances: []InstanceStat{
			{Function: "api", Idle: 3, Busy: 2, Provisioned: 1},
			{Function: "worker", Idle: 0, Busy: 1},
			{Function: "api", Idle: 99}, // duplicate: the first wins
		},
		queues: []QueueStat{
			{Name: "orders", Visible: 5, InFlight: 2, Delayed: 1, OldestAge: 1500 * time.Millisecond},
			{Name: "orders-dlq", Visible: 4, InFlight: 1, DeadLetter: true, OldestAge: time.Hour},
			{Name: "empty"},
		},
		pending: map[string]int{"resize": 7, "thumb": 0},
	}
	m.SetSource(n)
	f = scrape(t, m)

	gauges := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gureum_instances", []string{"function=api", "state=idle"}, 3},
		{"gureum_instances", []string{"function=api", "state=busy"}, 2},
		{"gureum_instances", []string{"function=worker", "state=idle"}, 0},
		{"gureum_instances", []string{"function=worker", "state=busy"}, 1},
		{"gureum_provisioned_instances", []string{"function=api"}, 1},
		{"gureum_provisioned_instances", []string{"function=worker"}, 0},
		{"gureum_queue_messages", []string{"queue=orders", "state=visible"}, 5},
		{"gureum_queue_messages", []string{"queue=orders", "state=inflight"}, 2},
		{"gureum_queue_messages", []string{"queue=orders", "state=delayed"}, 1},
		{"gureum_queue_messages", []string{"queue=orders-dlq", "state=visible"}, 4},
		{"gureum_queue_messages", []string{"queue=empty", "state=visible"}, 0},
		{"gureum_queue_oldest_message_age_seconds", []string{"queue=orders"}, 1.5},
		{"gureum_queue_oldest_message_age_seconds", []string{"queue=orders-dlq"}, 3600},
		{"gureum_queue_oldest_message_age_seconds", []string{"queue=empty"}, 0},
		{"gureum_dlq_messages", []string{"queue=orders-dlq"}, 5},
		{"gureum_async_pending_events", []string{"function=resize"}, 7},
		{"gureum_async_pending_events", []string{"function=thumb"}, 0},
	}
	for _, g := range gauges {
		if got := value(t, f, g.name, g.labels...); got != g.want {
			t.Errorf("%s%v = %v, want %v", g.name, g.labels, got, g.want)
		}
	}
	if n := len(f["gureum_instances"].GetMetric()); n != 4 {
		t.Errorf("%d instance series, want 4", n)
	}
	if n := len(f["gureum_dlq_messages"].GetMetric()); n != 1 {
		t.Errorf("%d dlq series, want 1 (only dead-letter queues)", n)
	}
	if n.deadlines != 2 {
		t.Errorf("%d snapshot calls had a deadline within SnapshotTimeout, want 2", n.deadlines)
	}

	// A nil AsyncPending is allowed; a nil source removes the series.
	m.SetSource(&node{instances: []InstanceStat{{Function: "api"}}})
	f = scrape(t, m)
	if f["gureum_async_pending_events"] != nil || f["gureum_queue_messages"] != nil {
		t.Error("queue or async series exported from an empty snapshot")
	}
	m.SetSource(nil)
	if f = scrape(t, m); f["gureum_instances"] != nil {
		t.Error("instances exported after SetSource(nil)")
	}
}

func TestForget(t *testing.T) {
	m := New()
	m.Invocation("gone", "http", OutcomeSuccess, true, time.Millisecond, time.Millisecond)
	m.Throttled("gone", "http")
	m.AsyncRetry("gone")
	done := m.InvocationStarted("gone")
	m.Invocation("kept", "http", OutcomeSuccess, false, 0, time.Millisecond)

	m.Forget("gone")
	done() // an invocation that outlived its function does no harm
	f := scrape(t, m)
	for name, fam := range f {
		for _, mt := range fam.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "function" && l.GetValue() == "gone" {
					t.Errorf("%s still has a series for a forgotten function", name)
				}
			}
		}
	}
	if got := value(t, f, "gureum_invocations_total", "function=kept", "trigger=http", "outcome=success"); got != 1 {
		t.Errorf("kept invocations = %v, want 1", got)
	}

	// Deployed again, the function starts from zero.
	m.Invocation("gone", "http", OutcomeError, false, 0, time.Millisecond)
	f = scrape(t, m)
	if got := value(t, f, "gureum_invocations_total", "function=gone", "trigger=http", "outcome=success"); got != 0 {
		t.Errorf("recreated success count = %v, want 0", got)
	}
	if got := value(t, f, "gureum_invocations_total", "function=gone", "trigger=http", "outcome=error"); got != 1 {
		t.Errorf("recreated error count = %v, want 1", got)
	}
	if got := value(t, f, "gureum_throttles_total", "function=gone"); got != 0 {
		t.Errorf("recreated throttles = %v, want 0", got)
	}
	if got := value(t, f, "gureum_concurrent_executions", "function=gone"); got != 0 {
		t.Errorf("recreated in flight = %v, want 0", got)
	}
}

func TestInstancesIndependent(t *testing.T) {
	a, b := New(), New()
	a.Invocation("api", "http", OutcomeSuccess, false, 0, time.Millisecond)
	a.HTTPRequest("GET /", "GET", 200, time.Millisecond)
	b.Invocation("api", "http", OutcomeError, false, 0, time.Millisecond)
	b.SetSource(&node{instances: []InstanceStat{{Function: "api", Busy: 1}}})

	fa, fb := scrape(t, a), scrape(t, b)
	if got := value(t, fa, "gureum_invocations_total", "function=api", "trigger=http", "outcome=success"); got != 1 {
		t.Errorf("a success = %v, want 1", got)
	}
	if got := value(t, fa, "gureum_invocations_total", "function=api", "trigger=http", "outcome=error"); got != 0 {
		t.Errorf("a error = %v, want 0", got)
	}
	if got := value(t, fb, "gureum_invocations_total", "function=api", "trigger=http", "outcome=success"); got != 0 {
		t.Errorf("b success = %v, want 0", got)
	}
	if fb["gureum_http_requests_total"] != nil {
		t.Error("b has a's HTTP requests")
	}
	if fa["gureum_instances"] != nil {
		t.Error("a has b's snapshot")
	}
	for _, f := range []map[string]*dto.MetricFamily{fa, fb} {
		if f["go_goroutines"] == nil || f["process_start_time_seconds"] == nil {
			t.Error("missing Go or process collector")
		}
	}
	if a.Registry() == b.Registry() {
		t.Error("two Metrics share a registry")
	}
}

func TestInvalidUTF8(t *testing.T) {
	m := New()
	bad := "fn\xff"
	m.Invocation(bad, "http\xfe", OutcomeSuccess, true, 0, time.Millisecond)
	m.Invocation(bad, "http", "out\xfd", false, 0, time.Millisecond)
	m.HTTPRequest("GET /\xff", "GET", 200, time.Millisecond)
	m.AsyncRetry(bad)
	m.InvocationStarted(bad)()
	m.SetSource(&node{
		instances: []InstanceStat{{Function: bad}, {Function: "fn\xfe"}}, // one label value
		queues:    []QueueStat{{Name: "q\xff"}},
		pending:   map[string]int{"a\xff": 1, "a\xfe": 2},
	})
	f := scrape(t, m)
	if got := value(t, f, "gureum_invocations_total", "function=fn\uFFFD", "trigger=http\uFFFD", "outcome=success"); got != 1 {
		t.Errorf("invocations of the invalid name = %v, want 1", got)
	}
	if got := len(f["gureum_async_pending_events"].GetMetric()); got != 1 {
		t.Errorf("%d pending series, want 1", got)
	}
	m.Forget("fn\xfe") // the same label value as bad
	f = scrape(t, m)
	if find(f, "gureum_cold_starts_total", "function=fn\uFFFD") != nil {
		t.Error("Forget left the series of an invalid name")
	}
	m.Invocation(bad, "http", OutcomeSuccess, false, 0, time.Millisecond)
	f = scrape(t, m)
	if got := value(t, f, "gureum_invocations_total", "function=fn\uFFFD", "trigger=http", "outcome=success"); got != 1 {
		t.Errorf("invocations after Forget = %v, want 1", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	m := New()
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				fn := fmt.Sprintf("fn%d", i%5)
				done := m.InvocationStarted(fn)
				m.Invocation(fn, "http", OutcomeSuccess, i%10 == 0, time.Millisecond, time.Millisecond)
				done()
				m.HTTPRequest("GET /x", "GET", 200, time.Millisecond)
				if w == 0 && i%50 == 0 {
					m.Forget("churn")
				}
				m.AsyncRetry("churn")
			}
		}()
	}
	wg.Wait()
	f := scrape(t, m)
	var total float64
	for i := range 5 {
		fn := fmt.Sprintf("fn%d", i)
		total += value(t, f, "gureum_invocations_total", "function="+fn, "trigger=http", "outcome=success")
		if got := value(t, f, "gureum_concurrent_executions", "function="+fn); got != 0 {
			t.Errorf("%s in flight = %v, want 0", fn, got)
		}
	}
	if total != workers*each {
		t.Errorf("invocations = %v, want %d", total, workers*each)
	}
	if got := value(t, f, "gureum_http_requests_total", "route=GET /x", "method=GET", "code=200"); got != workers*each {
		t.Errorf("requests = %v, want %d", got, workers*each)
	}
}

func TestDurationBuckets(t *testing.T) {
	if !slices.IsSorted(DurationBuckets) || DurationBuckets[0] != 0.0005 || DurationBuckets[len(DurationBuckets)-1] != 60 {
		t.Errorf("DurationBuckets %v: want sorted, 0.5 ms to 60 s", DurationBuckets)
	}
}

func TestWarmPathDoesNotAllocate(t *testing.T) {
	m := New()
	m.Invocation("api", "http", OutcomeSuccess, false, 0, time.Millisecond)
	m.HTTPRequest("GET /orders/{id}", "GET", 200, time.Millisecond)
	cases := map[string]func(){
		"Invocation":        func() { m.Invocation("api", "http", OutcomeSuccess, true, time.Millisecond, time.Millisecond) },
		"Throttled":         func() { m.Throttled("api", "http") },
		"InvocationStarted": func() { m.InvocationStarted("api")() },
		"AsyncRetry":        func() { m.AsyncRetry("api") },
		"HTTPRequest":       func() { m.HTTPRequest("GET /orders/{id}", "GET", 200, time.Millisecond) },
	}
	for name, fn := range cases {
		if a := testing.AllocsPerRun(100, fn); a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, a)
		}
	}
}

func BenchmarkInvocation(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.Invocation("api", "http", OutcomeSuccess, false, 0, 3*time.Millisecond)
	}
}

func BenchmarkInvocationCold(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.Invocation("api", "http", OutcomeSuccess, true, time.Millisecond, 3*time.Millisecond)
	}
}

func BenchmarkInvocationParallel(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done := m.InvocationStarted("api")
			m.Invocation("api", "http", OutcomeSuccess, false, 0, 3*time.Millisecond)
			done()
		}
	})
}

func BenchmarkHTTPRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.HTTPRequest("GET /orders/{id}", "GET", 200, 2*time.Millisecond)
	}
}

func BenchmarkHTTPRequestParallel(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.HTTPRequest("GET /orders/{id}", "GET", 200, 2*time.Millisecond)
		}
	})
}

func BenchmarkScrape(b *testing.B) {
	m := New()
	for i := range 100 {
		fn := fmt.Sprintf("fn%d", i)
		m.Invocation(fn, "http", OutcomeSuccess, true, time.Millisecond, time.Millisecond)
	}
	h := m.Handler()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
