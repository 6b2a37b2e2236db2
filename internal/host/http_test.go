package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var testKey = bytes.Repeat([]byte{0x42}, MinKeyBytes)

// apiServer serves the host API of New(svc) for function resize version 3,
// which may publish to order-events.
func apiServer(t *testing.T, svc Services) *httptest.Server {
	t.Helper()
	grants := func(_ context.Context, fn, version string) (Grants, error) {
		if fn == "resize" && version == "3" {
			return Grants{Publish: []string{"order-events"}}, nil
		}
		return Grants{}, fmt.Errorf("function %s version %s does not exist: %w", fn, version, ErrUnauthorized)
	}
	mux := http.NewServeMux()
	mux.Handle(PathPrefix, New(svc).Handler(TokenResolver(testKey, grants)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type apiAnswer struct {
	status int
	hdr    http.Header
	body   string
	err    Error
}

func post(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string, body io.Reader) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := apiAnswer{status: resp.StatusCode, hdr: resp.Header, body: string(b)}
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(b, &a.err); err != nil {
			t.Fatalf("%s %s: error body %q: %v", method, path, b, err)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return a
}

func TestHandler(t *testing.T) {
	svc := &services{}
	srv := apiServer(t, svc)
	good := "Bearer " + Token(testKey, "resize", "3")
	publish := `{"topic":"order-events","message":"paid"}`

	for _, tc := range []struct {
		name        string
		method, op  string
		auth        string
		body        io.Reader
		status      int
		code        string
		msgContains string
	}{
		{"no token", "POST", "publish", "", strings.NewReader(publish), 401, CodeUnauthorized, "no bearer token"},
		{"not bearer", "POST", "publish", "Basic dXNlcjpwdw==", strings.NewReader(publish), 401, CodeUnauthorized, "no bearer token"},
		{"bad token", "POST", "publish", "Bearer gh1.AAAA.BBBB", strings.NewReader(publish), 401, CodeUnauthorized, "signature"},
		{"other key", "POST", "publish", "Bearer " + Token(bytes.Repeat([]byte{1}, 32), "resize", "3"), strings.NewReader(publish), 401, CodeUnauthorized, "signature"},
		{"gone version", "POST", "publish", "Bearer " + Token(testKey, "resize", "2"), strings.NewReader(publish), 401, CodeUnauthorized, "does not exist"},
		{"unknown op", "POST", "subscribe", good, strings.NewReader(publish), 404, CodeNotFound, `unknown host operation "subscribe"`},
		{"nested path", "POST", "publish/x", good, strings.NewReader(publish), 404, CodeNotFound, "no host API"},
		{"GET", "GET", "publish", good, nil, 405, CodeInvalidParameter, "POST"},
		{"too large", "POST", "publish", good, strings.NewReader(strings.Repeat(" ", MaxRequestBytes+1)), 413, CodeTooLarge, "over the limit"},
		{"too large, unsized", "POST", "publish", good, io.MultiReader(strings.NewReader(strings.Repeat(" ", MaxRequestBytes)), strings.NewReader("x")), 413, CodeTooLarge, "over the limit"},
		{"malformed", "POST", "publish", good, strings.NewReader(`{`), 400, CodeInvalidParameter, "malformed"},
		{"denied", "POST", "send", good, strings.NewReader(`{"queue":"orders","body":"b"}`), 403, CodeAccessDenied,
			"function resize may not send to queue orders: grant it in gureum.yaml with permissions: {send: [orders]}"},
	} {
		a := post(t, srv, tc.method, PathPrefix+tc.op, map[string]string{"Authorization": tc.auth}, tc.body)
		if a.status != tc.status || a.err.Code != tc.code || !strings.Contains(a.err.Message, tc.msgContains) {
			t.Errorf("%s: %d %+v, want %d %s containing %q", tc.name, a.status, a.err, tc.status, tc.code, tc.msgContains)
		}
		if tc.status == 401 && !strings.HasPrefix(a.hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, a.hdr.Get("WWW-Authenticate"))
		}
	}
	if n := svc.calls(); n != 0 {
		t.Fatalf("%d failed requests reached the node", n)
	}

	// Success, labelled with the request id and the trace, in X-Ray form as
	// a Lambda runtime has it.
	a := post(t, srv, "POST", PathPrefix+"publish", map[string]string{
		"Authorization":     good,
		"X-Amzn-Trace-Id":   "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1",
		"Gureum-Request-Id": "req-9",
	}, strings.NewReader(publish))
	if a.status != 200 || a.body != `{"messageId":"pub-1"}` {
		t.Fatalf("publish: %d %s", a.status, a.body)
	}
	want := Caller{Function: "resize", Version: "3", RequestID: "req-9",
		TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Grants:      Grants{Publish: []string{"order-events"}}}
	if len(svc.callers) != 1 || fmt.Sprint(svc.callers[0]) != fmt.Sprint(want) {
		t.Errorf("caller %+v, want %+v", svc.callers, want)
	}

	// A W3C traceparent wins over an X-Ray header; a malformed one is ignored.
	post(t, srv, "POST", PathPrefix+"publish", map[string]string{
		"Authorization":   good,
		"traceparent":     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"X-Amzn-Trace-Id": "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1",
	}, strings.NewReader(publish))
	post(t, srv, "POST", PathPrefix+"publish", map[string]string{
		"Authorization": good,
		"traceparent":   "00-nonsense",
	}, strings.NewReader(publish))
	if got := svc.callers[1].TraceParent; got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00" {
		t.Errorf("trace %q", got)
	}
	if got := svc.callers[2].TraceParent; got != "" {
		t.Errorf("malformed trace became %q", got)
	}

	// The node's errors keep their code.
	svc.mu.Lock()
	svc.failWith = fmt.Errorf("topic order-events is being deleted: %w", ErrUnavailable)
	svc.mu.Unlock()
	a = post(t, srv, "POST", PathPrefix+"publish", map[string]string{"Authorization": good}, strings.NewReader(publish))
	if a.status != 503 || a.err.Code != CodeUnavailable {
		t.Errorf("unavailable: %d %+v", a.status, a.err)
	}
}
