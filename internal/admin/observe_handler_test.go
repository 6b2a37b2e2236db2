package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/registry"
)

const traceID = "0af7651916cd43dd8448eb211c80319c"

// observeNode is an in-memory admin.ObserveService: it answers from fixed
// records, spans and a cost report, and remembers what it was asked.
type observeNode struct {
	admin.Service

	mu        sync.Mutex
	fail      error // returned by every observe method when set
	functions map[string]bool
	records   map[string][]admin.InvocationRecord // by function
	logs      map[string][]observe.Entry          // by request id
	spans     map[string][]admin.TraceSpan        // by trace id
	report    *admin.CostReport

	queries    []admin.RecordQuery
	costCalls  []costCall
	invoked    []string
	lookups    []string
	traceCalls []string
}

type costCall struct {
	since time.Time
	by    string
}

func newObserveNode() *observeNode {
	return &observeNode{
		functions: map[string]bool{"api": true},
		records:   map[string][]admin.InvocationRecord{},
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

func (f *observeNode) Invoke(_ context.Context, req *invoke.Request) (*invoke.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invoked = append(f.invoked, req.Function)
	return &invoke.Result{RequestID: "sync-1", Version: "1", Payload: req.Payload}, nil
}

func (f *observeNode) Invocations(_ context.Context, function string, q admin.RecordQuery) ([]admin.InvocationRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.fail != nil {
		return nil, f.fail
	}
	var out []admin.InvocationRecord
	for _, r := range f.records[function] {
		if r.Start.Before(q.Since) || q.ErrorsOnly && r.Outcome == admin.OutcomeSuccess || q.Trigger != "" && r.Trigger != q.Trigger {
			continue
		}
		out = append(out, r)
	}
	return out[max(0, len(out)-q.Limit):], nil
}

func (f *observeNode) Invocation(_ context.Context, id string) (*admin.InvocationDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, id)
	if f.fail != nil {
		return nil, f.fail
	}
	for _, rs := range f.records {
		for _, r := range rs {
			if r.RequestID == id {
				return &admin.InvocationDetail{InvocationRecord: r, Log: f.logs[id]}, nil
			}
		}
	}
	return nil, fmt.Errorf("invocation %s: %w", id, admin.ErrNotFound)
}

func (f *observeNode) Trace(_ context.Context, id string) ([]admin.TraceSpan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.traceCalls = append(f.traceCalls, id)
	if f.fail != nil {
		return nil, f.fail
	}
	spans, ok := f.spans[id]
	if !ok {
		return nil, fmt.Errorf("trace %s: %w", id, admin.ErrNotFound)
	}
	return spans, nil
}

func (f *observeNode) Cost(_ context.Context, since time.Time, by string) (*admin.CostReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.costCalls = append(f.costCalls, costCall{since, by})
	if f.fail != nil {
		return nil, f.fail
	}
	if f.report != nil {
		rep := *f.report
		return &rep, nil
	}
	return &admin.CostReport{Since: since, Until: time.Now(), By: by, Currency: "USD", PerRequest: 2e-7, PerGBSecond: 0.0000166667}, nil
}

var t0 = time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)

// addRecords gives function api three invocations, stored out of order.
func (f *observeNode) addRecords() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records["api"] = []admin.InvocationRecord{
		{RequestID: "r-2", Function: "api", Version: "3", Trigger: "queue", Source: "arn:gureum:sqs:local:orders",
			Start: t0.Add(2 * time.Second), DurationMs: 4.2, MemoryMiB: 128, Outcome: admin.OutcomeError, ErrorType: "Handled",
			BilledMs: 5, GBSeconds: 0.000625},
		{RequestID: "r-1", Function: "api", Version: "3", Trigger: "http", Source: "GET /orders/{id}", TraceID: traceID,
			Start: t0, Cold: true, InitDurationMs: 2.8, DurationMs: 12.3, MemoryMiB: 128, Outcome: admin.OutcomeSuccess,
			BilledMs: 13, GBSeconds: 0.001625, Node: "node-1"},
		{RequestID: "r-3", Function: "api", Version: "3", Trigger: "http", Start: t0.Add(3 * time.Second),
			DurationMs: 0.9, MemoryMiB: 128, Outcome: admin.OutcomeSuccess, BilledMs: 1, GBSeconds: 0.000125},
	}
	f.logs["r-1"] = []observe.Entry{{Time: t0.Add(time.Millisecond), Function: "api", Version: "3", RequestID: "r-1", Message: "hello"}}
}

