package process

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/engine"
)

// Runtime API names, as AWS documents them.
const (
	apiPrefix = "/2018-06-01/runtime/"

	hdrRequestID       = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadlineMs      = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN     = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID         = "Lambda-Runtime-Trace-Id"
	hdrErrorType       = "Lambda-Runtime-Function-Error-Type"
	trailerErrorType   = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody   = "Lambda-Runtime-Function-Error-Body"
	errTypeUnknown     = "Runtime.Unknown"
	errTypeInvalidID   = "InvalidRequestID"
	errTypeTransition  = "InvalidStateTransition"
	errTypeTooLarge    = "RequestEntityTooLarge"
	errTypeInternal    = "InternalServerError"
	transitionRejected = "State transition from %s to %s failed for runtime. Error: State transition is not allowed"
)

// route is a Runtime API endpoint.
type route int

const (
	routeNotFound route = iota
	routeMethodNotAllowed
	routeNext       // GET  /2018-06-01/runtime/invocation/next
	routeResponse   // POST /2018-06-01/runtime/invocation/{id}/response
	routeError      // POST /2018-06-01/runtime/invocation/{id}/error
	routeInitError  // POST /2018-06-01/runtime/init/error
	routeInvocation // the {id} routes, before the method check
)

// parseRoute maps a request to its endpoint and, for response and error,
// the request id in the path.
func parseRoute(method, path string) (route, string) {
	rest, ok := strings.CutPrefix(path, apiPrefix)
	if !ok {
		return routeNotFound, ""
	}
	want, r, id := "", routeNotFound, ""
	switch {
	case rest == "invocation/next":
		want, r = http.MethodGet, routeNext
	case rest == "init/error":
		want, r = http.MethodPost, routeInitError
	default:
		inv, ok := strings.CutPrefix(rest, "invocation/")
		if !ok {
			return routeNotFound, ""
		}
		slash := strings.IndexByte(inv, '/')
		if slash <= 0 {
			return routeNotFound, ""
		}
		id = inv[:slash]
		switch inv[slash+1:] {
		case "response":
			want, r = http.MethodPost, routeResponse
		case "error":
			want, r = http.MethodPost, routeError
		default:
			return routeNotFound, ""
		}
	}
	if method != want {
		return routeMethodNotAllowed, want
	}
	return r, id
}

// serveAPI serves the instance's Runtime API.
func (in *Instance) serveAPI(w http.ResponseWriter, r *http.Request) {
	if !in.handlers.enter() {
		writeErrorJSON(w, http.StatusInternalServerError, errTypeInternal, "Internal Server Error")
		return
	}
	defer in.handlers.leave()
	rt, id := parseRoute(r.Method, r.URL.Path)
	switch rt {
	case routeNext:
		in.serveNext(w, r)
	case routeResponse:
		in.serveResult(w, r, id, false)
	case routeError:
		in.serveResult(w, r, id, true)
	case routeInitError:
		in.serveInitError(w, r)
	case routeMethodNotAllowed:
		w.Header().Set("Allow", id)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

// serveNext hands the runtime its next event, waiting for one if needed.
func (in *Instance) serveNext(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	switch in.state {
	case stateStarted:
		in.state = stateWaiting
		close(in.ready)
	case stateRunning:
		// The runtime asks again for the event it was given: it lost it.
		inv := in.cur
		in.mu.Unlock()
		writeEvent(w, inv)
		return
	case stateDone:
		in.state = stateWaiting
		in.cur = nil
		select {
		case in.waiting <- struct{}{}:
		default:
		}
	case stateWaiting:
	default:
		from := in.state
		in.mu.Unlock()
		rejectTransition(w, from, "Ready")
		return
	}
	in.mu.Unlock()

	select {
	case inv := <-in.events:
		in.mu.Lock()
		in.cur = inv
		in.state = stateRunning
		in.mu.Unlock()
		writeEvent(w, inv)
	case <-r.Context().Done():
	case <-in.closing:
		writeErrorJSON(w, http.StatusInternalServerError, errTypeInternal, "Internal Server Error")
	}
}

// writeEvent answers next with an invocation's event.
func writeEvent(w http.ResponseWriter, inv *invocation) {
	h := w.Header()
	h[hdrRequestID] = []string{inv.req.ID}
	h[hdrDeadlineMs] = []string{inv.deadlineMs}
	h[hdrFunctionARN] = []string{inv.arn}
	h[hdrTraceID] = []string{inv.traceID}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.req.Payload))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.req.Payload) // a broken connection shows as the runtime asking again or exiting
}

