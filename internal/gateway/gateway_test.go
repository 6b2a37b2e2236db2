package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/invoke"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testInvoker is an Invoker whose behaviour a test sets; it keeps the last
// request.
type testInvoker struct {
	fn   func(ctx context.Context, req *invoke.Request) (*invoke.Result, error)
	mu   sync.Mutex
	last *invoke.Request
}

func (ti *testInvoker) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Result, error) {
	ti.mu.Lock()
	ti.last = req
	ti.mu.Unlock()
	return ti.fn(ctx, req)
}

func (ti *testInvoker) lastRequest(t *testing.T) *invoke.Request {
	t.Helper()
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.last == nil {
		t.Fatal("the invoker was not called")
	}
	return ti.last
}

// reply returns an invoker function that answers with payload.
func reply(payload string) func(context.Context, *invoke.Request) (*invoke.Result, error) {
	return func(_ context.Context, req *invoke.Request) (*invoke.Result, error) {
		return &invoke.Result{RequestID: req.RequestID, Function: req.Function, Payload: []byte(payload)}, nil
	}
}

// echoEvent answers with the event it received, as the body of a 200.
func echoEvent(_ context.Context, req *invoke.Request) (*invoke.Result, error) {
	out, err := json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(req.Payload)})
	return &invoke.Result{Payload: out}, err
}

