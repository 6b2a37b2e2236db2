package trace

import (
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

func TestReservoirSampler(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := newReservoirSampler(2, 0.0000001).(*reservoirSampler)
	s.now = func() time.Time { return now }
	sampled := func() int {
		n := 0
		for i := range 100 {
			var tid oteltrace.TraceID
			tid[15] = byte(i + 1)
			tid[8] = 0xff // a ratio this small keeps none of these ids
			if s.ShouldSample(sdktrace.SamplingParameters{TraceID: tid}).Decision == sdktrace.RecordAndSample {
				n++
			}
		}
		return n
	}
	if n := sampled(); n != 2 {
		t.Fatalf("first second: %d traces recorded, want the reservoir's 2", n)
	}
	if n := sampled(); n != 0 {
		t.Fatalf("same second again: %d recorded, want 0", n)
	}
	now = now.Add(time.Second)
	if n := sampled(); n != 2 {
		t.Fatalf("next second: %d recorded, want 2", n)
	}
	all := newReservoirSampler(1, 1)
	for range 10 {
		if all.ShouldSample(sdktrace.SamplingParameters{}).Decision != sdktrace.RecordAndSample {
			t.Fatal("ratio 1 must record every trace")
		}
	}
}
