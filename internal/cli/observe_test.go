package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/admin/admintest"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/registry"
)

const traceID = "0af7651916cd43dd8448eb211c80319c"

// observeNode adds fixed invocation records, spans and a cost report to the
// admintest events fake, making it an admin.ObserveService.
type observeNode struct {
	*admintest.Events

	mu        sync.Mutex
	functions map[string]bool
	records   []admin.InvocationRecord
	logs      map[string][]observe.Entry
	spans     map[string][]admin.TraceSpan
	report    *admin.CostReport

	queries   []admin.RecordQuery
	costCalls []string // by
}

func newObserveNode() *observeNode {
	return &observeNode{
		Events:    admintest.NewEvents(),
		functions: map[string]bool{"api": true},
		logs:      map[string][]observe.Entry{},
		spans:     map[string][]admin.TraceSpan{},
	}
}

func (f *observeNode) Function(_ context.Context, name string) (*admin.FunctionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.functions[name] {
		return nil, fmt.Errorf("function %s: %w", name, registry.ErrNotFound)
	}
	return &admin.FunctionInfo{Name: name}, nil
}

func (f *observeNode) Invocations(_ context.Context, function string, q admin.RecordQuery) ([]admin.InvocationRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	var out []admin.InvocationRecord
	// Newest first, as a store might answer; the API sorts.
	for i := len(f.records) - 1; i >= 0 && len(out) < q.Limit; i-- {
		r := f.records[i]
		if r.Function != function || q.ErrorsOnly && r.Outcome == admin.OutcomeSuccess || q.Trigger != "" && r.Trigger != q.Trigger {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func (f *observeNode) Invocation(_ context.Context, id string) (*admin.InvocationDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.records {
		if r.RequestID == id {
			return &admin.InvocationDetail{InvocationRecord: r, Log: f.logs[id]}, nil
		}
	}
	return nil, fmt.Errorf("invocation %s: %w", id, admin.ErrNotFound)
}

func (f *observeNode) Trace(_ context.Context, id string) ([]admin.TraceSpan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	spans, ok := f.spans[id]
	if !ok {
		return nil, fmt.Errorf("trace %s: %w", id, admin.ErrNotFound)
	}
	return spans, nil
}

func (f *observeNode) Cost(_ context.Context, since time.Time, by string) (*admin.CostReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.costCalls = append(f.costCalls, by)
	if f.report == nil {
		return &admin.CostReport{Since: since, Until: time.Now(), By: by, Currency: "USD", PerRequest: 2e-7, PerGBSecond: 0.0000166667}, nil
	}
	rep := *f.report
	return &rep, nil
}

var t0 = time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)

func (f *observeNode) addRecords() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = []admin.InvocationRecord{
		{RequestID: "r-1", Function: "api", Version: "3", Trigger: "http", Source: "GET /orders/{id}", TraceID: traceID,
			Start: t0, Cold: true, InitDurationMs: 2.8, DurationMs: 12.34, MemoryMiB: 128, Outcome: admin.OutcomeSuccess,
			BilledMs: 13, GBSeconds: 0.001625, Node: "node-1"},
		{RequestID: "r-2", Function: "api", Version: "3", Trigger: "queue", Source: "arn:gureum:sqs:local:orders",
			Start: t0.Add(2 * time.Second), DurationMs: 1500, MemoryMiB: 128, Outcome: admin.OutcomeError, ErrorType: "Handled",
			BilledMs: 1500, GBSeconds: 0.1875},
		{RequestID: "r-3", Function: "api", Version: "4", Trigger: "http", Start: t0.Add(3 * time.Second),
			DurationMs: 0.045, MemoryMiB: 128, Outcome: admin.OutcomeSuccess, BilledMs: 1, GBSeconds: 0.000125},
	}
	f.logs["r-1"] = []observe.Entry{
		{Time: t0.Add(time.Millisecond), Function: "api", RequestID: "r-1", Message: "looking up order 42"},
		{Time: t0.Add(9 * time.Millisecond), Function: "api", RequestID: "r-1", Message: "found\n"},
	}
}

func TestInvocationsCommand(t *testing.T) {
	f := newObserveNode()
	f.addRecords()
	g := serve(t, f)

	out := g.ok("invocations", "api", "--since", "100000h")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("invocations printed %q, want a header and 3 lines", out)
	}
	for i, want := range [][]string{
		{"TIME", "REQUEST-ID", "VERSION", "TRIGGER", "COLD", "DURATION", "BILLED", "OUTCOME"},
		{t0.Local().Format("2006-01-02 15:04:05.000"), "r-1", "3", "http", "yes", "12.3 ms", "13 ms", "success"},
		{"r-2", "queue", "no", "1.50 s", "1500 ms", "error (Handled)"},
		{"r-3", "4", "http", "no", "45 µs", "1 ms", "success"},
	} {
		contains(t, fmt.Sprintf("line %d", i), lines[i], want...)
	}
	if q := f.queries[0]; q.Limit != admin.DefaultRecordLimit || q.ErrorsOnly || q.Trigger != "" || time.Since(q.Since) < 100000*time.Hour {
		t.Fatalf("query %+v", q)
	}

	out = g.ok("invocations", "api", "--since", "100000h", "--errors", "--trigger", "queue", "--limit", "7")
	if q := f.queries[1]; q.Limit != 7 || !q.ErrorsOnly || q.Trigger != "queue" {
		t.Fatalf("query %+v", q)
	}
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "r-2") {
		t.Fatalf("filtered invocations: %q", out)
	}

	// A full page says there may be more.
	r := g.run("invocations", "api", "--since", "100000h", "--limit", "2")
	if r.code != 0 || strings.Contains(r.stdout, "r-1") || !strings.Contains(r.stdout, "r-3") {
		t.Fatalf("--limit 2: %+v", r)
	}
	contains(t, "--limit 2 stderr", r.stderr, "the newest 2")

	var recs []admin.InvocationRecord
	if err := json.Unmarshal([]byte(g.ok("invocations", "api", "--since", "100000h", "-o", "json")), &recs); err != nil ||
		len(recs) != 3 || recs[0].RequestID != "r-1" || recs[0].GBSeconds != 0.001625 {
		t.Fatalf("-o json: %v %+v", err, recs)
	}

	f.functions["idle"] = true
	contains(t, "none", g.ok("invocations", "idle", "--errors", "--trigger", "queue"),
		"no invocations of idle in the last 1h by trigger queue that failed")
	g.fails(1, "see 'gureum ls'", "invocations", "nope")
	g.fails(1, `since "soon"`, "invocations", "api", "--since", "soon")
	g.fails(1, "--limit 0: want 1 to 10000", "invocations", "api", "--limit", "0")
	g.fails(1, `-o "yaml": want table or json`, "invocations", "api", "-o", "yaml")
}

