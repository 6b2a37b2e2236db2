package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/engine"
)

// The HTTP API through which process functions make host calls. The node
// mounts Handler at PathPrefix on its gateway listener and gives each process
// function the base URL (PathPrefix without its final slash) and a token:
//
//	POST /_gureum/host/v1/{op}
//	Authorization: Bearer <token>            (Token)
//	traceparent: <W3C traceparent>           optional; or
//	X-Amzn-Trace-Id: <X-Ray trace header>    optional, translated to a traceparent
//	Gureum-Request-Id: <request id>          optional, the invocation's id
//
//	{JSON request of op}
//
// A success is 200 with the operation's JSON answer. A failure is
// {"code", "message"} (Error) with 401 (Unauthorized), 403 (AccessDenied),
// 404 (NotFound: unknown operation, topic or queue), 400
// (InvalidParameter; 405 for a method other than POST), 413 (TooLarge), 500
// (Internal) or 503 (Unavailable). The token, not the request, says who
// calls; the trace and request id headers only label the call.
const (
	PathPrefix      = "/_gureum/host/v1/"
	HeaderRequestID = "Gureum-Request-Id"
	maxLabelBytes   = 256 // request id header
)

// Handler returns the HTTP API, serving paths under PathPrefix. resolve finds
// the caller a bearer token stands for (TokenResolver makes one); an error
// wrapping ErrUnauthorized answers 401, and any other error answers by its
// code (ErrorOf).
func (h *Host) Handler(resolve func(ctx context.Context, token string) (Caller, error)) http.Handler {
	return &handler{h: h, resolve: resolve}
}

type handler struct {
	h       *Host
	resolve func(ctx context.Context, token string) (Caller, error)
}

func (hd *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || op == "" || strings.Contains(op, "/") {
		writeError(w, errorf(CodeNotFound, fmt.Sprintf("no host API at %s", r.URL.Path)))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeErrorStatus(w, http.StatusMethodNotAllowed, errorf(CodeInvalidParameter, "host calls use POST, not "+r.Method))
		return
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gureum host"`)
		writeError(w, errorf(CodeUnauthorized, "no bearer token: send Authorization: Bearer $GUREUM_HOST_TOKEN"))
		return
	}
	caller, err := hd.resolve(r.Context(), token)
	if err != nil {
		e := ErrorOf(err)
		if e.Code == CodeUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gureum host", error="invalid_token"`)
		}
		writeError(w, e)
		return
	}
	if !known(op) {
		writeError(w, errorf(CodeNotFound, fmt.Sprintf("unknown host operation %q", op)))
		return
	}
	if r.ContentLength > MaxRequestBytes {
		writeError(w, errorf(CodeTooLarge, fmt.Sprintf("%s request of %d bytes is over the limit of %d", op, r.ContentLength, MaxRequestBytes)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, errorf(CodeTooLarge, fmt.Sprintf("%s request is over the limit of %d bytes", op, MaxRequestBytes)))
		} else {
			writeError(w, errorf(CodeInvalidParameter, "read the request: "+err.Error()))
		}
		return
	}
	labelCaller(&caller, r.Header)
	resp, err := hd.h.call(r.Context(), caller, op, body)
	if err != nil {
		writeError(w, ErrorOf(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
}

// labelCaller takes the request id and trace context from the headers, where
// the resolver did not set them.
func labelCaller(c *Caller, hdr http.Header) {
	if c.RequestID == "" {
		if id := hdr.Get(HeaderRequestID); len(id) <= maxLabelBytes && !strings.ContainsFunc(id, isControl) {
			c.RequestID = id
		}
	}
	if c.TraceParent == "" {
		if tp := TraceParent(hdr.Get("traceparent")); tp != "" {
			c.TraceParent = tp
		} else {
			c.TraceParent = TraceParent(hdr.Get("X-Amzn-Trace-Id"))
		}
	}
}

// bearer returns the token of an Authorization header of the Bearer scheme.
func bearer(auth string) (string, bool) {
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func writeError(w http.ResponseWriter, e *Error) {
	writeErrorStatus(w, httpStatus(e.Code), e)
}

func writeErrorStatus(w http.ResponseWriter, status int, e *Error) {
	b, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Compile-time interface guards.
var (
	_ http.Handler = (*handler)(nil)
	_ engine.Host  = (*binding)(nil)
)
