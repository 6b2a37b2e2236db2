package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

const day = 24 * time.Hour

// span is the range of a duration setting.
type span struct {
	min, max time.Duration
	example  string // a valid setting, e.g. "visibility: 30s"
}

// duration accepts a Go duration, a duration with a leading number of days
// (4d, 1d12h) or whole seconds, in whole milliseconds and within s.
func (p *parser) duration(n *yaml.Node, sp string, s span) (time.Duration, bool) {
	name := sp[strings.LastIndexByte(sp, '.')+1:]
	rangeHint := fmt.Sprintf("%s is %s to %s, e.g. %s", name, fmtDuration(s.min), fmtDuration(s.max), s.example)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.add(n, sp, fmt.Sprintf("%s is not a duration; write a duration such as 30s, 5m, 12h or 4d, or whole seconds, e.g. %s", describe(n), s.example))
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		var secs int64
		if err := n.Decode(&secs); err != nil || secs < int64(s.min/time.Second) || secs > int64(s.max/time.Second) {
			p.add(n, sp, fmt.Sprintf("%s seconds is out of range; %s", n.Value, rangeHint))
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	case "!!float":
		if isDigits(n.Value) {
			p.add(n, sp, fmt.Sprintf("%s seconds is out of range; %s", n.Value, rangeHint))
			return 0, false
		}
		p.add(n, sp, fmt.Sprintf("%s is not a whole number of seconds; write a duration for fractions, e.g. 1500ms", n.Value))
		return 0, false
	}
	d, err := parseDuration(n.Value)
	if err != nil {
		p.add(n, sp, fmt.Sprintf("%q is not a duration; write a duration such as 30s, 5m, 12h or 4d, or whole seconds, e.g. %s", n.Value, s.example))
		return 0, false
	}
	if d < s.min || d > s.max {
		p.add(n, sp, fmt.Sprintf("%s is out of range; %s", n.Value, rangeHint))
		return 0, false
	}
	if d%time.Millisecond != 0 {
		p.add(n, sp, fmt.Sprintf("%s is finer than a millisecond; round it, e.g. %s: %s", n.Value, name, fmtDuration(d.Round(time.Millisecond))))
		return 0, false
	}
	return d, true
}

// parseDuration parses a Go duration, optionally led by whole days: 4d,
// 1d12h, 36h.
func parseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	if days == "" || len(days) > 5 || !isDigits(days) || days[0] == '+' || days[0] == '-' {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	n, err := strconv.Atoi(days)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	d := time.Duration(n) * day
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || rest[0] == '+' {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		d += r
	}
	return d, nil
}

// fmtDuration writes d as a manifest would: 4d, 12h, 5m, 30s, 1500ms.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return d.String()
}

// size accepts a number of bytes, written as an integer or with a KiB or
// MiB suffix, within lo..hi.
func (p *parser) size(n *yaml.Node, sp string, lo, hi int, example string) (int, bool) {
	name := sp[strings.LastIndexByte(sp, '.')+1:]
	rangeHint := fmt.Sprintf("%s is %s to %s, e.g. %s", name, fmtSize(lo), fmtSize(hi), example)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.add(n, sp, fmt.Sprintf("%s is not a size; write bytes, KiB or MiB, e.g. %s", describe(n), example))
		return 0, false
	}
	v, unit, base := n.Value, int64(1), 0 // an integer as YAML reads it: 0x400 is 1024
	if n.ShortTag() != "!!int" {
		num, suffix := splitNumber(v)
		switch suffix {
		case "KiB":
			unit = 1 << 10
		case "MiB":
			unit = 1 << 20
		case "B":
		default:
			hint := "write bytes, KiB (1024 bytes) or MiB, e.g. " + example
			switch strings.ToLower(suffix) {
			case "k", "kb", "kib":
				hint = fmt.Sprintf("sizes are written with KiB (1024 bytes) or MiB, spelled so, e.g. %s: %sKiB", name, num)
			case "m", "mb", "mib":
				hint = fmt.Sprintf("sizes are written with KiB (1024 bytes) or MiB, spelled so, e.g. %s: %sMiB", name, num)
			}
			p.add(n, sp, fmt.Sprintf("%q is not a size; %s", v, hint))
			return 0, false
		}
		if num == "" || !isDigits(num) || num[0] == '+' || num[0] == '-' {
			p.add(n, sp, fmt.Sprintf("%q is not a size; write a whole number of bytes, KiB or MiB, e.g. %s", v, example))
			return 0, false
		}
		v, base = num, 10 // 010KiB is 10 KiB
	}
	b, err := strconv.ParseInt(v, base, 64)
	if err != nil || b < 0 || b > int64(hi) || b*unit < int64(lo) || b*unit > int64(hi) {
		p.add(n, sp, fmt.Sprintf("%s is out of range; %s", n.Value, rangeHint))
		return 0, false
	}
	return int(b * unit), true
}

