package cost

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/observe/records"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// easy prices keep the hand arithmetic readable.
var easy = Prices{PerRequest: 0.5, PerGBSecond: 2, Currency: "EUR"}

const ms = time.Millisecond

// sample is worked by hand in the tests below. Window [t0, t0+10s).
//
//	api    r1 [0, 1.5s)    1024 MiB  success  1.5 GB-s    http
//	api    r2 [1s, 2s)     1024 MiB  error    1.0 GB-s    queue
//	api    r3 [2s, +1ns)   1024 MiB  success  0.001 GB-s  http  (1 ns bills 1 ms)
//	api    r4 at 1.2s      1024 MiB  throttled            http
//	worker w1 [3s, 5s)      512 MiB  success  1.0 GB-s    queue
//	worker w2 [5s, 6s)     2048 MiB  success  2.0 GB-s    schedule
//	outside: one at 10s (the window is open at its end), one 1 ns before it.
func sample() []records.Record {
	return []records.Record{
		{RequestID: "r1", Function: "api", Trigger: "http", Start: at(0), Duration: 1500 * ms, MemoryMiB: 1024, Outcome: "success"},
		{RequestID: "r2", Function: "api", Trigger: "queue", Start: at(time.Second), Duration: time.Second, MemoryMiB: 1024, Outcome: "error"},
		{RequestID: "r3", Function: "api", Trigger: "http", Start: at(2 * time.Second), Duration: 1, MemoryMiB: 1024, Outcome: "success"},
		{RequestID: "r4", Function: "api", Trigger: "http", Start: at(1200 * ms), MemoryMiB: 1024, Outcome: "throttled", BilledMs: 99, GBSeconds: 9},
		{RequestID: "w1", Function: "worker", Trigger: "queue", Start: at(3 * time.Second), Duration: 2 * time.Second, MemoryMiB: 512, Outcome: "success", BilledMs: 2000, GBSeconds: 1},
		{RequestID: "w2", Function: "worker", Trigger: "schedule", Start: at(5 * time.Second), Duration: time.Second, MemoryMiB: 2048, Outcome: "success"},
		{RequestID: "late", Function: "api", Trigger: "http", Start: at(10 * time.Second), Duration: time.Second, MemoryMiB: 1024, Outcome: "success"},
		{RequestID: "early", Function: "api", Trigger: "http", Start: at(-1), Duration: time.Second, MemoryMiB: 1024, Outcome: "success"},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func checkLine(t *testing.T, got, want Line) {
	t.Helper()
	if got.Key != want.Key || got.Requests != want.Requests || got.Errors != want.Errors || got.Throttled != want.Throttled ||
		got.PeakConcurrency != want.PeakConcurrency || !near(got.GBSeconds, want.GBSeconds) ||
		!near(got.RequestCost, want.RequestCost) || !near(got.ComputeCost, want.ComputeCost) || !near(got.Cost, want.Cost) ||
		!near(got.AlwaysOnGBSeconds, want.AlwaysOnGBSeconds) || !near(got.AlwaysOnCost, want.AlwaysOnCost) {
		t.Errorf("line %q:\n got %+v\nwant %+v", want.Key, got, want)
	}
}

func build(t *testing.T, recs []records.Record, by string, since, until time.Time, p Prices) *Report {
	t.Helper()
	r, err := Build(recs, by, since, until, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestByFunction(t *testing.T) {
	r := build(t, sample(), ByFunction, t0, at(10*time.Second), easy)
	if len(r.Lines) != 2 {
		t.Fatalf("%d lines, want 2: %+v", len(r.Lines), r.Lines)
	}
	// worker costs more, so it comes first.
	checkLine(t, r.Lines[0], Line{Key: "worker", Requests: 2, GBSeconds: 3,
		RequestCost: 1, ComputeCost: 6, Cost: 7,
		// w1 ends as w2 starts: never two at once. Largest memory 2 GiB.
		PeakConcurrency: 1, AlwaysOnGBSeconds: 1 * 2 * 10, AlwaysOnCost: 40})
	checkLine(t, r.Lines[1], Line{Key: "api", Requests: 3, Errors: 1, Throttled: 1, GBSeconds: 2.501,
		RequestCost: 1.5, ComputeCost: 5.002, Cost: 6.502,
		// r1 and r2 overlap in [1s, 1.5s).
		PeakConcurrency: 2, AlwaysOnGBSeconds: 2 * 1 * 10, AlwaysOnCost: 40})
	checkLine(t, r.Total, Line{Key: "TOTAL", Requests: 5, Errors: 1, Throttled: 1, GBSeconds: 5.501,
		RequestCost: 2.5, ComputeCost: 11.002, Cost: 13.502,
		PeakConcurrency: 2, AlwaysOnGBSeconds: 40, AlwaysOnCost: 80})
	if r.By != ByFunction || !r.Since.Equal(t0) || !r.Until.Equal(at(10*time.Second)) || r.Prices != easy {
		t.Errorf("report header = %v %v %v %+v", r.By, r.Since, r.Until, r.Prices)
	}
}

func TestByTrigger(t *testing.T) {
	r := build(t, sample(), ByTrigger, t0, at(10*time.Second), easy)
	if len(r.Lines) != 3 {
		t.Fatalf("%d lines, want 3: %+v", len(r.Lines), r.Lines)
	}
	checkLine(t, r.Lines[0], Line{Key: "queue", Requests: 2, Errors: 1, GBSeconds: 2,
		RequestCost: 1, ComputeCost: 4, Cost: 5,
		// r2 (api, 1 GiB) and w1 (worker, 0.5 GiB) never overlap; each
		// function needs its own instance: 1×1×10 + 1×0.5×10.
		PeakConcurrency: 1, AlwaysOnGBSeconds: 15, AlwaysOnCost: 30})
	checkLine(t, r.Lines[1], Line{Key: "schedule", Requests: 1, GBSeconds: 2,
		RequestCost: 0.5, ComputeCost: 4, Cost: 4.5,
		PeakConcurrency: 1, AlwaysOnGBSeconds: 20, AlwaysOnCost: 40})
	checkLine(t, r.Lines[2], Line{Key: "http", Requests: 2, Throttled: 1, GBSeconds: 1.501,
		RequestCost: 1, ComputeCost: 3.002, Cost: 4.002,
		PeakConcurrency: 1, AlwaysOnGBSeconds: 10, AlwaysOnCost: 20})
	// The total is per function over all records: api peaks at 2 across
	// triggers, so 2×1×10 + 1×2×10, less than the lines' 45.
	checkLine(t, r.Total, Line{Key: "TOTAL", Requests: 5, Errors: 1, Throttled: 1, GBSeconds: 5.501,
		RequestCost: 2.5, ComputeCost: 11.002, Cost: 13.502,
		PeakConcurrency: 2, AlwaysOnGBSeconds: 40, AlwaysOnCost: 80})
}

func TestNoRecords(t *testing.T) {
	r := build(t, nil, "", t0, at(time.Hour), DefaultPrices())
	if len(r.Lines) != 0 || r.Total != (Line{Key: "TOTAL"}) || r.By != ByFunction {
		t.Errorf("empty report = %+v", r)
	}
	r = build(t, nil, ByTrigger, time.Time{}, time.Time{}, DefaultPrices())
	if len(r.Lines) != 0 || !r.Since.IsZero() || !r.Until.IsZero() {
		t.Errorf("empty report without a window = %+v", r)
	}
	// Only throttles: nothing ran, nothing to keep running.
	r = build(t, []records.Record{{Function: "api", Start: t0, MemoryMiB: 128, Outcome: "throttled"}}, "", t0, at(time.Hour), easy)
	checkLine(t, r.Total, Line{Key: "TOTAL", Throttled: 1})
}

func TestOneRecord(t *testing.T) {
	rec := records.Record{Function: "api", Trigger: "http", Start: at(time.Minute), Duration: 100 * ms, MemoryMiB: 128, Outcome: "success"}
	p := DefaultPrices()
	// 128 MiB × 100 ms = 0.0125 GB-s. Window of one hour.
	r := build(t, []records.Record{rec}, ByFunction, t0, at(time.Hour), p)
	want := Line{Key: "api", Requests: 1, GBSeconds: 0.0125,
		RequestCost: 0.0000002, ComputeCost: 0.0125 * 0.0000166667, Cost: 0.0000002 + 0.0125*0.0000166667,
		PeakConcurrency: 1, AlwaysOnGBSeconds: 0.125 * 3600, AlwaysOnCost: 0.125 * 3600 * 0.0000166667}
	checkLine(t, r.Lines[0], want)
	want.Key = "TOTAL"
	checkLine(t, r.Total, want)

	// Without a window, the record's own span is the window: 100 ms.
	r = build(t, []records.Record{rec}, ByFunction, time.Time{}, time.Time{}, p)
	if !r.Since.Equal(rec.Start) || !r.Until.Equal(rec.End()) {
		t.Errorf("window = [%v, %v), want the record's [%v, %v)", r.Since, r.Until, rec.Start, rec.End())
	}
	if !near(r.Total.AlwaysOnGBSeconds, 0.0125) || r.Total.Requests != 1 {
		t.Errorf("total = %+v, want 1 request and 0.0125 always-on GB-s", r.Total)
	}
}

func TestPeakConcurrency(t *testing.T) {
	iv := func(from, to time.Duration) records.Record {
		return records.Record{Function: "f", Start: at(from), Duration: to - from, MemoryMiB: 1024}
	}
	s := time.Second
	for _, tc := range []struct {
		name string
		recs []records.Record
		want int
	}{
		{"none", nil, 0},
		{"one", []records.Record{iv(0, s)}, 1},
		{"zero duration counts", []records.Record{iv(0, 0), iv(0, 0)}, 2},
		{"back to back", []records.Record{iv(0, s), iv(s, 2*s), iv(2*s, 3*s)}, 1},
		{"same interval", []records.Record{iv(0, s), iv(0, s), iv(0, s)}, 3},
		{"nested and chained", []records.Record{
			iv(0, 10*s), iv(2*s, 5*s), iv(3*s, 4*s), iv(4*s, 6*s), iv(5*s, 7*s), iv(10*s, 11*s),
		}, 3},
		{"a short one on top", []records.Record{
			iv(0, 10*s), iv(2*s, 5*s), iv(3*s, 4*s), iv(4*s, 6*s), iv(5*s, 7*s), iv(4500*ms, 4600*ms),
		}, 4},
		{"unsorted", []records.Record{iv(5*s, 7*s), iv(0, 10*s), iv(6*s, 8*s)}, 3},
	} {
		if got := peak(tc.recs); got != tc.want {
			t.Errorf("%s: peak = %d, want %d", tc.name, got, tc.want)
		}
		r := build(t, tc.recs, ByFunction, t0, at(20*s), easy)
		if r.Total.PeakConcurrency != tc.want || !near(r.Total.AlwaysOnGBSeconds, float64(tc.want)*20) {
			t.Errorf("%s: report peak %d, always-on %g GB-s; want %d, %d", tc.name, r.Total.PeakConcurrency, r.Total.AlwaysOnGBSeconds, tc.want, tc.want*20)
		}
	}
}

func TestBillingFallback(t *testing.T) {
	// A record without billing is billed from its duration: 2.5 ms → 3 ms
	// at 1 GiB = 0.003 GB-s. One with billing keeps its own.
	recs := []records.Record{
		{Function: "f", Start: t0, Duration: 2500 * time.Microsecond, MemoryMiB: 1024},
		{Function: "f", Start: t0, Duration: time.Second, MemoryMiB: 1024, BilledMs: 1000, GBSeconds: 0.25},
	}
	r := build(t, recs, "", t0, at(time.Second), easy)
	if !near(r.Total.GBSeconds, 0.253) {
		t.Errorf("GB-s = %g, want 0.253", r.Total.GBSeconds)
	}
}

func TestDefaultPrices(t *testing.T) {
	p := DefaultPrices()
	if p.PerRequest != 0.0000002 || p.PerGBSecond != 0.0000166667 || p.Currency != "USD" {
		t.Errorf("DefaultPrices() = %+v", p)
	}
	// A million requests of 1 GiB for 1 s: $0.20 + 1e6 × $0.0000166667.
	if c := 1e6*p.PerRequest + 1e6*p.PerGBSecond; !near(c, 16.8667) {
		t.Errorf("a million GB-second requests cost %g, want 16.8667", c)
	}
}

func TestInvalid(t *testing.T) {
	if _, err := Build(nil, "region", t0, at(time.Hour), easy); !errors.Is(err, ErrInvalid) {
		t.Errorf("by region: error %v, want ErrInvalid", err)
	}
	if _, err := Build(nil, "", at(time.Hour), t0, easy); !errors.Is(err, ErrInvalid) {
		t.Errorf("window backwards: error %v, want ErrInvalid", err)
	}
}

func TestWriteTable(t *testing.T) {
	r := build(t, sample(), ByFunction, t0, at(10*time.Second), easy)
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `Cost from 2026-03-01 12:00:00 to 2026-03-01 12:00:10 (10s), by function
Prices: 0.5 per request, 2 per GB-second (EUR)

FUNCTION  REQUESTS  ERRORS  THROTTLED   GB-S  REQUEST EUR  COMPUTE EUR  COST EUR  PEAK  ALWAYS-ON GB-S  ALWAYS-ON EUR
worker           2       0          0  3.000         1.00         6.00      7.00     1          20.000          40.00
api              3       1          1  2.501         1.50         5.00      6.50     2          20.000          40.00
TOTAL            5       1          1  5.501         2.50        11.00     13.50     2          40.000          80.00

ALWAYS-ON: peak concurrency × memory × the whole window, the cost of instances kept running instead.
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}

	r = build(t, []records.Record{{Trigger: "", Start: t0, Duration: 100 * ms, MemoryMiB: 128}}, ByTrigger, t0, at(time.Hour), DefaultPrices())
	b.Reset()
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	// 128 MiB × 100 ms = 0.0125 GB-s: $0.0000002 + $0.000000208 = $0.000000408;
	// always on: 0.125 GB × 3600 s = 450 GB-s, $0.0075.
	for _, s := range []string{"by trigger", "(1h0m0s)", "0.0000002 per request", "0.0000166667 per GB-second (USD)",
		"\n-    ", "0.0125", "0.000000408", "450.000", "0.00750"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}

func TestAmount(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		min  int
		want string
	}{
		{0, 2, "0"},
		{12.345, 2, "12.35"},
		{0.05, 2, "0.0500"},
		{0.0000002, 2, "0.000000200"},
		{0.0000166667, 2, "0.0000167"},
		{0.0125, 3, "0.0125"},
		{1234.5678, 3, "1234.568"},
		{1e-20, 2, "0.000000000000"},
	} {
		if got := amount(tc.v, tc.min); got != tc.want {
			t.Errorf("amount(%g, %d) = %q, want %q", tc.v, tc.min, got, tc.want)
		}
	}
}
