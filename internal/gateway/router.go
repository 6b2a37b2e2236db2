package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultRoute is the path of the catch-all route, as API Gateway spells it: it
// receives every request that no other route matches, whatever the method.
const DefaultRoute = "$default"

// Route sends requests for a method and path pattern to a function.
//
// Method is GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY (any case).
// Path is "/" or a sequence of "/segment" parts where a segment is literal
// text, a path variable "{name}" or, as the last segment only, a greedy
// variable "{name+}" that captures the rest of the path, slashes included.
// Path may also be DefaultRoute, with Method ANY or empty.
// Function names the target, optionally qualified as "name:qualifier"
// (a version or an alias).
type Route struct {
	Method   string
	Path     string
	Function string
}

// Match is the outcome of a successful Router.Match.
type Match struct {
	Route     Route  // the matched route, Method in upper case
	Function  string // the function name, without qualifier
	Qualifier string // the qualifier after ':' in Route.Function, or ""
	// RouteKey names the route as API Gateway does: "GET /orders/{id}",
	// "ANY /{proxy+}" or "$default".
	RouteKey string
	// PathParameters holds the URL-decoded values of the path variables,
	// nil when the route has none.
	PathParameters map[string]string
}

// ErrInvalidRoute is wrapped by every error NewRouter returns.
var ErrInvalidRoute = errors.New("invalid route")

// Router matches requests to routes. It is immutable once built and safe for
// concurrent use.
//
// Routes live in a trie of path segments. Matching walks it depth first and
// tries, at every segment, the literal child, then the variable child, then
// the greedy child, backtracking on failure; so the first route found is the
// most specific one, as in API Gateway HTTP APIs: literal segments win over
// variables, variables over greedy variables, and an earlier segment decides
// before a later one. Among routes with the same path, an exact method wins
// over ANY. A request no route matches goes to the $default route, if any.
type Router struct {
	root  node
	catch *target // the $default route
	n     int
}

type node struct {
	literal map[string]*node
	param   *node
	greedy  *methods // routes ending in a greedy variable here
	end     *methods // routes ending here
}

// methods holds the routes of one path pattern, by method.
type methods struct {
	exact [numMethods]*target
	any   *target
}

type segKind uint8

const (
	segLiteral segKind = iota
	segParam
	segGreedy
)

type segment struct {
	kind segKind
	text string // literal text or variable name
}

type target struct {
	match Match // PathParameters always nil here
	segs  []segment
	nvars int
}

const numMethods = 7

var methodNames = [numMethods]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// methodIndex returns the slot of an HTTP method, or -1 for a method routes
// cannot name (it then matches only ANY routes).
func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "POST":
		return 1
	case "PUT":
		return 2
	case "PATCH":
		return 3
	case "DELETE":
		return 4
	case "HEAD":
		return 5
	case "OPTIONS":
		return 6
	}
	return -1
}

