package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Body limits of the events endpoints. A send or publish carries messages
// (a batch of up to ten), every other body only a few settings.
const (
	MaxMessageRequestBytes = 2 << 20
	maxSmallRequestBytes   = 64 << 10
)

// Limits of the events endpoints' requests, as the wire types document them.
const (
	MaxBatchEntries      = 10    // entries of a send, receipt handles of a delete
	MaxReceive           = 10    // messages of one receive
	MaxWaitSeconds       = 20    // long polling
	MaxVisibilitySeconds = 43200 // 12 hours
	DefaultPeek          = 10    // dead-letter messages shown when max is not given
	MaxPeek              = 100
	maxNameBytes         = 256
)

// Values of HeaderInvocationType.
const (
	InvocationRequestResponse = "RequestResponse"
	InvocationEvent           = "Event"
)

// routeEvents registers the events endpoints.
func (h *Handler) routeEvents() {
	for _, r := range []struct {
		pattern string
		fn      http.HandlerFunc
	}{
		{"GET /queues", h.listQueues},
		{"GET /queues/{name}", h.getQueue},
		{"PUT /queues/{name}", h.putQueue},
		{"DELETE /queues/{name}", h.deleteQueue},
		{"POST /queues/{name}/messages", h.sendMessages},
		{"POST /queues/{name}/receive", h.receiveMessages},
		{"POST /queues/{name}/delete", h.deleteMessages},
		{"POST /queues/{name}/visibility", h.changeVisibility},
		{"POST /queues/{name}/purge", h.purgeQueue},

		{"GET /topics", h.listTopics},
		{"GET /topics/{name}", h.getTopic},
		{"PUT /topics/{name}", h.putTopic},
		{"DELETE /topics/{name}", h.deleteTopic},
		{"POST /topics/{name}/messages", h.publish},
		{"POST /topics/{name}/subscriptions", h.subscribe},
		{"DELETE /topics/{name}/subscriptions/{id}", h.unsubscribe},

		{"GET /schedules", h.listSchedules},

		{"GET /dlqs", h.listDeadLetterQueues},
		{"GET /dlqs/{name}/messages", h.peekMessages},
		{"POST /dlqs/{name}/replay", h.replay},
		{"POST /dlqs/{name}/purge", h.purgeQueue},
	} {
		method, path, _ := strings.Cut(r.pattern, " ")
		h.mux.HandleFunc(method+" "+Prefix+path, r.fn)
	}
}

// errBadBody marks a request body that could not be decoded; decodeBody has
// already answered.
var errBadBody = errors.New("bad request body")

// decodeBody decodes r's JSON body into v, refusing unknown fields, trailing
// data and bodies over limit. An empty body leaves v as it is when optional.
// On failure it answers the request and returns errBadBody.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, what string, v any, optional bool) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge,
				fmt.Sprintf("%s: the body is over the %d byte limit", what, limit))
		} else {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf("%s: reading the body: %v", what, err))
		}
		return errBadBody
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return nil
		}
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, what+": the body is empty; want a JSON object")
		return errBadBody
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, what+": "+err.Error())
		return errBadBody
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, what+": unexpected data after the JSON object")
		return errBadBody
	}
	return nil
}

// invalid answers 400 InvalidRequest with a sentence built from format.
func invalid(w http.ResponseWriter, format string, args ...any) {
	writeError(w, http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf(format, args...))
}

// pathName returns the named path value after a light check; the service
// validates names fully. On failure it answers the request and returns "".
func pathName(w http.ResponseWriter, r *http.Request, key, kind string) string {
	v := r.PathValue(key)
	switch {
	case v == "":
		invalid(w, "%s name: must not be empty", kind)
		return ""
	case len(v) > maxNameBytes:
		invalid(w, "%s name: longer than %d bytes", kind, maxNameBytes)
		return ""
	case strings.ContainsFunc(v, func(c rune) bool { return c == '/' || unicode.IsControl(c) }):
		invalid(w, "%s name %q: must not contain '/' or control characters", kind, v)
		return ""
	}
	return v
}

