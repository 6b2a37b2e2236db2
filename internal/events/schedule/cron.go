package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// cronSpec is a checked cron expression in one numbering for both forms:
// day-of-week 0 is Sunday. It is translated to cronexpr's syntax with every
// list spelled out, so that ranges, steps, L and # mean the same whatever
// numbering the expression was written in.
type cronSpec struct {
	minutes [60]bool
	hours   [24]bool
	months  [13]bool // 1..12
	dom     daySpec
	dow     weekSpec
	years   yearSet
}

// daySpec is the day-of-month field.
type daySpec struct {
	any         bool     // * or ?: no restriction
	days        [32]bool // 1..31
	last        bool     // L: the last day of the month
	lastWeekday bool     // LW: the last weekday (Monday to Friday) of the month
	weekday     [32]bool // 15W: the weekday nearest the 15th, within the month
}

// weekSpec is the day-of-week field, Sunday = 0.
type weekSpec struct {
	any  bool       // * or ?: no restriction
	days [7]bool    // every such day
	last [7]bool    // 5L: the last Friday of the month
	nth  [7][6]bool // 1#2: the second Monday of the month (1..5)
}

// yearSet is the year field; all means *.
type yearSet struct {
	all  bool
	bits [maxYear - minYear + 1]bool
}

func (y *yearSet) has(year int) bool {
	if year < minYear || year > maxYear {
		return false
	}
	return y.all || y.bits[year-minYear]
}

// from returns the first year of the set at or after year.
func (y *yearSet) from(year int) (int, bool) {
	for v := max(year, minYear); v <= maxYear; v++ {
		if y.has(v) {
			return v, true
		}
	}
	return 0, false
}

// field describes one cron field.
type field struct {
	name     string
	min, max int // accepted values
	starMax  int // where * and a/n end (max, except 6 for a plain day-of-week)
	names    map[string]int
	help     string // the accepted values and an example, for error messages
}

var (
	minuteField = field{name: "minutes", min: 0, max: 59, starMax: 59,
		help: "use 0-59, e.g. 0, 0/15 or 5,35"}
	hourField = field{name: "hours", min: 0, max: 23, starMax: 23,
		help: "use 0-23, e.g. 9, 8-17 or */2"}
	domField = field{name: "day-of-month", min: 1, max: 31, starMax: 31,
		help: "use 1-31, e.g. 1 or 1,15"}
	ebDomField = field{name: "day-of-month", min: 1, max: 31, starMax: 31,
		help: "use 1-31, ?, L (last day), LW (last weekday) or a day with W (15W: the weekday nearest the 15th), e.g. 1 or L"}
	monthField = field{name: "month", min: 1, max: 12, starMax: 12,
		names: map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
			"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12},
		help: "use 1-12 or JAN-DEC, e.g. * or JAN,JUL"}
	// plainDowField numbers Sunday 0 (and 7), as cron does.
	plainDowField = field{name: "day-of-week", min: 0, max: 7, starMax: 6,
		names: map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6},
		help:  "use 0-7 (0 and 7 are Sunday) or SUN-SAT, e.g. 1-5 or MON-FRI"}
	// ebDowField numbers Sunday 1, as EventBridge does.
	ebDowField = field{name: "day-of-week", min: 1, max: 7, starMax: 7,
		names: map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7},
		help:  "use 1-7 (1 is Sunday) or SUN-SAT, ?, L (Saturday), 6L (the last Friday) or 2#1 (the first Monday), e.g. MON-FRI"}
	yearField = field{name: "year", min: minYear, max: maxYear, starMax: maxYear,
		help: "use 1970-2199, e.g. * or 2030"}
)

// parseFields checks the fields of an EventBridge cron (eb, six fields) or
// of a plain cron line (five fields).
func parseFields(f []string, eb bool) (*cronSpec, error) {
	spec := &cronSpec{}
	set, _, err := parseList(f[0], minuteField, nil)
	if err != nil {
		return nil, err
	}
	copy(spec.minutes[:], set)
	if set, _, err = parseList(f[1], hourField, nil); err != nil {
		return nil, err
	}
	copy(spec.hours[:], set)
	if set, _, err = parseList(f[3], monthField, nil); err != nil {
		return nil, err
	}
	copy(spec.months[:], set)
	domQ, err := parseDom(f[2], eb, &spec.dom)
	if err != nil {
		return nil, err
	}
	dowQ, err := parseDow(f[4], eb, &spec.dow)
	if err != nil {
		return nil, err
	}
	if !eb {
		spec.years.all = true
		return spec, nil
	}
	switch {
	case domQ && dowQ:
		return nil, errors.New("day-of-month and day-of-week cannot both be ?; write * in one of them, e.g. cron(0 12 * * ? *) for every day")
	case !domQ && !dowQ:
		return nil, fmt.Errorf("day-of-month (%s) and day-of-week (%s) are both set; one of them must be ?, e.g. cron(0 12 * * ? *) for every day or cron(0 12 ? * MON-FRI *) for weekdays", f[2], f[4])
	}
	set, all, err := parseList(f[5], yearField, nil)
	if err != nil {
		return nil, err
	}
	spec.years.all = all
	copy(spec.years.bits[:], set[minYear:])
	return spec, nil
}

