package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
)

// This file holds the observability commands: invocations, invocation,
// trace and cost.

// explainObserve adds to an API error of the observability endpoints what
// the user can do about it.
func explainObserve(err error) error {
	if isMissingEndpoint(err) {
		return fmt.Errorf("%w; the node does not serve invocation records, traces and cost yet: is it an older gureum?", err)
	}
	return err
}

// observeError wraps an error of the observability endpoints with what
// was asked; hint tells what to do when the thing asked for is not found.
func observeError(what, hint string, err error) error {
	if apiclient.IsNotFound(err) && !isMissingEndpoint(err) {
		return fmt.Errorf("%s: %w; %s", what, err, hint)
	}
	return fmt.Errorf("%s: %w", what, explainObserve(err))
}

// checkOutput refuses an -o value other than the command's text format and
// json.
func checkOutput(output, text string) error {
	if output != text && output != "json" {
		return fmt.Errorf("-o %q: want %s or json", output, text)
	}
	return nil
}

func newInvocations(env IO) *cobra.Command {
	var cf clientFlags
	var q apiclient.InvocationQuery
	var output string
	cmd := &cobra.Command{
		Use:   "invocations FUNCTION",
		Short: "List a function's recent invocations: cold starts, durations, billing, outcomes",
		Long: `List a function's invocation records, newest last: when each started, its
request id, version and trigger, whether it was a cold start, how long it ran,
the billed duration and how it ended. 'gureum invocation REQUEST_ID' shows one
with its log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table"); err != nil {
				return err
			}
			if q.Limit < 1 || q.Limit > admin.MaxRecordLimit {
				return fmt.Errorf("--limit %d: want 1 to %d", q.Limit, admin.MaxRecordLimit)
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			recs, err := c.Invocations(cmd.Context(), args[0], q)
			if err != nil {
				return observeError("invocations of "+args[0], "see 'gureum ls' for the functions there are", err)
			}
			if output == "json" {
				return printJSON(env.Stdout, recs)
			}
			if len(recs) == 0 {
				fmt.Fprintf(env.Stdout, "no invocations of %s%s\n", args[0], describeQuery(q))
				return nil
			}
			if err := writeInvocations(env.Stdout, recs); err != nil {
				return err
			}
			if len(recs) == q.Limit {
				fmt.Fprintf(env.Stderr, "(the newest %d; --limit shows more, --since narrows the window)\n", q.Limit)
			}
			return nil
		},
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.StringVar(&q.Since, "since", "1h", "only invocations newer than this: a duration (10m, 24h, 7d) or an RFC 3339 time")
	f.BoolVar(&q.ErrorsOnly, "errors", false, "only invocations that failed, timed out or were throttled")
	f.StringVar(&q.Trigger, "trigger", "", "only invocations brought by this trigger (http, direct, queue, topic, schedule, async, ...)")
	f.IntVar(&q.Limit, "limit", admin.DefaultRecordLimit, fmt.Sprintf("at most this many of the newest invocations (1 to %d)", admin.MaxRecordLimit))
	outputFlag(cmd, &output, "table")
	return cmd
}

// isMissingEndpoint tells whether err is a node's answer to an endpoint it
// does not serve.
func isMissingEndpoint(err error) bool {
	var e *apiclient.Error
	return errors.As(err, &e) && e.Code == admin.CodeNotFound && strings.HasPrefix(e.Message, "no admin endpoint")
}

// describeQuery says in words what an empty listing was filtered by.
func describeQuery(q apiclient.InvocationQuery) string {
	var parts []string
	if q.Since != "" {
		if _, err := time.Parse(time.RFC3339, q.Since); err == nil {
			parts = append(parts, "since "+q.Since)
		} else {
			parts = append(parts, "in the last "+q.Since)
		}
	}
	if q.Trigger != "" {
		parts = append(parts, "by trigger "+q.Trigger)
	}
	if q.ErrorsOnly {
		parts = append(parts, "that failed")
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// writeInvocations writes records as a table, newest last.
func writeInvocations(w io.Writer, recs []admin.InvocationRecord) error {
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b admin.InvocationRecord) int { return a.Start.Compare(b.Start) })
	tw := newTable(w)
	fmt.Fprintln(tw, "TIME\tREQUEST-ID\tVERSION\tTRIGGER\tCOLD\tDURATION\tBILLED\tOUTCOME")
	for _, r := range recs {
		cold := "no"
		if r.Cold {
			cold = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d ms\t%s\n",
			r.Start.Local().Format(timeMillis), clean(r.RequestID), orDash(clean(r.Version)), orDash(clean(r.Trigger)),
			cold, formatMs(r.DurationMs), r.BilledMs, outcome(r))
	}
	return tw.Flush()
}

// timeMillis formats local times to the millisecond.
const timeMillis = "2006-01-02 15:04:05.000"

// outcome is a record's outcome with its error type, if any.
func outcome(r admin.InvocationRecord) string {
	s := orDash(clean(r.Outcome))
	if r.ErrorType != "" {
		s += " (" + oneLine(r.ErrorType, 60) + ")"
	}
	return s
}

func newInvocation(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "invocation REQUEST_ID",
		Short: "Show one invocation's record and its log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text"); err != nil {
				return err
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			d, err := c.Invocation(cmd.Context(), args[0])
			if err != nil {
				return observeError("invocation "+args[0],
					"records are kept for a limited time (7 days by default), and 'gureum invocations FUNCTION' lists the recent ones", err)
			}
			if output == "json" {
				return printJSON(env.Stdout, d)
			}
			return writeInvocation(env.Stdout, d, time.Now())
		},
	}
	cf.register(cmd, env)
	outputFlag(cmd, &output, "text")
	return cmd
}

// writeInvocation writes a record as labelled lines, then its log.
func writeInvocation(w io.Writer, d *admin.InvocationDetail, now time.Time) error {
	r := d.InvocationRecord
	bw := bufio.NewWriter(w)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(bw, "%-9s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("request", "%s", clean(r.RequestID))
	line("function", "%s (version %s)", clean(r.Function), orDash(clean(r.Version)))
	if r.Source != "" {
		line("trigger", "%s  %s", orDash(clean(r.Trigger)), clean(r.Source))
	} else {
		line("trigger", "%s", orDash(clean(r.Trigger)))
	}
	line("start", "%s", when(r.Start, now))
	if r.Cold {
		line("cold", "yes, init %s", formatMs(r.InitDurationMs))
	} else {
		line("cold", "no")
	}
	line("duration", "%s", formatMs(r.DurationMs))
	line("billed", "%d ms at %d MiB = %s GB-s", r.BilledMs, r.MemoryMiB, strconv.FormatFloat(r.GBSeconds, 'f', -1, 64))
	line("outcome", "%s", outcome(r))
	if r.TraceID != "" {
		line("trace", "%s", clean(r.TraceID))
	}
	if r.Node != "" {
		line("node", "%s", clean(r.Node))
	}
	bw.WriteString("\n")
	if len(d.Log) == 0 {
		bw.WriteString("no log lines\n")
	} else {
		bw.WriteString("log\n")
		for _, e := range d.Log {
			fmt.Fprintf(bw, "%s  %s\n", e.Time.Local().Format(timeMillis), strings.TrimRight(e.Message, "\n"))
		}
	}
	return bw.Flush()
}

func newTrace(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "trace TRACE_ID",
		Short: "Show a trace's spans as a tree with timings",
		Long: `Show the spans of one trace, recorded on every node, as a tree: each span
under the one that started it, ordered by start, with its offset from the
trace's first span and its duration. A span whose parent was not recorded (a
caller outside gureum, or a span still running) is shown as a root. TRACE_ID is
32 hex digits: the traceId of an invocation record, or the second field of a
traceparent header, which is accepted whole too.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text"); err != nil {
				return err
			}
			id, err := traceIDArg(args[0])
			if err != nil {
				return err
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			spans, err := c.Trace(cmd.Context(), id)
			if err != nil {
				return observeError("trace "+id, "spans are kept for a limited time (24h by default), and only sampled traces are recorded", err)
			}
			if output == "json" {
				return printJSON(env.Stdout, spans)
			}
			return writeTrace(env.Stdout, id, spans)
		},
	}
	cf.register(cmd, env)
	outputFlag(cmd, &output, "text")
	return cmd
}