func TestObserveEndpointsNeedAnObserveService(t *testing.T) {
	h := admin.NewHandler(functionsOnly{}, token)
	for _, p := range []string{"/functions/api/invocations", "/invocations/r-1", "/traces/" + traceID, "/cost"} {
		expectError(t, request(t, h, "GET", p, ""), http.StatusNotFound, admin.CodeNotFound, "no admin endpoint")
	}
}

func TestObserveEndpointsNeedTheToken(t *testing.T) {
	h := admin.NewHandler(newObserveNode(), token)
	for _, p := range []string{"/functions/api/invocations", "/invocations/r-1", "/traces/" + traceID, "/cost"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", admin.Prefix+p, nil))
		expectError(t, rec, http.StatusUnauthorized, admin.CodeUnauthorized, "token")
	}
}

func TestListInvocations(t *testing.T) {
	f := newObserveNode()
	f.addRecords()
	h := admin.NewHandler(f, token)

	var recs []admin.InvocationRecord
	expect(t, request(t, h, "GET", "/functions/api/invocations", ""), http.StatusOK, &recs)
	if len(recs) != 3 || recs[0].RequestID != "r-1" || recs[1].RequestID != "r-2" || recs[2].RequestID != "r-3" {
		t.Fatalf("records %+v, want r-1, r-2, r-3 (oldest first)", recs)
	}
	if r := recs[0]; !r.Cold || r.InitDurationMs != 2.8 || r.TraceID != traceID || r.Source != "GET /orders/{id}" ||
		r.BilledMs != 13 || r.GBSeconds != 0.001625 || r.Node != "node-1" || !r.Start.Equal(t0) {
		t.Fatalf("record r-1 came back as %+v", r)
	}
	if q := f.queries[0]; !q.Since.IsZero() || q.ErrorsOnly || q.Trigger != "" || q.Limit != admin.DefaultRecordLimit {
		t.Fatalf("query without parameters reached the service as %+v", q)
	}

	before := time.Now()
	expect(t, request(t, h, "GET", "/functions/api/invocations?since=100000h&errors=1&trigger=queue&limit=5", ""), http.StatusOK, &recs)
	after := time.Now()
	if len(recs) != 1 || recs[0].RequestID != "r-2" || recs[0].ErrorType != "Handled" {
		t.Fatalf("filtered records %+v", recs)
	}
	q := f.queries[1]
	if q.Since.Before(before.Add(-100000*time.Hour)) || q.Since.After(after.Add(-100000*time.Hour)) ||
		!q.ErrorsOnly || q.Trigger != "queue" || q.Limit != 5 {
		t.Fatalf("query reached the service as %+v", q)
	}

	expect(t, request(t, h, "GET", "/functions/api/invocations?since=2024-01-02T15:04:06Z&errors=false", ""), http.StatusOK, &recs)
	if q := f.queries[2]; !q.Since.Equal(t0.Add(time.Second)) || q.ErrorsOnly || len(recs) != 2 {
		t.Fatalf("since as a time: query %+v, records %+v", q, recs)
	}
	before = time.Now()
	expect(t, request(t, h, "GET", "/functions/api/invocations?since=7d", ""), http.StatusOK, nil)
	if q := f.queries[3]; q.Since.Before(before.Add(-7*24*time.Hour)) || q.Since.After(time.Now().Add(-7*24*time.Hour)) {
		t.Fatalf("since=7d reached the service as %v", q.Since)
	}

	// No records is an empty list, not null.
	f.functions["idle"] = true
	rec := request(t, h, "GET", "/functions/idle/invocations", "")
	expect(t, rec, http.StatusOK, nil)
	if strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("no records answered %s", rec.Body)
	}

	// An unknown function is 404 before the records are asked for.
	n := len(f.queries)
	expectError(t, request(t, h, "GET", "/functions/nope/invocations", ""), http.StatusNotFound, admin.CodeNotFound, "nope")
	if len(f.queries) != n {
		t.Fatalf("records of an unknown function were asked for")
	}

	// POST on the same path still invokes.
	rec = request(t, h, "POST", "/functions/api/invocations", `{"x":1}`)
	expect(t, rec, http.StatusOK, nil)
	if rec.Body.String() != `{"x":1}` || len(f.invoked) != 1 {
		t.Fatalf("POST invocations: %s, invoked %v", rec.Body, f.invoked)
	}
}

