// Package gateway is gureum's HTTP ingress: it serves the node's listener,
// hands the reserved paths (/healthz, /metrics, the admin API under
// /_gureum/ and the Lambda Invoke API under /2015-03-31/) to their handlers,
// and turns every other request into an API Gateway HTTP API (payload format
// 2.0) event for the function its route names, and the function's result
// back into an HTTP response.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/invoke"
)

// Invoker runs one synchronous invocation; implemented by invoke.
type Invoker interface {
	Invoke(ctx context.Context, req *invoke.Request) (*invoke.Result, error)
}

// Reserved paths, served by the gateway or the handlers in Config; no user
// route may claim them.
const (
	HealthPath      = "/healthz"
	MetricsPath     = "/metrics"
	AdminPrefix     = "/_gureum/"
	LambdaAPIPrefix = "/2015-03-31/"
)

// Defaults for the Config fields left empty.
const (
	DefaultAccountID = "000000000000"
	DefaultAPIID     = "gureum"
)

// ErrReservedPath is returned by SetRoutes for a route under a reserved path.
var ErrReservedPath = errors.New("path is reserved")

// Config configures a Gateway. Only Invoker is required.
type Config struct {
	Invoker Invoker
	// MaxBodyBytes caps request bodies; larger ones get 413. Zero means
	// invoke.MaxPayloadBytes.
	MaxBodyBytes int64
	// Ready reports whether the node serves traffic; /healthz answers 503
	// until it does. Nil means always ready.
	Ready func() bool
	// Admin serves AdminPrefix, LambdaAPI serves LambdaAPIPrefix and Metrics
	// serves MetricsPath; a nil handler answers 404 there.
	Admin     http.Handler
	LambdaAPI http.Handler
	Metrics   http.Handler
	// Observer counts and traces routed requests; nil means none.
	Observer Observer
	// AccountID and APIID fill requestContext.accountId and apiId.
	AccountID string
	APIID     string
}

// Gateway is the http.Handler of a node's listener. Its routes change with
// SetRoutes; everything else is fixed at New.
type Gateway struct {
	cfg    Config
	router atomic.Pointer[Router]
	bodies sync.Pool // *[]byte request body buffers

	now   func() time.Time
	newID func() string
}

