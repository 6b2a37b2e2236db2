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
	var (
		small   = body{limit: maxSmallRequestBytes}
		message = body{limit: MaxMessageRequestBytes}
	)
	for _, r := range []struct {
		pattern string
		fn      http.HandlerFunc
	}{
		{"GET /queues", h.listQueues},
		{"GET /queues/{name}", named("queue", h.getQueue)},
		{"PUT /queues/{name}", withBody("queue", small.as("queue attributes").orEmpty(), nil, h.putQueue)},
		{"DELETE /queues/{name}", named("queue", h.deleteQueue)},
		{"POST /queues/{name}/messages", withBody("queue", message.as("send request"), checkSend, h.sendMessages)},
		{"POST /queues/{name}/receive", withBody("queue", small.as("receive request").orEmpty(), checkReceive, h.receiveMessages)},
		{"POST /queues/{name}/delete", withBody("queue", small.as("delete request"), checkDelete, h.deleteMessages)},
		{"POST /queues/{name}/visibility", withBody("queue", small.as("visibility request"), checkVisibility, h.changeVisibility)},
		{"POST /queues/{name}/purge", named("queue", h.purgeQueue)},

		{"GET /topics", h.listTopics},
		{"GET /topics/{name}", named("topic", h.getTopic)},
		// A topic has no settings yet; an empty object (or no body) is the
		// only valid body.
		{"PUT /topics/{name}", withBody("topic", small.as("topic").orEmpty(), nil, h.putTopic)},
		{"DELETE /topics/{name}", named("topic", h.deleteTopic)},
		{"POST /topics/{name}/messages", withBody("topic", message.as("publish request"), checkPublish, h.publish)},
		{"POST /topics/{name}/subscriptions", withBody("topic", small.as("subscription"), checkSubscription, h.subscribe)},
		{"DELETE /topics/{name}/subscriptions/{id}", named("topic", h.unsubscribe)},

		{"GET /schedules", h.listSchedules},

		{"GET /dlqs", h.listDeadLetterQueues},
		{"GET /dlqs/{name}/messages", named("queue", h.peekMessages)},
		{"POST /dlqs/{name}/replay", withBody("queue", small.as("replay request").orEmpty(), checkReplay, h.replay)},
		{"POST /dlqs/{name}/purge", named("queue", h.purgeQueue)},
	} {
		method, path, _ := strings.Cut(r.pattern, " ")
		h.mux.HandleFunc(method+" "+Prefix+path, r.fn)
	}
}

// body describes a request body: the name its errors give it, its size
// limit, and whether it may be empty (leaving the decoded value zero).
type body struct {
	what     string
	limit    int64
	optional bool
}

func (b body) as(what string) body { b.what = what; return b }
func (b body) orEmpty() body       { b.optional = true; return b }

// decodeJSON decodes r's JSON body into a T, refusing unknown fields,
// trailing data and bodies over the limit. An empty body is the zero T when
// b is optional. On failure it answers the request and returns false.
func decodeJSON[T any](w http.ResponseWriter, r *http.Request, b body) (T, bool) {
	var v T
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge,
				fmt.Sprintf("%s: the body is over the %d byte limit", b.what, b.limit))
		} else {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf("%s: reading the body: %v", b.what, err))
		}
		return v, false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if b.optional {
			return v, true
		}
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, b.what+": the body is empty; want a JSON object")
		return v, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, b.what+": "+err.Error())
		return v, false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, b.what+": unexpected data after the JSON object")
		return v, false
	}
	return v, true
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

// named serves a request on the resource of kind named by the {name} path
// value, once pathName has accepted the name.
func named(kind string, fn func(w http.ResponseWriter, r *http.Request, name string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if name := pathName(w, r, "name", kind); name != "" {
			fn(w, r, name)
		}
	}
}

// withBody is named for a request with a JSON body: fn runs once the body
// has decoded as b says and check (when not nil) has accepted it. A refused
// body is answered 400 InvalidRequest with check's sentence, so the service
// never sees it.
func withBody[T any](kind string, b body, check func(T) error, fn func(w http.ResponseWriter, r *http.Request, name string, req T)) http.HandlerFunc {
	return named(kind, func(w http.ResponseWriter, r *http.Request, name string) {
		req, ok := decodeJSON[T](w, r, b)
		if !ok {
			return
		}
		if check != nil {
			if err := check(req); err != nil {
				invalid(w, "%s: %v", b.what, err)
				return
			}
		}
		fn(w, r, name, req)
	})
}

