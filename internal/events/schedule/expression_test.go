package schedule

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func rfc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ticks returns the first n ticks after after (fewer when they end).
func ticks(e *Expression, after time.Time, n int) []time.Time {
	var out []time.Time
	for range n {
		next := e.Next(after)
		if next.IsZero() {
			break
		}
		out = append(out, next)
		after = next
	}
	return out
}

func TestNext(t *testing.T) {
	tests := []struct {
		expr, tz string
		after    string
		want     []string // RFC 3339; fewer than 3 means the ticks end
	}{
		// EventBridge's documented examples.
		{"cron(0 10 * * ? *)", "", "2024-05-01T09:00:00Z",
			[]string{"2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z", "2024-05-03T10:00:00Z"}},
		{"cron(15 12 * * ? *)", "", "2024-05-01T12:15:00Z",
			[]string{"2024-05-02T12:15:00Z", "2024-05-03T12:15:00Z", "2024-05-04T12:15:00Z"}},
		{"cron(0 18 ? * MON-FRI *)", "", "2024-05-03T19:00:00Z", // a Friday
			[]string{"2024-05-06T18:00:00Z", "2024-05-07T18:00:00Z", "2024-05-08T18:00:00Z"}},
		{"cron(0 8 1 * ? *)", "", "2024-05-01T08:00:00Z",
			[]string{"2024-06-01T08:00:00Z", "2024-07-01T08:00:00Z", "2024-08-01T08:00:00Z"}},
		{"cron(0/15 * * * ? *)", "", "2024-05-01T10:07:00Z",
			[]string{"2024-05-01T10:15:00Z", "2024-05-01T10:30:00Z", "2024-05-01T10:45:00Z"}},
		{"cron(0/10 * ? * MON-FRI *)", "", "2024-05-03T23:55:00Z",
			[]string{"2024-05-06T00:00:00Z", "2024-05-06T00:10:00Z", "2024-05-06T00:20:00Z"}},
		{"cron(0/5 8-17 ? * MON-FRI *)", "", "2024-05-06T17:50:00Z",
			[]string{"2024-05-06T17:55:00Z", "2024-05-07T08:00:00Z", "2024-05-07T08:05:00Z"}},
		{"cron(0 9 ? * 2#1 *)", "", "2024-05-01T00:00:00Z", // first Monday
			[]string{"2024-05-06T09:00:00Z", "2024-06-03T09:00:00Z", "2024-07-01T09:00:00Z"}},
		{"cron(0 12 L * ? *)", "", "2024-02-01T00:00:00Z",
			[]string{"2024-02-29T12:00:00Z", "2024-03-31T12:00:00Z", "2024-04-30T12:00:00Z"}},

		// EventBridge day-of-week numbering: 1 is Sunday, 7 Saturday.
		{"cron(0 12 ? * 1 *)", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-05T12:00:00Z", "2024-05-12T12:00:00Z", "2024-05-19T12:00:00Z"}},
		{"cron(0 12 ? * SUN *)", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-05T12:00:00Z", "2024-05-12T12:00:00Z", "2024-05-19T12:00:00Z"}},
		{"cron(0 12 ? * 7 *)", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-04T12:00:00Z", "2024-05-11T12:00:00Z", "2024-05-18T12:00:00Z"}},
		{"cron(0 12 ? * L *)", "", "2024-05-01T00:00:00Z", // L alone: Saturday
			[]string{"2024-05-04T12:00:00Z", "2024-05-11T12:00:00Z", "2024-05-18T12:00:00Z"}},
		{"cron(0 12 ? * 6-7 *)", "", "2024-05-01T00:00:00Z", // Friday, Saturday
			[]string{"2024-05-03T12:00:00Z", "2024-05-04T12:00:00Z", "2024-05-10T12:00:00Z"}},
		{"cron(0 12 ? * 1-2 *)", "", "2024-05-01T00:00:00Z", // Sunday, Monday
			[]string{"2024-05-05T12:00:00Z", "2024-05-06T12:00:00Z", "2024-05-12T12:00:00Z"}},
		{"cron(0 12 ? * 1/3 *)", "", "2024-05-01T00:00:00Z", // Sunday, Wednesday, Saturday
			[]string{"2024-05-01T12:00:00Z", "2024-05-04T12:00:00Z", "2024-05-05T12:00:00Z"}},
		{"cron(0 12 ? * FRI-SAT,SUN-MON *)", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-03T12:00:00Z", "2024-05-04T12:00:00Z", "2024-05-05T12:00:00Z"}},
		{"cron(0 12 ? * 6L *)", "", "2024-05-01T00:00:00Z", // last Friday
			[]string{"2024-05-31T12:00:00Z", "2024-06-28T12:00:00Z", "2024-07-26T12:00:00Z"}},
		{"cron(0 12 ? * FRIL *)", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-31T12:00:00Z", "2024-06-28T12:00:00Z", "2024-07-26T12:00:00Z"}},
		{"cron(0 12 ? * 7#5 *)", "", "2024-05-01T00:00:00Z", // fifth Saturday
			[]string{"2024-06-29T12:00:00Z", "2024-08-31T12:00:00Z", "2024-11-30T12:00:00Z"}},
		{"cron(0 12 ? * SUN#2,1#4 *)", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-12T12:00:00Z", "2024-05-26T12:00:00Z", "2024-06-09T12:00:00Z"}},
		{"cron(0 12 LW * ? *)", "", "2024-08-01T00:00:00Z", // Aug 31 is a Saturday, Nov 30 too
			[]string{"2024-08-30T12:00:00Z", "2024-09-30T12:00:00Z", "2024-10-31T12:00:00Z"}},
		{"cron(0 12 15W * ? *)", "", "2024-06-01T00:00:00Z", // Jun 15 Saturday, Sep 15 Sunday
			[]string{"2024-06-14T12:00:00Z", "2024-07-15T12:00:00Z", "2024-08-15T12:00:00Z"}},
		{"cron(0 12 15W 9 ? *)", "", "2024-06-01T00:00:00Z",
			[]string{"2024-09-16T12:00:00Z", "2025-09-15T12:00:00Z", "2026-09-15T12:00:00Z"}},
		{"cron(0 12 1W * ? *)", "", "2024-05-15T00:00:00Z", // Jun 1 Saturday: Monday the 3rd
			[]string{"2024-06-03T12:00:00Z", "2024-07-01T12:00:00Z", "2024-08-01T12:00:00Z"}},
		{"cron(0 0 1 JAN,jul ? *)", "", "2024-05-01T00:00:00Z",
			[]string{"2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z"}},
		{"cron(* * * * ? *)", "", "2024-05-01T00:00:30Z",
			[]string{"2024-05-01T00:01:00Z", "2024-05-01T00:02:00Z", "2024-05-01T00:03:00Z"}},

		// The year field.
		{"cron(0 0 1 1 ? 2030)", "", "2024-05-01T00:00:00Z", []string{"2030-01-01T00:00:00Z"}},
		{"cron(0 0 1 1 ? 2025,2027)", "", "2024-05-01T00:00:00Z",
			[]string{"2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"cron(0 0 1 1 ? 2030/10)", "", "2024-05-01T00:00:00Z",
			[]string{"2030-01-01T00:00:00Z", "2040-01-01T00:00:00Z", "2050-01-01T00:00:00Z"}},
		{"cron(0 0 29 2 ? 2025-2027)", "", "2024-05-01T00:00:00Z", nil},
		{"cron(0 0 1 1 ? 2098-2150)", "", "2097-05-01T00:00:00Z",
			[]string{"2098-01-01T00:00:00Z", "2099-01-01T00:00:00Z"}}, // none computed after 2099
		{"cron(0 0 * * ? 2020)", "", "2024-05-01T00:00:00Z", nil},

		// Plain five-field cron: Sunday is 0 and 7.
		{"0 12 * * 1-5", "", "2024-05-03T12:00:00Z",
			[]string{"2024-05-06T12:00:00Z", "2024-05-07T12:00:00Z", "2024-05-08T12:00:00Z"}},
		{"0 12 * * 0", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-05T12:00:00Z", "2024-05-12T12:00:00Z", "2024-05-19T12:00:00Z"}},
		{"0 12 * * 7", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-05T12:00:00Z", "2024-05-12T12:00:00Z", "2024-05-19T12:00:00Z"}},
		{"0 12 * * 5-7", "", "2024-05-01T00:00:00Z", // Friday to Sunday
			[]string{"2024-05-03T12:00:00Z", "2024-05-04T12:00:00Z", "2024-05-05T12:00:00Z"}},
		{"0 9 * * mon", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-06T09:00:00Z", "2024-05-13T09:00:00Z", "2024-05-20T09:00:00Z"}},
		{"*/20 * * * *", "", "2024-05-01T10:00:00Z",
			[]string{"2024-05-01T10:20:00Z", "2024-05-01T10:40:00Z", "2024-05-01T11:00:00Z"}},
		{"0 0 13 * 5", "", "2024-09-01T00:00:00Z", // the 13th or a Friday
			[]string{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z"}},
		{"0 0 29 2 *", "", "2024-05-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"}},
		{"  5  4 * * *  ", "", "2024-05-01T00:00:00Z",
			[]string{"2024-05-01T04:05:00Z", "2024-05-02T04:05:00Z", "2024-05-03T04:05:00Z"}},

		// rate(): aligned to the Unix epoch in UTC, whatever the zone.
		{"rate(5 minutes)", "", "2024-05-01T10:07:30Z",
			[]string{"2024-05-01T10:10:00Z", "2024-05-01T10:15:00Z", "2024-05-01T10:20:00Z"}},
		{"rate(1 minute)", "", "2024-05-01T10:07:00Z",
			[]string{"2024-05-01T10:08:00Z", "2024-05-01T10:09:00Z", "2024-05-01T10:10:00Z"}},
		{"rate(1 hour)", "Asia/Kolkata", "2024-05-01T10:00:00Z", // +05:30 does not shift it
			[]string{"2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z"}},
		{"rate(2 hours)", "", "2024-05-01T01:00:00Z",
			[]string{"2024-05-01T02:00:00Z", "2024-05-01T04:00:00Z", "2024-05-01T06:00:00Z"}},
		{"rate(1 day)", "Asia/Seoul", "2024-05-01T10:00:00Z",
			[]string{"2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z", "2024-05-04T00:00:00Z"}},
		{"rate(7 days)", "", "2024-05-01T00:00:00Z", // weeks from Thursday 1970-01-01
			[]string{"2024-05-02T00:00:00Z", "2024-05-09T00:00:00Z", "2024-05-16T00:00:00Z"}},
		{"rate(1 minute)", "", "1969-12-31T23:58:30Z",
			[]string{"1969-12-31T23:59:00Z", "1970-01-01T00:00:00Z", "1970-01-01T00:01:00Z"}},

		// at(): once, in the zone.
		{"at(2030-01-31T09:00:00)", "", "2024-05-01T00:00:00Z", []string{"2030-01-31T09:00:00Z"}},
		{"at(2030-01-31T09:00:00)", "Asia/Seoul", "2024-05-01T00:00:00Z", []string{"2030-01-31T00:00:00Z"}},
		{"at(2020-01-31T09:00:00)", "", "2024-05-01T00:00:00Z", nil},
		{"at(2030-01-31T09:00:00)", "", "2030-01-31T09:00:00Z", nil},

		// Time zones and daylight saving time.
		{"cron(0 9 * * ? *)", "America/New_York", "2024-03-09T00:00:00Z",
			[]string{"2024-03-09T09:00:00-05:00", "2024-03-10T09:00:00-04:00", "2024-03-11T09:00:00-04:00"}},
		{"0 9 * * *", "Europe/Berlin", "2024-10-26T00:00:00Z",
			[]string{"2024-10-26T09:00:00+02:00", "2024-10-27T09:00:00+01:00", "2024-10-28T09:00:00+01:00"}},
		// Spring forward: 02:30 does not exist on 2024-03-10 and is skipped.
		{"cron(30 2 * * ? *)", "America/New_York", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00", "2024-03-13T02:30:00-04:00"}},
		{"cron(0 * * * ? *)", "America/New_York", "2024-03-10T00:30:00-05:00",
			[]string{"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"}},
		{"cron(0 2 * * ? *)", "Europe/Berlin", "2024-03-30T12:00:00+01:00",
			[]string{"2024-04-01T02:00:00+02:00", "2024-04-02T02:00:00+02:00", "2024-04-03T02:00:00+02:00"}},
		// Fall back: 01:30 happens twice on 2024-11-03 and fires once.
		{"cron(30 1 * * ? *)", "America/New_York", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00", "2024-11-05T01:30:00-05:00"}},
		{"cron(0 * * * ? *)", "America/New_York", "2024-11-03T00:30:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-03T02:00:00-05:00", "2024-11-03T03:00:00-05:00"}},
		{"cron(30 1 * * ? *)", "America/New_York", "2024-11-03T01:45:00-04:00", // started between the two
			[]string{"2024-11-04T01:30:00-05:00", "2024-11-05T01:30:00-05:00", "2024-11-06T01:30:00-05:00"}},
		// Clocks change at midnight: the skipped and the repeated midnight.
		{"0 0 * * *", "America/Havana", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-11T00:00:00-04:00", "2024-03-12T00:00:00-04:00", "2024-03-13T00:00:00-04:00"}},
		{"0 0 * * *", "America/Havana", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T00:00:00-04:00", "2024-11-04T00:00:00-05:00", "2024-11-05T00:00:00-05:00"}},
		// Half-hour shift: 01:30-02:00 repeats on 2024-04-07 at Lord Howe.
		{"cron(45 1 * * ? *)", "Australia/Lord_Howe", "2024-04-06T12:00:00+11:00",
			[]string{"2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30", "2024-04-09T01:45:00+10:30"}},
		// at() in a zone.
		{"at(2024-07-01T09:00:00)", "America/New_York", "2024-01-01T00:00:00Z", []string{"2024-07-01T13:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.expr+"@"+tc.tz, func(t *testing.T) {
			e, err := Parse(tc.expr, tc.tz)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := ticks(e, rfc(t, tc.after), 3)
			if len(got) != len(tc.want) {
				t.Fatalf("Next from %s: got %v, want %v", tc.after, got, tc.want)
			}
			for i, w := range tc.want {
				if !got[i].Equal(rfc(t, w)) {
					t.Errorf("tick %d: got %s, want %s", i, got[i].Format(time.RFC3339), w)
				}
			}
		})
	}
}

func TestNextReturnsZoneTime(t *testing.T) {
	e, err := Parse("cron(0 9 * * ? *)", "Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	n := e.Next(rfc(t, "2024-05-01T00:00:00Z"))
	if n.Location().String() != "Asia/Seoul" || n.Hour() != 9 {
		t.Errorf("Next = %s in %s, want 09:00 in Asia/Seoul", n, n.Location())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ expr, tz, want string }{
		{"", "", "empty"},
		{"   ", "", "empty"},
		{"rate(0 minutes)", "", "positive"},
		{"rate(1 minutes)", "", "rate(1 minute)"},
		{"rate(5 minute)", "", "rate(5 minutes)"},
		{"rate(1 hours)", "", "rate(1 hour)"},
		{"rate(1 second)", "", "rate(1 minute)"},
		{"rate(30 seconds)", "", "minute(s), hour(s) or day(s)"},
		{"rate(five minutes)", "", "positive whole number"},
		{"rate(-5 minutes)", "", "positive whole number"},
		{"rate(+5 minutes)", "", "positive whole number"},
		{"rate(5)", "", "rate(value unit)"},
		{"rate(5 minutes", "", "parentheses"},
		{"rate(5 minutes))", "", "parentheses"},
		{"rate(99999999 days)", "", "100 years"},
		{"rate(5 weeks)", "", "unit"},
		{"RATE(5 minutes)", "", "unknown form"},
		{"every(5 minutes)", "", "unknown form"},
		{"@daily", "", "0 0 * * *"},
		{"cron(0 10 * * *)", "", "6 fields"},
		{"cron(0 10 * * ? * *)", "", "6 fields"},
		{"cron(0 10 * * * *)", "", "one of them must be ?"},
		{"cron(0 10 1 * MON *)", "", "one of them must be ?"},
		{"cron(0 10 ? * ? *)", "", "cannot both be ?"},
		{"cron(60 10 * * ? *)", "", "minutes: 60 is out of range; use 0-59"},
		{"cron(0 24 * * ? *)", "", "hours: 24 is out of range"},
		{"cron(0 0 0 * ? *)", "", "day-of-month: 0 is out of range"},
		{"cron(0 0 32 * ? *)", "", "day-of-month: 32 is out of range"},
		{"cron(0 0 * 13 ? *)", "", "month: 13 is out of range"},
		{"cron(0 0 * FOO ? *)", "", `month: "FOO" is not a valid value`},
		{"cron(0 0 ? * 0 *)", "", "1 is Sunday"},
		{"cron(0 0 ? * 8 *)", "", "day-of-week: 8 is out of range"},
		{"cron(0 0 ? * FRI-MON *)", "", "FRI-SAT,SUN-MON"},
		{"cron(0 0 ? * 6-2 *)", "", "6-7,1-2"},
		{"cron(0 22-2 * * ? *)", "", "22-23,0-2"},
		{"cron(0 0 ? * 2#6 *)", "", "must be 1-5"},
		{"cron(0 0 ? * 2#0 *)", "", "must be 1-5"},
		{"cron(0 0 ? * 9L *)", "", "day-of-week: 9 is out of range"},
		{"cron(0 0 32W * ? *)", "", "day-of-month: 32 is out of range"},
		{"cron(0 0 * * ? 1969)", "", "year: 1969 is out of range"},
		{"cron(0 0 * * ? 2200)", "", "year: 2200 is out of range"},
		{"cron(0 0 30 2 ? *)", "", "no date matches"},
		{"cron(0 0 31 4,6,9,11 ? *)", "", "no date matches"},
		{"cron(0/0 * * * ? *)", "", "step 0"},
		{"cron(0/60 * * * ? *)", "", "between 1 and 59"},
		{"cron(0/x * * * ? *)", "", "not a whole number"},
		{"cron(0 0 1,,2 * ? *)", "", "empty item"},
		{"cron(0 0 *,1 * ? *)", "", "* must stand alone"},
		{"cron(0 0 1,? * ? *)", "", "? must stand alone"},
		{"cron(0 0 ? * MON,? *)", "", "? must stand alone"},
		{"cron(0 0 1- * ? *)", "", "a value is missing"},
		{"cron(0 0 L/2 * ? *)", "", "not a valid value"},
		{"0 12 * * 8", "", "day-of-week: 8 is out of range; use 0-7"},
		{"0 12 ? * 1", "", "? belongs to the EventBridge form"},
		{"0 12 * * ?", "", "? belongs to the EventBridge form"},
		{"0 12 L * *", "", "needs the EventBridge form"},
		{"0 12 15W * *", "", "needs the EventBridge form"},
		{"0 12 * * 1#2", "", "needs the EventBridge form"},
		{"0 12 * * 5L", "", "needs the EventBridge form"},
		{"0 12 * *", "", "5 fields"},
		{"0 12 * * * *", "", "cron(0 12 * * * *)"},
		{"every 5 minutes", "", "5 fields"},
		{"at(2030-01-31)", "", "at(yyyy-mm-ddThh:mm:ss)"},
		{"at(2030-02-30T09:00:00)", "", "at(yyyy-mm-ddThh:mm:ss)"},
		{"at(2030-01-31T09:00:00.5)", "", "at(yyyy-mm-ddThh:mm:ss)"},
		{"at(2030-01-31 09:00:00)", "", "at(yyyy-mm-ddThh:mm:ss)"},
		{"rate(5 minutes)", "Mars/Olympus_Mons", "IANA time zone"},
		{"rate(5 minutes)", "Local", "differs from node to node"},
		{"rate(5 minutes)", "../../etc/passwd", "IANA time zone"},
	}
	for _, tc := range tests {
		t.Run(tc.expr+"@"+tc.tz, func(t *testing.T) {
			e, err := Parse(tc.expr, tc.tz)
			if err == nil {
				t.Fatalf("Parse = %s, want an error", e)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"rate(5 minutes)", "rate(5 minutes)"},
		{"  rate( 5   minutes )  ", "rate(5 minutes)"},
		{"cron( 0  10 * * ? * )", "cron(0 10 * * ? *)"},
		{"0  12 * *   1-5", "0 12 * * 1-5"},
		{"at( 2030-01-31T09:00:00 )", "at(2030-01-31T09:00:00)"},
	}
	for _, tc := range tests {
		e, err := Parse(tc.expr, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.expr, err)
		}
		if got := e.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.expr, got, tc.want)
		}
		again, err := Parse(e.String(), "")
		if err != nil || again.String() != e.String() {
			t.Errorf("Parse(String()) = %v, %v; want the same expression", again, err)
		}
	}
}

// TestCronMatchesReference compares Next with a direct, minute-by-minute
// evaluation of the parsed fields on the wall clock, applying the daylight
// saving policy (skip what does not exist, fire a repeated time once).
func TestCronMatchesReference(t *testing.T) {
	// Day-of-month and day-of-week rules, over many months.
	calendar := []string{
		"cron(0 9 ? * 2#1 *)", "cron(0 12 L * ? *)", "cron(30 2 LW * ? *)",
		"cron(0 0 15W,1W,31W * ? *)", "cron(0 23 ? * 6L,2L *)", "cron(0 0 ? * SUN#5,WED#2 *)",
		"cron(0 0 ? * L *)", "cron(0 6 29 2 ? *)", "cron(0 0 1-7 * ? 2024,2025)",
		"0 0 13 * 5", "0 12 * * 0,7", "0 0 1-7 * 1", "59 23 31 12 *", "0 0 * * 6-7",
	}
	// Time-of-day rules, on the days clocks change.
	clock := append([]string{
		"cron(0 10 * * ? *)", "cron(0/15 * * * ? *)", "cron(0/5 8-17 ? * MON-FRI *)",
		"cron(0 0/3 ? * 1,7 *)", "cron(15,45 * ? JAN-MAR,NOV * *)", "cron(0 1-3 * * ? *)",
		"cron(30 0 * * ? *)", "*/7 2 * * *", "0 * * * *", "0 0 * * *", "* 1-2 * * *",
	}, calendar...)
	zones := []string{"America/New_York", "Europe/Berlin", "America/Havana", "Australia/Lord_Howe", "Africa/Cairo", "Asia/Kolkata"}

	check := func(t *testing.T, expr, zone string, start, end time.Time) {
		t.Helper()
		e, err := Parse(expr, zone)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		want := referenceTicks(e.spec, mustLoad(t, zone), start, end)
		var got []time.Time
		for n := e.Next(start.Add(-time.Second)); !n.IsZero() && n.Before(end); n = e.Next(n) {
			got = append(got, n)
		}
		if diff := firstDifference(got, want); diff != "" {
			t.Errorf("%s in %s, %s to %s: %s", expr, zone, start.Format(time.RFC3339), end.Format(time.RFC3339), diff)
		}
	}
	for _, expr := range calendar {
		check(t, expr, "UTC", rfc(t, "2024-01-01T00:00:00Z"), rfc(t, "2025-07-01T00:00:00Z"))
	}
	for _, zone := range zones {
		loc := mustLoad(t, zone)
		changes := 0
		for at := rfc(t, "2024-01-01T00:00:00Z"); ; {
			_, end := at.In(loc).ZoneBounds()
			if end.IsZero() || end.Year() > 2024 {
				break
			}
			changes++
			for _, expr := range clock {
				check(t, expr, zone, end.Add(-50*time.Hour), end.Add(50*time.Hour))
			}
			at = end
		}
		if changes == 0 && zone != "Asia/Kolkata" {
			t.Errorf("%s: no clock change found in 2024", zone)
		}
		if zone == "Asia/Kolkata" { // no clock changes: a plain stretch
			for _, expr := range clock {
				check(t, expr, zone, rfc(t, "2024-03-01T00:00:00Z"), rfc(t, "2024-03-08T00:00:00Z"))
			}
		}
	}
}

func firstDifference(got, want []time.Time) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return "missing tick " + want[i].Format(time.RFC3339)
		case i >= len(want):
			return "extra tick " + got[i].Format(time.RFC3339)
		case !got[i].Equal(want[i]):
			return "got tick " + got[i].Format(time.RFC3339) + ", want " + want[i].Format(time.RFC3339)
		}
	}
	return ""
}

// referenceTicks lists the instants in [start, end) whose wall clock in loc
// matches s, each wall-clock reading counted the first time it occurs.
func referenceTicks(s *cronSpec, loc *time.Location, start, end time.Time) []time.Time {
	var out []time.Time
	var latestWall int64
	var off int
	var zoneEnd time.Time // the zone's offset holds until here
	for u := start.Truncate(time.Minute); u.Before(end); u = u.Add(time.Minute) {
		if zoneEnd.IsZero() || !u.Before(zoneEnd) {
			l := u.In(loc)
			_, off = l.Zone()
			_, zoneEnd = l.ZoneBounds()
			if zoneEnd.IsZero() {
				zoneEnd = end
			}
		}
		wall := u.Unix() + int64(off)
		if wall <= latestWall {
			continue // this reading already occurred
		}
		latestWall = wall
		if !u.Before(start) && referenceMatch(s, time.Unix(wall, 0).UTC()) {
			out = append(out, u)
		}
	}
	return out
}

// referenceMatch reports whether the wall-clock reading w (written as a
// UTC time) matches s.
func referenceMatch(s *cronSpec, w time.Time) bool {
	h, mi, sec := w.Clock()
	if sec != 0 || !s.minutes[mi] || !s.hours[h] {
		return false
	}
	y, m, d := w.Date()
	if !s.months[m] || !s.years.has(y) {
		return false
	}
	lastDay := time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC).Day()
	weekday := func(day int) time.Weekday { return time.Date(y, m, day, 12, 0, 0, 0, time.UTC).Weekday() }
	wd := int(weekday(d))

	domOK := s.dom.days[d] || s.dom.last && d == lastDay
	if s.dom.lastWeekday {
		lw := lastDay
		switch weekday(lastDay) {
		case time.Saturday:
			lw--
		case time.Sunday:
			lw -= 2
		}
		domOK = domOK || d == lw
	}
	for n := 1; n <= lastDay; n++ {
		if !s.dom.weekday[n] {
			continue
		}
		near := n
		switch weekday(n) {
		case time.Saturday:
			if near--; near < 1 {
				near = n + 2
			}
		case time.Sunday:
			if near++; near > lastDay {
				near = n - 2
			}
		}
		domOK = domOK || d == near
	}
	dowOK := s.dow.days[wd] || s.dow.last[wd] && d+7 > lastDay || s.dow.nth[wd][(d-1)/7+1]

	switch {
	case s.dom.any && s.dow.any:
		return true
	case s.dom.any:
		return dowOK
	case s.dow.any:
		return domOK
	default:
		return domOK || dowOK
	}
}

func TestNextConcurrent(t *testing.T) {
	e, err := Parse("cron(0/5 8-17 ? * MON-FRI *)", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	after := rfc(t, "2024-05-01T00:00:00Z")
	want := ticks(e, after, 50)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got := ticks(e, after, 50)
			if diff := firstDifference(got, want); diff != "" {
				t.Errorf("concurrent Next: %s", diff)
			}
		})
	}
	wg.Wait()
}
