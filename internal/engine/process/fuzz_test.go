//go:build linux

package process

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gureum/gureum/internal/engine"
)

// FuzzRuntimeAPI feeds arbitrary requests to the Runtime API of an instance
// with an invocation in flight: routing never panics, agrees with the
// documented paths (anything else is 404), and every error document the
// runtime can post comes out as a JSON object.
func FuzzRuntimeAPI(f *testing.F) {
	apiPath := regexp.MustCompile(`^/2018-06-01/runtime/(invocation/next|init/error|invocation/[^/]+/(response|error))$`)
	f.Add("GET", "/2018-06-01/runtime/invocation/next", "", "")
	f.Add("POST", "/2018-06-01/runtime/invocation/abc/response", "", `{"ok":true}`)
	f.Add("POST", "/2018-06-01/runtime/invocation/abc/error", "Custom.Error", `{"errorMessage":"m"}`)
	f.Add("POST", "/2018-06-01/runtime/invocation/abc/error", "", "plain text")
	f.Add("POST", "/2018-06-01/runtime/invocation/abc/error", "T", `{}`)
	f.Add("POST", "/2018-06-01/runtime/invocation/other/response", "", `{}`)
	f.Add("POST", "/2018-06-01/runtime/init/error", "Runtime.X", "null")
	f.Add("PUT", "/2018-06-01/runtime//response", "", "")
	f.Add("GET", "/2018-06-01/runtime/invocation/abc/error/", "", "")
	f.Fuzz(func(t *testing.T, method, path, errType, body string) {
		rt, id := parseRoute(method, path)
		known := apiPath.MatchString(path)
		if known != (rt != routeNotFound) {
			t.Fatalf("parseRoute(%q, %q) = %v; documented path: %v", method, path, rt, known)
		}
		if rt == routeResponse || rt == routeError {
			if id == "" || strings.Contains(id, "/") || !strings.HasPrefix(path, apiPrefix+"invocation/"+id+"/") {
				t.Fatalf("parseRoute(%q) took id %q", path, id)
			}
		}

		in := newInstance(&Function{name: "fuzz"})
		close(in.closing) // a next with nothing to deliver answers at once
		in.state = stateRunning
		in.cur = &invocation{req: &engine.Request{ID: "abc", Payload: []byte(`{}`)}}
		req := &http.Request{
			Method:        method,
			URL:           &url.URL{Path: path},
			Header:        http.Header{"Lambda-Runtime-Function-Error-Type": {errType}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)),
		}
		req = req.WithContext(t.Context())
		rec := httptest.NewRecorder()
		in.serveAPI(rec, req)
		if !known && rec.Code != http.StatusNotFound {
			t.Fatalf("%s %q answered %d, want 404", method, path, rec.Code)
		}
		if rec.Code == http.StatusAccepted && (rt == routeResponse || rt == routeError) {
			o := <-in.results
			if o.err != nil || o.functionError != (rt == routeError) {
				t.Fatalf("outcome %+v for %s", o, path)
			}
			if rt == routeError {
				var doc map[string]json.RawMessage
				if err := json.Unmarshal(o.payload, &doc); err != nil || doc == nil {
					t.Fatalf("error document %q from body %q: %v", o.payload, body, err)
				}
				if _, ok := doc["errorType"]; !ok && errType != "" {
					t.Fatalf("error document %q lacks the header's type %q", o.payload, errType)
				}
			}
		}
	})
}