func TestInvocationCommand(t *testing.T) {
	f := newObserveNode()
	f.addRecords()
	g := serve(t, f)

	out := g.ok("invocation", "r-1")
	contains(t, "invocation", out,
		"request   r-1\n",
		"function  api (version 3)\n",
		"trigger   http  GET /orders/{id}\n",
		"start     "+t0.Local().Format(time.DateTime)+" (",
		"cold      yes, init 2.8 ms\n",
		"duration  12.3 ms\n",
		"billed    13 ms at 128 MiB = 0.001625 GB-s\n",
		"outcome   success\n",
		"trace     "+traceID+"\n",
		"node      node-1\n",
		"\nlog\n"+t0.Add(time.Millisecond).Local().Format("2006-01-02 15:04:05.000")+"  looking up order 42\n",
		"  found\n",
	)
	out = g.ok("invocation", "r-2")
	contains(t, "failed invocation", out, "cold      no\n", "outcome   error (Handled)\n", "no log lines\n")
	if strings.Contains(out, "trace ") || strings.Contains(out, "node ") {
		t.Fatalf("r-2 has no trace or node, printed %q", out)
	}
	var d admin.InvocationDetail
	if err := json.Unmarshal([]byte(g.ok("invocation", "r-1", "-o", "json")), &d); err != nil || d.RequestID != "r-1" || len(d.Log) != 2 {
		t.Fatalf("-o json: %v %+v", err, d)
	}
	r := g.fails(1, "records are kept for a limited time", "invocation", "r-9")
	contains(t, "not found", r.stderr, "NotFound")
}

func TestTraceCommand(t *testing.T) {
	f := newObserveNode()
	ms := func(v float64) time.Time { return t0.Add(time.Duration(v * float64(time.Millisecond))) }
	// Stored out of order, with a span from another node, a failed span, a
	// span whose parent was not recorded and a name with a line break.
	f.spans[traceID] = []admin.TraceSpan{
		{SpanID: "s5", ParentID: "s2", Name: "kv get orders", Start: ms(5), DurationMs: 0.045, Status: "error", StatusMessage: "timeout", Node: "node-1"},
		{SpanID: "s1", Name: "GET /orders/{id}", Kind: "server", Start: ms(0), DurationMs: 12.3, Status: "ok", Node: "node-1"},
		{SpanID: "s3", ParentID: "s2", Name: "cold start", Start: ms(0.3), DurationMs: 2.8, Node: "node-1"},
		{SpanID: "s2", ParentID: "s1", Name: "invoke api v3", Start: ms(0.2), DurationMs: 11.9, Node: "node-1"},
		{SpanID: "s4", ParentID: "s2", Name: "publish order-events", Kind: "producer", Start: ms(3.1), DurationMs: 0.4, Node: "node-1"},
		{SpanID: "s6", ParentID: "s4", Name: "deliver\norder-events", Kind: "consumer", Start: ms(4), DurationMs: 1234, Node: "node-2"},
		{SpanID: "s7", ParentID: "ffffffffffffffff", Name: "POST /hook", Start: ms(20), DurationMs: 0.5, Node: "node-3"},
	}
	g := serve(t, f)

	want := "trace " + traceID + "  7 spans  1.24 s  started " + t0.Local().Format("2006-01-02 15:04:05.000") + "\n\n" +
		"GET /orders/{id}                  +0 µs  12.3 ms  [node-1]\n" +
		"└─ invoke api v3                +0.2 ms  11.9 ms\n" +
		"   ├─ cold start                +0.3 ms   2.8 ms\n" +
		"   ├─ publish order-events      +3.1 ms   0.4 ms\n" +
		"   │  └─ deliver order-events   +4.0 ms   1.23 s  [node-2]\n" +
		"   └─ kv get orders             +5.0 ms    45 µs  error: timeout\n" +
		"POST /hook                     +20.0 ms   0.5 ms  [node-3]\n"
	if got := g.ok("trace", traceID); got != want {
		t.Fatalf("trace printed\n%s\nwant\n%s", got, want)
	}
	// A traceparent, or the id in upper case, names the same trace.
	if got := g.ok("trace", "00-"+strings.ToUpper(traceID)+"-b7ad6b7169203331-01"); got != want {
		t.Fatalf("trace by traceparent printed\n%s", got)
	}
	var spans []admin.TraceSpan
	if err := json.Unmarshal([]byte(g.ok("trace", traceID, "-o", "json")), &spans); err != nil || len(spans) != 7 || spans[0].SpanID != "s1" {
		t.Fatalf("-o json: %v %+v", err, spans)
	}
	g.fails(1, "want 32 hex digits", "trace", "abc")
	g.fails(1, "want 32 hex digits", "trace", strings.Repeat("0", 32))
	g.fails(1, "only sampled traces are recorded", "trace", "1af7651916cd43dd8448eb211c80319c")
}

