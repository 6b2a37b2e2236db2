package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/observe/cost"
	"github.com/gureum/gureum/internal/observe/metrics"
	"github.com/gureum/gureum/internal/observe/records"
	obtrace "github.com/gureum/gureum/internal/observe/trace"
	"github.com/gureum/gureum/internal/pool"
	"github.com/gureum/gureum/internal/registry"
)

// observer gathers what the node learns about invocations and requests:
// records in JetStream, Prometheus metrics and OpenTelemetry spans. It is
// nil when the node runs with observability off.
type observer struct {
	s       *Server
	metrics *metrics.Metrics
	records *records.Store
	tracer  *obtrace.Tracer
	otel    oteltrace.Tracer
}

// startObserve opens the record store and the tracer.
func (s *Server) startObserve(ctx context.Context) error {
	s.metrics = metrics.New()
	if !s.cfg.Observe {
		return nil
	}
	o := &observer{s: s, metrics: s.metrics}
	var err error
	if o.records, err = records.Open(ctx, s.bus.Conn(), s.bus.JetStream(), records.Config{Replicas: s.bus.Replicas(), Retention: s.cfg.RecordRetention, NoIndex: true}); err != nil {
		return fmt.Errorf("open invocation records: %w", err)
	}
	host, _ := os.Hostname()
	if o.tracer, err = obtrace.New(ctx, obtrace.Config{
		JetStream: s.bus.JetStream(), Replicas: s.bus.Replicas(), Retention: s.cfg.TraceRetention,
		OTLPEndpoint: s.cfg.OTLPEndpoint, ServiceName: "gureum", NodeName: host,
		// X-Ray's default rule: the first trace of every second, then a
		// share of the rest; a request that brings a sampled traceparent
		// is always traced.
		SampleRatio: s.cfg.TraceSampleRatio, SampleReservoir: 1,
	}); err != nil {
		_ = o.records.Shutdown(ctx)
		return fmt.Errorf("start tracing: %w", err)
	}
	o.otel = o.tracer.Tracer()
	s.obs = o
	return nil
}

// stopObserve flushes records and spans.
func (s *Server) stopObserve(ctx context.Context) []error {
	o := s.obs
	if o == nil {
		return nil
	}
	var errs []error
	if err := o.tracer.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("traces: %w", err))
	}
	if err := o.records.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("invocation records: %w", err))
	}
	return errs
}

// Begin watches one invocation (invoke.Observer).
func (o *observer) Begin(ctx context.Context, function, version, parent string) (string, func(*records.Record)) {
	done := o.metrics.InvocationStarted(function)
	ctx = obtrace.ContextWithTraceParent(ctx, parent)
	ctx, span := o.otel.Start(ctx, "invoke "+function, oteltrace.WithSpanKind(oteltrace.SpanKindServer))
	return obtrace.TraceParent(ctx), func(r *records.Record) {
		done()
		if span.IsRecording() { // most traces are not sampled: skip the attributes
			span.SetAttributes(
				attribute.String("faas.version", r.Version),
				attribute.String("faas.invocation_id", r.RequestID),
				attribute.String("faas.trigger", r.Trigger),
				attribute.Bool("faas.coldstart", r.Cold),
				attribute.String("gureum.outcome", r.Outcome),
			)
			if r.Outcome != records.OutcomeSuccess && r.Outcome != "" {
				span.SetStatus(codes.Error, r.Outcome+": "+r.ErrorType)
			}
			span.End()
		}
		o.metrics.Invocation(function, r.Trigger, r.Outcome, r.Cold, r.InitDuration, r.Duration)
		o.records.Append(*r)
	}
}

// Request watches one routed HTTP request (gateway.Observer).
func (o *observer) Request(ctx context.Context, route, method, parent string) (string, func(int)) {
	start := time.Now()
	ctx = obtrace.ContextWithTraceParent(ctx, parent)
	ctx, span := o.otel.Start(ctx, route, oteltrace.WithSpanKind(oteltrace.SpanKindServer))
	return obtrace.TraceParent(ctx), func(status int) {
		if span.IsRecording() {
			span.SetAttributes(attribute.String("http.request.method", method), attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, strconv.Itoa(status))
			}
			span.End()
		}
		o.metrics.HTTPRequest(route, method, status, time.Since(start))
	}
}