// invokeAsync answers an invocation with HeaderInvocationType Event: 202 once
// the event is durable.
func (h *Handler) invokeAsync(w http.ResponseWriter, r *http.Request, payload []byte) {
	id, err := h.events.InvokeAsync(r.Context(), r.PathValue("name"), r.URL.Query().Get("qualifier"), payload, r.Header.Get("traceparent"))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set(HeaderRequestID, id)
	writeJSON(w, http.StatusAccepted, AsyncAccepted{RequestID: id})
}

// Queues.

func (h *Handler) listQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := h.events.Queues(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if qs == nil {
		qs = []QueueInfo{}
	}
	writeJSON(w, http.StatusOK, qs)
}

func (h *Handler) getQueue(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	q, err := h.events.Queue(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

func (h *Handler) putQueue(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	var attrs QueueAttributes
	if decodeBody(w, r, maxSmallRequestBytes, "queue attributes", &attrs, true) != nil {
		return
	}
	created, err := h.events.PutQueue(r.Context(), name, attrs)
	if err != nil {
		fail(w, err)
		return
	}
	q, err := h.events.Queue(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, q)
}

func (h *Handler) deleteQueue(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	if err := h.events.DeleteQueue(r.Context(), name); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) sendMessages(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	var req SendRequest
	if decodeBody(w, r, MaxMessageRequestBytes, "send request", &req, false) != nil {
		return
	}
	if n := len(req.Entries); n == 0 || n > MaxBatchEntries {
		invalid(w, "send request: has %d entries; send 1 to %d", n, MaxBatchEntries)
		return
	}
	res, err := h.events.SendMessages(r.Context(), name, req)
	if err != nil {
		fail(w, err)
		return
	}
	// Entries that failed are reported in the results, as a batch send
	// does; the request as a whole succeeded.
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) receiveMessages(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	var req ReceiveRequest
	if decodeBody(w, r, maxSmallRequestBytes, "receive request", &req, true) != nil {
		return
	}
	switch {
	case req.Max < 0 || req.Max > MaxReceive:
		invalid(w, "receive request: max %d is out of range; want 1 to %d (0 means 1)", req.Max, MaxReceive)
		return
	case req.WaitSeconds < 0 || req.WaitSeconds > MaxWaitSeconds:
		invalid(w, "receive request: waitSeconds %d is out of range; want 0 to %d", req.WaitSeconds, MaxWaitSeconds)
		return
	case req.VisibilitySeconds != nil && (*req.VisibilitySeconds < 0 || *req.VisibilitySeconds > MaxVisibilitySeconds):
		invalid(w, "receive request: visibilitySeconds %d is out of range; want 0 to %d", *req.VisibilitySeconds, MaxVisibilitySeconds)
		return
	}
	res, err := h.events.ReceiveMessages(r.Context(), name, req)
	if err != nil {
		fail(w, err)
		return
	}
	if res == nil {
		res = &ReceiveResponse{}
	}
	if res.Messages == nil {
		res.Messages = []Message{}
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) deleteMessages(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	var req DeleteMessagesRequest
	if decodeBody(w, r, maxSmallRequestBytes, "delete request", &req, false) != nil {
		return
	}
	if n := len(req.ReceiptHandles); n == 0 || n > MaxBatchEntries {
		invalid(w, "delete request: has %d receipt handles; give 1 to %d", n, MaxBatchEntries)
		return
	}
	res, err := h.events.DeleteMessages(r.Context(), name, req.ReceiptHandles)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) changeVisibility(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	var req VisibilityRequest
	if decodeBody(w, r, maxSmallRequestBytes, "visibility request", &req, false) != nil {
		return
	}
	switch {
	case req.ReceiptHandle == "":
		invalid(w, "visibility request: receiptHandle is missing")
		return
	case req.Seconds < 0 || req.Seconds > MaxVisibilitySeconds:
		invalid(w, "visibility request: seconds %d is out of range; want 0 to %d", req.Seconds, MaxVisibilitySeconds)
		return
	}
	if err := h.events.ChangeVisibility(r.Context(), name, req); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// purgeQueue serves both POST /queues/{name}/purge and POST /dlqs/{name}/purge:
// a dead-letter queue is an ordinary queue.
func (h *Handler) purgeQueue(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	n, err := h.events.PurgeQueue(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, CountResponse{Count: n})
}

// Topics.

func (h *Handler) listTopics(w http.ResponseWriter, r *http.Request) {
	ts, err := h.events.Topics(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if ts == nil {
		ts = []TopicInfo{}
	}
	writeJSON(w, http.StatusOK, ts)
}

func (h *Handler) getTopic(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "topic")
	if name == "" {
		return
	}
	t, err := h.events.Topic(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (h *Handler) putTopic(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "topic")
	if name == "" {
		return
	}
	// A topic has no settings yet; an empty object (or no body) is the
	// only valid body.
	var none struct{}
	if decodeBody(w, r, maxSmallRequestBytes, "topic", &none, true) != nil {
		return
	}
	created, err := h.events.PutTopic(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	t, err := h.events.Topic(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, t)
}

func (h *Handler) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "topic")
	if name == "" {
		return
	}
	if err := h.events.DeleteTopic(r.Context(), name); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "topic")
	if name == "" {
		return
	}
	var req PublishRequest
	if decodeBody(w, r, MaxMessageRequestBytes, "publish request", &req, false) != nil {
		return
	}
	if req.Message == "" {
		invalid(w, "publish request: message is empty")
		return
	}
	res, err := h.events.Publish(r.Context(), name, req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Protocols a subscription may name.
var subscriptionProtocols = []string{"function", "queue", "http", "https"}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "topic")
	if name == "" {
		return
	}
	var spec SubscriptionSpec
	if decodeBody(w, r, maxSmallRequestBytes, "subscription", &spec, false) != nil {
		return
	}
	switch {
	case !slices.Contains(subscriptionProtocols, spec.Protocol):
		invalid(w, "subscription: protocol %q is not one of %s", spec.Protocol, strings.Join(subscriptionProtocols, ", "))
		return
	case spec.Endpoint == "":
		invalid(w, "subscription: endpoint is missing; want a function name, a queue name or a URL")
		return
	case len(spec.FilterPolicy) > 0 && (spec.FilterPolicy[0] != '{' || !json.Valid(spec.FilterPolicy)):
		invalid(w, "subscription: filterPolicy must be a JSON object")
		return
	case spec.FilterScope != "" && spec.FilterScope != "attributes" && spec.FilterScope != "body":
		invalid(w, "subscription: filterScope %q is not attributes or body", spec.FilterScope)
		return
	case spec.MaxAttempts < 0:
		invalid(w, "subscription: maxAttempts %d is negative", spec.MaxAttempts)
		return
	}
	sub, err := h.events.Subscribe(r.Context(), name, spec)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, sub)
}

func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "topic")
	if name == "" {
		return
	}
	id := pathName(w, r, "id", "subscription")
	if id == "" {
		return
	}
	if err := h.events.Unsubscribe(r.Context(), name, id); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Schedules.

func (h *Handler) listSchedules(w http.ResponseWriter, r *http.Request) {
	ss, err := h.events.Schedules(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if ss == nil {
		ss = []ScheduleInfo{}
	}
	writeJSON(w, http.StatusOK, ss)
}

// Dead-letter queues.

func (h *Handler) listDeadLetterQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := h.events.DeadLetterQueues(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if qs == nil {
		qs = []QueueInfo{}
	}
	writeJSON(w, http.StatusOK, qs)
}

func (h *Handler) peekMessages(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	n := DefaultPeek
	if s := r.URL.Query().Get("max"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > MaxPeek {
			invalid(w, "max %q: want a number from 1 to %d", s, MaxPeek)
			return
		}
		n = v
	}
	ms, err := h.events.PeekMessages(r.Context(), name, n)
	if err != nil {
		fail(w, err)
		return
	}
	if ms == nil {
		ms = []Message{}
	}
	writeJSON(w, http.StatusOK, ms)
}

func (h *Handler) replay(w http.ResponseWriter, r *http.Request) {
	name := pathName(w, r, "name", "queue")
	if name == "" {
		return
	}
	var req ReplayRequest
	if decodeBody(w, r, maxSmallRequestBytes, "replay request", &req, true) != nil {
		return
	}
	if req.Max < 0 {
		invalid(w, "replay request: max %d is negative; 0 replays every message", req.Max)
		return
	}
	res, err := h.events.Replay(r.Context(), name, req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