// splitNumber splits "256KiB" into "256" and "KiB".
func splitNumber(s string) (num, suffix string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || i == 0 && (s[i] == '+' || s[i] == '-')) {
		i++
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func fmtSize(b int) string {
	switch {
	case b%(1<<20) == 0:
		return strconv.Itoa(b>>20) + "MiB"
	case b%(1<<10) == 0:
		return strconv.Itoa(b>>10) + "KiB"
	}
	return strconv.Itoa(b) + " bytes"
}

// count accepts a whole number within lo..hi.
func (p *parser) count(n *yaml.Node, sp, what string, lo, hi int64, example string) (int, bool) {
	name := sp[strings.LastIndexByte(sp, '.')+1:]
	v, ok := p.integer(n, sp, what, example)
	if !ok {
		return 0, false
	}
	if v < lo || v > hi {
		p.add(n, sp, fmt.Sprintf("%d is out of range; %s is %d to %d, e.g. %s", v, name, lo, hi, example))
		return 0, false
	}
	return int(v), true
}

// validName reports whether s is 1 to max letters, digits, '-' and '_'.
func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// jsonValue converts a YAML value to compact JSON: maps become objects (in
// file order), lists arrays, strings strings, numbers numbers, true, false
// and null themselves. What JSON cannot hold is reported: keys that are not
// strings, .inf and .nan, binary data.
func (p *parser) jsonValue(n *yaml.Node, path string) (json.RawMessage, bool) {
	var b bytes.Buffer
	if !p.writeJSON(&b, n, path) {
		return nil, false
	}
	return b.Bytes(), true
}

func (p *parser) writeJSON(b *bytes.Buffer, n *yaml.Node, path string) bool {
	switch n.Kind {
	case yaml.MappingNode:
		ok, first := true, true
		b.WriteByte('{')
		for _, e := range p.entries(n, path) {
			ep := join(path, e.name)
			if tag := e.key.ShortTag(); tag != "!!str" && tag != "!!timestamp" {
				p.add(e.key, ep, fmt.Sprintf("the key %s is %s, and JSON keys are text; quote it, e.g. %q: ...", e.name, tagName(tag), e.name))
				ok = false
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeJSONString(b, e.name)
			b.WriteByte(':')
			ok = p.writeJSON(b, e.val, ep) && ok
		}
		b.WriteByte('}')
		return ok
	case yaml.SequenceNode:
		ok := true
		b.WriteByte('[')
		for i, item := range p.items(n, path) {
			if i > 0 {
				b.WriteByte(',')
			}
			ok = p.writeJSON(b, item, path+"["+strconv.Itoa(i)+"]") && ok
		}
		b.WriteByte(']')
		return ok
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); tag {
		case "!!str", "!!timestamp":
			writeJSONString(b, n.Value)
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				p.add(n, path, fmt.Sprintf("%q is not true or false; quote it to keep it as text", n.Value))
				return false
			}
			b.WriteString(strconv.FormatBool(v))
		case "!!int", "!!float":
			num, ok := jsonNumber(n)
			if !ok {
				p.add(n, path, fmt.Sprintf("%s is not a number JSON can hold; quote it to keep it as text, e.g. %q", n.Value, n.Value))
				return false
			}
			b.WriteString(num)
		default:
			p.add(n, path, fmt.Sprintf("%s has no JSON form; write text, a number, true, false, a list or a map", tagName(tag)))
			return false
		}
		return true
	}
	p.add(n, path, "this value has no JSON form; write text, a number, true, false, a list or a map")
	return false
}

// jsonNumber returns a YAML number as a JSON number: as written when JSON
// reads it the same way, otherwise in decimal (0x10 → 16, +5 → 5).
func jsonNumber(n *yaml.Node) (string, bool) {
	v := n.Value
	if v != "" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') && json.Valid([]byte(v)) {
		return v, true
	}
	if n.ShortTag() == "!!int" {
		var i int64
		if err := n.Decode(&i); err == nil {
			return strconv.FormatInt(i, 10), true
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return strconv.FormatUint(u, 10), true
		}
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	return strconv.FormatFloat(f, 'g', -1, 64), true
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}

// tagName names a YAML type in a message.
func tagName(tag string) string {
	switch tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!null":
		return "empty (null)"
	case "!!binary":
		return "binary data"
	}
	return "a " + strings.TrimPrefix(tag, "!!")
}

// checked formats a caller's check error as a problem's message: what was
// refused, the error on one line, and hint unless the error gives its own
// example.
func checked(what string, err error, hint string) string {
	s := strings.TrimSuffix(strings.Join(strings.Fields(err.Error()), " "), ".")
	if strings.Contains(s, "e.g.") {
		return what + " is refused: " + s
	}
	return what + " is refused: " + s + "; " + hint
}
