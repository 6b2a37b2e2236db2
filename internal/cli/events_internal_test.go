package cli

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWhen(t *testing.T) {
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now, "(now)"},
		{now.Add(500 * time.Millisecond), "(now)"},
		{now.Add(12 * time.Second), "(in 12s)"},
		{now.Add(4*time.Minute + 59*time.Second), "(in 4m)"},
		{now.Add(-90 * time.Minute), "(1h ago)"},
		{now.Add(47 * time.Hour), "(in 47h)"},
		{now.Add(-72 * time.Hour), "(3d ago)"},
	} {
		got := when(c.t, now)
		if !strings.HasSuffix(got, c.want) {
			t.Errorf("when(%v) = %q, want it to end in %q", c.t.Sub(now), got, c.want)
		}
		if !c.t.IsZero() && !strings.HasPrefix(got, c.t.Local().Format(time.DateTime)) {
			t.Errorf("when(%v) = %q, want the local date and time first", c.t.Sub(now), got)
		}
	}
}

// FuzzMessageAttributes: --attr and --number-attr values are either refused
// with a message naming the flag, or become attributes that hold exactly
// what was given.
func FuzzMessageAttributes(f *testing.F) {
	for _, s := range []string{"k=v", "n=1.5", "a=b=c", "=v", "k", "k=", "n=1e400", "n=NaN", "n=0x1p-2", "k=v,w"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, str, num string) {
		attrs, err := messageAttributes([]string{str}, []string{num})
		if err != nil {
			if attrs != nil || !strings.HasPrefix(err.Error(), "--attr ") && !strings.HasPrefix(err.Error(), "--number-attr ") {
				t.Fatalf("error %q (attributes %v)", err, attrs)
			}
			return
		}
		sk, sv, _ := strings.Cut(str, "=")
		nk, nv, _ := strings.Cut(num, "=")
		if sk == nk || len(attrs) != 2 {
			t.Fatalf("%q and %q gave %v", str, num, attrs)
		}
		if a := attrs[sk]; a.DataType != "String" || a.StringValue != sv {
			t.Fatalf("--attr %q gave %+v", str, a)
		}
		if a := attrs[nk]; a.DataType != "Number" || a.StringValue != nv {
			t.Fatalf("--number-attr %q gave %+v", num, a)
		}
		if n, err := strconv.ParseFloat(nv, 64); err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			t.Fatalf("--number-attr %q accepted a non-number", num)
		}
	})
}
