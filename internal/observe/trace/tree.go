package trace

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// WriteTree writes spans as a tree, one line per span: children indented
// under their parent and ordered by start, each with its duration, the node
// in brackets where it differs from the parent's (always on a root), and the
// status message of a failed span. For example:
//
//	GET /orders/{id}            12.3 ms  [node-1]
//	└─ invoke api v3 (cold)     11.9 ms
//	   ├─ publish order-events   0.4 ms
//	   └─ kv get orders           45 µs
//
// A span whose parent is not among spans (a remote caller, or a parent still
// in flight) is shown as a root.
func WriteTree(w io.Writer, spans []Span) error {
	type row struct{ label, dur, tail string }
	byID := make(map[string]int, len(spans))
	for i, s := range spans {
		if _, dup := byID[s.SpanID]; !dup {
			byID[s.SpanID] = i
		}
	}
	children := make(map[int][]int)
	var roots []int
	for i, s := range spans {
		p, ok := byID[s.ParentID]
		if s.ParentID == "" || !ok || p == i {
			roots = append(roots, i)
			continue
		}
		children[p] = append(children[p], i)
	}
	less := func(a, b int) bool {
		sa, sb := spans[a], spans[b]
		if !sa.Start.Equal(sb.Start) {
			return sa.Start.Before(sb.Start)
		}
		if sa.Name != sb.Name {
			return sa.Name < sb.Name
		}
		return sa.SpanID < sb.SpanID
	}
	sortSpans := func(ix []int) { sort.SliceStable(ix, func(i, j int) bool { return less(ix[i], ix[j]) }) }
	sortSpans(roots)
	for _, ix := range children {
		sortSpans(ix)
	}

	var rows []row
	visited := make([]bool, len(spans))
	var walk func(i int, parentNode string, root bool, prefix, branch string)
	walk = func(i int, parentNode string, root bool, prefix, branch string) {
		visited[i] = true
		s := spans[i]
		var tail []string
		if s.Node != "" && (root || s.Node != parentNode) {
			tail = append(tail, "["+clean(s.Node)+"]")
		}
		if s.Status == "error" {
			msg := "error"
			if s.StatusMessage != "" {
				msg += ": " + clean(s.StatusMessage)
			}
			tail = append(tail, msg)
		}
		rows = append(rows, row{label: prefix + branch + clean(s.Name), dur: formatDuration(s.Duration), tail: strings.Join(tail, "  ")})
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		var kids []int
		for _, c := range children[i] {
			if !visited[c] {
				kids = append(kids, c)
			}
		}
		for k, c := range kids {
			if visited[c] { // reached through a cycle meanwhile
				continue
			}
			b := "├─ "
			if k == len(kids)-1 {
				b = "└─ "
			}
			walk(c, s.Node, false, next, b)
		}
	}
	for _, r := range roots {
		walk(r, "", true, "", "")
	}
	// Spans whose parents form a cycle reach no root; show them as roots.
	var rest []int
	for i := range spans {
		if !visited[i] {
			rest = append(rest, i)
		}
	}
	sortSpans(rest)
	for _, r := range rest {
		if !visited[r] {
			walk(r, "", true, "", "")
		}
	}

	labelWidth, durWidth := 0, 0
	for _, r := range rows {
		labelWidth = max(labelWidth, utf8.RuneCountInString(r.label))
		durWidth = max(durWidth, utf8.RuneCountInString(r.dur))
	}
	bw := bufio.NewWriter(w)
	for _, r := range rows {
		bw.WriteString(r.label)
		bw.WriteString(strings.Repeat(" ", labelWidth-utf8.RuneCountInString(r.label)+2+durWidth-utf8.RuneCountInString(r.dur)))
		bw.WriteString(r.dur)
		if r.tail != "" {
			bw.WriteString("  ")
			bw.WriteString(r.tail)
		}
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write trace tree: %w", err)
	}
	return nil
}

// formatDuration writes a span duration for people: seconds from 1 s,
// tenths of milliseconds from 100 µs, whole microseconds below.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 100*time.Microsecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%d µs", d.Round(time.Microsecond)/time.Microsecond)
}

// clean keeps a stored string on one line of the tree.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
