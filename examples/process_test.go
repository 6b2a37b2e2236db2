package examples

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/testutil"
)

func TestLambdaGo(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy("lambda-go")

	resp, body := n.Get("/greet/gureum")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /greet/gureum: %d %s", resp.StatusCode, body)
	}
	var got struct{ Message, Function, RequestID string }
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Message != "Hello, gureum" || got.Function != "greeter" || got.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("greeting %+v (request id header %q)", got, resp.Header.Get("X-Request-Id"))
	}
	// A returned error is a function error: 502 through the gateway.
	if resp, body := n.Get("/greet/fail"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("GET /greet/fail: %d %s", resp.StatusCode, body)
	}
	r := n.CLI("invoke", "greeter", "--data", `{"pathParameters":{"name":"fail"}}`)
	if r.Code != 1 || !strings.Contains(r.Stdout, "refusing to greet fail") {
		t.Fatalf("invoke fail: %+v", r)
	}
	// The process's log lines reach the function's log with their request id.
	testutil.Eventually(t, 10*time.Second, "the greeter's log", func() bool {
		return strings.Contains(n.CLI("logs", "greeter").Stdout, "greeting gureum")
	})
}

func TestPython(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy("python")

	resp, body := n.Do(http.MethodPost, "/py/count", []byte(`{"words": ["a", "b", "c"]}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /py/count: %d %s", resp.StatusCode, body)
	}
	var got struct {
		Count       int
		RequestID   string
		Function    string
		RemainingMs int
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Count != 3 || got.Function != "counter" || got.RequestID != resp.Header.Get("X-Request-Id") || got.RemainingMs <= 0 {
		t.Fatalf("answer %+v", got)
	}
	// The handler's exception comes back as a Lambda error.
	r := n.CLI("invoke", "counter", "--data", `{"body": "{}"}`)
	if r.Code != 1 || !strings.Contains(r.Stdout, `"errorType": "ValueError"`) && !strings.Contains(r.Stdout, `"errorType":"ValueError"`) {
		t.Fatalf("invoke with a bad body: %+v", r)
	}
	// And the runtime keeps serving afterwards.
	if resp, body := n.Do(http.MethodPost, "/py/count", []byte(`{"words": []}`), nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"count": 0`) {
		t.Fatalf("after an error: %d %s", resp.StatusCode, body)
	}
}

func TestShell(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy("shell")

	r := n.CLI("invoke", "wc", "--data", `{"text": "one two three"}`)
	if r.Code != 0 {
		t.Fatalf("invoke: %+v", r)
	}
	var got struct {
		Bytes, Words int
		Runtime      string
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	if got.Bytes != len(`{"text": "one two three"}`) || got.Words != 4 || got.Runtime != "sh" {
		t.Fatalf("answer %+v", got)
	}
	// Warm: the same process answers again.
	if r := n.CLI("invoke", "wc", "-v", "--data", `{}`); r.Code != 0 || strings.Contains(r.Stderr, "cold") {
		t.Fatalf("second invoke should be warm: %+v", r)
	}
}
