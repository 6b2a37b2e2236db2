package trace

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// appendSpan writes what encoding/json writes for record's Span.
func TestAppendSpanMatchesRecord(t *testing.T) {
	tid, _ := oteltrace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := oteltrace.SpanIDFromHex("00f067aa0ba902b7")
	pid, _ := oteltrace.SpanIDFromHex("b7ad6b7169203331")
	start := time.Date(2026, 11, 24, 14, 0, 0, 123456789, time.UTC)
	for _, stub := range []tracetest.SpanStub{
		{
			Name:        "invoke \"api\"\n<é>",
			SpanContext: oteltrace.NewSpanContext(oteltrace.SpanContextConfig{TraceID: tid, SpanID: sid}),
			Parent:      oteltrace.NewSpanContext(oteltrace.SpanContextConfig{TraceID: tid, SpanID: pid, Remote: true}),
			SpanKind:    oteltrace.SpanKindServer,
			StartTime:   start, EndTime: start.Add(1500 * time.Microsecond),
			Status:     sdktrace.Status{Code: codes.Error, Description: "boom \x01"},
			Attributes: []attribute.KeyValue{attribute.String("a", "1"), attribute.Bool("cold", true), attribute.Int("n", 7), attribute.String("a", "2")},
		},
		{
			Name:        "plain",
			SpanContext: oteltrace.NewSpanContext(oteltrace.SpanContextConfig{TraceID: tid, SpanID: sid}),
			StartTime:   start, EndTime: start,
		},
	} {
		sp := stub.Snapshot()
		for _, node := range []string{"", "node-1"} {
			s := &store{node: node}
			got := s.appendSpan(nil, sp)
			want, err := json.Marshal(s.record(sp))
			if err != nil {
				t.Fatal(err)
			}
			var a, b Span
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatalf("appendSpan wrote invalid JSON %s: %v", got, err)
			}
			if err := json.Unmarshal(want, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("appendSpan:\n%s\nrecord:\n%s", got, want)
			}
		}
	}
}
