package wasm

import (
	"context"
	"encoding/json"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/engine"
)

// BenchmarkColdStart measures NewInstance of a Go reactor from a prepared
// module: instantiation, package initializers and main.
func BenchmarkColdStart(b *testing.B) {
	fn := prepare(b, newEngine(b, Config{}), "hello", artifacts.hello, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		inst, err := fn.NewInstance(ctx, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		_ = inst.Close(ctx)
	}
}

// BenchmarkSnapshotColdStart compares cold starts with and without a
// snapshot, for a light function (hello) and one whose initialization
// builds a 20,000-entry map (snap). It reports the median and the 99th
// percentile, and the Go heap each idle instance holds (its linear memory
// and wazero's state).
func BenchmarkSnapshotColdStart(b *testing.B) {
	for _, m := range []struct {
		name string
		a    artifact
	}{{"light", artifacts.hello}, {"heavy", artifacts.snap}} {
		for _, snap := range []bool{false, true} {
			name := m.name + "/plain"
			if snap {
				name = m.name + "/snapshot"
			}
			b.Run(name, func(b *testing.B) {
				e := newEngine(b, Config{CacheDir: b.TempDir()})
				fn := prepare(b, e, m.name, m.a, func(s *engine.Spec) { s.Snapshot = snap })
				ctx := context.Background()
				// The first cold start takes the snapshot.
				first, _ := start(b, fn)
				_ = first.Close(ctx)
				var times []time.Duration
				for b.Loop() {
					t0 := time.Now()
					inst, err := fn.NewInstance(ctx, io.Discard)
					if err != nil {
						b.Fatal(err)
					}
					times = append(times, time.Since(t0))
					_ = inst.Close(ctx)
				}
				slices.Sort(times)
				b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
				b.ReportMetric(idleHeap(b, fn)/(1<<20), "MiB/idle-instance")
			})
		}
	}
}

// idleHeap is the Go heap held per idle instance of fn, over 20 instances.
func idleHeap(b *testing.B, fn engine.Function) float64 {
	const n = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	insts := make([]engine.Instance, n)
	for i := range insts {
		inst, err := fn.NewInstance(context.Background(), io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		insts[i] = inst
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for _, inst := range insts {
		_ = inst.Close(context.Background())
	}
	return float64(after.HeapInuse-before.HeapInuse) / n
}

// BenchmarkWarmInvoke measures one call into a warm reactor: a handler that
// decodes a small event and returns nothing, and one that decodes an API
// Gateway request and encodes a response.
func BenchmarkWarmInvoke(b *testing.B) {
	apigw, _ := json.Marshal(events.APIGatewayV2HTTPRequest{
		RouteKey: "GET /orders/{id}", RawPath: "/orders/7",
		Headers:        map[string]string{"accept": "application/json", "user-agent": "bench"},
		PathParameters: map[string]string{"id": "7"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/orders/7"}},
	})
	for _, bc := range []struct {
		name    string
		module  artifact
		payload []byte
	}{
		{"noop", artifacts.behave, []byte(`{"action":"noop"}`)},
		{"apigateway", artifacts.hello, apigw},
	} {
		b.Run(bc.name, func(b *testing.B) {
			fn := prepare(b, newEngine(b, Config{}), bc.name, bc.module, nil)
			inst, _ := start(b, fn)
			req := &engine.Request{
				ID:          "8f5e1c2a-1d7b-4c1e-9a53-2b9f4c6d7e80",
				Payload:     bc.payload,
				Deadline:    time.Now().Add(time.Hour),
				FunctionARN: "arn:aws:lambda:local:000000000000:function:bench",
				Log:         io.Discard,
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := inst.Invoke(ctx, req)
				if err != nil || resp.FunctionError {
					b.Fatal(err, string(resp.Payload))
				}
			}
		})
	}
}
