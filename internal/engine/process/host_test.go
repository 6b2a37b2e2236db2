//go:build linux

package process

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/host"
	"github.com/gureum/gureum/internal/host/hosttest"
)

// hostServer serves the host API for function resize version 3, which may
// publish to order-events, and returns its base URL and a token.
func hostServer(t *testing.T, svc host.Services) (url, token string) {
	t.Helper()
	key := bytes.Repeat([]byte{0x5a}, host.MinKeyBytes)
	grants := func(_ context.Context, fn, version string) (host.Grants, error) {
		if fn != "resize" || version != "3" {
			return host.Grants{}, fmt.Errorf("function %s version %s does not exist: %w", fn, version, host.ErrUnauthorized)
		}
		return host.Grants{Publish: []string{"order-events"}}, nil
	}
	mux := http.NewServeMux()
	mux.Handle(host.PathPrefix, host.New(svc).Handler(host.TokenResolver(key, grants)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + strings.TrimSuffix(host.PathPrefix, "/"), host.Token(key, "resize", "3")
}

// TestHostCallsFromTheSDK runs the shared test function's publish and send
// through the SDK, GUREUM_HOST_URL and the host API.
func TestHostCallsFromTheSDK(t *testing.T) {
	svc := &hosttest.Services{}
	url, token := hostServer(t, svc)
	s := spec("resize", fnBootstrap)
	s.Version = "3"
	s.HostURL, s.HostToken = url, token
	in := startInstance(t, prepare(t, newEngine(t, Default()), s), io.Discard)

	req, log := newRequest(`{"op":"publish","to":"order-events","msg":"order 7 paid","subject":"paid","attrs":{"color":"red"},"nums":{"total":12.5}}`, 30*time.Second)
	resp, err := in.Invoke(context.Background(), req)
	if err != nil || resp.FunctionError {
		t.Fatalf("publish: %v %s\n%s", err, resp.Payload, log)
	}
	if got := string(resp.Payload); got != `{"messageId":"pub-1"}` {
		t.Errorf("publish response %s", got)
	}
	pubs, _, callers := svc.Snapshot()
	wantPub := host.PublishInput{
		Topic: "order-events", Subject: "paid", Message: "order 7 paid",
		Attributes: map[string]host.Attribute{
			"color": {DataType: "String", StringValue: "red"},
			"total": {DataType: "Number", StringValue: "12.5"},
		},
	}
	if len(pubs) != 1 || !reflect.DeepEqual(pubs[0], wantPub) {
		t.Errorf("published %+v, want %+v", pubs, wantPub)
	}
	// The token names the function; the SDK labels the call with the
	// invocation's request id and trace (X-Ray form in the process, W3C
	// again at the node).
	wantCaller := host.Caller{Function: "resize", Version: "3", RequestID: req.ID, TraceParent: req.TraceID,
		Grants: host.Grants{Publish: []string{"order-events"}}}
	if len(callers) != 1 || !reflect.DeepEqual(callers[0], wantCaller) {
		t.Errorf("caller %+v, want %+v", callers, wantCaller)
	}

	// An ungranted call fails in the function with the code and the grant.
	resp, _ = invokeOK(t, in, `{"op":"send","to":"orders","msg":"work"}`)
	want := "AccessDenied: function resize may not send to queue orders: grant it in gureum.yaml with permissions: {send: [orders]}"
	if d := decode[errorDoc](t, resp.Payload); !resp.FunctionError || d.ErrorMessage != want || d.ErrorType != "Error" {
		t.Errorf("denied send: %s, want %q", resp.Payload, want)
	}

	// The node's error reaches the function with its code.
	svc.Fail(fmt.Errorf("topic order-events does not exist: %w", host.ErrNotFound))
	resp, _ = invokeOK(t, in, `{"op":"publish","to":"order-events","msg":"x"}`)
	if d := decode[errorDoc](t, resp.Payload); !resp.FunctionError || d.ErrorMessage != "NotFound: topic order-events does not exist: not found" {
		t.Errorf("failing publish: %s", resp.Payload)
	}
}

// TestHostWithoutEndpoint: without a host URL the SDK says so, and a
// function cannot point it anywhere through its own environment.
func TestHostWithoutEndpoint(t *testing.T) {
	s := spec("resize", fnBootstrap)
	s.Env = map[string]string{"GUREUM_HOST_URL": "http://127.0.0.1:1/x", "GUREUM_HOST_TOKEN": "forged"}
	in := startInstance(t, prepare(t, newEngine(t, Default()), s), io.Discard)
	resp, _ := invokeOK(t, in, `{"op":"publish","to":"order-events","msg":"x"}`)
	d := decode[errorDoc](t, resp.Payload)
	if !resp.FunctionError || !strings.Contains(d.ErrorMessage, "GUREUM_HOST_URL is not set") {
		t.Errorf("publish without a host: %s", resp.Payload)
	}
}

// TestHostEnvironment: the host variables come from the spec alone.
func TestHostEnvironment(t *testing.T) {
	e := newEngine(t, Default())
	for _, tc := range []struct {
		name           string
		url, token     string
		wantURL, wantT string
	}{
		{"with host", "http://127.0.0.1:8080/_gureum/host/v1", "gh1.tok", "http://127.0.0.1:8080/_gureum/host/v1", "gh1.tok"},
		{"without host", "", "", "", ""},
	} {
		s := spec("envfn", goBootstrap)
		s.HostURL, s.HostToken = tc.url, tc.token
		s.Env = map[string]string{"GUREUM_HOST_URL": "http://evil", "GUREUM_HOST_TOKEN": "forged"}
		in := startInstance(t, prepare(t, e, s), io.Discard)
		resp, _ := invokeOK(t, in, `{"action":"env"}`)
		got := map[string]string{}
		for _, kv := range decode[goResult](t, resp.Payload).Env {
			k, v, _ := strings.Cut(kv, "=")
			got[k] = v
		}
		u, uok := got["GUREUM_HOST_URL"]
		tok, tokok := got["GUREUM_HOST_TOKEN"]
		if u != tc.wantURL || tok != tc.wantT || uok != (tc.wantURL != "") || tokok != (tc.wantT != "") {
			t.Errorf("%s: GUREUM_HOST_URL=%q (%t) GUREUM_HOST_TOKEN=%q (%t)", tc.name, u, uok, tok, tokok)
		}
	}
}