func TestGetInvocation(t *testing.T) {
	f := newObserveNode()
	f.addRecords()
	h := admin.NewHandler(f, token)

	var d admin.InvocationDetail
	expect(t, request(t, h, "GET", "/invocations/r-1", ""), http.StatusOK, &d)
	if d.RequestID != "r-1" || d.Function != "api" || !d.Cold || len(d.Log) != 1 || d.Log[0].Message != "hello" {
		t.Fatalf("detail %+v", d)
	}
	// The record's fields sit at the top level of the answer, beside log.
	rec := request(t, h, "GET", "/invocations/r-2", "")
	expect(t, rec, http.StatusOK, nil)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["requestId"]) != `"r-2"` || string(raw["log"]) != "[]" || string(raw["outcome"]) != `"error"` {
		t.Fatalf("r-2 answered %s", rec.Body)
	}
	expectError(t, request(t, h, "GET", "/invocations/r-9", ""), http.StatusNotFound, admin.CodeNotFound, "r-9")
}

func TestGetTrace(t *testing.T) {
	f := newObserveNode()
	f.spans[traceID] = []admin.TraceSpan{
		{TraceID: traceID, SpanID: "b", ParentID: "a", Name: "invoke api", Kind: "internal", Start: t0.Add(time.Millisecond), DurationMs: 11.9, Status: "ok"},
		{TraceID: traceID, SpanID: "a", Name: "GET /orders/{id}", Kind: "server", Start: t0, DurationMs: 12.3, Status: "ok",
			Attributes: map[string]string{"http.route": "/orders/{id}"}, Node: "node-1"},
	}
	f.spans["1af7651916cd43dd8448eb211c80319c"] = []admin.TraceSpan{}
	h := admin.NewHandler(f, token)

	var spans []admin.TraceSpan
	expect(t, request(t, h, "GET", "/traces/"+traceID, ""), http.StatusOK, &spans)
	if len(spans) != 2 || spans[0].SpanID != "a" || spans[1].ParentID != "a" || spans[0].Attributes["http.route"] != "/orders/{id}" ||
		spans[0].Node != "node-1" || spans[1].DurationMs != 11.9 {
		t.Fatalf("spans %+v, want a then b", spans)
	}
	expectError(t, request(t, h, "GET", "/traces/2af7651916cd43dd8448eb211c80319c", ""), http.StatusNotFound, admin.CodeNotFound, "2af76519")
	// A trace the service knows with no spans is not found either.
	expectError(t, request(t, h, "GET", "/traces/1af7651916cd43dd8448eb211c80319c", ""), http.StatusNotFound, admin.CodeNotFound, "no spans")
	n := len(f.traceCalls)
	for _, id := range []string{
		strings.ToUpper(traceID), traceID[:31], traceID + "0", strings.Repeat("0", 32), "0af7651916cd43dd8448eb211c80319g",
		"00-" + traceID + "-b7ad6b7169203331-01",
	} {
		expectError(t, request(t, h, "GET", "/traces/"+id, ""), http.StatusBadRequest, admin.CodeInvalidRequest, "32 lower-case hex digits")
	}
	if len(f.traceCalls) != n {
		t.Fatalf("invalid trace ids reached the service: %v", f.traceCalls[n:])
	}
}