// startGateway serves a gateway with routes over real HTTP.
func startGateway(t *testing.T, cfg Config, routes ...Route) (*Gateway, *httptest.Server, *testInvoker) {
	t.Helper()
	ti := &testInvoker{fn: reply(`"ok"`)}
	if cfg.Invoker == nil {
		cfg.Invoker = ti
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetRoutes(routes); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv, ti
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestEventGolden(t *testing.T) {
	g, srv, ti := startGateway(t, Config{AccountID: "123456789012", APIID: "shop"},
		Route{"POST", "/orders/{id}/items", "orders:live"})
	ti.fn = echoEvent
	g.now = func() time.Time { return time.Date(2024, 3, 12, 19, 3, 58, 390e6, time.FixedZone("KST", 9*3600)) }
	g.newID = func() string { return "c6af9ac6-7b61-41c3-9e4c-2d2b2b3a0f5e" }

	req := newRequest(t, "POST", srv.URL+"/orders/42%2F7/items/?b=2&a=1&a=x%20y&empty&c=%E2%9C%93&d=1+2",
		strings.NewReader("{\"hello\":\"w\u00f6rld\",\"line\":\"a\\nb\"}"))
	req.Host = "api.example.com"
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "test-agent/1.0")
	req.Header["X-Custom"] = []string{"one", "two"}
	req.Header["Cookie"] = []string{"session=abc; theme=dark", "lang=ko"}
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, body := do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}

	sent := ti.lastRequest(t)
	if sent.Function != "orders" || sent.Qualifier != "live" || sent.Trigger != "http" ||
		sent.RequestID != "c6af9ac6-7b61-41c3-9e4c-2d2b2b3a0f5e" ||
		sent.TraceID != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("invoke request %+v", sent)
	}
	if !bytes.Equal(body, sent.Payload) {
		t.Errorf("echoed body differs from the event sent")
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, sent.Payload, "", "  "); err != nil {
		t.Fatalf("event is not JSON: %v\n%s", err, sent.Payload)
	}
	indented.WriteByte('\n')
	golden := filepath.Join("testdata", "event.golden.json")
	if *update {
		if err := os.WriteFile(golden, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(indented.Bytes(), want) {
		t.Errorf("event differs from %s (run with -update to accept):\n%s", golden, indented.Bytes())
	}

	// The event decodes into aws-lambda-go's type as a function sees it.
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(sent.Payload, &ev); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"routeKey", ev.RouteKey, "POST /orders/{id}/items"},
		{"rawPath", ev.RawPath, "/orders/42%2F7/items/"},
		{"http.path", ev.RequestContext.HTTP.Path, "/orders/42/7/items/"},
		{"pathParameters.id", ev.PathParameters["id"], "42/7"},
		{"query a", ev.QueryStringParameters["a"], "1,x y"},
		{"query c", ev.QueryStringParameters["c"], "\u2713"},
		{"query d", ev.QueryStringParameters["d"], "1 2"},
		{"query empty", ev.QueryStringParameters["empty"], ""},
		{"header x-custom", ev.Headers["x-custom"], "one,two"},
		{"header host", ev.Headers["host"], "api.example.com"},
		{"header x-forwarded-for", ev.Headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1"},
		{"body", ev.Body, `{"hello":"w` + "\u00f6" + `rld","line":"a\nb"}`},
		{"sourceIp", ev.RequestContext.HTTP.SourceIP, "127.0.0.1"},
		{"domainPrefix", ev.RequestContext.DomainPrefix, "api"},
		{"time", ev.RequestContext.Time, "12/Mar/2024:10:03:58 +0000"},
		{"stage", ev.RequestContext.Stage, "$default"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(ev.Cookies, []string{"session=abc", "theme=dark", "lang=ko"}) {
		t.Errorf("cookies %q", ev.Cookies)
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Error("cookie header left in headers")
	}
	if ev.RequestContext.TimeEpoch != 1710237838390 || ev.IsBase64Encoded {
		t.Errorf("timeEpoch %d, isBase64Encoded %v", ev.RequestContext.TimeEpoch, ev.IsBase64Encoded)
	}
}

func TestEventOmitsEmpty(t *testing.T) {
	_, srv, ti := startGateway(t, Config{}, Route{"GET", "/", "f"})
	ti.fn = echoEvent
	do(t, newRequest(t, "GET", srv.URL+"/", nil))
	var ev map[string]any
	if err := json.Unmarshal(ti.lastRequest(t).Payload, &ev); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cookies", "queryStringParameters", "pathParameters", "body", "stageVariables"} {
		if _, ok := ev[k]; ok {
			t.Errorf("%s present: %v", k, ev[k])
		}
	}
	for _, k := range []string{"rawQueryString", "headers", "isBase64Encoded"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	rc := ev["requestContext"].(map[string]any)
	for _, k := range []string{"authentication", "authorizer"} {
		if _, ok := rc[k]; ok {
			t.Errorf("requestContext.%s present", k)
		}
	}
	if rc["accountId"] != DefaultAccountID || rc["apiId"] != DefaultAPIID {
		t.Errorf("accountId %v apiId %v", rc["accountId"], rc["apiId"])
	}
	if id, _ := rc["requestId"].(string); !uuidV7.MatchString(id) {
		t.Errorf("requestId %q is not a UUID v7", id)
	}
}

func TestBinaryBodies(t *testing.T) {
	bin := make([]byte, 300)
	rand.Read(bin)
	bin[0] = 0xff // never valid UTF-8
	tests := []struct {
		name        string
		contentType string
		body        []byte
		base64      bool
	}{
		{"octet-stream", "application/octet-stream", bin, true},
		{"image", "image/png", []byte("PNG text-like"), true},
		{"no type, binary", "", bin, true},
		{"no type, text", "", []byte("plain \u00e9t\u00e9"), false},
		{"text, invalid UTF-8", "text/plain", bin, true},
		{"json", "application/vnd.api+json", []byte(`{"a":1}`), false},
		{"form", "application/x-www-form-urlencoded", []byte("a=1&b=2"), false},
		{"xml", "application/xml", []byte("<a/>"), false},
		{"javascript", "application/javascript", []byte("x()"), false},
		{"text upper case", "Text/HTML; charset=utf-8", []byte("<p>"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv, ti := startGateway(t, Config{}, Route{"POST", "/up", "f"})
			ti.fn = echoEvent
			req := newRequest(t, "POST", srv.URL+"/up", bytes.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if resp, body := do(t, req); resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(ti.lastRequest(t).Payload, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.IsBase64Encoded != tt.base64 {
				t.Fatalf("isBase64Encoded = %v, want %v", ev.IsBase64Encoded, tt.base64)
			}
			got := []byte(ev.Body)
			if ev.IsBase64Encoded {
				var err error
				if got, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, tt.body) {
				t.Errorf("body %q, want %q", got, tt.body)
			}
		})
	}
}

func TestResponseMapping(t *testing.T) {
	bin := []byte{0, 1, 2, 0xff, 0xfe}
	full, _ := json.Marshal(map[string]any{
		"statusCode":        201,
		"headers":           map[string]string{"content-type": "image/x-test", "x-one": "1", "x-both": "from-headers", "content-length": "999"},
		"multiValueHeaders": map[string][]string{"x-many": {"a", "b"}, "x-both": {"m1", "m2"}},
		"cookies":           []string{"a=1; Path=/", "b=2; HttpOnly"},
		"body":              base64.StdEncoding.EncodeToString(bin),
		"isBase64Encoded":   true,
	})
	sdkResponse, _ := json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 418, Body: "teapot"})
	tests := []struct {
		name    string
		payload string
		status  int
		ctype   string
		body    string
		headers map[string][]string
	}{
		{"full", string(full), 201, "image/x-test", string(bin), map[string][]string{
			"X-One":      {"1"},
			"X-Many":     {"a", "b"},
			"X-Both":     {"m1", "m2"},
			"Set-Cookie": {"a=1; Path=/", "b=2; HttpOnly"},
		}},
		{"aws-lambda-go response", string(sdkResponse), 418, "", "teapot", nil},
		{"text body", `{"statusCode":200,"headers":{"Content-Type":"text/plain"},"body":"hi \u00e9"}`, 200, "text/plain", "hi \u00e9", nil},
		{"no body", `{"statusCode":204}`, 204, "", "", nil},
		{"string", `"hello"`, 200, "application/json", `"hello"`, nil},
		{"number", ` 42 `, 200, "application/json", ` 42 `, nil},
		{"null", `null`, 200, "application/json", `null`, nil},
		{"object without statusCode", `{ "body": "x", "n": [1, 2] }`, 200, "application/json", `{ "body": "x", "n": [1, 2] }`, nil},
		{"object with odd members, no statusCode", `{"headers":5}`, 200, "application/json", `{"headers":5}`, nil},
		{"function sets X-Request-Id", `{"statusCode":200,"headers":{"x-request-id":"mine"}}`, 200, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv, ti := startGateway(t, Config{}, Route{"GET", "/r", "f"})
			ti.fn = reply(tt.payload)
			resp, body := do(t, newRequest(t, "GET", srv.URL+"/r", nil))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("content-type %q, want %q", got, tt.ctype)
			}
			if string(body) != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if resp.ContentLength != int64(len(tt.body)) && tt.status != 204 {
				t.Errorf("content-length %d, want %d", resp.ContentLength, len(tt.body))
			}
			for k, want := range tt.headers {
				if got := resp.Header.Values(k); !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if id := resp.Header.Get("X-Request-Id"); !uuidV7.MatchString(id) || id != ti.lastRequest(t).RequestID {
				t.Errorf("X-Request-Id %q, invoked with %q", id, ti.lastRequest(t).RequestID)
			}
		})
	}
}

type errorBody struct {
	Message   string `json:"message"`
	Code      string `json:"code"`
	RequestID string `json:"requestId"`
}

// checkError asserts an error response: status, JSON body and X-Request-Id.
func checkError(t *testing.T, resp *http.Response, body []byte, status int, code, message string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if e.Code != code || e.Message != message {
		t.Errorf("code %q message %q, want %q %q", e.Code, e.Message, code, message)
	}
	if id := resp.Header.Get("X-Request-Id"); id != e.RequestID || !uuidV7.MatchString(id) {
		t.Errorf("X-Request-Id %q, body requestId %q", id, e.RequestID)
	}
}

func TestErrors(t *testing.T) {
	fail := func(err error, res *invoke.Result) func(context.Context, *invoke.Request) (*invoke.Result, error) {
		return func(context.Context, *invoke.Request) (*invoke.Result, error) { return res, err }
	}
	wrap := func(err error) error { return fmt.Errorf("invoke orders: %w", err) }
	tests := []struct {
		name    string
		path    string
		invoke  func(context.Context, *invoke.Request) (*invoke.Result, error)
		status  int
		code    string
		message string
	}{
		{"unknown route", "/nope", nil, 404, CodeRouteNotFound, "Not Found"},
		{"function missing", "/f", fail(wrap(invoke.ErrFunctionNotFound), nil), 404, CodeFunctionNotFound, "Not Found"},
		{"throttled", "/f", fail(wrap(invoke.ErrThrottled), nil), 429, CodeThrottled, "Too Many Requests"},
		{"timeout", "/f", fail(wrap(invoke.ErrTimeout), &invoke.Result{}), 504, CodeFunctionTimeout, "Endpoint request timed out"},
		{"deadline", "/f", fail(context.DeadlineExceeded, nil), 504, CodeFunctionTimeout, "Endpoint request timed out"},
		{"function failed", "/f", fail(wrap(invoke.ErrFunctionFailed), &invoke.Result{}), 502, CodeFunctionError, "Internal Server Error"},
		{"init failed", "/f", fail(wrap(invoke.ErrInitFailed), nil), 502, CodeFunctionError, "Internal Server Error"},
		{"function error", "/f", reply(`{"errorMessage":"boom","errorType":"Error"}`), 502, CodeFunctionError, "Internal Server Error"},
		{"payload too large", "/f", fail(wrap(invoke.ErrPayloadTooLarge), nil), 413, CodePayloadTooLarge, "Request Entity Too Large"},
		{"shutting down", "/f", fail(wrap(invoke.ErrShuttingDown), nil), 503, CodeShuttingDown, "Service Unavailable"},
		{"unknown error", "/f", fail(errors.New("disk on fire"), nil), 500, CodeInternalError, "Internal Server Error"},
		{"no result", "/f", fail(nil, nil), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
		{"not JSON", "/f", reply(`{"statusCode":200`), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
		{"empty result", "/f", reply(``), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
		{"bad statusCode", "/f", reply(`{"statusCode":"200"}`), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
		{"statusCode out of range", "/f", reply(`{"statusCode":99}`), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
		{"bad base64", "/f", reply(`{"statusCode":200,"body":"***","isBase64Encoded":true}`), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
		{"bad header", "/f", reply(`{"statusCode":200,"headers":{"a b":"c"}}`), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
		{"header injection", "/f", reply(`{"statusCode":200,"headers":{"a":"b\r\nc: d"}}`), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
		{"body not a string", "/f", reply(`{"statusCode":200,"body":{"a":1}}`), 502, CodeInvalidFunctionResponse, "Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv, ti := startGateway(t, Config{}, Route{"GET", "/f", "f"})
			if tt.invoke != nil {
				inner := tt.invoke
				functionError := tt.name == "function error"
				ti.fn = func(ctx context.Context, req *invoke.Request) (*invoke.Result, error) {
					res, err := inner(ctx, req)
					if functionError {
						res.FunctionError = true
					}
					return res, err
				}
			}
			resp, body := do(t, newRequest(t, "GET", srv.URL+tt.path, nil))
			checkError(t, resp, body, tt.status, tt.code, tt.message)
		})
	}
}

func TestRequestTooLarge(t *testing.T) {
	const limit = 1 << 10
	_, srv, ti := startGateway(t, Config{MaxBodyBytes: limit}, Route{"POST", "/up", "f"})
	var calls atomic.Int32
	ti.fn = func(ctx context.Context, req *invoke.Request) (*invoke.Result, error) {
		calls.Add(1)
		return reply(`"ok"`)(ctx, req)
	}

	// Announced length over the limit.
	resp, body := do(t, newRequest(t, "POST", srv.URL+"/up", bytes.NewReader(make([]byte, limit+1))))
	checkError(t, resp, body, 413, CodePayloadTooLarge, "Request Entity Too Large")

	// Unannounced (chunked) length over the limit: caught while reading.
	huge := io.LimitReader(neverEnding('x'), 64<<20)
	resp, body = do(t, newRequest(t, "POST", srv.URL+"/up", io.NopCloser(huge)))
	checkError(t, resp, body, 413, CodePayloadTooLarge, "Request Entity Too Large")

	// At the limit: fine, chunked or not.
	for _, r := range []io.Reader{bytes.NewReader(make([]byte, limit)), io.NopCloser(io.LimitReader(neverEnding('y'), limit))} {
		if resp, body := do(t, newRequest(t, "POST", srv.URL+"/up", r)); resp.StatusCode != 200 {
			t.Errorf("at the limit: status %d: %s", resp.StatusCode, body)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("invoked %d times, want 2", n)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestHealthz(t *testing.T) {
	var ready atomic.Bool
	_, srv, _ := startGateway(t, Config{Ready: ready.Load}, Route{"ANY", "/{proxy+}", "f"})
	resp, body := do(t, newRequest(t, "GET", srv.URL+"/healthz", nil))
	if resp.StatusCode != 503 || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("before ready: %d %s", resp.StatusCode, body)
	}
	ready.Store(true)
	resp, body = do(t, newRequest(t, "GET", srv.URL+"/healthz", nil))
	if resp.StatusCode != 200 || string(body) != `{"status":"ok"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("after ready: %d %q", resp.StatusCode, body)
	}
}

func TestReservedPaths(t *testing.T) {
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.URL.Path)
		})
	}
	_, srv, ti := startGateway(t, Config{
		Admin:     handler("admin"),
		LambdaAPI: handler("lambda"),
		Metrics:   handler("metrics"),
	}, Route{"ANY", "/{proxy+}", "user"})
	for path, want := range map[string]string{
		"/_gureum/functions":                  "admin /_gureum/functions",
		"/_gureum":                            "admin /_gureum",
		"/2015-03-31/functions/f/invocations": "lambda /2015-03-31/functions/f/invocations",
		"/metrics":                            "metrics /metrics",
		"/%5Fgureum/functions":                "admin /_gureum/functions",
		"/metricsx":                           `"ok"`,
		"/2015-03-31":                         `"ok"`,
		"/orders/1":                           `"ok"`,
	} {
		resp, body := do(t, newRequest(t, "GET", srv.URL+path, nil))
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s: %d %q, want %q", path, resp.StatusCode, body, want)
		}
	}
	if m := ti.lastRequest(t); m.Function != "user" {
		t.Errorf("user route got %q", m.Function)
	}

	// Without handlers, the reserved paths answer 404.
	_, srv, _ = startGateway(t, Config{}, Route{"ANY", "/{proxy+}", "user"})
	for _, path := range []string{"/_gureum/x", "/2015-03-31/functions", "/metrics"} {
		resp, body := do(t, newRequest(t, "GET", srv.URL+path, nil))
		checkError(t, resp, body, 404, CodeRouteNotFound, "Not Found")
	}
}

func TestSetRoutes(t *testing.T) {
	g, srv, ti := startGateway(t, Config{}, Route{"GET", "/v", "old"})
	started, release := make(chan struct{}), make(chan struct{})
	ti.fn = func(ctx context.Context, req *invoke.Request) (*invoke.Result, error) {
		if req.Function == "old" {
			close(started)
			<-release
		}
		return reply(`"`+req.Function+`"`)(ctx, req)
	}

	// A request in flight on the old routes.
	type result struct {
		status int
		body   string
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/v")
		if err != nil {
			inflight <- result{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b)}
	}()
	<-started

	if err := g.SetRoutes([]Route{{"GET", "/v", "new"}, {"GET", "/w/{x}", "new"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v", "/w/1"} {
		if resp, body := do(t, newRequest(t, "GET", srv.URL+p, nil)); resp.StatusCode != 200 || string(body) != `"new"` {
			t.Errorf("%s after swap: %d %s", p, resp.StatusCode, body)
		}
	}
	close(release)
	if r := <-inflight; r.status != 200 || r.body != `"old"` {
		t.Errorf("in-flight request: %d %s", r.status, r.body)
	}

	// A bad set leaves the routes as they were.
	before := g.Router()
	for _, bad := range [][]Route{
		{{"GET", "/v", "a"}, {"GET", "/v", "b"}},
		{{"GET", "/_gureum/x", "a"}},
		{{"GET", "/healthz", "a"}},
		{{"POST", "/2015-03-31/functions/{name}/invocations", "a"}},
	} {
		err := g.SetRoutes(bad)
		if !errors.Is(err, ErrInvalidRoute) {
			t.Errorf("SetRoutes(%v) = %v", bad, err)
		}
	}
	if g.Router() != before {
		t.Error("routes changed by a failed SetRoutes")
	}
	if err := g.SetRoutes(nil); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, newRequest(t, "GET", srv.URL+"/v", nil))
	checkError(t, resp, body, 404, CodeRouteNotFound, "Not Found")
}

func TestTraceParent(t *testing.T) {
	valid := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for v, want := range map[string]string{
		valid: valid,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra": "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		valid + "-x": "", // version 00 has no extra fields
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "", // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01": "", // zero parent id
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": "", // invalid version
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01": "", // upper case
		"garbage": "",
	} {
		if got := traceParent([]string{v}); got != want {
			t.Errorf("traceParent(%q) = %q, want %q", v, got, want)
		}
	}
	if got := traceParent([]string{valid, valid}); got != "" {
		t.Errorf("two traceparent headers: %q", got)
	}
}

func TestClientGoneDoesNotCancel(t *testing.T) {
	_, srv, ti := startGateway(t, Config{}, Route{"GET", "/slow", "f"})
	entered, done := make(chan struct{}), make(chan error, 1)
	release := make(chan struct{})
	ti.fn = func(ctx context.Context, req *invoke.Request) (*invoke.Result, error) {
		close(entered)
		<-release
		done <- ctx.Err()
		return reply(`"ok"`)(ctx, req)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := newRequest(t, "GET", srv.URL+"/slow", nil).WithContext(ctx)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Errorf("invocation context ended with the client: %v", err)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without an invoker succeeded")
	}
	if _, err := New(Config{Invoker: &testInvoker{}, MaxBodyBytes: -1}); err == nil {
		t.Error("New with a negative MaxBodyBytes succeeded")
	}
}

func TestRequestIDs(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := newRequestID()
		if !uuidV7.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

// discardWriter is a minimal http.ResponseWriter for benchmarks.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) WriteString(s string) (int, error) {
	return len(s), nil
}

func BenchmarkServeHTTP(b *testing.B) {
	fixed := []byte(`{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"id\":\"42\",\"status\":\"shipped\"}"}`)
	inv := &testInvoker{fn: func(_ context.Context, req *invoke.Request) (*invoke.Result, error) {
		return &invoke.Result{RequestID: req.RequestID, Payload: fixed}, nil
	}}
	g, err := New(Config{Invoker: inv})
	if err != nil {
		b.Fatal(err)
	}
	routes := []Route{
		{"GET", "/orders/{id}", "orders"},
		{"POST", "/orders", "orders"},
		{"ANY", "/{proxy+}", "site"},
	}
	for i := range 50 {
		routes = append(routes, Route{"GET", fmt.Sprintf("/r%d/{x}/items", i), "f"})
	}
	if err := g.SetRoutes(routes); err != nil {
		b.Fatal(err)
	}
	jsonBody := bytes.Repeat([]byte(`{"sku":"abc-123","qty":2},`), 40) // ~1 KiB
	cases := []struct {
		name   string
		method string
		target string
		body   []byte
	}{
		{"GET", "GET", "/orders/42?expand=items", nil},
		{"POST-1KiB", "POST", "/orders", jsonBody},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(c.method, c.target, nil)
			req.Header.Set("User-Agent", "bench/1.0")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", "Bearer abc.def.ghi")
			if c.body != nil {
				req.Header.Set("Content-Type", "application/json")
				req.ContentLength = int64(len(c.body))
			}
			w := &discardWriter{h: make(http.Header)}
			rd := bytes.NewReader(c.body)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				rd.Reset(c.body)
				req.Body = io.NopCloser(rd)
				clear(w.h)
				g.ServeHTTP(w, req)
			}
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string][3]string{
		"example.com:8080": {"example.com", "8080", "example"},
		"example.com":      {"example.com", "", "example"},
		"127.0.0.1:9":      {"127.0.0.1", "9", "127.0.0.1"},
		"[::1]:8080":       {"::1", "8080", "::1"},
		"[::1]":            {"::1", "", "::1"},
		"::1":              {"::1", "", "::1"},
		"localhost":        {"localhost", "", "localhost"},
		"":                 {"", "", ""},
		"[broken":          {"[broken", "", "[broken"},
	} {
		h, p := splitHostPort(in)
		if h != want[0] || p != want[1] || domainPrefix(h) != want[2] {
			t.Errorf("%q: %q %q %q, want %q", in, h, p, domainPrefix(h), want)
		}
	}
}