// traceIDArg returns the trace id a user gave: the id itself, in either
// case, or a whole traceparent header value.
func traceIDArg(s string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(s))
	if parts := strings.Split(id, "-"); len(parts) == 4 {
		id = parts[1]
	}
	if !admin.ValidTraceID(id) {
		return "", fmt.Errorf("trace id %q: want 32 hex digits, not all zeros (or a traceparent such as 00-<trace id>-<span id>-01)", s)
	}
	return id, nil
}

// writeTrace writes a one-line summary of a trace, then its span tree.
func writeTrace(w io.Writer, id string, spans []admin.TraceSpan) error {
	if len(spans) == 0 {
		_, err := fmt.Fprintf(w, "trace %s has no spans\n", id)
		return err
	}
	first, end := spans[0].Start, spans[0].Start
	for _, s := range spans {
		if s.Start.Before(first) {
			first = s.Start
		}
		if e := s.Start.Add(msDuration(s.DurationMs)); e.After(end) {
			end = e
		}
	}
	n := "spans"
	if len(spans) == 1 {
		n = "span"
	}
	if _, err := fmt.Fprintf(w, "trace %s  %d %s  %s  started %s\n\n", id, len(spans), n,
		formatMs(float64(end.Sub(first))/float64(time.Millisecond)), first.Local().Format(timeMillis)); err != nil {
		return err
	}
	return writeSpanTree(w, spans)
}