// respond answers v with status, or err as fail maps it.
func respond[T any](w http.ResponseWriter, status int, v T, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, status, v)
}

// respondList answers a list with 200: an empty list is [], never null.
func respondList[T any](w http.ResponseWriter, vs []T, err error) {
	if vs == nil {
		vs = []T{}
	}
	respond(w, http.StatusOK, vs, err)
}

// respondNoContent answers 204, or err as fail maps it.
func respondNoContent(w http.ResponseWriter, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// respondPut answers a create-or-update: on success the resource as get
// reads it back, 201 when the put created it and 200 when it updated it.
func respondPut[T any](w http.ResponseWriter, created bool, err error, get func() (T, error)) {
	if err != nil {
		fail(w, err)
		return
	}
	v, err := get()
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	respond(w, status, v, err)
}

// invokeAsync answers an invocation with HeaderInvocationType Event: 202 once
// the event is durable.
func (h *Handler) invokeAsync(w http.ResponseWriter, r *http.Request, payload []byte) {
	id, err := h.events.InvokeAsync(r.Context(), r.PathValue("name"), r.URL.Query().Get("qualifier"), payload, r.Header.Get("traceparent"))
	if err == nil {
		w.Header().Set(HeaderRequestID, id)
	}
	respond(w, http.StatusAccepted, AsyncAccepted{RequestID: id}, err)
}

// Queues.

func (h *Handler) listQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := h.events.Queues(r.Context())
	respondList(w, qs, err)
}

func (h *Handler) getQueue(w http.ResponseWriter, r *http.Request, name string) {
	q, err := h.events.Queue(r.Context(), name)
	respond(w, http.StatusOK, q, err)
}

func (h *Handler) putQueue(w http.ResponseWriter, r *http.Request, name string, attrs QueueAttributes) {
	created, err := h.events.PutQueue(r.Context(), name, attrs)
	respondPut(w, created, err, func() (*QueueInfo, error) { return h.events.Queue(r.Context(), name) })
}

func (h *Handler) deleteQueue(w http.ResponseWriter, r *http.Request, name string) {
	respondNoContent(w, h.events.DeleteQueue(r.Context(), name))
}

func checkSend(req SendRequest) error {
	if n := len(req.Entries); n == 0 || n > MaxBatchEntries {
		return fmt.Errorf("has %d entries; send 1 to %d", n, MaxBatchEntries)
	}
	return nil
}

func (h *Handler) sendMessages(w http.ResponseWriter, r *http.Request, name string, req SendRequest) {
	res, err := h.events.SendMessages(r.Context(), name, req)
	// Entries that failed are reported in the results, as a batch send
	// does; the request as a whole succeeded.
	respond(w, http.StatusOK, res, err)
}

func checkReceive(req ReceiveRequest) error {
	switch {
	case req.Max < 0 || req.Max > MaxReceive:
		return fmt.Errorf("max %d is out of range; want 1 to %d (0 means 1)", req.Max, MaxReceive)
	case req.WaitSeconds < 0 || req.WaitSeconds > MaxWaitSeconds:
		return fmt.Errorf("waitSeconds %d is out of range; want 0 to %d", req.WaitSeconds, MaxWaitSeconds)
	case req.VisibilitySeconds != nil && (*req.VisibilitySeconds < 0 || *req.VisibilitySeconds > MaxVisibilitySeconds):
		return fmt.Errorf("visibilitySeconds %d is out of range; want 0 to %d", *req.VisibilitySeconds, MaxVisibilitySeconds)
	}
	return nil
}

func (h *Handler) receiveMessages(w http.ResponseWriter, r *http.Request, name string, req ReceiveRequest) {
	res, err := h.events.ReceiveMessages(r.Context(), name, req)
	if err == nil {
		if res == nil {
			res = &ReceiveResponse{}
		}
		if res.Messages == nil {
			res.Messages = []Message{}
		}
	}
	respond(w, http.StatusOK, res, err)
}

func checkDelete(req DeleteMessagesRequest) error {
	if n := len(req.ReceiptHandles); n == 0 || n > MaxBatchEntries {
		return fmt.Errorf("has %d receipt handles; give 1 to %d", n, MaxBatchEntries)
	}
	return nil
}

func (h *Handler) deleteMessages(w http.ResponseWriter, r *http.Request, name string, req DeleteMessagesRequest) {
	res, err := h.events.DeleteMessages(r.Context(), name, req.ReceiptHandles)
	respond(w, http.StatusOK, res, err)
}