func TestCostCommand(t *testing.T) {
	f := newObserveNode()
	g := serve(t, f)
	contains(t, "empty", g.ok("cost"), ", by function\n\nno invocations in this window\n")
	if f.costCalls[0] != "function" {
		t.Fatalf("cost asked by %q", f.costCalls[0])
	}

	until := time.Now().Truncate(time.Second)
	f.report = &admin.CostReport{
		Since: until.Add(-24 * time.Hour), Until: until, By: "trigger", Currency: "USD", PerRequest: 2e-7, PerGBSecond: 0.0000166667,
		Lines: []admin.CostLine{
			{Key: "http", Requests: 1000000, Errors: 3, GBSeconds: 1625, RequestCost: 0.2, ComputeCost: 0.027083, Cost: 0.227083,
				PeakConcurrency: 4, AlwaysOnGBSeconds: 43200, AlwaysOnCost: 0.72},
			{Key: "queue", Requests: 10, GBSeconds: 0.0016, RequestCost: 0.000002, ComputeCost: 0.000000027, Cost: 0.000002027,
				PeakConcurrency: 1, AlwaysOnGBSeconds: 10800, AlwaysOnCost: 0.18},
		},
		Total: admin.CostLine{Key: "total", Requests: 1000010, Errors: 3, GBSeconds: 1625.0016, RequestCost: 0.200002, ComputeCost: 0.027083027,
			Cost: 0.227085027, AlwaysOnCost: 0.9},
	}
	out := g.ok("cost", "--since", "24h", "--by", "trigger")
	if f.costCalls[1] != "trigger" {
		t.Fatalf("cost asked by %q", f.costCalls[1])
	}
	lines := strings.Split(out, "\n")
	contains(t, "window", lines[0], "cost from "+until.Add(-24*time.Hour).Local().Format(time.DateTime), "(24h), by trigger")
	contains(t, "header", lines[2], "TRIGGER", "REQUESTS", "ERRORS", "GB-SECONDS", "REQUEST-COST", "COMPUTE-COST", "COST", "ALWAYS-ON-COST")
	contains(t, "http", lines[3], "http", "1000000", "3", "1625.000000", "0.200000", "0.027083", "0.227083", "0.720000")
	contains(t, "queue", lines[4], "queue", "10", "0.001600", "0.000002", "0.000000", "0.180000")
	contains(t, "total", lines[5], "TOTAL", "1000010", "1625.001600", "0.227085", "0.900000")
	contains(t, "prices", out, "Costs in USD at 0.2 per million requests and 0.0000166667 per GB-second",
		"ALWAYS-ON-COST is what the same work would cost on instances kept running for the whole window")

	var rep admin.CostReport
	if err := json.Unmarshal([]byte(g.ok("cost", "-o", "json")), &rep); err != nil || len(rep.Lines) != 2 || rep.Lines[0].PeakConcurrency != 4 {
		t.Fatalf("-o json: %v %+v", err, rep)
	}
	g.fails(1, `--by "version": want function or trigger`, "cost", "--by", "version")
	g.fails(1, "in the future", "cost", "--since", "2999-01-01T00:00:00Z")
}

func TestObserveCommandsAgainstAnOlderNode(t *testing.T) {
	g := serve(t, admintest.NewEvents())
	for _, args := range [][]string{{"invocations", "api"}, {"invocation", "r-1"}, {"trace", traceID}, {"cost"}} {
		g.fails(1, "does not serve invocation records, traces and cost yet", args...)
	}
}
