package gateway

import (
	"unicode/utf16"
	"unicode/utf8"
)

// respDecoder reads JSON that json.Valid has accepted: it checks types, not
// syntax. It serves parseResponse, which needs a handful of members of one
// object and nothing else.
type respDecoder struct {
	b []byte
	i int
}

func (d *respDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// str reads a string and returns its raw content, between the quotes, and
// whether it holds escapes.
func (d *respDecoder) str() (raw []byte, escaped bool) {
	d.i++ // '"'
	start := d.i
	for d.b[d.i] != '"' {
		if d.b[d.i] == '\\' {
			escaped = true
			d.i++
		}
		d.i++
	}
	raw = d.b[start:d.i]
	d.i++
	return raw, escaped
}

// token reads a number or a literal (true, false, null).
func (d *respDecoder) token() []byte {
	start := d.i
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return d.b[start:d.i]
		}
		d.i++
	}
	return d.b[start:d.i]
}

// skip reads any value.
func (d *respDecoder) skip() {
	switch d.b[d.i] {
	case '"':
		d.str()
	case '{', '[':
		depth := 0
		for {
			switch d.b[d.i] {
			case '"':
				d.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			d.i++
			if depth == 0 {
				return
			}
		}
	default:
		d.token()
	}
}

// stringValue reads a string value, unescaped; ok is false, with the value
// skipped, for any other type.
func (d *respDecoder) stringValue() (v []byte, ok bool) {
	if d.b[d.i] != '"' {
		d.skip()
		return nil, false
	}
	raw, esc := d.str()
	if esc {
		raw = unescapeJSON(nil, raw)
	}
	return raw, true
}

// object reads an object, calling member for each member with the
// reader at its value; member must read the value. null is an empty object.
// It reports false when the value is not an object or a member returned
// false.
func (d *respDecoder) object(member func(name []byte) bool) bool {
	switch d.b[d.i] {
	case 'n':
		d.token()
		return true
	case '{':
	default:
		d.skip()
		return false
	}
	d.i++
	ok := true
	for {
		d.ws()
		switch d.b[d.i] {
		case '}':
			d.i++
			return ok
		case ',':
			d.i++
			d.ws()
		}
		name, esc := d.str()
		if esc {
			name = unescapeJSON(nil, name)
		}
		d.ws()
		d.i++ // ':'
		d.ws()
		if !member(name) {
			ok = false
		}
	}
}

// array reads an array, calling elem for each element with the reader at
// it; elem must read the element. null is an empty array. It reports false
// when the value is not an array or an element returned false.
func (d *respDecoder) array(elem func() bool) bool {
	switch d.b[d.i] {
	case 'n':
		d.token()
		return true
	case '[':
	default:
		d.skip()
		return false
	}
	d.i++
	ok := true
	for {
		d.ws()
		switch d.b[d.i] {
		case ']':
			d.i++
			return ok
		case ',':
			d.i++
			d.ws()
		}
		if !elem() {
			ok = false
		}
	}
}

// unescapeJSON appends the decoded form of a valid JSON string's raw
// content to b. Lone surrogates become U+FFFD, as in encoding/json.
func unescapeJSON(b, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 = hex4(raw[i+3 : i+7])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/'
			b = append(b, raw[i])
		}
	}
	return b
}

func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		r = r<<4 | rune(unhex(c))
	}
	return r
}
