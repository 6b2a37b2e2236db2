package blob

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	cases := []struct {
		in   string
		want *Range
		err  error
	}{
		{"bytes=0-0", &Range{Start: 0, End: 0}, nil},
		{"bytes=10-19", &Range{Start: 10, End: 19}, nil},
		{"bytes=5-", &Range{Start: 5, End: -1}, nil},
		{"bytes=-7", &Range{Suffix: 7}, nil},
		{" Bytes = 1-2 ", &Range{Start: 1, End: 2}, nil},
		{"bytes=99999999999999999999-", nil, ErrInvalidRange},
		{"bytes=0-99999999999999999999", &Range{Start: 0, End: math.MaxInt64}, nil},
		{"bytes=-99999999999999999999", &Range{Suffix: math.MaxInt64}, nil},
		{"bytes=-0", nil, ErrInvalidRange},
		{"bytes=5-3", nil, ErrRangeSyntax},
		{"bytes=0-1,3-4", nil, ErrRangeSyntax},
		{"bytes=", nil, ErrRangeSyntax},
		{"bytes=-", nil, ErrRangeSyntax},
		{"bytes=a-b", nil, ErrRangeSyntax},
		{"bytes=+1-2", nil, ErrRangeSyntax},
		{"bytes=1", nil, ErrRangeSyntax},
		{"items=1-2", nil, ErrRangeSyntax},
		{"1-2", nil, ErrRangeSyntax},
		{"", nil, ErrRangeSyntax},
	}
	for _, c := range cases {
		got, err := ParseRange(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) || got != nil {
				t.Errorf("ParseRange(%q) = %+v, %v; want %v", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || *got != *c.want {
			t.Errorf("ParseRange(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// FuzzParseRange checks that a parsed range is well formed, prints back to
// a header that parses to the same range, and resolves within any object.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=5-", "bytes=-7", "bytes=1-2,3-4", "bytes=-0", "bytes=9-3", " bytes = 1 - 2", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		r, err := ParseRange(h)
		if err != nil {
			if r != nil || !errors.Is(err, ErrRangeSyntax) && !errors.Is(err, ErrInvalidRange) {
				t.Fatalf("ParseRange(%q) = %+v, %v", h, r, err)
			}
			return
		}
		var again string
		switch {
		case r.Suffix > 0:
			if r.Start != 0 || r.End != 0 {
				t.Fatalf("suffix range %+v", r)
			}
			again = "bytes=-" + strconv.FormatInt(r.Suffix, 10)
		case r.Start < 0 || r.End < -1 || r.End >= 0 && r.End < r.Start || r.Suffix < 0:
			t.Fatalf("ParseRange(%q) = %+v", h, r)
		case r.End == -1:
			again = "bytes=" + strconv.FormatInt(r.Start, 10) + "-"
		default:
			again = "bytes=" + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.End, 10)
		}
		r2, err := ParseRange(again)
		if err != nil || *r2 != *r {
			t.Fatalf("ParseRange(%q) = %+v, but %q gives %+v, %v", h, r, again, r2, err)
		}
		if size < 0 {
			size = -(size + 1)
		}
		start, end, err := resolveRange(r, size)
		if err != nil {
			if !errors.Is(err, ErrInvalidRange) {
				t.Fatalf("resolve %+v in %d: %v", r, size, err)
			}
			return
		}
		if start < 0 || end < start || end >= size {
			t.Fatalf("resolve %+v in %d = %d-%d", r, size, start, end)
		}
	})
}

var storeNameRE = regexp.MustCompile(`^gb_[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$`)

// FuzzValidBucketName checks that every valid name maps to its own valid
// store name.
func FuzzValidBucketName(f *testing.F) {
	for _, s := range []string{"abc", "my.bucket", "my-bucket", "a..b", "1.2.3.4", "Upper", "-x-", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if err := ValidBucketName(name); err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ValidBucketName(%q) = %v", name, err)
			}
			return
		}
		store := storeName(name)
		if !storeNameRE.MatchString(store) {
			t.Fatalf("bucket %q has store name %q", name, store)
		}
		if back := strings.ReplaceAll(strings.TrimPrefix(store, storePrefix), "_", "."); back != name {
			t.Fatalf("store %q maps back to %q, not %q", store, back, name)
		}
		if looksLikeIPv4(name) || strings.Contains(name, "..") {
			t.Fatalf("ValidBucketName accepted %q", name)
		}
	})
}

// FuzzETagMatch checks entity tag lists against the tags they name.
func FuzzETagMatch(f *testing.F) {
	f.Add(`"abc", W/"def"`, "def")
	f.Add("*", "x")
	f.Add(",,", "")
	f.Fuzz(func(t *testing.T, list, etag string) {
		got := etagMatches(list, etag)
		if strings.TrimSpace(list) == "" && got {
			t.Fatalf("empty list %q matches %q", list, etag)
		}
		if etag == "" || strings.ContainsAny(etag, `",`) || strings.TrimSpace(etag) != etag || strings.HasPrefix(etag, "W/") {
			return
		}
		for _, l := range []string{etag, `"` + etag + `"`, `W/"` + etag + `"`, list + `, "` + etag + `"`} {
			if !etagMatches(l, etag) {
				t.Fatalf("%q does not match %q", l, etag)
			}
		}
	})
}
