package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gureum/gureum/internal/observe"
)

// Bounds of the observability endpoints' parameters.
const (
	maxRequestIDBytes = 256
	maxTriggerBytes   = 64
	maxSinceDays      = 36500 // "since=Nd" up to about a century
	traceIDHexDigits  = 32
)

// routeObserve registers the observability endpoints. GET on
// /functions/{name}/invocations lists records; POST on the same path is
// the invoke endpoint.
func (h *Handler) routeObserve() {
	for _, r := range []struct {
		pattern string
		fn      http.HandlerFunc
	}{
		{"GET /functions/{name}/invocations", h.listInvocations},
		{"GET /invocations/{id}", h.getInvocation},
		{"GET /traces/{id}", h.getTrace},
		{"GET /cost", h.cost},
	} {
		method, path, _ := strings.Cut(r.pattern, " ")
		h.mux.HandleFunc(method+" "+Prefix+path, r.fn)
	}
}

// failObserve answers a service error of the observability endpoints:
// ErrNotFound is 404 NotFound, the rest as fail maps them.
func failObserve(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
		return
	}
	fail(w, err)
}

// queryParams parses r's query string, refusing malformed ones, parameters
// not in allowed and parameters given twice, so that a misspelt filter is an
// error rather than silently ignored. On failure it answers the request and
// returns false.
func queryParams(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		invalid(w, "malformed query string: %v", err)
		return nil, false
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case !slices.Contains(allowed, k) && len(allowed) == 0:
			invalid(w, "unknown query parameter %q: this endpoint takes none", k)
			return nil, false
		case !slices.Contains(allowed, k):
			invalid(w, "unknown query parameter %q: want %s", k, strings.Join(allowed, ", "))
			return nil, false
		case len(v[k]) > 1:
			invalid(w, "query parameter %q is given %d times; give it once", k, len(v[k]))
			return nil, false
		}
	}
	return v, true
}

// parseSince reads a since parameter: a duration back from now (10m, 24h,
// or whole days such as 7d) or an RFC 3339 time. "" is the zero time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && strings.Trim(days, "0123456789") == "" {
		n, err := strconv.Atoi(days)
		if err != nil || n > maxSinceDays {
			return time.Time{}, fmt.Errorf("since %q: want at most %d days", s, maxSinceDays)
		}
		return now.Add(-time.Duration(n) * 24 * time.Hour), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("since %q: a duration back from now must not be negative", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("since %q: want a duration such as 10m, 24h or 7d, or an RFC 3339 time such as 2030-01-02T15:04:05Z", s)
	}
	return t, nil
}

// validTrigger tells whether s can name a trigger: lower-case letters,
// digits, '-' and '_', starting with a letter.
func validTrigger(s string) bool {
	if s == "" || len(s) > maxTriggerBytes || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidTraceID tells whether s is a W3C trace id: 32 lower-case hex digits,
// not all zeros.
func ValidTraceID(s string) bool {
	if len(s) != traceIDHexDigits {
		return false
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
		zero = zero && c == '0'
	}
	return !zero
}

// recordQuery reads the query of GET /functions/{name}/invocations. On
// failure it answers the request and returns false.
func recordQuery(w http.ResponseWriter, r *http.Request, now time.Time) (RecordQuery, bool) {
	v, ok := queryParams(w, r, "since", "errors", "trigger", "limit")
	if !ok {
		return RecordQuery{}, false
	}
	q := RecordQuery{Limit: DefaultRecordLimit}
	var err error
	if q.Since, err = parseSince(v.Get("since"), now); err != nil {
		invalid(w, "%v", err)
		return RecordQuery{}, false
	}
	if s := v.Get("errors"); s != "" {
		if q.ErrorsOnly, err = strconv.ParseBool(s); err != nil {
			invalid(w, "errors %q: want 1 (only failed invocations) or 0", s)
			return RecordQuery{}, false
		}
	}
	if s := v.Get("trigger"); s != "" {
		if !validTrigger(s) {
			invalid(w, "trigger %q: want a trigger name such as http, queue, topic, schedule or async", s)
			return RecordQuery{}, false
		}
		q.Trigger = s
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxRecordLimit {
			invalid(w, "limit %q: want a number from 1 to %d", s, MaxRecordLimit)
			return RecordQuery{}, false
		}
		q.Limit = n
	}
	return q, true
}

func (h *Handler) listInvocations(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "function")
	if name == "" {
		return
	}
	q, ok := recordQuery(w, r, time.Now())
	if !ok {
		return
	}
	if _, err := h.svc.Function(r.Context(), name); err != nil {
		fail(w, err)
		return
	}
	recs, err := h.observe.Invocations(r.Context(), name, q)
	if err != nil {
		failObserve(w, err)
		return
	}
	if recs == nil {
		recs = []InvocationRecord{}
	}
	slices.SortStableFunc(recs, func(a, b InvocationRecord) int { return a.Start.Compare(b.Start) })
	writeJSON(w, http.StatusOK, recs)
}

func (h *Handler) getInvocation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	switch {
	case len(id) > maxRequestIDBytes:
		invalid(w, "request id: longer than %d bytes", maxRequestIDBytes)
		return
	case strings.ContainsFunc(id, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '/' }):
		invalid(w, "request id %q: must not contain spaces, '/' or control characters", id)
		return
	}
	if _, ok := queryParams(w, r); !ok {
		return
	}
	d, err := h.observe.Invocation(r.Context(), id)
	if err != nil {
		failObserve(w, err)
		return
	}
	if d == nil {
		failObserve(w, fmt.Errorf("invocation %s: %w", id, ErrNotFound))
		return
	}
	if d.Log == nil {
		d.Log = []observe.Entry{}
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) getTrace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidTraceID(id) {
		invalid(w, "trace id %q: want 32 lower-case hex digits, not all zeros (the second field of a traceparent)", id)
		return
	}
	if _, ok := queryParams(w, r); !ok {
		return
	}
	spans, err := h.observe.Trace(r.Context(), id)
	if err != nil {
		failObserve(w, err)
		return
	}
	if len(spans) == 0 {
		failObserve(w, fmt.Errorf("trace %s: no spans recorded: %w", id, ErrNotFound))
		return
	}
	slices.SortStableFunc(spans, func(a, b TraceSpan) int { return a.Start.Compare(b.Start) })
	writeJSON(w, http.StatusOK, spans)
}

func (h *Handler) cost(w http.ResponseWriter, r *http.Request) {
	v, ok := queryParams(w, r, "since", "by")
	if !ok {
		return
	}
	now := time.Now()
	since := now.Add(-DefaultCostWindow)
	if s := v.Get("since"); s != "" {
		t, err := parseSince(s, now)
		if err != nil {
			invalid(w, "%v", err)
			return
		}
		if t.After(now) {
			invalid(w, "since %q is in the future; a cost report covers a window that ends now", s)
			return
		}
		since = t
	}
	by := CostByFunction
	switch s := v.Get("by"); s {
	case "", CostByFunction:
	case CostByTrigger:
		by = s
	default:
		invalid(w, "by %q: want %s or %s", s, CostByFunction, CostByTrigger)
		return
	}
	rep, err := h.observe.Cost(r.Context(), since, by)
	if err != nil {
		failObserve(w, err)
		return
	}
	if rep == nil {
		failObserve(w, errors.New("cost: the node returned no report"))
		return
	}
	if rep.Lines == nil {
		rep.Lines = []CostLine{}
	}
	writeJSON(w, http.StatusOK, rep)
}
