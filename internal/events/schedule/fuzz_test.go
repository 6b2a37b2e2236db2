package schedule

import (
	"errors"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"rate(5 minutes)", "rate(1 minute)", "rate(1 day)", "rate(0 hours)", "rate(1 minutes)",
		"cron(0 10 * * ? *)", "cron(0/15 * * * ? *)", "cron(0/5 8-17 ? * MON-FRI *)",
		"cron(0 9 ? * 2#1 *)", "cron(0 12 L * ? *)", "cron(0 12 LW * ? *)", "cron(0 12 15W * ? *)",
		"cron(0 12 ? * 6L *)", "cron(0 12 ? * L *)", "cron(0 0 1 1 ? 2030/10)", "cron(0 0 30 2 ? *)",
		"cron(0 0 ? * FRI-MON *)", "cron(* * * * ? *)", "cron(0 0 1,,2 * ? *)",
		"0 12 * * 1-5", "*/20 * * * *", "0 0 13 * 5", "0 12 * * 7", "0 0 29 2 *", "@daily",
		"at(2030-01-31T09:00:00)", "at(2024-11-03T01:30:00)", "at(2030-02-30T09:00:00)", "",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
	}
	zones := []string{"", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"}
	f.Fuzz(func(t *testing.T, expr string, zone uint8) {
		tz := zones[int(zone)%len(zones)]
		e, err := Parse(expr, tz)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q, %q): error %v does not wrap ErrInvalid", expr, tz, err)
			}
			return
		}
		again, err := Parse(e.String(), tz)
		if err != nil || again.String() != e.String() {
			t.Fatalf("Parse(%q).String() = %q does not parse to itself: %v, %v", expr, e.String(), again, err)
		}
		for _, start := range []time.Time{
			time.Date(2024, 11, 2, 12, 0, 0, 0, time.UTC),  // before a clock change in New York
			time.Date(2024, 4, 6, 14, 29, 30, 0, time.UTC), // before one at Lord Howe
		} {
			prev := start
			for i := range 6 {
				n := e.Next(prev)
				if n.IsZero() {
					break
				}
				if !n.After(prev) {
					t.Fatalf("%s: Next(%s) = %s, not after it", e, prev, n)
				}
				switch e.kind {
				case kindAt:
					if i > 0 {
						t.Fatalf("%s: at() ticked twice: %s", e, n)
					}
				case kindRate, kindCron:
					if n.Second() != 0 || n.Nanosecond() != 0 {
						t.Fatalf("%s: tick %s is not on a whole minute", e, n)
					}
					if i > 0 && n.Sub(prev) < time.Minute {
						t.Fatalf("%s: ticks %s and %s are less than a minute apart", e, prev, n)
					}
				}
				if e.kind == kindCron && !referenceMatch(e.spec, wallClock(n)) {
					t.Fatalf("%s: tick %s does not match the fields", e, n)
				}
				prev = n
			}
		}
	})
}