// hostSpan traces one host call (publish, send) and returns the trace
// context the message carries.
func (s *Server) hostSpan(ctx context.Context, parent, name string) (string, func(error)) {
	if s.obs == nil {
		return parent, func(error) {}
	}
	ctx = obtrace.ContextWithTraceParent(ctx, parent)
	ctx, span := s.obs.otel.Start(ctx, name, oteltrace.WithSpanKind(oteltrace.SpanKindProducer))
	return obtrace.TraceParent(ctx), func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// metricsSource feeds the scrape-time metrics.
type metricsSource struct{ s *Server }

func (m metricsSource) Instances() []metrics.InstanceStat {
	latest := m.s.lastLatest.Load()
	if latest == nil {
		return nil
	}
	out := make([]metrics.InstanceStat, 0, len(*latest))
	for _, v := range *latest {
		st, ok := m.s.pools.StatsOf(pool.Key{Function: v.Config.Name, Version: v.VersionString()})
		if !ok {
			st = pool.Stats{}
		}
		out = append(out, metrics.InstanceStat{Function: v.Config.Name, Idle: st.Idle, Busy: st.Busy, Provisioned: v.Config.Provisioned})
	}
	return out
}

func (m metricsSource) Queues(ctx context.Context) []metrics.QueueStat {
	qs, err := m.s.Queues(ctx)
	if err != nil {
		return nil
	}
	out := make([]metrics.QueueStat, len(qs))
	for i, q := range qs {
		out[i] = metrics.QueueStat{
			Name: q.Name, Visible: q.Visible, InFlight: q.InFlight, Delayed: q.Delayed,
			OldestAge: time.Duration(q.OldestAge * float64(time.Second)), DeadLetter: len(q.DeadLetterFor) > 0,
		}
	}
	return out
}

func (m metricsSource) AsyncPending(ctx context.Context) map[string]int {
	latest := m.s.lastLatest.Load()
	if latest == nil || m.s.events == nil {
		return nil
	}
	out := make(map[string]int, len(*latest))
	for _, v := range *latest {
		if n, err := m.s.events.async.Pending(ctx, v.Config.Name); err == nil {
			out[v.Config.Name] = n
		}
	}
	return out
}

// The admin API's observability endpoints (admin.ObserveService).

var errObserveOff = fmt.Errorf("%w: invocation records, traces and cost are off on this node (it was started with observability disabled)", admin.ErrInvalid)

func toAdminRecord(r *records.Record) admin.InvocationRecord {
	return admin.InvocationRecord{
		RequestID: r.RequestID, Function: r.Function, Version: r.Version, Trigger: r.Trigger,
		Source: r.Source, TraceID: r.TraceID, Start: r.Start, Cold: r.Cold,
		InitDurationMs: float64(r.InitDuration) / 1e6, DurationMs: float64(r.Duration) / 1e6,
		MemoryMiB: r.MemoryMiB, Outcome: r.Outcome, ErrorType: r.ErrorType,
		BilledMs: r.BilledMs, GBSeconds: r.GBSeconds, Node: r.Node,
	}
}

// Invocations lists a function's invocation records.
func (s *Server) Invocations(ctx context.Context, function string, q admin.RecordQuery) ([]admin.InvocationRecord, error) {
	if s.obs == nil {
		return nil, errObserveOff
	}
	recs, err := s.obs.records.Query(ctx, records.Query{Function: function, Since: q.Since, ErrorsOnly: q.ErrorsOnly, Trigger: q.Trigger, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]admin.InvocationRecord, len(recs))
	for i := range recs {
		out[i] = toAdminRecord(&recs[i])
	}
	return out, nil
}

// Invocation shows one invocation's record and log.
func (s *Server) Invocation(ctx context.Context, requestID string) (*admin.InvocationDetail, error) {
	if s.obs == nil {
		return nil, errObserveOff
	}
	r, err := s.obs.records.Get(ctx, requestID)
	if errors.Is(err, records.ErrNotFound) {
		return nil, fmt.Errorf("invocation %s: %w", requestID, registry.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	logs, err := s.logs.Read(ctx, r.Function, observe.Query{RequestID: requestID, Since: r.Start.Add(-time.Minute - r.InitDuration)})
	if err != nil {
		return nil, err
	}
	if logs == nil {
		logs = []observe.Entry{}
	}
	return &admin.InvocationDetail{InvocationRecord: toAdminRecord(r), Log: logs}, nil
}

// Trace returns the spans of a trace.
func (s *Server) Trace(ctx context.Context, traceID string) ([]admin.TraceSpan, error) {
	if s.obs == nil {
		return nil, errObserveOff
	}
	_ = s.obs.tracer.Flush(ctx)
	spans, err := s.obs.tracer.Trace(ctx, traceID)
	if errors.Is(err, obtrace.ErrNotFound) {
		return nil, fmt.Errorf("trace %s: %w", traceID, registry.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	out := make([]admin.TraceSpan, len(spans))
	for i, sp := range spans {
		out[i] = admin.TraceSpan{
			TraceID: sp.TraceID, SpanID: sp.SpanID, ParentID: sp.ParentID, Name: sp.Name, Kind: sp.Kind,
			Start: sp.Start, DurationMs: float64(sp.Duration) / 1e6, Status: sp.Status, StatusMessage: sp.StatusMessage,
			Attributes: sp.Attributes, Node: sp.Node,
		}
	}
	return out, nil
}

// Cost reports requests, GB-seconds and cost since a time.
func (s *Server) Cost(ctx context.Context, since time.Time, by string) (*admin.CostReport, error) {
	if s.obs == nil {
		return nil, errObserveOff
	}
	until := time.Now()
	recs, err := s.obs.records.Query(ctx, records.Query{Since: since, Until: until, Limit: costRecordLimit})
	if err != nil {
		return nil, err
	}
	rep, err := cost.Build(recs, by, since, until, cost.Prices{PerRequest: s.cfg.PricePerRequest, PerGBSecond: s.cfg.PricePerGBSecond, Currency: "USD"})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	line := func(l cost.Line) admin.CostLine {
		return admin.CostLine{
			Key: l.Key, Requests: l.Requests, Errors: l.Errors, GBSeconds: l.GBSeconds,
			RequestCost: l.RequestCost, ComputeCost: l.ComputeCost, Cost: l.Cost,
			PeakConcurrency: l.PeakConcurrency, AlwaysOnGBSeconds: l.AlwaysOnGBSeconds, AlwaysOnCost: l.AlwaysOnCost,
		}
	}
	out := &admin.CostReport{
		Since: rep.Since, Until: rep.Until, By: rep.By, Currency: rep.Prices.Currency,
		PerRequest: rep.Prices.PerRequest, PerGBSecond: rep.Prices.PerGBSecond, Total: line(rep.Total),
		Lines: make([]admin.CostLine, len(rep.Lines)),
	}
	for i, l := range rep.Lines {
		out.Lines[i] = line(l)
	}
	return out, nil
}

// costRecordLimit bounds the records one cost report reads.
const costRecordLimit = 1_000_000

// metricsHandler serves /metrics, or 404 when observability is off.
func (s *Server) metricsHandler() http.Handler {
	return s.metrics.Handler()
}
