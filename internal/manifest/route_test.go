package manifest

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRoutePath(t *testing.T) {
	lit := func(s string) Segment { return Segment{Kind: LiteralSegment, Value: s} }
	param := func(s string) Segment { return Segment{Kind: ParamSegment, Value: s} }
	greedy := func(s string) Segment { return Segment{Kind: GreedySegment, Value: s} }
	valid := []struct {
		path string
		want []Segment
	}{
		{"/", nil},
		{"/hello", []Segment{lit("hello")}},
		{"/orders/{id}", []Segment{lit("orders"), param("id")}},
		{"/files/{proxy+}", []Segment{lit("files"), greedy("proxy")}},
		{"/{proxy+}", []Segment{greedy("proxy")}},
		{"/a/{b}/c/{d_2}", []Segment{lit("a"), param("b"), lit("c"), param("d_2")}},
		{"/v1.2/~user/a-b_c:d@e", []Segment{lit("v1.2"), lit("~user"), lit("a-b_c:d@e")}},
		{"/healthzz/metrics", []Segment{lit("healthzz"), lit("metrics")}},
	}
	for _, tt := range valid {
		got, err := ParseRoutePath(tt.path)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRoutePath(%q) = %v, %v; want %v", tt.path, got, err, tt.want)
		}
	}
	invalid := []struct{ path, msg string }{
		{"", "empty"},
		{"hello", "does not start with '/'"},
		{"//", "empty segment"},
		{"/a/", "empty segment"},
		{"/a//b", "empty segment"},
		{"/{a+}/b", "must come last"},
		{"/{a}/{a+}", "twice"},
		{"/{a}", ""},
		{"/{}", "name"},
		{"/{+}", "name"},
		{"/{9}", "name"},
		{"/{a-b}", "name"},
		{"/x{a}", "whole segment"},
		{"/{a}.json", "whole segment"},
		{"/..", "never matches"},
		{"/a/./b", "never matches"},
		{"/a b", "cannot hold"},
		{"/a%20b", "cannot hold"},
		{"/ü", "cannot hold"},
		{"/a?b", "query"},
		{"/a#b", "fragment"},
		{"/_gureum", "reserves"},
		{"/2015-03-31/functions", "reserves"},
		{"/healthz", "reserves"},
		{"/metrics/x", "reserves"},
	}
	for _, tt := range invalid {
		_, err := ParseRoutePath(tt.path)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("ParseRoutePath(%q) = %v, want no error", tt.path, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseRoutePath(%q) error = %v, want one containing %q", tt.path, err, tt.msg)
		}
	}
}

func TestRouteShape(t *testing.T) {
	shape := func(p string) string {
		segs, err := ParseRoutePath(p)
		if err != nil {
			t.Fatal(err)
		}
		return routeShape(segs)
	}
	if a, b := shape("/o/{id}/x"), shape("/o/{key}/x"); a != b {
		t.Errorf("shapes differ by parameter name: %s, %s", a, b)
	}
	for _, pair := range [][2]string{{"/o/{id}", "/o/id"}, {"/o/{id}", "/o/{id+}"}, {"/", "/{p+}"}} {
		if shape(pair[0]) == shape(pair[1]) {
			t.Errorf("%s and %s have the same shape", pair[0], pair[1])
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"runtime", "build", "memory", "timeout", "env", "events"}
	for word, want := range map[string]string{
		"memroy": "memory", "MEMORY": "memory", "biuld": "build", "evn": "env",
		"timeouts": "timeout", "colour": "", "e": "", "xyzzy": "", "runtimes": "runtime",
	} {
		if got := suggest(word, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}