// NewRouter builds a router. It reports every invalid route and every route
// that duplicates another (same method and same pattern, variable names
// aside), joined into one error.
func NewRouter(routes []Route) (*Router, error) {
	r := &Router{}
	var errs []error
	for i, rt := range routes {
		if err := r.add(rt); err != nil {
			errs = append(errs, fmt.Errorf("%w: route %d (%s %q): %w", ErrInvalidRoute, i, rt.Method, rt.Path, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Len reports the number of routes.
func (r *Router) Len() int {
	if r == nil {
		return 0
	}
	return r.n
}

func (r *Router) add(rt Route) error {
	method := strings.ToUpper(rt.Method)
	fn, qual, _ := strings.Cut(rt.Function, ":")
	if fn == "" {
		return errors.New("no function")
	}
	if strings.Contains(qual, ":") {
		return fmt.Errorf("function %q: more than one qualifier", rt.Function)
	}
	t := &target{match: Match{
		Route:     Route{Method: method, Path: rt.Path, Function: rt.Function},
		Function:  fn,
		Qualifier: qual,
	}}
	if rt.Path == DefaultRoute {
		if method != "" && method != "ANY" {
			return fmt.Errorf("method %q: the $default route takes every method", rt.Method)
		}
		if r.catch != nil {
			return errors.New("duplicate $default route")
		}
		t.match.Route.Method = ""
		t.match.RouteKey = DefaultRoute
		r.catch = t
		r.n++
		return nil
	}
	mi := methodIndex(method)
	if mi < 0 && method != "ANY" {
		return fmt.Errorf("unknown method %q", rt.Method)
	}
	segs, err := parsePattern(rt.Path)
	if err != nil {
		return err
	}
	t.segs = segs
	t.match.RouteKey = method + " " + rt.Path
	n := &r.root
	var set **methods
	for i, s := range segs {
		switch s.kind {
		case segLiteral:
			if n.literal == nil {
				n.literal = make(map[string]*node)
			}
			c := n.literal[s.text]
			if c == nil {
				c = &node{}
				n.literal[s.text] = c
			}
			n = c
		case segParam:
			t.nvars++
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		case segGreedy:
			t.nvars++
			if i != len(segs)-1 {
				return errors.New("a greedy variable must be the last segment")
			}
			set = &n.greedy
		}
	}
	if set == nil {
		set = &n.end
	}
	if *set == nil {
		*set = &methods{}
	}
	slot := &(*set).any
	if mi >= 0 {
		slot = &(*set).exact[mi]
	}
	if *slot != nil {
		return fmt.Errorf("duplicates route %q", (*slot).match.RouteKey)
	}
	*slot = t
	r.n++
	return nil
}

// parsePattern splits a route path into segments and checks it.
func parsePattern(p string) ([]segment, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New("path must start with '/'")
	}
	if p == "/" {
		return nil, nil
	}
	if strings.HasSuffix(p, "/") {
		return nil, errors.New("path must not end with '/'")
	}
	parts := strings.Split(p[1:], "/")
	segs := make([]segment, 0, len(parts))
	seen := make(map[string]bool)
	for i, s := range parts {
		if s == "" {
			return nil, errors.New("empty path segment")
		}
		if !strings.ContainsAny(s, "{}") {
			segs = append(segs, segment{kind: segLiteral, text: s})
			continue
		}
		if len(s) < 3 || s[0] != '{' || s[len(s)-1] != '}' {
			return nil, fmt.Errorf("segment %q: a variable must be a whole segment, {name} or {name+}", s)
		}
		name, kind := s[1:len(s)-1], segParam
		if strings.HasSuffix(name, "+") {
			name, kind = name[:len(name)-1], segGreedy
			if i != len(parts)-1 {
				return nil, fmt.Errorf("segment %q: a greedy variable must be the last segment", s)
			}
		}
		if !validVarName(name) {
			return nil, fmt.Errorf("segment %q: a variable name is letters, digits, '_', '-' and '.'", s)
		}
		if seen[name] {
			return nil, fmt.Errorf("variable %q appears twice", name)
		}
		seen[name] = true
		segs = append(segs, segment{kind: kind, text: name})
	}
	return segs, nil
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Match finds the route for a request. path is the request's escaped path
// (url.URL.EscapedPath): segments are split on '/' before percent-decoding, so
// "%2F" belongs to a segment. A trailing slash is ignored, except that a
// greedy variable captures it. Matching allocates only the PathParameters map
// (and decoded values of escaped segments).
func (r *Router) Match(method, path string) (Match, bool) {
	if r == nil {
		return Match{}, false
	}
	var t *target
	if strings.HasPrefix(path, "/") {
		t = r.root.lookup(path[1:], methodIndex(method))
	}
	if t == nil {
		if r.catch == nil {
			return Match{}, false
		}
		return r.catch.match, true
	}
	m := t.match
	if t.nvars > 0 {
		m.PathParameters = t.params(path[1:])
	}
	return m, true
}

func (m *methods) pick(mi int) *target {
	if m == nil {
		return nil
	}
	if mi >= 0 && m.exact[mi] != nil {
		return m.exact[mi]
	}
	return m.any
}

// lookup matches the rest of a path, after the '/' that precedes it.
func (n *node) lookup(path string, mi int) *target {
	if path == "" {
		return n.end.pick(mi)
	}
	seg, rest := path, ""
	if i := strings.IndexByte(path, '/'); i >= 0 {
		seg, rest = path[:i], path[i+1:]
	}
	if n.literal != nil && seg != "" {
		var c *node
		if strings.IndexByte(seg, '%') < 0 {
			c = n.literal[seg]
		} else {
			var buf [64]byte
			c = n.literal[string(appendUnescape(buf[:0], seg))]
		}
		if c != nil {
			if t := c.lookup(rest, mi); t != nil {
				return t
			}
		}
	}
	if n.param != nil && seg != "" {
		if t := n.param.lookup(rest, mi); t != nil {
			return t
		}
	}
	return n.greedy.pick(mi)
}

// params extracts the variables of t from a path it matched.
func (t *target) params(path string) map[string]string {
	m := make(map[string]string, t.nvars)
	for _, s := range t.segs {
		if s.kind == segGreedy {
			m[s.text] = unescape(path)
			break
		}
		seg := path
		if i := strings.IndexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		if s.kind == segParam {
			m[s.text] = unescape(seg)
		}
	}
	return m
}

// unescape percent-decodes a path segment; text that is not a valid escape
// stays as it is.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	return string(appendUnescape(make([]byte, 0, len(s)), s))
}

// appendUnescape appends s percent-decoded to b, keeping invalid escapes.
func appendUnescape(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, c)
	}
	return b
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
