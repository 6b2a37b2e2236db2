package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/registry"
)

// ErrInvalid marks a request the service refused as invalid (400).
var ErrInvalid = errors.New("invalid request")

// Service is what the admin API needs from the node.
type Service interface {
	Functions(ctx context.Context) ([]FunctionInfo, error)
	Function(ctx context.Context, name string) (*FunctionInfo, error)
	Versions(ctx context.Context, name string) ([]registry.Version, error)
	DeleteFunction(ctx context.Context, name string) error
	HasArtifact(ctx context.Context, hash string) (bool, error)
	PutArtifact(ctx context.Context, r io.Reader) (hash string, size int64, err error)
	Deploy(ctx context.Context, req DeployRequest) (*DeployResult, error)
	Invoke(ctx context.Context, req *invoke.Request) (*invoke.Result, error)
	ReadLogs(ctx context.Context, function string, q observe.Query) ([]observe.Entry, error)
	FollowLogs(ctx context.Context, function string, q observe.Query, each func(observe.Entry) error) error
}

// Handler serves the admin API.
type Handler struct {
	svc     Service
	events  EventService   // nil when svc serves no events
	observe ObserveService // nil when svc serves no records, traces or cost
	token   string
	mux     *http.ServeMux
}

// MaxArtifactBytes bounds one uploaded artifact.
const MaxArtifactBytes = 512 << 20

// NewHandler returns the admin API for svc, guarded by token. The events
// endpoints (queues, topics, schedules, dead-letter queues, asynchronous
// invocations) are served when svc also implements EventService, and the
// observability endpoints (invocation records, traces, cost) when it
// implements ObserveService, and the tables and buckets endpoints when it
// implements StorageService.
func NewHandler(svc Service, token string) *Handler {
	h := &Handler{svc: svc, token: token, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+Prefix+"/functions", h.listFunctions)
	h.mux.HandleFunc("GET "+Prefix+"/functions/{name}", h.getFunction)
	h.mux.HandleFunc("DELETE "+Prefix+"/functions/{name}", h.deleteFunction)
	h.mux.HandleFunc("GET "+Prefix+"/functions/{name}/versions", h.versions)
	h.mux.HandleFunc("POST "+Prefix+"/functions/{name}/invocations", h.invoke)
	h.mux.HandleFunc("GET "+Prefix+"/functions/{name}/logs", h.logs)
	h.mux.HandleFunc("HEAD "+Prefix+"/artifacts/{hash}", h.headArtifact)
	h.mux.HandleFunc("PUT "+Prefix+"/artifacts/{hash}", h.putArtifact)
	h.mux.HandleFunc("POST "+Prefix+"/deploy", h.deploy)
	if es, ok := svc.(EventService); ok {
		h.events = es
		h.routeEvents()
	}
	if obs, ok := svc.(ObserveService); ok {
		h.observe = obs
		h.routeObserve()
	}
	if ss, ok := svc.(StorageService); ok {
		h.routeStorage(ss)
	}
	h.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no admin endpoint "+r.Method+" "+r.URL.Path)
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gureum"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized,
			"missing or wrong admin token: pass it as 'Authorization: Bearer TOKEN' (the CLI reads GUREUM_TOKEN or DATA_DIR/token)")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && h.token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorBody{Code: code, Message: msg})
}

// fail maps a service error to its status and code.
func fail(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ErrQueueNotFound):
		writeError(w, http.StatusNotFound, CodeQueueNotFound, err.Error())
	case errors.Is(err, ErrTopicNotFound):
		writeError(w, http.StatusNotFound, CodeTopicNotFound, err.Error())
	case errors.Is(err, ErrReceiptInvalid):
		writeError(w, http.StatusBadRequest, CodeReceiptInvalid, err.Error())
	case errors.Is(err, ErrMessageTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, CodeMessageTooLarge, err.Error())
	case errors.Is(err, ErrTableNotFound):
		writeError(w, http.StatusNotFound, CodeTableNotFound, err.Error())
	case errors.Is(err, ErrItemNotFound):
		writeError(w, http.StatusNotFound, CodeItemNotFound, err.Error())
	case errors.Is(err, ErrBucketNotFound):
		writeError(w, http.StatusNotFound, CodeBucketNotFound, err.Error())
	case errors.Is(err, ErrBucketNotEmpty):
		writeError(w, http.StatusConflict, CodeBucketNotEmpty, err.Error())
	case errors.Is(err, ErrCondition):
		writeError(w, http.StatusConflict, CodeConditionFailed, err.Error())
	case errors.Is(err, ErrItemTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, CodeItemTooLarge, err.Error())
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, invoke.ErrFunctionNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, err.Error())
	case errors.Is(err, registry.ErrConflict):
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
	case errors.As(err, &mbe), errors.Is(err, invoke.ErrPayloadTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, err.Error())
	case errors.Is(err, invoke.ErrThrottled):
		writeError(w, http.StatusTooManyRequests, CodeThrottled, err.Error())
	case errors.Is(err, invoke.ErrShuttingDown):
		writeError(w, http.StatusServiceUnavailable, CodeShuttingDown, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
	}
}