func TestCost(t *testing.T) {
	f := newObserveNode()
	h := admin.NewHandler(f, token)

	before := time.Now()
	var rep admin.CostReport
	rec := request(t, h, "GET", "/cost", "")
	expect(t, rec, http.StatusOK, &rep)
	after := time.Now()
	c := f.costCalls[0]
	if c.by != admin.CostByFunction || c.since.Before(before.Add(-admin.DefaultCostWindow)) || c.since.After(after.Add(-admin.DefaultCostWindow)) {
		t.Fatalf("default cost call %+v", c)
	}
	if rep.By != "function" || rep.Currency != "USD" || !strings.Contains(rec.Body.String(), `"lines": []`) {
		t.Fatalf("cost answered %s", rec.Body)
	}

	f.report = &admin.CostReport{
		Since: t0, Until: t0.Add(time.Hour), By: "trigger", Currency: "USD", PerRequest: 2e-7, PerGBSecond: 0.0000166667,
		Lines: []admin.CostLine{{Key: "http", Requests: 2, GBSeconds: 0.00175, RequestCost: 4e-7, ComputeCost: 2.9e-8, Cost: 4.29e-7,
			PeakConcurrency: 1, AlwaysOnGBSeconds: 450, AlwaysOnCost: 0.0075}},
		Total: admin.CostLine{Key: "total", Requests: 2},
	}
	expect(t, request(t, h, "GET", "/cost?since=2024-01-02T15:04:05Z&by=trigger", ""), http.StatusOK, &rep)
	if c := f.costCalls[1]; c.by != "trigger" || !c.since.Equal(t0) {
		t.Fatalf("cost call %+v", c)
	}
	if len(rep.Lines) != 1 || rep.Lines[0].AlwaysOnCost != 0.0075 || rep.Lines[0].PeakConcurrency != 1 || rep.Total.Requests != 2 {
		t.Fatalf("report %+v", rep)
	}
	expect(t, request(t, h, "GET", "/cost?since=7d&by=function", ""), http.StatusOK, nil)
	if c := f.costCalls[2]; c.by != "function" || time.Since(c.since) < 7*24*time.Hour {
		t.Fatalf("cost call %+v", c)
	}
}

// TestObserveBadRequests: malformed parameters are refused with 400 and a
// sentence saying what is wrong, before the service sees them.
func TestObserveBadRequests(t *testing.T) {
	f := newObserveNode()
	f.addRecords()
	h := admin.NewHandler(f, token)
	for _, c := range []struct{ path, msg string }{
		{"/functions/api/invocations?since=soon", `since "soon": want a duration`},
		{"/functions/api/invocations?since=-5m", "must not be negative"},
		{"/functions/api/invocations?since=999999d", "at most 36500 days"},
		{"/functions/api/invocations?since=2024-01-02", "RFC 3339"},
		{"/functions/api/invocations?limit=0", `limit "0": want a number from 1 to 10000`},
		{"/functions/api/invocations?limit=10001", `limit "10001"`},
		{"/functions/api/invocations?limit=ten", `limit "ten"`},
		{"/functions/api/invocations?errors=maybe", `errors "maybe"`},
		{"/functions/api/invocations?trigger=Queue", `trigger "Queue"`},
		{"/functions/api/invocations?trigger=a%20b", `trigger "a b"`},
		{"/functions/api/invocations?trigger=" + strings.Repeat("q", 65), "trigger"},
		{"/functions/api/invocations?error=1", `unknown query parameter "error": want since, errors, trigger, limit`},
		{"/functions/api/invocations?limit=1&limit=2", `"limit" is given 2 times`},
		{"/functions/api/invocations?since=%zz", "malformed query string"},
		{"/functions/" + strings.Repeat("f", 300) + "/invocations", "longer than"},
		{"/invocations/r-1?log=0", `unknown query parameter "log": this endpoint takes none`},
		{"/invocations/a%20b", "must not contain spaces"},
		{"/invocations/a%2Fb", "must not contain spaces, '/'"},
		{"/invocations/" + strings.Repeat("r", 257), "longer than 256 bytes"},
		{"/traces/" + traceID + "?x=1", `unknown query parameter "x"`},
		{"/cost?by=version", `by "version": want function or trigger`},
		{"/cost?since=2999-01-01T00:00:00Z", "in the future"},
		{"/cost?since=yesterday", `since "yesterday"`},
		{"/cost?window=1h", `unknown query parameter "window": want since, by`},
	} {
		t.Run(c.path[:min(len(c.path), 50)], func(t *testing.T) {
			expectError(t, request(t, h, "GET", c.path, ""), http.StatusBadRequest, admin.CodeInvalidRequest, c.msg)
		})
	}
	if len(f.queries)+len(f.lookups)+len(f.traceCalls)+len(f.costCalls) != 0 {
		t.Fatalf("refused requests reached the service: %v %v %v %v", f.queries, f.lookups, f.traceCalls, f.costCalls)
	}
}