// parseDom parses the day-of-month field; q reports a lone ?.
func parseDom(text string, eb bool, d *daySpec) (q bool, err error) {
	if text == "?" {
		if !eb {
			return false, errors.New("day-of-month: ? belongs to the EventBridge form; a 5-field cron line uses *, e.g. 0 12 * * 1-5")
		}
		d.any = true
		return true, nil
	}
	f := domField
	if eb {
		f = ebDomField
	}
	special := func(item string) (bool, error) {
		u := strings.ToUpper(item)
		switch {
		case u == "L":
			d.last = true
		case u == "LW":
			d.lastWeekday = true
		case len(u) > 1 && strings.HasSuffix(u, "W") && digits(u[:len(u)-1]):
			v, err := f.value(u[:len(u)-1])
			if err != nil {
				return false, err
			}
			d.weekday[v] = true
		case u == "?":
			return false, errors.New("day-of-month: ? must stand alone")
		default:
			return false, nil
		}
		if !eb {
			return false, fmt.Errorf("day-of-month: %s needs the EventBridge form, e.g. cron(0 12 L * ? *) for noon on the last day of the month", item)
		}
		return true, nil
	}
	set, all, err := parseList(text, f, special)
	if err != nil {
		return false, err
	}
	d.any = all
	copy(d.days[:], set)
	return false, nil
}

// parseDow parses the day-of-week field into Sunday-0 numbering; q reports
// a lone ?.
func parseDow(text string, eb bool, w *weekSpec) (q bool, err error) {
	if text == "?" {
		if !eb {
			return false, errors.New("day-of-week: ? belongs to the EventBridge form; a 5-field cron line uses *, e.g. 0 12 * * *")
		}
		w.any = true
		return true, nil
	}
	f := plainDowField
	sunday0 := func(v int) int { return v % 7 } // 7 is Sunday too
	if eb {
		f = ebDowField
		sunday0 = func(v int) int { return v - 1 }
	}
	special := func(item string) (bool, error) {
		u := strings.ToUpper(item)
		switch {
		case u == "L":
			w.days[6] = true // the last day of the week: Saturday
		case strings.Contains(u, "#"):
			day, nth, _ := strings.Cut(u, "#")
			v, err := f.value(day)
			if err != nil {
				return false, err
			}
			if len(nth) != 1 || nth[0] < '1' || nth[0] > '5' {
				return false, fmt.Errorf("day-of-week: in %s the week after # must be 1-5, e.g. 2#1 for the first Monday", item)
			}
			w.nth[sunday0(v)][nth[0]-'0'] = true
		case len(u) > 1 && strings.HasSuffix(u, "L") && !strings.ContainsAny(u, "-/,"):
			v, err := f.value(u[:len(u)-1])
			if err != nil {
				return false, err
			}
			w.last[sunday0(v)] = true
		case u == "?":
			return false, errors.New("day-of-week: ? must stand alone")
		default:
			return false, nil
		}
		if !eb {
			return false, fmt.Errorf("day-of-week: %s needs the EventBridge form, e.g. cron(0 9 ? * 2#1 *) for 09:00 on the first Monday", item)
		}
		return true, nil
	}
	set, all, err := parseList(text, f, special)
	if err != nil {
		return false, err
	}
	w.any = all
	for v := f.min; v <= f.max; v++ {
		if set[v] {
			w.days[sunday0(v)] = true
		}
	}
	return false, nil
}

