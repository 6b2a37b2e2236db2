package trace

import (
	"context"
	"regexp"
	"strings"
	"testing"

	oteltrace "go.opentelemetry.io/otel/trace"
)

const (
	incomingTrace = "0af7651916cd43dd8448eb211c80319c"
	incomingSpan  = "b7ad6b7169203331"
)

func TestContextWithTraceParent(t *testing.T) {
	valid := []struct{ in, want string }{
		{"00-" + incomingTrace + "-" + incomingSpan + "-01", "00-" + incomingTrace + "-" + incomingSpan + "-01"},
		{"00-" + incomingTrace + "-" + incomingSpan + "-00", "00-" + incomingTrace + "-" + incomingSpan + "-00"},
		// Flags other than sampled are not carried on.
		{"00-" + incomingTrace + "-" + incomingSpan + "-03", "00-" + incomingTrace + "-" + incomingSpan + "-01"},
		{" \t00-" + incomingTrace + "-" + incomingSpan + "-01 ", "00-" + incomingTrace + "-" + incomingSpan + "-01"},
		// A later version may add fields; the known ones are read.
		{"01-" + incomingTrace + "-" + incomingSpan + "-01-what-comes-next", "00-" + incomingTrace + "-" + incomingSpan + "-01"},
		{"cc-" + incomingTrace + "-" + incomingSpan + "-01", "00-" + incomingTrace + "-" + incomingSpan + "-01"},
	}
	for _, tc := range valid {
		ctx := ContextWithTraceParent(context.Background(), tc.in)
		if got := TraceParent(ctx); got != tc.want {
			t.Errorf("TraceParent(ContextWithTraceParent(%q)) = %q, want %q", tc.in, got, tc.want)
		}
		if got := TraceID(ctx); got != incomingTrace {
			t.Errorf("TraceID after %q = %q, want %q", tc.in, got, incomingTrace)
		}
		if !oteltrace.SpanContextFromContext(ctx).IsRemote() {
			t.Errorf("%q: span context is not remote", tc.in)
		}
	}

	invalid := []string{
		"",
		"00",
		"00-" + strings.ToUpper(incomingTrace) + "-" + incomingSpan + "-01",
		"00-" + incomingTrace + "-" + strings.ToUpper(incomingSpan) + "-01",
		"00-" + incomingTrace + "-" + incomingSpan + "-0A",
		"ff-" + incomingTrace + "-" + incomingSpan + "-01",
		"00-00000000000000000000000000000000-" + incomingSpan + "-01",
		"00-" + incomingTrace + "-0000000000000000-01",
		"00-" + incomingTrace + "-" + incomingSpan + "-01-extra", // version 00 has exactly 4 fields
		"01-" + incomingTrace + "-" + incomingSpan + "-01extra",
		"00-" + incomingTrace + "-" + incomingSpan + "-1",
		"00_" + incomingTrace + "-" + incomingSpan + "-01",
		"00-" + incomingTrace + "x" + incomingSpan + "-01",
		"00-" + incomingTrace[1:] + "-0" + incomingSpan + "-01",
		"0g-" + incomingTrace + "-" + incomingSpan + "-01",
		"00-" + incomingTrace + "-" + incomingSpan + "-01\n",
	}
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "base")
	for _, in := range invalid {
		if got := ContextWithTraceParent(base, in); got != base {
			t.Errorf("ContextWithTraceParent(%q) changed the context", in)
		}
	}
}

func TestTraceParentWithoutSpan(t *testing.T) {
	if got := TraceParent(context.Background()); got != "" {
		t.Errorf("TraceParent of an empty context = %q, want \"\"", got)
	}
	if got := TraceID(context.Background()); got != "" {
		t.Errorf("TraceID of an empty context = %q, want \"\"", got)
	}
}

// traceParentPattern is an independent reading of the traceparent grammar,
// the oracle of the fuzz test.
var traceParentPattern = regexp.MustCompile(`(?s)^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^ \t]*|-.*[^ \t])?[ \t]*$`)

func FuzzContextWithTraceParent(f *testing.F) {
	f.Add("00-" + incomingTrace + "-" + incomingSpan + "-01")
	f.Add("00-" + incomingTrace + "-" + incomingSpan + "-00")
	f.Add("01-" + incomingTrace + "-" + incomingSpan + "-01-x")
	f.Add("ff-" + incomingTrace + "-" + incomingSpan + "-01")
	f.Add(" 00-00000000000000000000000000000000-0000000000000000-01\t")
	f.Add("")
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "base")
	f.Fuzz(func(t *testing.T, in string) {
		out := ContextWithTraceParent(base, in)
		wantValid := false
		var tid, sid, flags string
		if m := traceParentPattern.FindStringSubmatch(in); m != nil {
			tid, sid = m[2], m[3]
			flags = "00"
			if strings.ContainsRune("13579bdf", rune(m[4][1])) {
				flags = "01"
			}
			wantValid = m[1] != "ff" && !(m[1] == "00" && m[5] != "") &&
				tid != strings.Repeat("0", 32) && sid != strings.Repeat("0", 16)
		}
		if !wantValid {
			if out != base {
				t.Fatalf("invalid traceparent %q changed the context", in)
			}
			return
		}
		if out == base {
			t.Fatalf("valid traceparent %q left the context unchanged", in)
		}
		if out.Value(key{}) != "base" {
			t.Fatalf("%q: the new context lost its parent's values", in)
		}
		got := TraceParent(out)
		if want := "00-" + tid + "-" + sid + "-" + flags; got != want {
			t.Fatalf("TraceParent after %q = %q, want %q", in, got, want)
		}
		// Written back, it reads the same.
		if again := TraceParent(ContextWithTraceParent(context.Background(), got)); again != got {
			t.Fatalf("round trip of %q: %q", got, again)
		}
	})
}