// writeSpanTree writes spans as a tree, one line per span: its name
// indented under its parent with ├─ and └─, its start as an offset from the
// earliest span, its duration, then the node that recorded it (on a root,
// and where it differs from the parent's) and the error of a failed span.
// Children are ordered by start. A span whose parent is not among spans is
// a root; so is one caught in a cycle of parents, so every span is printed
// exactly once. For example:
//
//	GET /orders/{id}          +0 µs  12.3 ms  [node-1]
//	└─ invoke api            +0.2 ms  11.9 ms
//	   ├─ publish events     +3.1 ms   0.4 ms
//	   └─ kv get orders      +5.0 ms    45 µs  error: timeout
func writeSpanTree(w io.Writer, spans []admin.TraceSpan) error {
	if len(spans) == 0 {
		return nil
	}
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		sa, sb := &spans[a], &spans[b]
		if c := sa.Start.Compare(sb.Start); c != 0 {
			return c
		}
		if c := strings.Compare(sa.Name, sb.Name); c != 0 {
			return c
		}
		return strings.Compare(sa.SpanID, sb.SpanID)
	})
	first := spans[order[0]].Start

	// The first span (in start order) with an id is the one children of
	// that id hang under.
	byID := make(map[string]int, len(spans))
	for _, i := range order {
		if id := spans[i].SpanID; id != "" {
			if _, dup := byID[id]; !dup {
				byID[id] = i
			}
		}
	}
	children := make(map[int][]int)
	var roots []int
	for _, i := range order {
		p, ok := byID[spans[i].ParentID]
		if spans[i].ParentID == "" || !ok || p == i {
			roots = append(roots, i)
			continue
		}
		children[p] = append(children[p], i)
	}

	type row struct{ label, offset, dur, tail string }
	rows := make([]row, 0, len(spans))
	done := make([]bool, len(spans))
	// visit prints span i and, depth first, the spans under it. indent is
	// what precedes the branch of i's children.
	var visit func(i int, label, indent, parentNode string, root bool)
	visit = func(i int, label, indent, parentNode string, root bool) {
		done[i] = true
		s := &spans[i]
		var tail []string
		if node := clean(s.Node); node != "" && (root || node != parentNode) {
			tail = append(tail, "["+node+"]")
		}
		if s.Status == "error" {
			msg := "error"
			if s.StatusMessage != "" {
				msg += ": " + oneLine(clean(s.StatusMessage), 80)
			}
			tail = append(tail, msg)
		}
		rows = append(rows, row{
			label:  label + clean(s.Name),
			offset: "+" + formatMs(float64(s.Start.Sub(first))/float64(time.Millisecond)),
			dur:    formatMs(s.DurationMs),
			tail:   strings.Join(tail, "  "),
		})
		var kids []int
		for _, c := range children[i] {
			if !done[c] {
				kids = append(kids, c)
			}
		}
		for k, c := range kids {
			if done[c] { // reached meanwhile through a cycle below an earlier child
				continue
			}
			branch, more := "├─ ", "│  "
			if k == len(kids)-1 {
				branch, more = "└─ ", "   "
			}
			visit(c, indent+branch, indent+more, clean(s.Node), false)
		}
	}
	for _, i := range roots {
		visit(i, "", "", "", true)
	}
	for _, i := range order {
		if !done[i] {
			visit(i, "", "", "", true)
		}
	}

	var lw, ow, dw int
	for _, r := range rows {
		lw = max(lw, utf8.RuneCountInString(r.label))
		ow = max(ow, utf8.RuneCountInString(r.offset))
		dw = max(dw, utf8.RuneCountInString(r.dur))
	}
	bw := bufio.NewWriter(w)
	pad := func(n int) { bw.WriteString(strings.Repeat(" ", n)) }
	for _, r := range rows {
		bw.WriteString(r.label)
		pad(lw - utf8.RuneCountInString(r.label) + 2 + ow - utf8.RuneCountInString(r.offset))
		bw.WriteString(r.offset)
		pad(2 + dw - utf8.RuneCountInString(r.dur))
		bw.WriteString(r.dur)
		if r.tail != "" {
			pad(2)
			bw.WriteString(r.tail)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// msDuration converts milliseconds to a duration, saturating.
func msDuration(ms float64) time.Duration {
	switch d := ms * float64(time.Millisecond); {
	case d != d || d <= 0: // NaN or not positive
		return 0
	case d >= float64(1<<63-1):
		return 1<<63 - 1
	default:
		return time.Duration(d)
	}
}

// formatMs formats milliseconds for people: seconds from 1 s, tenths of a
// millisecond from 0.1 ms, whole microseconds below.
func formatMs(ms float64) string {
	switch {
	case ms != ms || ms <= 0:
		return "0 µs"
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms >= 0.1:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%d µs", int(ms*1000+0.5))
	}
}

// clean keeps a string the node sent on one line of the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func newCost(env IO) *cobra.Command {
	var cf clientFlags
	var since, by, output string
	cmd := &cobra.Command{
		Use:   "cost",
		Short: "Report requests, GB-seconds and what they cost, per function or per trigger",
		Long: `Report the pay-per-use cost of the invocations in a window ending now: requests,
errors and billed GB-seconds (memory × duration rounded up to the millisecond),
priced per request and per GB-second from the node's price table. Beside it,
ALWAYS-ON-COST is what the same work would have cost on instances kept running
for the whole window: as many as ran at once at the peak, with the same memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table"); err != nil {
				return err
			}
			if by != admin.CostByFunction && by != admin.CostByTrigger {
				return fmt.Errorf("--by %q: want %s or %s", by, admin.CostByFunction, admin.CostByTrigger)
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			rep, err := c.Cost(cmd.Context(), since, by)
			if err != nil {
				return fmt.Errorf("cost: %w", explainObserve(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, rep)
			}
			return writeCost(env.Stdout, rep)
		},
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.StringVar(&since, "since", "24h", "the window: a duration back from now (24h, 7d) or an RFC 3339 time")
	f.StringVar(&by, "by", admin.CostByFunction, "group by function or by trigger")
	outputFlag(cmd, &output, "table")
	return cmd
}

// writeCost writes a cost report: its window, a line per key and a total,
// then the prices used.
func writeCost(w io.Writer, rep *admin.CostReport) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "cost from %s to %s (%s), by %s\n\n", rep.Since.Local().Format(time.DateTime),
		rep.Until.Local().Format(time.DateTime), roughly(rep.Until.Sub(rep.Since)), clean(rep.By))
	if len(rep.Lines) == 0 {
		bw.WriteString("no invocations in this window\n")
		return bw.Flush()
	}
	key := strings.ToUpper(clean(rep.By))
	if key == "" {
		key = "KEY"
	}
	tw := newTable(bw)
	fmt.Fprintf(tw, "%s\tREQUESTS\tERRORS\tGB-SECONDS\tREQUEST-COST\tCOMPUTE-COST\tCOST\tALWAYS-ON-COST\n", key)
	costLine := func(name string, l admin.CostLine) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", name, l.Requests, l.Errors, gbSeconds(l.GBSeconds),
			money(l.RequestCost), money(l.ComputeCost), money(l.Cost), money(l.AlwaysOnCost))
	}
	for _, l := range rep.Lines {
		costLine(orDash(clean(l.Key)), l)
	}
	costLine("TOTAL", rep.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	cur := clean(rep.Currency)
	if cur == "" {
		cur = "USD"
	}
	fmt.Fprintf(bw, "\nCosts in %s at %s per million requests and %s per GB-second; COST = REQUEST-COST + COMPUTE-COST, paid per use.\n",
		cur, price(rep.PerRequest*1e6), price(rep.PerGBSecond))
	fmt.Fprintf(bw, "ALWAYS-ON-COST is what the same work would cost on instances kept running for the whole window\n"+
		"(peak concurrency × memory × window, at the GB-second price), for comparison; it is not part of COST.\n")
	return bw.Flush()
}

// price formats a unit price to ten significant digits, without an
// exponent: 0.2, 0.0000166667.
func price(v float64) string {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'e', 9, 64), 64)
	if err != nil {
		r = v
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// money formats an amount with enough places for fractions of a cent.
func money(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// gbSeconds formats GB-seconds to the millionth.
func gbSeconds(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
