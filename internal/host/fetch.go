package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The outbound HTTP capability: a function may reach the hosts its
// permissions name (http: [api.example.com, "*.example.com", "host:8443"]),
// and no others, within its own deadline.
//
//	http  {"method"?, "url", "headers"?, "body"?}  → {"status", "headers", "body", "url"}
//
// headers are {"Name": ["value", ...]}; body is base64. Redirects are
// followed (at most 10) only to granted hosts; the answer's url is the one
// that answered. The invocation's traceparent is sent along.
const OpHTTP = "http"

// Limits of the outbound HTTP capability.
const (
	MaxHTTPBodyBytes = 6 << 20 // request or response body
	maxRedirects     = 10
)

// HTTPInput is an outbound request.
type HTTPInput struct {
	Method  string              `json:"method,omitempty"` // "" = GET
	URL     string              `json:"url"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    []byte              `json:"body,omitempty"`
}

// HTTPOutput is the answer to an outbound request.
type HTTPOutput struct {
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers"`
	Body    []byte              `json:"body"`
	URL     string              `json:"url"`
}

// hopHeaders are headers a function may not set: they belong to the
// connection, or to the node.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length"}

// fetch checks and makes one outbound request.
func (h *Host) fetch(ctx context.Context, c Caller, req []byte) (any, error) {
	var in HTTPInput
	if err := decode(req, &in); err != nil {
		return nil, errorf(CodeInvalidParameter, "http: "+err.Error())
	}
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	if !validMethod(in.Method) {
		return nil, errorf(CodeInvalidParameter, fmt.Sprintf("http: %q is not an HTTP method", in.Method))
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, errorf(CodeInvalidParameter, fmt.Sprintf("http: %q is not an http or https URL", truncateName(in.URL)))
	}
	if u.User != nil {
		return nil, errorf(CodeInvalidParameter, "http: credentials in the URL are not allowed; send an Authorization header")
	}
	if len(in.Body) > MaxHTTPBodyBytes {
		return nil, errorf(CodeTooLarge, fmt.Sprintf("http: request body of %d bytes is over the limit of %d", len(in.Body), MaxHTTPBodyBytes))
	}
	if !hostAllowed(c.Grants.HTTP, u) {
		return nil, deniedHost(c.Function, u)
	}
	hreq, err := http.NewRequestWithContext(ctx, in.Method, u.String(), bytes.NewReader(in.Body))
	if err != nil {
		return nil, errorf(CodeInvalidParameter, "http: "+err.Error())
	}
	for k, vs := range in.Headers {
		if !validHeaderName(k) {
			return nil, errorf(CodeInvalidParameter, fmt.Sprintf("http: %q is not a header name", truncateName(k)))
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, errorf(CodeInvalidParameter, "http: header "+k+" holds a line break")
			}
			hreq.Header.Add(k, v)
		}
	}
	for _, k := range hopHeaders {
		hreq.Header.Del(k)
	}
	trace, end := h.span(ctx, c, "http "+in.Method+" "+u.Host)
	if trace != "" {
		hreq.Header.Set("traceparent", trace)
	}
	out, err := h.roundTrip(c, hreq)
	end(err)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// roundTrip sends req, following redirects to granted hosts only.
func (h *Host) roundTrip(c Caller, req *http.Request) (HTTPOutput, error) {
	client := &http.Client{
		Transport: h.transport,
		CheckRedirect: func(next *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errorf(CodeUnavailable, fmt.Sprintf("http: stopped after %d redirects", maxRedirects))
			}
			if !hostAllowed(c.Grants.HTTP, next.URL) {
				return deniedHost(c.Function, next.URL)
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return HTTPOutput{}, e
		}
		if req.Context().Err() != nil {
			return HTTPOutput{}, req.Context().Err()
		}
		return HTTPOutput{}, errorf(CodeUnavailable, fmt.Sprintf("http: %s %s: %v", req.Method, req.URL.Redacted(), unwrapURLError(err)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPBodyBytes+1))
	if err != nil {
		if req.Context().Err() != nil {
			return HTTPOutput{}, req.Context().Err()
		}
		return HTTPOutput{}, errorf(CodeUnavailable, fmt.Sprintf("http: read the answer of %s: %v", resp.Request.URL.Redacted(), err))
	}
	if len(body) > MaxHTTPBodyBytes {
		return HTTPOutput{}, errorf(CodeTooLarge, fmt.Sprintf("http: the answer of %s is over the limit of %d bytes", resp.Request.URL.Redacted(), MaxHTTPBodyBytes))
	}
	return HTTPOutput{Status: resp.StatusCode, Headers: resp.Header, Body: body, URL: resp.Request.URL.String()}, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// deniedHost is the AccessDenied error of an ungranted host.
func deniedHost(function string, u *url.URL) *Error {
	return errorf(CodeAccessDenied, fmt.Sprintf("function %s may not reach %s: grant it in gureum.yaml with permissions: {http: [%s]}",
		function, u.Host, strings.ToLower(u.Hostname())))
}

// hostAllowed reports whether grants allow a request to u. A grant is "*",
// a host name (any port), "host:port", or "*.domain" (any subdomain of
// domain, optionally with ":port").
func hostAllowed(grants []string, u *url.URL) bool {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	for _, g := range grants {
		if g == "*" {
			return true
		}
		gh, gp := splitGrantHost(strings.ToLower(g))
		if gp != "" && gp != port {
			continue
		}
		if gh == host {
			return true
		}
		if domain, ok := strings.CutPrefix(gh, "*."); ok && strings.HasSuffix(host, "."+domain) {
			return true
		}
	}
	return false
}

// splitGrantHost splits "host:port" (or "[v6]:port") into host and port;
// a grant without a port has port "".
func splitGrantHost(g string) (string, string) {
	if h, p, err := net.SplitHostPort(g); err == nil {
		return h, p
	}
	return strings.Trim(g, "[]"), ""
}

func validMethod(m string) bool {
	if m == "" || len(m) > 20 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func validHeaderName(k string) bool {
	if k == "" || len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
