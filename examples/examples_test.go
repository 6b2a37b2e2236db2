// Package examples holds gureum's example projects; every example is also an
// end-to-end test, deployed here to a node started in-process.
package examples

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gureum/gureum/internal/testutil"
)

func TestQuickstart(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy("quickstart")

	for _, c := range []struct{ path, want string }{
		{"/hello", "hello, world"},
		{"/hello?name=gureum", "hello, gureum"},
		{"/hello/path%20param", "hello, path param"},
	} {
		resp, body := n.Get(c.path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", c.path, resp.StatusCode, body)
		}
		var got struct{ Message, RequestID string }
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("GET %s: %v: %s", c.path, err, body)
		}
		if got.Message != c.want {
			t.Fatalf("GET %s: message %q, want %q", c.path, got.Message, c.want)
		}
		if got.RequestID == "" || got.RequestID != resp.Header.Get("X-Request-Id") {
			t.Fatalf("GET %s: the function's request id %q should be the response's %q", c.path, got.RequestID, resp.Header.Get("X-Request-Id"))
		}
	}
	if resp, _ := n.Do(http.MethodPost, "/hello", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST /hello: %d, want 404 (only GET is routed)", resp.StatusCode)
	}
}
