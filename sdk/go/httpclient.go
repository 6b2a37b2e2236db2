package gureum

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// HTTPClient returns an *http.Client whose requests the node makes for the
// function: only to the hosts its manifest grants (permissions: {http:
// [api.example.com]}), within the invocation's deadline, with the
// invocation's trace context. A WebAssembly function has no network of its
// own, so this is how it reaches other services; a process function may use
// it too, to keep the same grants and traces.
//
// Make requests with the handler's context (http.NewRequestWithContext):
// the host call belongs to the invocation the context carries. Request and
// response bodies are at most 6 MiB; redirects to granted hosts are
// followed by the node. An ungranted host fails with an error matching
// [ErrAccessDenied].
func HTTPClient() *http.Client {
	return &http.Client{
		Transport: hostTransport{},
		// The node follows redirects itself, to granted hosts only.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hostTransport sends requests through the "http" host call.
type hostTransport struct{}

// maxBodyBytes bounds a request body, as the node does.
const maxBodyBytes = 6 << 20

func (hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxBodyBytes+1))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > maxBodyBytes {
			return nil, &Error{Code: CodeTooLarge, Message: "http: request body over the limit of 6 MiB"}
		}
		body = b
	}
	in := struct {
		Method  string              `json:"method"`
		URL     string              `json:"url"`
		Headers map[string][]string `json:"headers,omitempty"`
		Body    []byte              `json:"body,omitempty"`
	}{Method: req.Method, URL: req.URL.String(), Headers: req.Header, Body: body}
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	var out struct {
		Status  int                 `json:"status"`
		Headers map[string][]string `json:"headers"`
		Body    []byte              `json:"body"`
		URL     string              `json:"url"`
	}
	if err := callJSON(req.Context(), "http", in, &out); err != nil {
		return nil, err
	}
	if out.Status < 100 || out.Status > 999 {
		return nil, errors.New("gureum: http: the host answered with status " + strconv.Itoa(out.Status))
	}
	resp := &http.Response{
		Status:        strconv.Itoa(out.Status) + " " + http.StatusText(out.Status),
		StatusCode:    out.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header(out.Headers),
		Body:          io.NopCloser(bytes.NewReader(out.Body)),
		ContentLength: int64(len(out.Body)),
		Request:       req,
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	return resp, nil
}
