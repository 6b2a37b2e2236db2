// Package trace gives a gureum node its OpenTelemetry traces: a tracer
// provider of the node's own (nothing process-wide is set, so two nodes run
// side by side in one process), a local span store on JetStream that makes
// `gureum trace ID` work with no collector, optional export over OTLP/HTTP,
// and the W3C traceparent helpers that carry a trace through events.
//
// # What gureum traces
//
// Each invocation is a span, started by whatever brought it in: the gateway
// (a server span per HTTP request), the Lambda Invoke API, a queue or topic
// delivery, a schedule tick, the async worker or a workflow task. Under it
// sit the pool's cold start, the run of the function and the function's host
// calls (publish, send, kv, blob, http). Events carry the traceparent of the
// span that produced them (ContextWithTraceParent on the way in, TraceParent
// on the way out), so a request that publishes to a topic, which fans out to
// a queue, which triggers a function, is one trace across nodes.
//
// # Local store
//
// Every sampled span that ends is handed to a writer goroutine through a
// bounded buffer (Config.BufferSize spans); ending a span never waits for
// JetStream, and a span ended while the buffer is full is dropped and
// counted (Stats.Dropped). The writer publishes every FlushInterval, or
// sooner when a batch is large, one message of JSON lines per trace to the
// subject gureum.span.<trace id> of the stream GUREUM_SPANS, kept for
// Config.Retention (24h by default, optionally capped by Config.MaxBytes).
// Nodes sharing a NATS cluster share the stream, so Tracer.Trace returns a
// trace's spans from every node, each marked with the node that recorded it,
// and WriteTree prints them as a tree with timings.
//
// # OTLP export
//
// With Config.OTLPEndpoint set to a collector's base URL (for example
// http://127.0.0.1:4318, the OTLP/HTTP port of the OpenTelemetry Collector,
// Jaeger or Tempo), spans are also exported in protobuf over HTTP to its
// /v1/traces, through a batch span processor that drops rather than blocks
// when the collector falls behind. The service.name resource attribute is
// Config.ServiceName ("gureum" by default) and service.instance.id the node
// name. Export failures are counted in Stats rather than logged. The
// OpenTelemetry SDK still honours the standard OTEL_EXPORTER_OTLP_* and
// OTEL_RESOURCE_ATTRIBUTES variables of the process for what Config does not
// set, such as collector headers; Config wins where both say something.
//
// # Sampling
//
// Config.SampleRatio of new traces are recorded (all by default); a span
// whose parent came with a traceparent follows the parent's sampled flag,
// so a trace is recorded whole or not at all.
package trace