// New returns a gateway with no routes.
func New(cfg Config) (*Gateway, error) {
	if cfg.Invoker == nil {
		return nil, errors.New("gateway: no invoker")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("gateway: negative MaxBodyBytes %d", cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = invoke.MaxPayloadBytes
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.APIID == "" {
		cfg.APIID = DefaultAPIID
	}
	g := &Gateway{cfg: cfg, now: time.Now, newID: newRequestID}
	r, _ := NewRouter(nil)
	g.router.Store(r)
	return g, nil
}

// SetRoutes replaces the routes. Requests already matched finish on the old
// routes; later ones see the new. On error the routes stay as they were.
func (g *Gateway) SetRoutes(routes []Route) error {
	var errs []error
	for i, rt := range routes {
		if reservedPath(rt.Path) {
			errs = append(errs, fmt.Errorf("%w: route %d (%s %q): %w", ErrInvalidRoute, i, rt.Method, rt.Path, ErrReservedPath))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	r, err := NewRouter(routes)
	if err != nil {
		return err
	}
	g.router.Store(r)
	return nil
}

// Router returns the routes in use.
func (g *Gateway) Router() *Router { return g.router.Load() }

func reservedPath(p string) bool {
	return p == HealthPath || p == MetricsPath ||
		p == strings.TrimSuffix(AdminPrefix, "/") || strings.HasPrefix(p, AdminPrefix) ||
		p == strings.TrimSuffix(LambdaAPIPrefix, "/") || strings.HasPrefix(p, LambdaAPIPrefix)
}

// ServeHTTP dispatches on the reserved paths, then serves user routes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == HealthPath:
		g.serveHealth(w)
	case p == MetricsPath:
		g.delegate(w, r, g.cfg.Metrics)
	case strings.HasPrefix(p, AdminPrefix) || p == strings.TrimSuffix(AdminPrefix, "/"):
		g.delegate(w, r, g.cfg.Admin)
	case strings.HasPrefix(p, LambdaAPIPrefix):
		g.delegate(w, r, g.cfg.LambdaAPI)
	default:
		g.serveRoute(w, r)
	}
}

func (g *Gateway) delegate(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if h == nil {
		writeError(w, CodeRouteNotFound, g.newID())
		return
	}
	h.ServeHTTP(w, r)
}

func (g *Gateway) serveHealth(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h[headerRequestID] = []string{g.newID()}
	if g.cfg.Ready != nil && !g.cfg.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"unavailable"}`) //nolint:errcheck // the client went away; nothing to do
		return
	}
	io.WriteString(w, `{"status":"ok"}`) //nolint:errcheck // the client went away; nothing to do
}

// Observer watches the requests the gateway routes.
type Observer interface {
	// Request starts watching a request to route (its key, such as
	// "GET /orders/{id}", or "unmatched"). traceparent is the request's W3C
	// trace context, "" for none. It returns the trace context to hand to
	// the function and end, to call with the response's status.
	Request(ctx context.Context, route, method, traceparent string) (trace string, end func(status int))
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// serveRoute runs the function of the request's route.
func (g *Gateway) serveRoute(w http.ResponseWriter, r *http.Request) {
	id := g.newID()
	m, ok := g.router.Load().Match(r.Method, r.URL.EscapedPath())
	trace := traceParent(r.Header["Traceparent"])
	if o := g.cfg.Observer; o != nil {
		route := "unmatched"
		if ok {
			route = m.RouteKey
		}
		var end func(int)
		trace, end = o.Request(r.Context(), route, r.Method, trace)
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		defer func() { end(sw.status) }()
	}
	if !ok {
		writeError(w, CodeRouteNotFound, id)
		return
	}
	body, buf, code := g.readBody(w, r)
	if code != "" {
		writeError(w, code, id)
		return
	}
	payload := make([]byte, 0, eventSizeHint(r, body))
	payload = appendEvent(payload, r, &eventInput{
		match:     &m,
		requestID: id,
		now:       g.now(),
		body:      body,
		accountID: g.cfg.AccountID,
		apiID:     g.cfg.APIID,
	})
	g.putBody(buf)

	// A client that goes away does not cancel the invocation, as in Lambda:
	// the function runs to completion (its own timeout bounds it).
	res, err := g.cfg.Invoker.Invoke(context.WithoutCancel(r.Context()), &invoke.Request{
		Function:  m.Function,
		Qualifier: m.Qualifier,
		Payload:   payload,
		RequestID: id,
		Trigger:   "http",
		Source:    m.RouteKey,
		TraceID:   trace,
	})
	switch {
	case err != nil:
		writeError(w, invokeErrorCode(err), id)
		return
	case res == nil:
		writeError(w, CodeInvalidFunctionResponse, id)
		return
	case res.FunctionError:
		writeError(w, CodeFunctionError, id)
		return
	}
	resp, err := parseResponse(res.Payload)
	if err != nil {
		writeError(w, CodeInvalidFunctionResponse, id)
		return
	}
	resp.write(w, res.Payload, id)
}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 1 << 20

// readBody reads the request body, up to Config.MaxBodyBytes. It returns
// the body, the pooled buffer holding it (for putBody) and, on failure, an
// error code.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *[]byte, string) {
	limit := g.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, nil, CodePayloadTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil, ""
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	bp, _ := g.bodies.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := (*bp)[:0]
	if r.ContentLength > 0 && int64(cap(b)) <= r.ContentLength {
		// One more byte than announced, so that EOF needs no growth.
		b = make([]byte, 0, r.ContentLength+1)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = b
			g.putBody(bp)
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return nil, nil, CodePayloadTooLarge
			}
			return nil, nil, CodeInvalidRequest
		}
	}
	*bp = b
	return b, bp, ""
}

func (g *Gateway) putBody(bp *[]byte) {
	if bp != nil && cap(*bp) <= maxPooledBody {
		*bp = (*bp)[:0]
		g.bodies.Put(bp)
	}
}

// traceParent returns a W3C traceparent header's value when it is well
// formed ("00-<32 hex>-<16 hex>-<2 hex>", or a later version's longer form),
// else "".
func traceParent(vs []string) string {
	if len(vs) != 1 {
		return ""
	}
	v := vs[0]
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || (len(v) > 55 && (v[:2] == "00" || v[55] != '-')) {
		return ""
	}
	for i := 0; i < 55; i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ""
		}
	}
	if v[:2] == "ff" || strings.Trim(v[3:35], "0") == "" || strings.Trim(v[36:52], "0") == "" {
		return ""
	}
	return v
}

var _ http.Handler = (*Gateway)(nil)
