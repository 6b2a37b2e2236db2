package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// SegmentKind says how a route path segment matches.
type SegmentKind uint8

const (
	// LiteralSegment matches its text exactly (case-sensitive).
	LiteralSegment SegmentKind = iota + 1
	// ParamSegment, written {name}, matches one non-empty segment.
	ParamSegment
	// GreedySegment, written {name+}, matches the rest of the path: one or
	// more segments. Only the last segment may be greedy.
	GreedySegment
)

// Segment is one '/'-separated part of a route path.
type Segment struct {
	Kind  SegmentKind
	Value string // the literal text, or the parameter's name
}

// reservedPrefixes are first path segments that gureum serves itself.
var reservedPrefixes = []struct{ segment, use string }{
	{"_gureum", "the admin API"},
	{"2015-03-31", "the Lambda Invoke API"},
	{"healthz", "health checks"},
	{"metrics", "Prometheus metrics"},
}

// ParseRoutePath splits an HTTP route path into segments and validates it.
// The gateway's router and the manifest validator share it, so they agree on
// what a path means.
//
// A path starts with '/'. "/" alone is the root and has no segments. Every
// other segment is non-empty and is a literal (letters, digits and
// - . _ ~ ! $ & ' ( ) * + , ; = : @, not "." or ".."), a parameter {name} or,
// last only, a greedy parameter {name+}; names are ASCII Go identifiers and
// unique within the path. A parameter takes a whole segment. Paths under
// /_gureum, /2015-03-31, /healthz and /metrics are reserved.
//
// Errors say what is wrong and how to fix it.
func ParseRoutePath(path string) ([]Segment, error) {
	if path == "" {
		return nil, errors.New("the path is empty; routes start with '/', e.g. /hello")
	}
	if path[0] != '/' {
		return nil, fmt.Errorf("path %q does not start with '/'; e.g. /%s", path, path)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("path %q has a query or fragment; a route matches the path alone, e.g. /search", path)
	}
	if path == "/" {
		return nil, nil
	}
	parts := strings.Split(path[1:], "/")
	segs := make([]Segment, 0, len(parts))
	for i, part := range parts {
		seg, err := parseSegment(path, part)
		if err != nil {
			return nil, err
		}
		if seg.Kind == GreedySegment && i != len(parts)-1 {
			return nil, fmt.Errorf("path %q has the greedy parameter {%s+} before its end; it matches the rest of the path, so it must come last, e.g. /files/{%s+}", path, seg.Value, seg.Value)
		}
		if seg.Kind != LiteralSegment {
			for _, s := range segs {
				if s.Kind != LiteralSegment && s.Value == seg.Value {
					return nil, fmt.Errorf("path %q names the parameter %s twice; give each parameter its own name, e.g. /users/{user}/posts/{post}", path, seg.Value)
				}
			}
		}
		if i == 0 && seg.Kind == LiteralSegment {
			for _, r := range reservedPrefixes {
				if seg.Value == r.segment {
					return nil, fmt.Errorf("path %q is under /%s, which gureum reserves for %s; choose another path", path, r.segment, r.use)
				}
			}
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

func parseSegment(path, part string) (Segment, error) {
	if part == "" {
		return Segment{}, fmt.Errorf("path %q has an empty segment (a doubled or trailing '/'); remove it, e.g. /orders/{id}", path)
	}
	if part[0] == '{' && part[len(part)-1] == '}' {
		name, kind := part[1:len(part)-1], ParamSegment
		if n, ok := strings.CutSuffix(name, "+"); ok {
			name, kind = n, GreedySegment
		}
		if !isIdentifier(name) {
			return Segment{}, fmt.Errorf("path %q has the parameter %s, whose name is not a letter or '_' followed by letters, digits and '_'; e.g. /orders/{id}", path, part)
		}
		return Segment{Kind: kind, Value: name}, nil
	}
	if strings.ContainsAny(part, "{}") {
		return Segment{}, fmt.Errorf("path %q has the segment %q, which mixes text and braces; a parameter takes a whole segment, e.g. /files/{name}", path, part)
	}
	if part == "." || part == ".." {
		return Segment{}, fmt.Errorf("path %q has a %q segment, which clients remove before sending, so it never matches; remove it", path, part)
	}
	for i := 0; i < len(part); i++ {
		if !isPathChar(part[i]) {
			return Segment{}, fmt.Errorf("path %q has %q, which a route cannot hold; use letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @", path, rune(part[i]))
		}
	}
	return Segment{Kind: LiteralSegment, Value: part}, nil
}

// isPathChar reports whether c may appear unescaped in a literal segment:
// RFC 3986 unreserved characters, sub-delimiters, ':' and '@'.
func isPathChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0
}

func isIdentifier(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

// routeShape is a path with its parameter names erased: two routes with the
// same method and shape match the same requests.
func routeShape(segs []Segment) string {
	if len(segs) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s.Kind {
		case LiteralSegment:
			b.WriteString(s.Value)
		case ParamSegment:
			b.WriteString("{}")
		case GreedySegment:
			b.WriteString("{+}")
		}
	}
	return b.String()
}
