// Package cost turns invocation records into a pay-per-use report: requests,
// GB-seconds and what they cost at a price table, per function or per
// trigger, beside what the same work would cost on instances kept running.
//
// # Pay per use
//
// A line's cost is
//
//	RequestCost = Requests × PerRequest
//	ComputeCost = GBSeconds × PerGBSecond
//	Cost        = RequestCost + ComputeCost
//
// where Requests counts the invocations that ran and GBSeconds sums their
// billed GB-seconds (records.Billing: the run rounded up to the
// millisecond, times memory). Throttled invocations ran nothing and cost
// nothing; they are counted apart (Throttled).
//
// # Always on
//
// The comparison pay-per-use argues against: what the same work would cost
// with enough instances kept running for the whole window to serve it.
// For one function,
//
//	AlwaysOnGBSeconds = PeakConcurrency × MemoryMiB/1024 × window seconds
//	AlwaysOnCost      = AlwaysOnGBSeconds × PerGBSecond
//
// PeakConcurrency is the most invocations of the function running at once
// in the window, from the records' [Start, Start+Duration) intervals (at
// least 1 when anything ran), and MemoryMiB the largest memory among them.
// Instances of different functions cannot serve each other, so a line
// holding several functions (a trigger's line, the total) sums this per
// function; its PeakConcurrency shows the most invocations of the line
// running at once, across functions. When lines split a function's
// traffic (by trigger), the total's always-on figure, computed over all of
// a function's records at once, can be less than the sum of the lines'.
package cost

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gureum/gureum/internal/observe/records"
)

// Report groupings (Build's by).
const (
	ByFunction = "function"
	ByTrigger  = "trigger"
)

// ErrInvalid reports a report that cannot be built; match with errors.Is.
var ErrInvalid = errors.New("invalid cost report")

// Prices is a price table.
type Prices struct {
	PerRequest  float64 // per invocation
	PerGBSecond float64 // per GB-second of billed run time
	Currency    string  // e.g. USD
}

// DefaultPrices returns AWS Lambda's published on-demand list prices for x86
// functions (https://aws.amazon.com/lambda/pricing/, first tier, US East):
// USD 0.20 per million requests and USD 0.0000166667 per GB-second. They
// are a reference point for comparison, not a bill: no free tier, no volume
// tiers, no regional differences.
func DefaultPrices() Prices {
	return Prices{PerRequest: 0.20 / 1e6, PerGBSecond: 0.0000166667, Currency: "USD"}
}

// Line is one row of a report: one function or trigger, or the total.
type Line struct {
	Key       string // function name or trigger; "TOTAL" for the total
	Requests  int64  // invocations that ran
	Errors    int64  // of Requests, those that did not succeed
	Throttled int64  // refused at the concurrency limit; not billed
	GBSeconds float64

	RequestCost, ComputeCost, Cost float64

	PeakConcurrency   int
	AlwaysOnGBSeconds float64
	AlwaysOnCost      float64
}

// Report is the cost of the invocations in a window.
type Report struct {
	Since, Until time.Time
	By           string
	Prices       Prices
	Lines        []Line // by Cost, highest first, then by Key
	Total        Line
}

// Build reports the cost of recs whose Start is in [since, until), grouped
// by ByFunction (the default for "") or ByTrigger. A zero since or until is
// taken from the records: the earliest start, the latest end.
func Build(recs []records.Record, by string, since, until time.Time, p Prices) (*Report, error) {
	if by == "" {
		by = ByFunction
	}
	if by != ByFunction && by != ByTrigger {
		return nil, fmt.Errorf("%w: group by %q: want %s or %s", ErrInvalid, by, ByFunction, ByTrigger)
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return nil, fmt.Errorf("%w: window ends (%s) before it starts (%s)",
			ErrInvalid, until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	since, until = window(recs, since, until)
	r := &Report{Since: since, Until: until, By: by, Prices: p}

	var in []records.Record
	for _, rec := range recs {
		if !rec.Start.Before(since) && rec.Start.Before(until) {
			in = append(in, rec)
		}
	}
	seconds := until.Sub(since).Seconds()

	groups := make(map[string][]records.Record)
	for _, rec := range in {
		k := rec.Function
		if by == ByTrigger {
			k = rec.Trigger
		}
		groups[k] = append(groups[k], rec)
	}
	for k, g := range groups {
		r.Lines = append(r.Lines, line(k, g, seconds, p))
	}
	slices.SortFunc(r.Lines, func(a, b Line) int {
		if c := cmp.Compare(b.Cost, a.Cost); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	r.Total = line("TOTAL", in, seconds, p)
	return r, nil
}

// window fills in a zero since or until from recs: the earliest start, and
// just after the latest end (so that every record starts inside).
func window(recs []records.Record, since, until time.Time) (time.Time, time.Time) {
	if !since.IsZero() && !until.IsZero() {
		return since, until
	}
	var first, last time.Time
	for i := range recs {
		s, e := recs[i].Start, recs[i].Start.Add(max(recs[i].Duration, time.Nanosecond))
		if i == 0 || s.Before(first) {
			first = s
		}
		if i == 0 || e.After(last) {
			last = e
		}
	}
	if len(recs) == 0 {
		first, last = until, since // an empty window at the bound given, if any
	}
	if since.IsZero() {
		since = first
	}
	if until.IsZero() {
		until = last
		if until.Before(since) {
			until = since
		}
	}
	return since, until
}

// line totals recs into one Line.
func line(key string, recs []records.Record, seconds float64, p Prices) Line {
	l := Line{Key: key}
	byFn := make(map[string][]records.Record)
	var ran []records.Record
	for _, r := range recs {
		if r.Outcome == records.OutcomeThrottled {
			l.Throttled++
			continue
		}
		l.Requests++
		if r.Failed() {
			l.Errors++
		}
		l.GBSeconds += gbSeconds(&r)
		ran = append(ran, r)
		byFn[r.Function] = append(byFn[r.Function], r)
	}
	l.PeakConcurrency = peak(ran)
	for _, fr := range byFn {
		mem := 0
		for i := range fr {
			mem = max(mem, fr[i].MemoryMiB)
		}
		l.AlwaysOnGBSeconds += float64(peak(fr)) * float64(mem) / 1024 * seconds
	}
	l.RequestCost = float64(l.Requests) * p.PerRequest
	l.ComputeCost = l.GBSeconds * p.PerGBSecond
	l.Cost = l.RequestCost + l.ComputeCost
	l.AlwaysOnCost = l.AlwaysOnGBSeconds * p.PerGBSecond
	return l
}

// gbSeconds is a record's billed GB-seconds, computed with records.Billing
// when the record carries no billing (the store fills it in; records built
// by hand may not).
func gbSeconds(r *records.Record) float64 {
	if r.GBSeconds == 0 && r.BilledMs == 0 {
		_, gbs := records.Billing(r.Duration, r.MemoryMiB)
		return gbs
	}
	return r.GBSeconds
}

// peak is the most of recs running at once, each running over
// [Start, Start+Duration) (at least a nanosecond, so that every record
// counts); an invocation ending as another starts does not overlap it.
func peak(recs []records.Record) int {
	type edge struct {
		at    int64
		delta int
	}
	edges := make([]edge, 0, 2*len(recs))
	for i := range recs {
		s := recs[i].Start.UnixNano()
		d := max(int64(recs[i].Duration), 1)
		edges = append(edges, edge{s, +1}, edge{s + d, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.delta, b.delta) // ends before starts
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}