// parseList parses a comma-separated list of values, ranges (a-b) and
// steps (*/n, a/n, a-b/n) into a set indexed by value; star reports a lone
// *. Items that special recognizes are left to it.
func parseList(text string, f field, special func(item string) (bool, error)) (set []bool, star bool, err error) {
	set = make([]bool, f.max+1)
	if text == "*" {
		for v := f.min; v <= f.starMax; v++ {
			set[v] = true
		}
		return set, true, nil
	}
	for item := range strings.SplitSeq(text, ",") {
		if item == "" {
			return nil, false, fmt.Errorf("%s: empty item in %q; separate values with single commas, e.g. 1,15", f.name, text)
		}
		if special != nil {
			ok, err := special(item)
			if err != nil {
				return nil, false, err
			}
			if ok {
				continue
			}
		}
		base, stepText, hasStep := strings.Cut(item, "/")
		var lo, hi int
		switch {
		case base == "*":
			if !hasStep {
				return nil, false, fmt.Errorf("%s: * must stand alone, not in a list", f.name)
			}
			lo, hi = f.min, f.starMax
		case strings.Contains(base, "-"):
			a, b, _ := strings.Cut(base, "-")
			if lo, err = f.value(a); err != nil {
				return nil, false, err
			}
			if hi, err = f.value(b); err != nil {
				return nil, false, err
			}
			if lo > hi {
				return nil, false, fmt.Errorf("%s: range %s runs backwards and ranges do not wrap; list both parts, e.g. %s-%s,%s-%s",
					f.name, base, a, f.token(f.starMax, b), f.token(f.min, a), b)
			}
		default:
			if lo, err = f.value(base); err != nil {
				return nil, false, err
			}
			hi = lo
			if hasStep {
				hi = max(f.starMax, lo)
			}
		}
		step := 1
		if hasStep {
			if !digits(stepText) || len(stepText) > 4 {
				return nil, false, fmt.Errorf("%s: step %q in %s is not a whole number; e.g. 0/15", f.name, stepText, item)
			}
			step, _ = strconv.Atoi(stepText)
			if limit := max(f.max-f.min, 1); step < 1 || step > limit {
				return nil, false, fmt.Errorf("%s: step %d in %s must be between 1 and %d", f.name, step, item, limit)
			}
		}
		for v := lo; v <= hi; v += step {
			set[v] = true
		}
	}
	return set, false, nil
}

// value parses one number or name of f.
func (f field) value(s string) (int, error) {
	if digits(s) && len(s) <= 4 {
		v, _ := strconv.Atoi(s)
		if v < f.min || v > f.max {
			return 0, fmt.Errorf("%s: %d is out of range; %s", f.name, v, f.help)
		}
		return v, nil
	}
	if v, ok := f.names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	if s == "" {
		return 0, fmt.Errorf("%s: a value is missing; %s", f.name, f.help)
	}
	return 0, fmt.Errorf("%s: %q is not a valid value; %s", f.name, s, f.help)
}

// token writes v the way like was written: as a name when like is one.
func (f field) token(v int, like string) string {
	if !digits(like) {
		for name, n := range f.names {
			if n == v {
				return name
			}
		}
	}
	return strconv.Itoa(v)
}

// cronexpr renders the spec in cronexpr's five-field syntax (minutes hours
// day-of-month month day-of-week, Sunday 0); the year is applied by
// Expression.Next.
func (s *cronSpec) cronexpr() string {
	var b strings.Builder
	list(&b, s.minutes[:], 0)
	b.WriteByte(' ')
	list(&b, s.hours[:], 0)
	b.WriteByte(' ')
	if s.dom.any {
		b.WriteByte('*')
	} else {
		var items []string
		for d := 1; d <= 31; d++ {
			if s.dom.days[d] {
				items = append(items, strconv.Itoa(d))
			}
			if s.dom.weekday[d] {
				items = append(items, strconv.Itoa(d)+"W")
			}
		}
		if s.dom.last {
			items = append(items, "L")
		}
		if s.dom.lastWeekday {
			items = append(items, "LW")
		}
		b.WriteString(strings.Join(items, ","))
	}
	b.WriteByte(' ')
	list(&b, s.months[:], 1)
	b.WriteByte(' ')
	if s.dow.any {
		b.WriteByte('*')
	} else {
		var items []string
		for d := range 7 {
			if s.dow.days[d] {
				items = append(items, strconv.Itoa(d))
			}
			if s.dow.last[d] {
				items = append(items, strconv.Itoa(d)+"L")
			}
			for k := 1; k <= 5; k++ {
				if s.dow.nth[d][k] {
					items = append(items, strconv.Itoa(d)+"#"+strconv.Itoa(k))
				}
			}
		}
		b.WriteString(strings.Join(items, ","))
	}
	return b.String()
}

// list writes the members of set from from on as a comma-separated list, or
// * when every value is in it.
func list(b *strings.Builder, set []bool, from int) {
	all := true
	for _, in := range set[from:] {
		all = all && in
	}
	if all {
		b.WriteByte('*')
		return
	}
	first := true
	for v := from; v < len(set); v++ {
		if set[v] {
			if !first {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(v))
			first = false
		}
	}
}
