package blob

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrRangeSyntax is a Range header that does not parse, or asks for more
// than one range. HTTP says to ignore such a header and send the whole
// object; it is distinct from ErrInvalidRange, a well-formed range no
// object can satisfy.
var ErrRangeSyntax = errors.New("malformed range")

// ParseRange parses an HTTP Range header of one byte range: "bytes=A-B",
// "bytes=A-" or "bytes=-N". It gives ErrRangeSyntax for a header that does
// not parse or names several ranges, and ErrInvalidRange for "bytes=-0" and
// for a first byte beyond any object. Whether a range fits an object is
// decided by the read.
func ParseRange(h string) (*Range, error) {
	bad := func() (*Range, error) {
		return nil, fmt.Errorf("range %q: %w", h, ErrRangeSyntax)
	}
	unit, spec, ok := strings.Cut(strings.TrimSpace(h), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return bad()
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return bad()
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return bad()
	}
	if first == "" {
		n, ok := parseDigits(last)
		if !ok {
			return bad()
		}
		if n == 0 {
			return nil, fmt.Errorf("range %q asks for no bytes: %w", h, ErrInvalidRange)
		}
		return &Range{Suffix: n}, nil
	}
	start, ok := parseDigits(first)
	if !ok {
		return bad()
	}
	if start == math.MaxInt64 {
		return nil, fmt.Errorf("range %q starts past any object: %w", h, ErrInvalidRange)
	}
	if last == "" {
		return &Range{Start: start, End: -1}, nil
	}
	end, ok := parseDigits(last)
	if !ok || end < start {
		return bad()
	}
	return &Range{Start: start, End: end}, nil
}

// parseDigits parses a non-empty run of ASCII digits, saturating at
// math.MaxInt64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// resolveRange applies a range to an object of size bytes and returns its
// first and last byte.
func resolveRange(r *Range, size int64) (start, end int64, err error) {
	switch {
	case r.Suffix > 0:
		if size == 0 {
			return 0, 0, fmt.Errorf("last %d bytes of an empty object: %w", r.Suffix, ErrInvalidRange)
		}
		return max(size-r.Suffix, 0), size - 1, nil
	case r.Suffix < 0, r.Start < 0:
		return 0, 0, fmt.Errorf("negative range: %w", ErrInvalidRange)
	case r.Start >= size:
		return 0, 0, fmt.Errorf("range from byte %d of an object of %d: %w", r.Start, size, ErrInvalidRange)
	}
	end = r.End
	if end < 0 || end >= size {
		end = size - 1
	}
	if end < r.Start {
		return 0, 0, fmt.Errorf("range %d-%d ends before it starts: %w", r.Start, r.End, ErrInvalidRange)
	}
	return r.Start, end, nil
}
