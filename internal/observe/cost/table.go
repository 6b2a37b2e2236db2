package cost

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// WriteTable writes the report as a text table: the window and prices, a
// row per line and the total, then what the always-on columns mean.
func (r *Report) WriteTable(w io.Writer) error {
	cur := r.Prices.Currency
	if cur == "" {
		cur = "USD"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Cost from %s to %s (%s), by %s\n",
		r.Since.UTC().Format(time.DateTime), r.Until.UTC().Format(time.DateTime), r.Until.Sub(r.Since).Round(time.Second), r.By)
	fmt.Fprintf(&b, "Prices: %s per request, %s per GB-second (%s)\n\n",
		strconv.FormatFloat(r.Prices.PerRequest, 'f', -1, 64), strconv.FormatFloat(r.Prices.PerGBSecond, 'f', -1, 64), cur)

	// Columns are right-aligned; the first is padded to read left-aligned.
	width := max(len(r.By), len(r.Total.Key))
	for _, l := range r.Lines {
		width = max(width, utf8.RuneCountInString(l.Key))
	}
	var tb strings.Builder
	tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tREQUESTS\tERRORS\tTHROTTLED\tGB-S\tREQUEST %s\tCOMPUTE %s\tCOST %s\tPEAK\tALWAYS-ON GB-S\tALWAYS-ON %s\t\n",
		width, strings.ToUpper(r.By), cur, cur, cur, cur)
	row := func(l Line) {
		key := l.Key
		if key == "" {
			key = "-"
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n",
			width, key, l.Requests, l.Errors, l.Throttled, amount(l.GBSeconds, 3),
			amount(l.RequestCost, 2), amount(l.ComputeCost, 2), amount(l.Cost, 2),
			l.PeakConcurrency, amount(l.AlwaysOnGBSeconds, 3), amount(l.AlwaysOnCost, 2))
	}
	for _, l := range r.Lines {
		row(l)
	}
	row(r.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	// Right alignment pads every row's first cell by the padding: drop it.
	for row := range strings.Lines(tb.String()) {
		b.WriteString(strings.TrimPrefix(row, "  "))
	}
	b.WriteString("\nALWAYS-ON: peak concurrency × memory × the whole window, the cost of instances kept running instead.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// amount formats v with at least minDecimals decimals, and enough more that
// a small figure keeps three significant digits (0.000000200, not 0.00).
func amount(v float64, minDecimals int) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	d := max(minDecimals, 2-int(math.Floor(math.Log10(math.Abs(v)))))
	return strconv.FormatFloat(v, 'f', min(d, 12), 64)
}
