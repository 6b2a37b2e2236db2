package gureum

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gureum/gureum/internal/host"
	"github.com/gureum/gureum/internal/host/hosttest"
)

// TestHTTPClient sends requests through the node's host API to a real
// server: granted hosts answer, others are denied by the node.
func TestHTTPClient(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/hello", http.StatusFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "got "+string(b)+" with "+r.Header.Get("X-Token")+" trace "+r.Header.Get("traceparent"))
	}))
	defer target.Close()

	key := bytes.Repeat([]byte{9}, host.MinKeyBytes)
	grants := func(context.Context, string, string) (host.Grants, error) {
		return host.Grants{HTTP: []string{"127.0.0.1"}}, nil
	}
	mux := http.NewServeMux()
	mux.Handle(host.PathPrefix, host.New(&hosttest.Services{}).Handler(host.TokenResolver(key, grants)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	t.Setenv("GUREUM_HOST_URL", srv.URL+host.PathPrefix)
	t.Setenv("GUREUM_HOST_TOKEN", host.Token(key, "fn", "1"))
	t.Setenv("_X_AMZN_TRACE_ID", "")

	ctx := invocationContext()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, target.URL+"/moved", strings.NewReader("data"))
	req.Header.Set("X-Token", "t1")
	resp, err := HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	// The node followed the redirect (a 302 turns PUT into GET without a body).
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Method") != http.MethodGet {
		t.Errorf("answer %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if !strings.Contains(string(body), "trace 00-0af7651916cd43dd8448eb211c80319c-") {
		t.Errorf("the target did not get the invocation's trace: %q", body)
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, target.URL+"/echo", strings.NewReader("data"))
	req.Header.Set("X-Token", "t2")
	resp, err = HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(string(body), "got data with t2") {
		t.Errorf("answer %d %q", resp.StatusCode, body)
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost:1/", nil)
	if _, err := HTTPClient().Do(req); !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "{http: [localhost]}") {
		t.Errorf("ungranted host: %v", err)
	}
}
