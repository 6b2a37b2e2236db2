package schedule

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/cronexpr"
)

// ErrInvalid reports a schedule expression or time zone that cannot be
// used; match with errors.Is. The message says what is wrong and shows a
// form that works.
var ErrInvalid = errors.New("invalid schedule")

type kind uint8

const (
	kindRate kind = iota + 1
	kindCron
	kindAt
)

// Limits of what Parse accepts.
const (
	minYear = 1970 // first year of cron(...)'s year field
	maxYear = 2199 // last year of cron(...)'s year field
	// lastComputedYear is the last year for which cron ticks are computed;
	// cronexpr's calendar ends there.
	lastComputedYear = 2099
	// maxRate bounds rate(): a period longer than a century is a mistake.
	maxRate = 100 * 365 * 24 * 60 * 60 // seconds
)

// Expression is a parsed schedule. It is safe for concurrent use.
type Expression struct {
	text   string
	kind   kind
	loc    *time.Location
	period int64     // kindRate: seconds between ticks
	at     time.Time // kindAt
	spec   *cronSpec // kindCron

	mu   sync.Mutex           // cronexpr's Next writes into its Expression
	cron *cronexpr.Expression // kindCron: every field but the year
}

// Parse parses a schedule expression evaluated in the IANA time zone
// timezone ("" is UTC). It accepts the EventBridge forms
//
//	rate(5 minutes)        every 5 minutes, aligned to the Unix epoch in UTC
//	cron(0 12 * * ? *)     minutes hours day-of-month month day-of-week year
//	at(2030-01-31T09:00:00) once
//
// and a plain five-field cron line, "0 12 * * 1-5" (minutes hours
// day-of-month month day-of-week, with 0 or 7 for Sunday). No form ticks
// more often than once a minute. Errors wrap ErrInvalid.
func Parse(expr, timezone string) (*Expression, error) {
	loc, err := loadLocation(timezone)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(expr)
	switch {
	case s == "":
		return nil, invalid(expr, "the expression is empty; e.g. rate(5 minutes), cron(0 12 * * ? *) or 0 12 * * *")
	case strings.HasPrefix(s, "rate("):
		return parseRate(expr, s, loc)
	case strings.HasPrefix(s, "cron("):
		return parseCron(expr, s, loc)
	case strings.HasPrefix(s, "at("):
		return parseAt(expr, s, loc)
	case strings.ContainsAny(s, "()"):
		return nil, invalid(expr, "unknown form; write rate(value unit), cron(minutes hours day-of-month month day-of-week year), at(yyyy-mm-ddThh:mm:ss) or a 5-field cron line, e.g. rate(5 minutes)")
	case strings.HasPrefix(s, "@"):
		return nil, invalid(expr, "cron macros such as @daily are not supported; write the fields, e.g. 0 0 * * * for daily at midnight")
	default:
		return parsePlain(expr, s, loc)
	}
}

// String returns the expression in its normal form: the form it was
// written in, with single spaces between fields.
func (e *Expression) String() string { return e.text }

// Next returns the first tick strictly after after, in the expression's
// time zone, or the zero Time when there is none (a past at(), a cron
// whose years are over).
func (e *Expression) Next(after time.Time) time.Time {
	switch e.kind {
	case kindRate:
		s := after.Unix()
		if s > math.MaxInt64-2*e.period {
			return time.Time{}
		}
		q := s / e.period
		if s%e.period < 0 {
			q-- // floor for times before 1970
		}
		return time.Unix((q+1)*e.period, 0).In(e.loc)
	case kindAt:
		if e.at.After(after) {
			return e.at
		}
		return time.Time{}
	case kindCron:
		return e.nextCron(after)
	}
	return time.Time{}
}

// nextCron evaluates the fields on the wall clock: cronexpr walks wall-clock
// readings written as UTC times, where no clock change exists, and each
// reading it finds is then placed in the time zone. A reading that does not
// exist (clocks went forward) is skipped; a reading that occurs twice
// (clocks went back) stands for its first occurrence only, so it fires once.
// The year field is applied here too: cronexpr's ends in 2099.
func (e *Expression) nextCron(after time.Time) time.Time {
	w := wallClock(after.In(e.loc))
	if first := time.Date(minYear, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Second); w.Before(first) {
		w = first
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Each round moves w forward: to the next matching reading or into a
	// later year. Skipped readings need a few rounds; the bound only
	// guards against a calendar surprise.
	for range 4096 {
		n := e.cron.Next(w)
		if n.IsZero() || !n.After(w) {
			return time.Time{}
		}
		if !e.spec.years.has(n.Year()) {
			y, ok := e.spec.years.from(n.Year() + 1)
			if !ok || y > lastComputedYear {
				return time.Time{}
			}
			w = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Second)
			continue
		}
		w = n
		if t, ok := instant(n, e.loc); ok && t.After(after) {
			return t
		}
	}
	return time.Time{}
}

// wallClock returns t's wall-clock reading as a UTC time.
func wallClock(t time.Time) time.Time {
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, m, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// instant returns the first instant at which loc's clock reads w (a
// reading written as a UTC time); ok is false when the clock never reads w.
func instant(w time.Time, loc *time.Location) (t time.Time, ok bool) {
	t = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	if !wallClock(t).Equal(w) {
		return time.Time{}, false // in a gap: clocks went forward over it
	}
	// time.Date may pick either occurrence of a repeated reading; prefer
	// the one before the clocks went back.
	if start, _ := t.ZoneBounds(); !start.IsZero() {
		_, off := t.Zone()
		_, prev := start.Add(-time.Nanosecond).Zone()
		if prev > off {
			if first := t.Add(-time.Duration(prev-off) * time.Second); wallClock(first).Equal(w) {
				t = first
			}
		}
	}
	return t, true
}

func loadLocation(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("%w: time zone Local differs from node to node; name an IANA zone, e.g. Europe/Berlin or UTC", ErrInvalid)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q is not an IANA time zone name; e.g. America/New_York, Asia/Seoul or UTC", ErrInvalid, name)
	}
	return loc, nil
}

