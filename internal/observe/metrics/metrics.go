package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of an invocation, the values of the outcome label.
const (
	OutcomeSuccess   = "success"
	OutcomeError     = "error"
	OutcomeTimeout   = "timeout"
	OutcomeThrottled = "throttled"
	OutcomeInitError = "init_error"
)

// Label values the HTTP metrics use for requests no user route matched, for
// requests to gureum's own endpoints, and for methods and status codes
// outside the standard sets.
const (
	RouteUnmatched = "unmatched"
	RouteReserved  = "reserved"
	LabelOther     = "other"
)

// outcomes lists the outcome label values in index order (see outcomeIndex).
var outcomes = [...]string{OutcomeSuccess, OutcomeError, OutcomeTimeout, OutcomeThrottled, OutcomeInitError}

// outcomeIndex is the position of outcome in outcomes, or -1.
func outcomeIndex(outcome string) int {
	switch outcome {
	case OutcomeSuccess:
		return 0
	case OutcomeError:
		return 1
	case OutcomeTimeout:
		return 2
	case OutcomeThrottled:
		return 3
	case OutcomeInitError:
		return 4
	}
	return -1
}

// DurationBuckets are the upper bounds, in seconds, of every duration
// histogram: from half a millisecond (a warm wasm call, a snapshot restore)
// to a minute (a long function timeout).
var DurationBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// Metrics is one node's Prometheus registry and the metrics gureum records
// in it. Its methods are safe for concurrent use; the per-invocation ones
// do not allocate once a function (or route) has been seen.
type Metrics struct {
	reg *prometheus.Registry

	invocations    *prometheus.CounterVec   // function, trigger, outcome
	invDuration    *prometheus.HistogramVec // function
	coldStarts     *prometheus.CounterVec   // function
	initDuration   *prometheus.HistogramVec // function
	concurrent     *prometheus.GaugeVec     // function
	throttles      *prometheus.CounterVec   // function
	asyncRetries   *prometheus.CounterVec   // function
	httpRequests   *prometheus.CounterVec   // route, method, code
	httpDuration   *prometheus.HistogramVec // route, method
	recordsDropped prometheus.Counter

	src sourceHolder

	// mu serialises the slow paths that add to or remove from the caches
	// and the vectors behind them; readers of the caches never lock.
	mu   sync.Mutex
	fns  cache[string, *fnSeries]
	invs cache[invKey, *invSeries]
	http cache[httpKey, *httpSeries]
}

// fnSeries are one function's children of the per-function vectors.
type fnSeries struct {
	duration     prometheus.Observer
	coldStarts   prometheus.Counter
	initDuration prometheus.Observer
	concurrent   prometheus.Gauge
	throttles    prometheus.Counter
	asyncRetries prometheus.Counter
	done         func() // concurrent.Dec, bound once
}

type invKey struct{ function, trigger string }

// invSeries are one function and trigger's invocation counters, one per
// known outcome, and the function's other series.
type invSeries struct {
	fn       *fnSeries
	outcomes [len(outcomes)]prometheus.Counter
}

type httpKey struct {
	route, method string
	code          int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// New returns a node's metrics in a registry of their own, with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gureum_invocations_total",
			Help: "Invocations that finished or were throttled, by function, trigger and outcome (success, error, timeout, throttled, init_error).",
		}, []string{"function", "trigger", "outcome"}),
		invDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gureum_invocation_duration_seconds",
			Help:    "Run time of invocations, without initialisation, by function.",
			Buckets: DurationBuckets,
		}, []string{"function"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gureum_cold_starts_total",
			Help: "Invocations that had to start a new instance, by function.",
		}, []string{"function"}),
		initDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gureum_init_duration_seconds",
			Help:    "Initialisation time of the instances cold starts created, by function.",
			Buckets: DurationBuckets,
		}, []string{"function"}),
		concurrent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gureum_concurrent_executions",
			Help: "Invocations in flight on this node, by function.",
		}, []string{"function"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gureum_throttles_total",
			Help: "Invocations refused because the function was at its concurrency limit, by function.",
		}, []string{"function"}),
		asyncRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gureum_async_retries_total",
			Help: "Retries of asynchronous invocations, by function.",
		}, []string{"function"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gureum_http_requests_total",
			Help: "HTTP requests served, by matched route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gureum_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by matched route pattern and method.",
			Buckets: DurationBuckets,
		}, []string{"route", "method"}),
		recordsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gureum_records_dropped_total",
			Help: "Invocation records dropped because the record buffer was full or the store did not acknowledge them.",
		}),
	}
	m.reg.MustRegister(
		m.invocations, m.invDuration, m.coldStarts, m.initDuration,
		m.concurrent, m.throttles, m.asyncRetries,
		m.httpRequests, m.httpDuration, m.recordsDropped,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.registerSnapshot()
	return m
}

// Registry is the node's registry, for collectors other packages add.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text exposition format
// (or another format a scraper asks for by its Accept header). A series
// that cannot be gathered is left out rather than failing the scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// InvocationStarted counts an invocation of function as in flight until
// done is called. Call done exactly once.
func (m *Metrics) InvocationStarted(function string) (done func()) {
	fs := m.fn(function)
	fs.concurrent.Inc()
	return fs.done
}