// serveResult takes the runtime's response or error for the invocation in
// progress.
func (in *Instance) serveResult(w http.ResponseWriter, r *http.Request, id string, isError bool) {
	to := "InvocationResponse"
	if isError {
		to = "InvocationErrorResponse"
	}
	in.mu.Lock()
	if in.cur == nil || id != in.cur.req.ID {
		in.mu.Unlock()
		writeErrorJSON(w, http.StatusBadRequest, errTypeInvalidID, "Invalid request ID")
		return
	}
	if in.state != stateRunning {
		from := in.state
		in.mu.Unlock()
		rejectTransition(w, from, to)
		return
	}
	in.state = stateResponding
	in.mu.Unlock()

	body, tooLarge, err := readBody(r, engine.MaxResponseBytes)
	var o outcome
	switch {
	case tooLarge:
		o.err = fmt.Errorf("%w: the function returned more than %d bytes", engine.ErrResponseTooLarge, engine.MaxResponseBytes)
	case err != nil:
		o.err = fmt.Errorf("%w: Runtime.ExitError: the runtime broke off its result: %v", engine.ErrCrashed, err)
	case isError:
		o = outcome{payload: errorDocument(body, r.Header.Get(hdrErrorType)), functionError: true}
	default:
		if errType := r.Trailer.Get(trailerErrorType); errType != "" {
			// The function failed while streaming its response.
			o = outcome{payload: trailerErrorDocument(errType, r.Trailer.Get(trailerErrorBody)), functionError: true}
		} else {
			o = outcome{payload: body}
		}
	}

	in.mu.Lock()
	in.state = stateDone
	in.mu.Unlock()
	in.results <- o // buffered; one result per invocation

	switch {
	case tooLarge:
		writeErrorJSON(w, http.StatusRequestEntityTooLarge, errTypeTooLarge,
			fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", engine.MaxResponseBytes))
	case err != nil:
	default:
		writeAccepted(w)
	}
}

// serveInitError fails the instance's initialization with the runtime's
// error document.
func (in *Instance) serveInitError(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	if in.state != stateStarted {
		from := in.state
		in.mu.Unlock()
		rejectTransition(w, from, "InitError")
		return
	}
	in.state = stateInitError
	in.mu.Unlock()

	body, _, _ := readBody(r, engine.MaxResponseBytes)
	in.initDoc = errorDocument(body, r.Header.Get(hdrErrorType))
	close(in.initFailed) // publishes initDoc
	writeAccepted(w)
}

// readBody reads a request body of at most limit bytes into one buffer,
// sized from Content-Length when the runtime sends one. tooLarge reports a
// longer body, which is not read.
func readBody(r *http.Request, limit int) (body []byte, tooLarge bool, err error) {
	if r.ContentLength > int64(limit) {
		return nil, true, nil
	}
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
		return body, false, err
	}
	// Chunked (aws-lambda-go always streams): grow by doubling as the data
	// comes, which copies a large body about once more in all.
	body = make([]byte, 0, 1<<10)
	for {
		if len(body) == cap(body) {
			if len(body) > limit {
				return nil, true, nil
			}
			grown := make([]byte, len(body), min(2*cap(body), limit+1))
			copy(grown, body)
			body = grown
		}
		n, err := r.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err == io.EOF {
			if len(body) > limit {
				return nil, true, nil
			}
			return body, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// errorDocument returns the Lambda error document for an error the runtime
// posted: body itself when it is a JSON object, with errorType added from
// the Lambda-Runtime-Function-Error-Type header when the body has none;
// otherwise a document that carries the body as its message.
func errorDocument(body []byte, errType string) []byte {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) == nil && doc != nil {
		if _, ok := doc["errorType"]; ok || errType == "" {
			return body
		}
		typ, _ := json.Marshal(errType)
		open := bytes.IndexByte(body, '{') + 1
		out := make([]byte, 0, len(body)+len(typ)+14)
		out = append(out, body[:open]...)
		out = append(out, `"errorType":`...)
		out = append(out, typ...)
		if len(doc) > 0 {
			out = append(out, ',')
		}
		return append(out, body[open:]...)
	}
	if errType == "" {
		errType = errTypeUnknown
	}
	msg := string(bytes.TrimSpace(body))
	if msg == "" {
		msg = "The runtime reported an error without a message."
	}
	out, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, errType})
	return out
}

// trailerErrorDocument builds the error document of a response that ended
// with Lambda-Runtime-Function-Error-* trailers; the body trailer is the
// base64 of the document.
func trailerErrorDocument(errType, body64 string) []byte {
	body, err := base64.StdEncoding.DecodeString(body64)
	if err != nil {
		body = []byte(body64)
	}
	return errorDocument(body, errType)
}

func writeAccepted(w http.ResponseWriter) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "{\"status\":\"OK\"}\n")
}

func rejectTransition(w http.ResponseWriter, from runtimeState, to string) {
	writeErrorJSON(w, http.StatusForbidden, errTypeTransition, fmt.Sprintf(transitionRejected, from, to))
}

func writeErrorJSON(w http.ResponseWriter, status int, errType, msg string) {
	body, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, errType})
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
