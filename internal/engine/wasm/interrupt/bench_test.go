package interrupt

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"
)

// The three ways to run a guest that the benchmarks compare.
var variants = []struct {
	name        string
	closeOnDone bool // wazero's WithCloseOnContextDone
	instrument  bool // the module rewritten by Instrument, the flag armed per call
}{
	{"a=closeOnDone", true, false},
	{"b=instrumented", false, true},
	{"c=unchecked", false, false}, // cannot be stopped: the lower bound
}

func moduleFor(instrumented bool) []byte {
	if instrumented {
		return modules.reactorInstr
	}
	return modules.reactor
}

// A warm reactor call: the handler decodes a small JSON event and returns
// it, through the SDK, as the engine calls it (a deadline context per
// call; for b, the flag armed on that context).
func BenchmarkWarmCall(b *testing.B) {
	const payload = `{"action":"echo","name":"bench","tags":{"k":"v"},"values":[1,2,3]}`
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			rt := newRuntime(b, v.closeOnDone)
			r := startReactor(b, rt, compile(b, rt, moduleFor(v.instrument)), v.instrument)
			for b.Loop() {
				status, _, err := r.invoke(time.Minute, payload)
				if err != nil || status != 0 {
					b.Fatalf("status %d, %v", status, err)
				}
			}
		})
	}
}

// loopN is the number of iterations of the tight-loop benchmark.
const loopN = 100_000_000

// A guest summing loopN integers: one back-edge per iteration, so the cost
// per back-edge shows as ns/iter.
func BenchmarkTightLoop(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			rt := newRuntime(b, v.closeOnDone)
			r := startReactor(b, rt, compile(b, rt, moduleFor(v.instrument)), v.instrument)
			benchSum(b, r)
		})
	}
}

func benchSum(b *testing.B, r *reactor) {
	payload := fmt.Sprintf(`{"action":"sum","n":%d}`, loopN)
	want := fmt.Sprintf(`{"sum":%d}`, loopN*(loopN-1)/2)
	for b.Loop() {
		status, resp, err := r.invoke(time.Minute, payload)
		if err != nil || status != 0 || string(resp) != want {
			b.Fatalf("status %d, %s, %v", status, resp, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/loopN, "ns/iter")
}

// budgets are the values the budget benchmarks try.
var budgets = []int32{256, 1024, 4096, 16384, 65536, 1 << 20}

// The tight loop and the warm call with other budgets: what the exits
// cost.
func BenchmarkBudget(b *testing.B) {
	for _, n := range budgets {
		bin, err := instrument(modules.reactor, n)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("budget=%d", n), func(b *testing.B) {
			rt := newRuntime(b, false)
			r := startReactor(b, rt, compile(b, rt, bin), true)
			benchSum(b, r)
		})
	}
}

// How long the garbage collector waits to stop the world while a guest
// spins in `for {}` (and, separately, in a loop calling a small function):
// the slowest stop, which bounds the pause every goroutine of the process
// sees. ns/op is one runtime.GC.
func BenchmarkGCStopWithSpinningGuest(b *testing.B) {
	type variant struct {
		name        string
		closeOnDone bool
		bin         []byte
	}
	vs := []variant{{"closeOnDone", true, modules.reactor}}
	for _, n := range budgets {
		bin, err := instrument(modules.reactor, n)
		if err != nil {
			b.Fatal(err)
		}
		vs = append(vs, variant{fmt.Sprintf("budget=%d", n), false, bin})
	}
	for _, action := range []string{"loop", "calls"} {
		for _, v := range vs {
			b.Run(action+"/"+v.name, func(b *testing.B) {
				rt := newRuntime(b, v.closeOnDone)
				r := startReactor(b, rt, compile(b, rt, v.bin), !v.closeOnDone)
				ctxDone := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					// Spins until the deadline below is cut short by closing
					// the module or setting the flag.
					_, _, err := r.invokeUntil(ctxDone, `{"action":"`+action+`"}`)
					if err == nil || !strings.Contains(err.Error(), "unreachable") && !strings.Contains(err.Error(), "closed") {
						b.Errorf("spinning guest: %v", err)
					}
				})
				time.Sleep(20 * time.Millisecond)
				before := stopCounts()
				for b.Loop() {
					runtime.GC()
				}
				after := stopCounts()
				close(ctxDone)
				wg.Wait()
				b.ReportMetric(stopQuantile(before, after, 0.5)*1e6, "p50-stop-µs")
				b.ReportMetric(stopQuantile(before, after, 0.99)*1e6, "p99-stop-µs")
				b.ReportMetric(stopQuantile(before, after, 1)*1e6, "max-stop-µs")
			})
		}
	}
}

const stopMetric = "/sched/pauses/stopping/gc:seconds"

// stopCounts reads the runtime's histogram of the time it took to stop
// the world for the garbage collector.
func stopCounts() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: stopMetric}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// stopQuantile returns the upper bound, in seconds, of the bucket that
// holds quantile q of the samples taken between two readings of
// stopCounts.
func stopQuantile(before, after *metrics.Float64Histogram, q float64) float64 {
	var total uint64
	for i := range after.Counts {
		total += after.Counts[i] - before.Counts[i]
	}
	if total == 0 {
		return 0
	}
	var seen uint64
	for i := range after.Counts {
		seen += after.Counts[i] - before.Counts[i]
		if float64(seen) >= q*float64(total) {
			return after.Buckets[i+1]
		}
	}
	return after.Buckets[len(after.Buckets)-1]
}