func checkVisibility(req VisibilityRequest) error {
	switch {
	case req.ReceiptHandle == "":
		return errors.New("receiptHandle is missing")
	case req.Seconds < 0 || req.Seconds > MaxVisibilitySeconds:
		return fmt.Errorf("seconds %d is out of range; want 0 to %d", req.Seconds, MaxVisibilitySeconds)
	}
	return nil
}

func (h *Handler) changeVisibility(w http.ResponseWriter, r *http.Request, name string, req VisibilityRequest) {
	respondNoContent(w, h.events.ChangeVisibility(r.Context(), name, req))
}

// purgeQueue serves both POST /queues/{name}/purge and POST /dlqs/{name}/purge:
// a dead-letter queue is an ordinary queue.
func (h *Handler) purgeQueue(w http.ResponseWriter, r *http.Request, name string) {
	n, err := h.events.PurgeQueue(r.Context(), name)
	respond(w, http.StatusOK, CountResponse{Count: n}, err)
}

// Topics.

func (h *Handler) listTopics(w http.ResponseWriter, r *http.Request) {
	ts, err := h.events.Topics(r.Context())
	respondList(w, ts, err)
}

func (h *Handler) getTopic(w http.ResponseWriter, r *http.Request, name string) {
	t, err := h.events.Topic(r.Context(), name)
	respond(w, http.StatusOK, t, err)
}

func (h *Handler) putTopic(w http.ResponseWriter, r *http.Request, name string, _ struct{}) {
	created, err := h.events.PutTopic(r.Context(), name)
	respondPut(w, created, err, func() (*TopicInfo, error) { return h.events.Topic(r.Context(), name) })
}

func (h *Handler) deleteTopic(w http.ResponseWriter, r *http.Request, name string) {
	respondNoContent(w, h.events.DeleteTopic(r.Context(), name))
}

func checkPublish(req PublishRequest) error {
	if req.Message == "" {
		return errors.New("message is empty")
	}
	return nil
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request, name string, req PublishRequest) {
	res, err := h.events.Publish(r.Context(), name, req)
	respond(w, http.StatusOK, res, err)
}

// Protocols a subscription may name.
var subscriptionProtocols = []string{"function", "queue", "http", "https"}

func checkSubscription(spec SubscriptionSpec) error {
	switch {
	case !slices.Contains(subscriptionProtocols, spec.Protocol):
		return fmt.Errorf("protocol %q is not one of %s", spec.Protocol, strings.Join(subscriptionProtocols, ", "))
	case spec.Endpoint == "":
		return errors.New("endpoint is missing; want a function name, a queue name or a URL")
	case len(spec.FilterPolicy) > 0 && (spec.FilterPolicy[0] != '{' || !json.Valid(spec.FilterPolicy)):
		return errors.New("filterPolicy must be a JSON object")
	case spec.FilterScope != "" && spec.FilterScope != "attributes" && spec.FilterScope != "body":
		return fmt.Errorf("filterScope %q is not attributes or body", spec.FilterScope)
	case spec.MaxAttempts < 0:
		return fmt.Errorf("maxAttempts %d is negative", spec.MaxAttempts)
	}
	return nil
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request, name string, spec SubscriptionSpec) {
	sub, err := h.events.Subscribe(r.Context(), name, spec)
	respond(w, http.StatusCreated, sub, err)
}

func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request, name string) {
	id := pathName(w, r, "id", "subscription")
	if id == "" {
		return
	}
	respondNoContent(w, h.events.Unsubscribe(r.Context(), name, id))
}

// Schedules.

func (h *Handler) listSchedules(w http.ResponseWriter, r *http.Request) {
	ss, err := h.events.Schedules(r.Context())
	respondList(w, ss, err)
}

// Dead-letter queues.

func (h *Handler) listDeadLetterQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := h.events.DeadLetterQueues(r.Context())
	respondList(w, qs, err)
}

func (h *Handler) peekMessages(w http.ResponseWriter, r *http.Request, name string) {
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
	respondList(w, ms, err)
}

func checkReplay(req ReplayRequest) error {
	if req.Max < 0 {
		return fmt.Errorf("max %d is negative; 0 replays every message", req.Max)
	}
	return nil
}

func (h *Handler) replay(w http.ResponseWriter, r *http.Request, name string, req ReplayRequest) {
	res, err := h.events.Replay(r.Context(), name, req)
	respond(w, http.StatusOK, res, err)
}
