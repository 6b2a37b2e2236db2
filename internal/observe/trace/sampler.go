package trace

import (
	"fmt"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// reservoirSampler decides for new traces (those without a parent): the
// first perSecond of every second are recorded, then a ratio of the rest,
// by trace id.
type reservoirSampler struct {
	perSecond int64
	ratio     sdktrace.Sampler
	second    atomic.Int64 // the Unix second the count is for
	count     atomic.Int64
	now       func() time.Time
}

func newReservoirSampler(perSecond int, ratio float64) sdktrace.Sampler {
	if perSecond <= 0 {
		return sdktrace.TraceIDRatioBased(ratio)
	}
	return &reservoirSampler{perSecond: int64(perSecond), ratio: sdktrace.TraceIDRatioBased(ratio), now: time.Now}
}

func (s *reservoirSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	sec := s.now().Unix()
	if old := s.second.Load(); old != sec && s.second.CompareAndSwap(old, sec) {
		s.count.Store(0)
	}
	if s.count.Add(1) <= s.perSecond {
		return sdktrace.AlwaysSample().ShouldSample(p)
	}
	return s.ratio.ShouldSample(p)
}

func (s *reservoirSampler) Description() string {
	return fmt.Sprintf("Reservoir{%d/s, then %s}", s.perSecond, s.ratio.Description())
}