func (h *Handler) listFunctions(w http.ResponseWriter, r *http.Request) {
	fns, err := h.svc.Functions(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if fns == nil {
		fns = []FunctionInfo{}
	}
	writeJSON(w, http.StatusOK, fns)
}

func (h *Handler) getFunction(w http.ResponseWriter, r *http.Request) {
	fn, err := h.svc.Function(r.Context(), r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, fn)
}

func (h *Handler) deleteFunction(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.DeleteFunction(r.Context(), r.PathValue("name")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) versions(w http.ResponseWriter, r *http.Request) {
	vs, err := h.svc.Versions(r.Context(), r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, vs)
}

func (h *Handler) invoke(w http.ResponseWriter, r *http.Request) {
	async := false
	switch t := r.Header.Get(HeaderInvocationType); t {
	case "", InvocationRequestResponse:
	case InvocationEvent:
		if h.events == nil {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, "this node does not serve asynchronous invocations")
			return
		}
		async = true
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidRequest,
			fmt.Sprintf("%s %q: want %s or %s", HeaderInvocationType, t, InvocationRequestResponse, InvocationEvent))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, invoke.MaxPayloadBytes))
	if err != nil {
		fail(w, fmt.Errorf("%w: %v", invoke.ErrPayloadTooLarge, err))
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if !json.Valid(body) {
		fail(w, fmt.Errorf("%w: the event is not valid JSON", ErrInvalid))
		return
	}
	if async {
		h.invokeAsync(w, r, body)
		return
	}
	res, err := h.svc.Invoke(r.Context(), &invoke.Request{
		Function:  r.PathValue("name"),
		Qualifier: r.URL.Query().Get("qualifier"),
		Payload:   body,
		Trigger:   "direct",
		TraceID:   r.Header.Get("traceparent"),
		KeepLog:   r.URL.Query().Get("log") == "1",
	})
	if res == nil {
		fail(w, err)
		return
	}
	hd := w.Header()
	hd.Set(HeaderRequestID, res.RequestID)
	hd.Set(HeaderVersion, res.Version)
	hd.Set(HeaderCold, strconv.FormatBool(res.Cold))
	hd.Set(HeaderDuration, res.Duration.String())
	if res.Cold {
		hd.Set(HeaderInitDuration, res.InitDuration.String())
	}
	if res.FunctionError {
		kind := "Unhandled"
		if errors.Is(err, invoke.ErrTimeout) {
			kind = "Timeout"
		}
		hd.Set(HeaderFunctionError, kind)
	}
	if len(res.Log) > 0 {
		hd.Set("X-Gureum-Log", encodeLogHeader(res.Log))
	}
	hd.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload)
}

// encodeLogHeader keeps the last 4 KiB of a log, escaped for a header value.
func encodeLogHeader(b []byte) string {
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strconv.Quote(string(b))
}

func (h *Handler) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var query observe.Query
	if s := q.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t, terr := time.Parse(time.RFC3339, s)
			if terr != nil {
				writeError(w, http.StatusBadRequest, CodeInvalidRequest, "since: want a duration such as 10m or an RFC 3339 time")
				return
			}
			query.Since = t
		} else {
			query.Since = time.Now().Add(-d)
		}
	}
	query.RequestID = q.Get("request")
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, "limit: want a positive number")
			return
		}
		query.Limit = n
	}
	name := r.PathValue("name")
	if _, err := h.svc.Function(r.Context(), name); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if q.Get("follow") != "1" {
		entries, err := h.svc.ReadLogs(r.Context(), name, query)
		if err != nil {
			fail(w, err)
			return
		}
		enc := json.NewEncoder(w)
		for _, e := range entries {
			_ = enc.Encode(e)
		}
		return
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	_ = h.svc.FollowLogs(r.Context(), name, query, func(e observe.Entry) error {
		if err := enc.Encode(e); err != nil {
			return err
		}
		return rc.Flush()
	})
}

func (h *Handler) headArtifact(w http.ResponseWriter, r *http.Request) {
	ok, err := h.svc.HasArtifact(r.Context(), r.PathValue("hash"))
	if err != nil {
		fail(w, err)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) putArtifact(w http.ResponseWriter, r *http.Request) {
	want := r.PathValue("hash")
	hash, size, err := h.svc.PutArtifact(r.Context(), http.MaxBytesReader(w, r.Body, MaxArtifactBytes))
	if err != nil {
		fail(w, err)
		return
	}
	if hash != want {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest,
			fmt.Sprintf("artifact hash mismatch: the URL names %s but the body hashes to %s", want, hash))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"hash": hash, "size": size})
}

func (h *Handler) deploy(w http.ResponseWriter, r *http.Request) {
	var req DeployRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "deploy request: "+err.Error())
		return
	}
	res, err := h.svc.Deploy(r.Context(), req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

var _ http.Handler = (*Handler)(nil)
