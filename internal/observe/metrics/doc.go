// Package metrics holds a node's Prometheus metrics: one registry per node
// (New), served at /metrics by Handler in the text exposition format.
//
// # Metrics
//
// Counted as things happen (the invoker, pool, gateway and event workers
// call the methods of Metrics):
//
//	gureum_invocations_total{function, trigger, outcome}   counter
//	    outcome: success | error | timeout | throttled | init_error
//	    trigger: what started the invocation (http, direct, lambda-api,
//	    async, queue, topic, schedule, bucket, replay, ...)
//	gureum_invocation_duration_seconds{function}           histogram
//	    run time, without initialisation; throttled invocations not observed
//	gureum_cold_starts_total{function}                     counter
//	gureum_init_duration_seconds{function}                 histogram
//	    initialisation time of each cold start
//	gureum_concurrent_executions{function}                 gauge
//	    invocations in flight now
//	gureum_throttles_total{function}                       counter
//	gureum_async_retries_total{function}                   counter
//	gureum_http_requests_total{route, method, code}        counter
//	gureum_http_request_duration_seconds{route, method}    histogram
//	    route: the matched route pattern ("GET /orders/{id}"), "unmatched"
//	    or "reserved" (gureum's own endpoints), never the request path;
//	    method: a standard HTTP method or "other"; code: the status code,
//	    or "other" outside 100-599
//	gureum_records_dropped_total                           counter
//	    invocation records lost (buffer full, store did not acknowledge)
//
// Read at scrape time from the node's Snapshot (SetSource), each call
// bounded by SnapshotTimeout:
//
//	gureum_instances{function, state}                      gauge
//	    state: idle | busy
//	gureum_provisioned_instances{function}                 gauge
//	gureum_queue_messages{queue, state}                    gauge
//	    state: visible | inflight | delayed
//	gureum_queue_oldest_message_age_seconds{queue}         gauge
//	gureum_dlq_messages{queue}                             gauge
//	    every message of a dead-letter queue (which also appears in
//	    gureum_queue_messages, as the ordinary queue it is)
//	gureum_async_pending_events{function}                  gauge
//
// Plus the Go runtime (go_*) and process (process_*) collectors.
//
// Histograms share DurationBuckets, 0.5 ms to 60 s. Metrics are per node;
// a cluster's totals are sums over its nodes' series.
//
// # Cardinality
//
// No label carries a request id, a message id or a request path. Function,
// queue and route labels are bounded by what is deployed, and Forget drops
// a removed function's series. HTTP methods and status codes are folded
// into fixed sets, so a client cannot mint series.
//
// # Cost
//
// Each Metrics keeps the label children it has handed out in copy-on-write
// maps keyed by function, function and trigger, and route, method and
// code: after the first call for a key, Invocation, Throttled,
// InvocationStarted, AsyncRetry and HTTPRequest take no lock and allocate
// nothing (see the benchmarks). Adding a key copies its map, which is
// cheap for the hundreds of functions and routes a node serves.
package metrics