// Invocation records a finished invocation: its outcome, its run duration
// dur and, when cold, a cold start that took initDur to initialise. An
// outcome of OutcomeThrottled is recorded as Throttled is.
func (m *Metrics) Invocation(function, trigger, outcome string, cold bool, initDur, dur time.Duration) {
	is := m.inv(function, trigger)
	i := outcomeIndex(outcome)
	switch {
	case i < 0:
		m.unknownOutcome(function, trigger, outcome)
	case outcomes[i] == OutcomeThrottled:
		is.outcomes[i].Inc()
		is.fn.throttles.Inc()
		return
	default:
		is.outcomes[i].Inc()
	}
	if cold {
		is.fn.coldStarts.Inc()
		is.fn.initDuration.Observe(initDur.Seconds())
	}
	is.fn.duration.Observe(dur.Seconds())
}

// Throttled records an invocation of function by trigger refused at the
// function's concurrency limit.
func (m *Metrics) Throttled(function, trigger string) {
	is := m.inv(function, trigger)
	is.outcomes[outcomeIndex(OutcomeThrottled)].Inc()
	is.fn.throttles.Inc()
}

// AsyncRetry records one retry of an asynchronous invocation of function.
func (m *Metrics) AsyncRetry(function string) {
	m.fn(function).asyncRetries.Inc()
}

// HTTPRequest records one HTTP request. route is the pattern that matched
// ("GET /orders/{id}"), RouteUnmatched or RouteReserved, never the request's
// path; an empty route counts as RouteUnmatched. Methods other than the
// standard ones and codes outside 100–599 are labelled LabelOther.
func (m *Metrics) HTTPRequest(route, method string, code int, dur time.Duration) {
	if route == "" {
		route = RouteUnmatched
	}
	k := httpKey{route: route, method: normMethod(method), code: code}
	if code < 100 || code > 599 {
		k.code = 0
	}
	hs, ok := m.http.get(k)
	if !ok {
		hs = m.newHTTP(k)
	}
	hs.requests.Inc()
	hs.duration.Observe(dur.Seconds())
}

// RecordsDropped adds n to the invocation records dropped.
func (m *Metrics) RecordsDropped(n int) {
	if n > 0 {
		m.recordsDropped.Add(float64(n))
	}
}

// Forget drops every series of function, for a function that was removed.
// An invocation still in flight then updates series no longer exported.
func (m *Metrics) Forget(function string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lv := labelValue(function)
	// Names that share a label value share series; drop all of them.
	m.fns.deleteLocked(func(k string) bool { return labelValue(k) == lv })
	m.invs.deleteLocked(func(k invKey) bool { return labelValue(k.function) == lv })
	l := prometheus.Labels{"function": lv}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.invocations, m.invDuration, m.coldStarts, m.initDuration,
		m.concurrent, m.throttles, m.asyncRetries,
	} {
		v.DeletePartialMatch(l)
	}
}

// fn is function's series, created on first use.
func (m *Metrics) fn(function string) *fnSeries {
	if fs, ok := m.fns.get(function); ok {
		return fs
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fnLocked(function)
}

func (m *Metrics) fnLocked(function string) *fnSeries {
	if fs, ok := m.fns.get(function); ok {
		return fs
	}
	lv := labelValue(function)
	fs := &fnSeries{
		duration:     m.invDuration.WithLabelValues(lv),
		coldStarts:   m.coldStarts.WithLabelValues(lv),
		initDuration: m.initDuration.WithLabelValues(lv),
		concurrent:   m.concurrent.WithLabelValues(lv),
		throttles:    m.throttles.WithLabelValues(lv),
		asyncRetries: m.asyncRetries.WithLabelValues(lv),
	}
	fs.done = fs.concurrent.Dec
	m.fns.putLocked(function, fs)
	return fs
}

// inv is the series of function invoked by trigger, created on first use
// with a zero counter for every outcome.
func (m *Metrics) inv(function, trigger string) *invSeries {
	k := invKey{function, trigger}
	if is, ok := m.invs.get(k); ok {
		return is
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if is, ok := m.invs.get(k); ok {
		return is
	}
	is := &invSeries{fn: m.fnLocked(function)}
	fl, tl := labelValue(function), labelValue(trigger)
	for i, o := range outcomes {
		is.outcomes[i] = m.invocations.WithLabelValues(fl, tl, o)
	}
	m.invs.putLocked(k, is)
	return is
}

// unknownOutcome counts an outcome outside the known set, uncached.
func (m *Metrics) unknownOutcome(function, trigger, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invocations.WithLabelValues(labelValue(function), labelValue(trigger), labelValue(outcome)).Inc()
}

func (m *Metrics) newHTTP(k httpKey) *httpSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	if hs, ok := m.http.get(k); ok {
		return hs
	}
	code := LabelOther
	if k.code != 0 {
		code = strconv.Itoa(k.code)
	}
	route := labelValue(k.route)
	hs := &httpSeries{
		requests: m.httpRequests.WithLabelValues(route, k.method, code),
		duration: m.httpDuration.WithLabelValues(route, k.method),
	}
	m.http.putLocked(k, hs)
	return hs
}

// normMethod maps method to a constant label value, so that a client
// cannot create series by inventing methods.
func normMethod(method string) string {
	switch method {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodTrace:
		return http.MethodTrace
	}
	return LabelOther
}

// labelValue makes s a valid label value (valid UTF-8), which the
// vectors require or panic.
func labelValue(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