// TestObserveErrorMapping: the service's sentinels reach the client as their
// status and code, whatever wraps them.
func TestObserveErrorMapping(t *testing.T) {
	f := newObserveNode()
	h := admin.NewHandler(f, token)
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{admin.ErrNotFound, 404, admin.CodeNotFound},
		{registry.ErrNotFound, 404, admin.CodeNotFound},
		{admin.ErrInvalid, 400, admin.CodeInvalidRequest},
		{invoke.ErrShuttingDown, 503, admin.CodeShuttingDown},
		{errors.New("stream unavailable"), 500, admin.CodeInternal},
	} {
		f.mu.Lock()
		f.fail = fmt.Errorf("reading it: %w", c.err)
		f.mu.Unlock()
		for _, p := range []string{"/functions/api/invocations", "/invocations/r-1", "/traces/" + traceID, "/cost"} {
			rec := request(t, h, "GET", p, "")
			var eb admin.ErrorBody
			if rec.Code != c.status || json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Code != c.code || !strings.Contains(eb.Message, "reading it") {
				t.Errorf("%v: GET %s answered %d %s, want %d %s", c.err, p, rec.Code, rec.Body, c.status, c.code)
			}
		}
	}
}

// FuzzObserveQuery: whatever the path id and query string of an
// observability endpoint, the handler answers (never panics, never 5xx),
// refuses with a 4xx error body, or hands the service parameters within the
// documented bounds.
func FuzzObserveQuery(f *testing.F) {
	for _, s := range []struct {
		which     uint8
		id, query string
	}{
		{0, "api", "since=10m&errors=1&trigger=queue&limit=5"},
		{0, "api", "since=2024-01-02T15:04:05Z&errors=true"},
		{0, "api", "since=7d&limit=10000"},
		{0, "nope", ""},
		{1, "r-1", ""},
		{1, "a b", "x=1"},
		{2, traceID, ""},
		{2, strings.ToUpper(traceID), ""},
		{3, "", "since=24h&by=trigger"},
		{3, "", "since=2999-01-01T00:00:00Z"},
		{3, "", "by=function&by=trigger"},
		{0, "api", "since=%zz;limit=1"},
		{0, "api", "since=9223372036854775807ns"},
		{0, "api", "since=106752d"},
		{3, "", "since=0001-01-01T00:00:00Z"},
		{3, "", "since=-0s"},
	} {
		f.Add(s.which, s.id, s.query)
	}
	f.Fuzz(func(t *testing.T, which uint8, id, query string) {
		node := newObserveNode()
		node.addRecords()
		node.spans[traceID] = []admin.TraceSpan{{TraceID: traceID, SpanID: "a", Name: "x", Start: t0}}
		h := admin.NewHandler(node, token)
		var path string
		switch which % 4 {
		case 0:
			path = "/functions/" + id + "/invocations"
		case 1:
			path = "/invocations/" + id
		case 2:
			path = "/traces/" + id
		default:
			path = "/cost"
		}
		req := httptest.NewRequest("GET", admin.Prefix+"/cost", nil)
		req.URL = &url.URL{Path: admin.Prefix + path, RawQuery: query}
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("GET %s?%s: %d %s", path, query, rec.Code, rec.Body)
		case rec.Code >= 400:
			var eb admin.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Code == "" || eb.Message == "" {
				t.Fatalf("GET %s?%s: error %d without an error body: %s", path, query, rec.Code, rec.Body)
			}
		}
		for _, q := range node.queries {
			if q.Limit < 1 || q.Limit > admin.MaxRecordLimit || q.Trigger != "" && strings.ToLower(q.Trigger) != q.Trigger {
				t.Fatalf("query out of bounds reached the service: %+v", q)
			}
		}
		for _, c := range node.costCalls {
			if c.by != admin.CostByFunction && c.by != admin.CostByTrigger || c.since.After(time.Now()) {
				t.Fatalf("cost call out of bounds reached the service: %+v", c)
			}
		}
		for _, id := range node.traceCalls {
			if !admin.ValidTraceID(id) {
				t.Fatalf("trace id %q reached the service", id)
			}
		}
	})
}
