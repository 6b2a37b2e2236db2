package cli

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
)

func TestFormatMs(t *testing.T) {
	for _, c := range []struct {
		ms   float64
		want string
	}{
		{0, "0 µs"},
		{-3, "0 µs"},
		{math.NaN(), "0 µs"},
		{0.0004, "0 µs"},
		{0.045, "45 µs"},
		{0.0999, "100 µs"},
		{0.1, "0.1 ms"},
		{12.34, "12.3 ms"},
		{999.9, "999.9 ms"},
		{1000, "1.00 s"},
		{1234, "1.23 s"},
		{math.Inf(1), "+Inf s"},
	} {
		if got := formatMs(c.ms); got != c.want {
			t.Errorf("formatMs(%v) = %q, want %q", c.ms, got, c.want)
		}
	}
}

func TestPrice(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{2e-7 * 1e6, "0.2"},
		{0.0000166667, "0.0000166667"},
		{0, "0"},
		{1.5, "1.5"},
	} {
		if got := price(c.v); got != c.want {
			t.Errorf("price(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// TestSpanTreeOddShapes: spans whose parents form a cycle, point at
// themselves, or share an id are all printed, each once.
func TestSpanTreeOddShapes(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)
	spans := []admin.TraceSpan{
		{SpanID: "a", ParentID: "b", Name: "a", Start: t0.Add(time.Millisecond), DurationMs: 1},
		{SpanID: "b", ParentID: "a", Name: "b", Start: t0.Add(2 * time.Millisecond), DurationMs: 1},
		{SpanID: "c", ParentID: "c", Name: "self", Start: t0.Add(3 * time.Millisecond), DurationMs: 1},
		{SpanID: "d", Name: "first d", Start: t0, DurationMs: 5},
		{SpanID: "d", Name: "second d", Start: t0.Add(4 * time.Millisecond), DurationMs: 1},
		{ParentID: "d", Name: "under d", Start: t0.Add(5 * time.Millisecond), DurationMs: 0.2},
	}
	var b bytes.Buffer
	if err := writeSpanTree(&b, spans); err != nil {
		t.Fatal(err)
	}
	// The second "d" has no parent: a root. "under d" hangs under the
	// first "d". a and b are each other's parent: the earlier is a root.
	want := "" +
		"first d       +0 µs  5.0 ms\n" +
		"└─ under d  +5.0 ms  0.2 ms\n" +
		"self        +3.0 ms  1.0 ms\n" +
		"second d    +4.0 ms  1.0 ms\n" +
		"a           +1.0 ms  1.0 ms\n" +
		"└─ b        +2.0 ms  1.0 ms\n"
	if b.String() != want {
		t.Fatalf("tree\n%s\nwant\n%s", b.String(), want)
	}
}

// FuzzSpanTree: whatever the spans, the tree has one line per span, each
// naming its span, and nothing but the tree's own line breaks.
func FuzzSpanTree(f *testing.F) {
	f.Add([]byte{0, 1, 5, 1, 0, 7, 2, 1, 9, 3, 3, 3}, "name\nwith\tcontrols")
	f.Add([]byte{1, 2, 0, 2, 1, 0}, "cycle")
	f.Add([]byte{0, 11, 255, 0, 11, 0}, "twins")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		t0 := time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)
		var spans []admin.TraceSpan
		for i := 0; i+2 < len(data) && len(spans) < 64; i += 3 {
			parent := ""
			if p := data[i+1] % 12; p < 10 {
				parent = "s" + strconv.Itoa(int(p))
			}
			spans = append(spans, admin.TraceSpan{
				SpanID:     "s" + strconv.Itoa(int(data[i]%10)),
				ParentID:   parent,
				Name:       name + strconv.Itoa(len(spans)),
				Start:      t0.Add(time.Duration(data[i+2]) * time.Millisecond),
				DurationMs: float64(data[i+2]) - 100,
				Status:     []string{"ok", "error", "unset"}[data[i]%3],
				Node:       name[:min(len(name), 3)],
			})
		}
		var b bytes.Buffer
		if err := writeSpanTree(&b, spans); err != nil {
			t.Fatal(err)
		}
		if len(spans) == 0 {
			if b.Len() != 0 {
				t.Fatalf("no spans printed %q", b.String())
			}
			return
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != len(spans) {
			t.Fatalf("%d spans printed as %d lines:\n%s", len(spans), len(lines), b.String())
		}
		seen := map[string]bool{}
		for _, l := range lines {
			for i := range spans {
				if n := clean(spans[i].Name); strings.Contains(l, " "+n+" ") || strings.HasPrefix(l, n+" ") {
					seen[strconv.Itoa(i)] = true
				}
			}
		}
		for i := range spans {
			if !seen[strconv.Itoa(i)] {
				t.Fatalf("span %d (%q) missing from:\n%s", i, spans[i].Name, b.String())
			}
		}
	})
}

// FuzzTraceIDArg: a trace id argument is refused, or becomes a valid trace
// id that the argument holds (in either case).
func FuzzTraceIDArg(f *testing.F) {
	for _, s := range []string{
		"0af7651916cd43dd8448eb211c80319c", "0AF7651916CD43DD8448EB211C80319C",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", " 0af7651916cd43dd8448eb211c80319c\n",
		"00000000000000000000000000000000", "abc", "a-b-c-d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := traceIDArg(s)
		if err != nil {
			if id != "" || !strings.HasPrefix(err.Error(), "trace id ") {
				t.Fatalf("%q: id %q, error %v", s, id, err)
			}
			return
		}
		if !admin.ValidTraceID(id) || !strings.Contains(strings.ToLower(s), id) {
			t.Fatalf("%q gave trace id %q", s, id)
		}
	})
}
