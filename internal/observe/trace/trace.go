package trace

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Errors; match with errors.Is.
var (
	// ErrInvalidConfig reports a Config New cannot use.
	ErrInvalidConfig = errors.New("invalid trace config")
	// ErrNotFound reports a trace with no stored span.
	ErrNotFound = errors.New("trace not found")
	// ErrInvalidTraceID reports a trace id that is not 32 hex digits, or all zeros.
	ErrInvalidTraceID = errors.New("invalid trace id")
)

// Defaults of Config.
const (
	DefaultRetention   = 24 * time.Hour
	DefaultServiceName = "gureum"
	DefaultBufferSize  = 8192
)

// instrumentationName names the tracer gureum's own spans come from.
const instrumentationName = "github.com/gureum/gureum"

// Config configures a node's tracing. It is plain data; the zero value of
// each field but JetStream selects its default.
type Config struct {
	// JetStream holds the local span store (stream GUREUM_SPANS). Required.
	JetStream jetstream.JetStream
	// Replicas of the span stream; 0 means 1.
	Replicas int
	// Retention is how long stored spans are kept; 0 means 24h.
	Retention time.Duration
	// MaxBytes caps the span stream, the oldest spans going first; 0 means
	// no cap other than Retention.
	MaxBytes int64
	// BufferSize is how many ended spans may wait for the store writer;
	// spans ended while it is full are dropped and counted (Stats.Dropped).
	// 0 means DefaultBufferSize.
	BufferSize int
	// OTLPEndpoint is the base URL of an OTLP/HTTP collector, such as
	// http://127.0.0.1:4318; spans are posted to its /v1/traces (or to the
	// URL as given when its path already ends in /v1/traces). Empty means
	// no export.
	OTLPEndpoint string
	// ServiceName is the service.name resource attribute; "" means "gureum".
	ServiceName string
	// NodeName names this node in stored spans and in the
	// service.instance.id resource attribute.
	NodeName string
	// SampleRatio is the fraction of new traces recorded, in [0, 1]; 0
	// means 1 (all). A span with a parent follows its parent's decision.
	SampleRatio float64
	// SampleReservoir, when positive, also records the first this many new
	// traces of every second whatever SampleRatio says, as X-Ray's default
	// rule does (one a second, then 5%), so a quiet node traces everything
	// and a busy one a sample.
	SampleReservoir int
}

func (c Config) withDefaults() Config {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.BufferSize == 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceName
	}
	if c.SampleRatio == 0 {
		c.SampleRatio = 1
	}
	return c
}

// validate checks a Config with its defaults applied.
func (c Config) validate() error {
	switch {
	case c.JetStream == nil:
		return fmt.Errorf("jetstream is required: %w", ErrInvalidConfig)
	case c.Replicas < 0:
		return fmt.Errorf("replicas %d: %w", c.Replicas, ErrInvalidConfig)
	case c.Retention < 0:
		return fmt.Errorf("retention %s: %w", c.Retention, ErrInvalidConfig)
	case c.MaxBytes < 0:
		return fmt.Errorf("max bytes %d: %w", c.MaxBytes, ErrInvalidConfig)
	case c.BufferSize < 0:
		return fmt.Errorf("buffer size %d: %w", c.BufferSize, ErrInvalidConfig)
	case c.SampleReservoir < 0:
		return fmt.Errorf("sample reservoir %d is negative: %w", c.SampleReservoir, ErrInvalidConfig)
	case !(c.SampleRatio > 0 && c.SampleRatio <= 1): // also rejects NaN
		return fmt.Errorf("sample ratio %v is not in [0, 1]: %w", c.SampleRatio, ErrInvalidConfig)
	}
	if c.OTLPEndpoint != "" {
		if _, err := otlpTracesURL(c.OTLPEndpoint); err != nil {
			return err
		}
	}
	return nil
}

// otlpTracesURL turns a collector's base URL into its traces URL.
func otlpTracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("otlp endpoint %q: %v: %w", endpoint, err, ErrInvalidConfig)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("otlp endpoint %q: want http://host:port or https://host:port: %w", endpoint, ErrInvalidConfig)
	}
	if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/v1/traces") {
		u.Path = path.Join("/", u.Path, "v1/traces")
	}
	return u.String(), nil
}