func invalid(expr, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalid, expr, fmt.Sprintf(format, args...))
}

// inner returns what stands between "name(" and the closing parenthesis.
func inner(expr, s, name, example string) (string, error) {
	body, ok := strings.CutSuffix(strings.TrimPrefix(s, name+"("), ")")
	if !ok || strings.ContainsAny(body, "()") {
		return "", invalid(expr, "unbalanced parentheses; e.g. %s", example)
	}
	return body, nil
}

// Rate ------------------------------------------------------------------

var rateUnits = map[string]struct {
	seconds int64
	one     bool
	name    string // singular
}{
	"minute": {60, true, "minute"}, "minutes": {60, false, "minute"},
	"hour": {3600, true, "hour"}, "hours": {3600, false, "hour"},
	"day": {86400, true, "day"}, "days": {86400, false, "day"},
}

func parseRate(expr, s string, loc *time.Location) (*Expression, error) {
	body, err := inner(expr, s, "rate", "rate(5 minutes)")
	if err != nil {
		return nil, err
	}
	f := strings.Fields(body)
	if len(f) != 2 {
		return nil, invalid(expr, "want rate(value unit), e.g. rate(5 minutes) or rate(1 hour)")
	}
	if !digits(f[0]) || len(f[0]) > 10 {
		return nil, invalid(expr, "value %q is not a positive whole number; e.g. rate(5 minutes)", f[0])
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	if n == 0 {
		return nil, invalid(expr, "value must be positive; e.g. rate(1 minute)")
	}
	u, ok := rateUnits[f[1]]
	if !ok {
		return nil, invalid(expr, "unit %q: use minute(s), hour(s) or day(s); the shortest rate is rate(1 minute)", f[1])
	}
	if n == 1 && !u.one {
		return nil, invalid(expr, "with 1, the unit is singular: rate(1 %s)", u.name)
	}
	if n != 1 && u.one {
		return nil, invalid(expr, "with %d, the unit is plural: rate(%d %ss)", n, n, u.name)
	}
	if n > maxRate/u.seconds {
		return nil, invalid(expr, "a rate can be at most 100 years; e.g. rate(365 days)")
	}
	return &Expression{
		text:   "rate(" + strconv.FormatInt(n, 10) + " " + f[1] + ")",
		kind:   kindRate,
		loc:    loc,
		period: n * u.seconds,
	}, nil
}

// At --------------------------------------------------------------------

const atLayout = "2006-01-02T15:04:05"

func parseAt(expr, s string, loc *time.Location) (*Expression, error) {
	body, err := inner(expr, s, "at", "at(2030-01-31T09:00:00)")
	if err != nil {
		return nil, err
	}
	body = strings.TrimSpace(body)
	t, err := time.ParseInLocation(atLayout, body, loc)
	if err != nil || len(body) != len(atLayout) {
		return nil, invalid(expr, "want at(yyyy-mm-ddThh:mm:ss) with a valid date and time, e.g. at(2030-01-31T09:00:00)")
	}
	return &Expression{text: "at(" + body + ")", kind: kindAt, loc: loc, at: t}, nil
}

// Cron ------------------------------------------------------------------

func parseCron(expr, s string, loc *time.Location) (*Expression, error) {
	body, err := inner(expr, s, "cron", "cron(0 12 * * ? *)")
	if err != nil {
		return nil, err
	}
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, invalid(expr, "cron(...) has 6 fields (minutes hours day-of-month month day-of-week year), not %d; e.g. cron(0 12 * * ? *) for 12:00 every day", len(f))
	}
	spec, err := parseFields(f, true)
	if err != nil {
		return nil, invalid(expr, "%s", err)
	}
	return newCron(expr, "cron("+strings.Join(f, " ")+")", spec, loc)
}

func parsePlain(expr, s string, loc *time.Location) (*Expression, error) {
	f := strings.Fields(s)
	switch {
	case len(f) == 6:
		return nil, invalid(expr, "6 fields need the EventBridge form: cron(%s)", strings.Join(f, " "))
	case len(f) != 5:
		return nil, invalid(expr, "a cron line has 5 fields (minutes hours day-of-month month day-of-week), not %d; e.g. 0 12 * * 1-5", len(f))
	}
	spec, err := parseFields(f, false)
	if err != nil {
		return nil, invalid(expr, "%s", err)
	}
	return newCron(expr, strings.Join(f, " "), spec, loc)
}

func newCron(expr, text string, spec *cronSpec, loc *time.Location) (*Expression, error) {
	c, err := cronexpr.Parse(spec.cronexpr())
	if err != nil {
		// The fields were checked above; this is a translation mistake.
		return nil, invalid(expr, "cannot be evaluated (%v)", err)
	}
	// A day-of-month that no month has (31 in a month list without 31
	// days, 30 in February) never fires in any year.
	if c.Next(time.Date(minYear, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, invalid(expr, "no date matches these day-of-month, month and day-of-week fields; e.g. day 30 never falls in month 2")
	}
	return &Expression{text: text, kind: kindCron, loc: loc, spec: spec, cron: c}, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
