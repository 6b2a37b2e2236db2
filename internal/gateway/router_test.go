package gateway

import (
	"errors"
	"maps"
	"net/url"
	"strings"
	"testing"
)

func mustRouter(t testing.TB, routes ...Route) *Router {
	t.Helper()
	r, err := NewRouter(routes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRouterPrecedence(t *testing.T) {
	r := mustRouter(t,
		Route{"GET", "/", "root"},
		Route{"GET", "/orders", "list"},
		Route{"GET", "/orders/{id}", "get"},
		Route{"POST", "/orders/{id}", "post"},
		Route{"ANY", "/orders/{id}", "any-order"},
		Route{"GET", "/orders/latest", "latest"},
		Route{"GET", "/orders/{id}/items/{item}", "item"},
		Route{"GET", "/files/{proxy+}", "files"},
		Route{"ANY", "/{proxy+}", "catch"},
		Route{"GET", "/a/{x}/c", "axc"},
		Route{"GET", "/a/b/{y}", "aby"},
		Route{"POST", "/p/lit", "p-post-lit"},
		Route{"GET", "/p/{x}", "p-get-var"},
		Route{"ANY", "/q/lit", "q-any-lit"},
		Route{"GET", "/q/{x}", "q-get-var"},
		Route{"get", "/caf\u00e9/{n}", "cafe:live"},
	)
	tests := []struct {
		method, path string
		fn, key      string
		params       map[string]string
	}{
		{"GET", "/", "root", "GET /", nil},
		{"GET", "/orders", "list", "GET /orders", nil},
		{"GET", "/orders/", "list", "GET /orders", nil},                                            // trailing slash ignored
		{"GET", "/orders/latest", "latest", "GET /orders/latest", nil},                             // literal over variable
		{"GET", "/orders/l%61test", "latest", "GET /orders/latest", nil},                           // literal matched decoded
		{"GET", "/orders/42", "get", "GET /orders/{id}", map[string]string{"id": "42"}},            // variable over greedy
		{"GET", "/orders/42/", "get", "GET /orders/{id}", map[string]string{"id": "42"}},           // trailing slash ignored
		{"POST", "/orders/42", "post", "POST /orders/{id}", map[string]string{"id": "42"}},         // exact method
		{"DELETE", "/orders/42", "any-order", "ANY /orders/{id}", map[string]string{"id": "42"}},   // ANY for the rest
		{"TRACE", "/orders/42", "any-order", "ANY /orders/{id}", map[string]string{"id": "42"}},    // unknown method: ANY only
		{"POST", "/orders/latest", "post", "POST /orders/{id}", map[string]string{"id": "latest"}}, // literal has no POST: back off
		{"GET", "/orders/a%20b", "get", "GET /orders/{id}", map[string]string{"id": "a b"}},        // decoded
		{"GET", "/orders/a%2Fb", "get", "GET /orders/{id}", map[string]string{"id": "a/b"}},        // %2F stays in its segment
		{"GET", "/orders/a+b", "get", "GET /orders/{id}", map[string]string{"id": "a+b"}},          // '+' is not a space in paths
		{"GET", "/orders/7/items/x", "item", "GET /orders/{id}/items/{item}", map[string]string{"id": "7", "item": "x"}},
		{"GET", "/files/a/b/c.txt", "files", "GET /files/{proxy+}", map[string]string{"proxy": "a/b/c.txt"}},
		{"GET", "/files/a/b/", "files", "GET /files/{proxy+}", map[string]string{"proxy": "a/b/"}},         // greedy keeps the slash
		{"GET", "/files/a%2Fb/%7E", "files", "GET /files/{proxy+}", map[string]string{"proxy": "a/b/~"}},   // greedy decoded
		{"GET", "/files/", "catch", "ANY /{proxy+}", map[string]string{"proxy": "files/"}},                 // greedy needs a segment
		{"POST", "/files/x", "catch", "ANY /{proxy+}", map[string]string{"proxy": "files/x"}},              // exact method elsewhere
		{"GET", "/nothing/else", "catch", "ANY /{proxy+}", map[string]string{"proxy": "nothing/else"}},     //
		{"GET", "/orders/7/items", "catch", "ANY /{proxy+}", map[string]string{"proxy": "orders/7/items"}}, // no partial matches
		{"GET", "/a/b/c", "aby", "GET /a/b/{y}", map[string]string{"y": "c"}},                              // earlier segment decides
		{"GET", "/a/z/c", "axc", "GET /a/{x}/c", map[string]string{"x": "z"}},
		{"GET", "/p/lit", "p-get-var", "GET /p/{x}", map[string]string{"x": "lit"}},        // method must match to stop
		{"GET", "/q/lit", "q-any-lit", "ANY /q/lit", nil},                                  // path over method
		{"GET", "/caf%C3%A9/1", "cafe", "GET /caf\u00e9/{n}", map[string]string{"n": "1"}}, // escaped literal
		{"GET", "//orders", "catch", "ANY /{proxy+}", map[string]string{"proxy": "/orders"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			m, ok := r.Match(tt.method, tt.path)
			if !ok {
				t.Fatalf("no match")
			}
			if m.Function != tt.fn || m.RouteKey != tt.key {
				t.Errorf("matched %s (%s), want %s (%s)", m.Function, m.RouteKey, tt.fn, tt.key)
			}
			if !maps.Equal(m.PathParameters, tt.params) || (tt.params == nil) != (m.PathParameters == nil) {
				t.Errorf("params %v, want %v", m.PathParameters, tt.params)
			}
		})
	}
	if m, _ := r.Match("GET", "/caf%C3%A9/1"); m.Qualifier != "live" || m.Route.Method != "GET" {
		t.Errorf("qualifier %q method %q, want live GET", m.Qualifier, m.Route.Method)
	}
}

func TestRouterNoMatch(t *testing.T) {
	r := mustRouter(t,
		Route{"GET", "/orders/{id}", "get"},
		Route{"GET", "/files/{proxy+}", "files"},
	)
	for _, p := range []string{"/", "/orders", "/orders/", "/orders/1/2", "/files", "/files/", "orders/1", "", "/orders//"} {
		if m, ok := r.Match("GET", p); ok {
			t.Errorf("Match(GET, %q) = %s, want none", p, m.RouteKey)
		}
	}
	if m, ok := r.Match("POST", "/orders/1"); ok {
		t.Errorf("POST matched %s", m.RouteKey)
	}
	var nilRouter *Router
	if _, ok := nilRouter.Match("GET", "/"); ok {
		t.Error("nil router matched")
	}
}

func TestRouterDefaultRoute(t *testing.T) {
	r := mustRouter(t,
		Route{"GET", "/orders/{id}", "get"},
		Route{"", DefaultRoute, "fallback"},
	)
	m, ok := r.Match("PUT", "/anything/at/all")
	if !ok || m.Function != "fallback" || m.RouteKey != "$default" || m.PathParameters != nil {
		t.Fatalf("got %+v, %v", m, ok)
	}
	if m, _ := r.Match("GET", "/orders/1"); m.Function != "get" {
		t.Errorf("specific route lost to $default: %+v", m)
	}
}

func TestRouterBuildErrors(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
	}{
		{"relative path", []Route{{"GET", "orders", "f"}}},
		{"trailing slash", []Route{{"GET", "/orders/", "f"}}},
		{"empty segment", []Route{{"GET", "/a//b", "f"}}},
		{"unclosed variable", []Route{{"GET", "/{id", "f"}}},
		{"partial variable", []Route{{"GET", "/a{id}", "f"}}},
		{"brace in literal", []Route{{"GET", "/a}", "f"}}},
		{"empty variable", []Route{{"GET", "/{}", "f"}}},
		{"empty greedy", []Route{{"GET", "/{+}", "f"}}},
		{"bad variable name", []Route{{"GET", "/{a b}", "f"}}},
		{"greedy not last", []Route{{"GET", "/{proxy+}/x", "f"}}},
		{"variable twice", []Route{{"GET", "/{a}/{a}", "f"}}},
		{"unknown method", []Route{{"FETCH", "/a", "f"}}},
		{"no method", []Route{{"", "/a", "f"}}},
		{"no function", []Route{{"GET", "/a", ""}}},
		{"two qualifiers", []Route{{"GET", "/a", "f:1:2"}}},
		{"duplicate", []Route{{"GET", "/a/{x}", "f"}, {"get", "/a/{y}", "g"}}},
		{"duplicate ANY", []Route{{"ANY", "/a", "f"}, {"any", "/a", "g"}}},
		{"duplicate greedy", []Route{{"GET", "/a/{p+}", "f"}, {"GET", "/a/{q+}", "g"}}},
		{"default with method", []Route{{"GET", DefaultRoute, "f"}}},
		{"two defaults", []Route{{"ANY", DefaultRoute, "f"}, {"", DefaultRoute, "g"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRouter(tt.routes)
			if err == nil {
				t.Fatalf("no error; router has %d routes", r.Len())
			}
			if !errors.Is(err, ErrInvalidRoute) {
				t.Errorf("error %v does not wrap ErrInvalidRoute", err)
			}
		})
	}
	// Same pattern, different methods, and variables named differently at
	// the same place: all fine.
	mustRouter(t,
		Route{"GET", "/a/{x}", "f"},
		Route{"POST", "/a/{y}", "g"},
		Route{"ANY", "/a/{z}/b", "h"},
		Route{"GET", "/a/{p+}", "i"},
	)
}

func TestRouterMatchAllocations(t *testing.T) {
	r := mustRouter(t,
		Route{"GET", "/orders/latest", "latest"},
		Route{"GET", "/orders/{id}", "get"},
		Route{"ANY", "/{proxy+}", "catch"},
	)
	if n := testing.AllocsPerRun(100, func() { r.Match("GET", "/orders/latest/") }); n != 0 {
		t.Errorf("literal match: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { r.Match("GET", "/orders/l%61test") }); n != 0 {
		t.Errorf("escaped literal match: %v allocations, want 0", n)
	}
}

// fillPattern turns a route pattern into a request path, with value (made
// non-empty) for every variable; it returns the path and the parameters a
// match must report.
func fillPattern(pattern, value string) (string, map[string]string) {
	if value == "" {
		value = "v"
	}
	if pattern == "/" {
		return "/", nil
	}
	var b strings.Builder
	params := map[string]string{}
	for _, seg := range strings.Split(pattern[1:], "/") {
		b.WriteByte('/')
		switch {
		case strings.HasSuffix(seg, "+}"):
			params[seg[1:len(seg)-2]] = value
			for i, part := range strings.Split(value, "/") {
				if i > 0 {
					b.WriteByte('/')
				}
				b.WriteString(url.PathEscape(part))
			}
		case strings.HasPrefix(seg, "{"):
			params[seg[1:len(seg)-1]] = value
			b.WriteString(url.PathEscape(value))
		default:
			b.WriteString(url.PathEscape(seg))
		}
	}
	if len(params) == 0 {
		params = nil
	}
	return b.String(), params
}

func FuzzRouter(f *testing.F) {
	f.Add("GET /orders/{id}\nANY /{proxy+}\nPOST /orders/latest", "GET", "/orders/42", "x y")
	f.Add("GET /\nGET /files/{proxy+}", "GET", "/files/a/b/", "a/b")
	f.Add("ANY /caf\u00e9/{a}/{b+}", "DELETE", "/caf%C3%A9/1/2/3", "%2F")
	f.Add("GET /a/{x}/c\nGET /a/b/{y}", "GET", "/a/b/c", "")
	f.Add("ANY $default\nGET /a", "PUT", "//", "/")
	f.Add("GET /{a}/{a}\nGET /a/\nGET /{proxy+}/x", "GET", "/%zz/%", "%zz")
	f.Fuzz(func(t *testing.T, spec, method, path, value string) {
		var routes []Route
		for i, line := range strings.Split(spec, "\n") {
			m, p, _ := strings.Cut(line, " ")
			routes = append(routes, Route{Method: m, Path: p, Function: "f" + string(rune('a'+i%26))})
		}
		if r, err := NewRouter(routes); err == nil {
			r.Match(method, path)
		}
		for _, rt := range routes {
			r, err := NewRouter([]Route{rt})
			if err != nil {
				continue
			}
			r.Match(method, path)
			if rt.Path == DefaultRoute {
				continue
			}
			filled, want := fillPattern(rt.Path, value)
			m := strings.ToUpper(rt.Method)
			if m == "ANY" {
				m = "PATCH"
			}
			got, ok := r.Match(m, filled)
			if !ok {
				t.Fatalf("%s %s: path %q does not match", rt.Method, rt.Path, filled)
			}
			if !maps.Equal(got.PathParameters, want) {
				t.Fatalf("%s %s: path %q: params %q, want %q", rt.Method, rt.Path, filled, got.PathParameters, want)
			}
		}
	})
}