// Tracer is a node's tracing: an OpenTelemetry tracer provider of its own
// (nothing global is set), the local span store and, when configured, the
// OTLP exporter. Create it with New and stop it with Shutdown.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   oteltrace.Tracer
	store    *store
	otlp     *countingExporter // nil without OTLPEndpoint

	shutdownOnce sync.Once
	shutdownErr  error
}

// New creates (or updates) the span stream and starts the store writer.
// On error nothing is left running.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new tracer: %w", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("new tracer: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if cfg.NodeName != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.NodeName))
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sdktrace.ParentBased(newReservoirSampler(cfg.SampleReservoir, cfg.SampleRatio))),
		sdktrace.WithSpanProcessor(st),
		sdktrace.WithIDGenerator(idGenerator{}),
	}
	t := &Tracer{store: st}
	if cfg.OTLPEndpoint != "" {
		u, _ := otlpTracesURL(cfg.OTLPEndpoint) // validated above
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u))
		if err != nil {
			_ = st.Shutdown(context.Background())
			return nil, fmt.Errorf("new tracer: otlp exporter: %w", err)
		}
		t.otlp = &countingExporter{SpanExporter: exp}
		opts = append(opts, sdktrace.WithBatcher(t.otlp))
	}
	t.provider = sdktrace.NewTracerProvider(opts...)
	t.tracer = t.provider.Tracer(instrumentationName)
	return t, nil
}

// Tracer returns the tracer gureum's own spans are started from.
func (t *Tracer) Tracer() oteltrace.Tracer { return t.tracer }

// Provider returns the node's tracer provider, for instrumentation that
// takes one.
func (t *Tracer) Provider() oteltrace.TracerProvider { return t.provider }

// Flush publishes the spans waiting for the local store and waits for
// JetStream to acknowledge them. It does not wait for the OTLP exporter.
func (t *Tracer) Flush(ctx context.Context) error {
	if err := t.store.flush(ctx); err != nil {
		return fmt.Errorf("flush spans: %w", err)
	}
	return nil
}

// Shutdown ends the tracer: spans still waiting are stored and exported
// within ctx, then the writer and the exporter stop. Spans ended afterwards
// are dropped. Idempotent; later calls return the first call's result.
func (t *Tracer) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		if err := t.provider.Shutdown(ctx); err != nil {
			t.shutdownErr = fmt.Errorf("shut down tracer: %w", err)
		}
	})
	return t.shutdownErr
}

// Stats counts what became of ended spans since New.
type Stats struct {
	Stored       uint64 // spans acknowledged by the local store
	Dropped      uint64 // spans dropped because the store's buffer was full
	StoreFailed  uint64 // spans the local store failed to publish
	Exported     uint64 // spans accepted by the OTLP collector
	ExportFailed uint64 // spans the OTLP exporter failed to send
	// LastStoreError and LastExportError are the most recent failures, or nil.
	LastStoreError, LastExportError error
}

// Stats returns the counters of the local store and the exporter.
func (t *Tracer) Stats() Stats {
	s := Stats{
		Stored:      t.store.stored.Load(),
		Dropped:     t.store.dropped.Load(),
		StoreFailed: t.store.failed.Load(),
	}
	if p := t.store.lastErr.Load(); p != nil {
		s.LastStoreError = *p
	}
	if t.otlp != nil {
		s.Exported = t.otlp.exported.Load()
		s.ExportFailed = t.otlp.failed.Load()
		if p := t.otlp.lastErr.Load(); p != nil {
			s.LastExportError = *p
		}
	}
	return s
}

// countingExporter counts the OTLP exporter's outcomes and keeps its errors
// for Stats instead of handing them to OpenTelemetry's process-wide error
// handler: a collector that is down must not write to the node's stderr
// from inside a library.
type countingExporter struct {
	sdktrace.SpanExporter
	exported, failed atomic.Uint64
	lastErr          atomic.Pointer[error]
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.failed.Add(uint64(len(spans)))
		err = fmt.Errorf("export %d spans: %w", len(spans), err)
		e.lastErr.Store(&err)
		return nil
	}
	e.exported.Add(uint64(len(spans)))
	return nil
}

var (
	_ sdktrace.SpanExporter  = (*countingExporter)(nil)
	_ sdktrace.SpanProcessor = (*store)(nil)
)
