package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/jsontext"
)

// Error codes: the stable "code" member of every error response body.
const (
	CodeRouteNotFound           = "RouteNotFound"
	CodeFunctionNotFound        = "FunctionNotFound"
	CodeThrottled               = "Throttled"
	CodeFunctionError           = "FunctionError"
	CodeFunctionTimeout         = "FunctionTimeout"
	CodePayloadTooLarge         = "PayloadTooLarge"
	CodeShuttingDown            = "ShuttingDown"
	CodeInvalidFunctionResponse = "InvalidFunctionResponse"
	CodeInvalidRequest          = "InvalidRequest"
	CodeInternalError           = "InternalError"
)

const headerRequestID = "X-Request-Id"

// apiError is an error response: an HTTP status, API Gateway's message for
// it and a code.
type apiError struct {
	status  int
	message string
	code    string
}

// errorFor returns the response for an error code.
func errorFor(code string) apiError {
	switch code {
	case CodeRouteNotFound, CodeFunctionNotFound:
		return apiError{http.StatusNotFound, "Not Found", code}
	case CodeThrottled:
		return apiError{http.StatusTooManyRequests, "Too Many Requests", code}
	case CodeFunctionError, CodeInvalidFunctionResponse:
		return apiError{http.StatusBadGateway, "Internal Server Error", code}
	case CodeFunctionTimeout:
		return apiError{http.StatusGatewayTimeout, "Endpoint request timed out", code}
	case CodePayloadTooLarge:
		return apiError{http.StatusRequestEntityTooLarge, "Request Entity Too Large", code}
	case CodeShuttingDown:
		return apiError{http.StatusServiceUnavailable, "Service Unavailable", code}
	case CodeInvalidRequest:
		return apiError{http.StatusBadRequest, "Bad Request", code}
	}
	return apiError{http.StatusInternalServerError, "Internal Server Error", CodeInternalError}
}

// invokeErrorCode maps an error from Invoker.Invoke to its code.
func invokeErrorCode(err error) string {
	switch {
	case errors.Is(err, invoke.ErrFunctionNotFound):
		return CodeFunctionNotFound
	case errors.Is(err, invoke.ErrThrottled):
		return CodeThrottled
	case errors.Is(err, invoke.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return CodeFunctionTimeout
	case errors.Is(err, invoke.ErrFunctionFailed), errors.Is(err, invoke.ErrInitFailed):
		return CodeFunctionError
	case errors.Is(err, invoke.ErrPayloadTooLarge):
		return CodePayloadTooLarge
	case errors.Is(err, invoke.ErrShuttingDown):
		return CodeShuttingDown
	}
	return CodeInternalError
}

// writeError sends the error response for code as
// {"message":…,"code":…,"requestId":…}.
func writeError(w http.ResponseWriter, code, requestID string) {
	e := errorFor(code)
	b := make([]byte, 0, 96+len(requestID))
	b = append(b, `{"message":`...)
	b = jsontext.AppendString(b, e.message)
	b = append(b, `,"code":`...)
	b = jsontext.AppendString(b, e.code)
	b = append(b, `,"requestId":`...)
	b = jsontext.AppendString(b, requestID)
	b = append(b, '}')
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	h[headerRequestID] = []string{requestID}
	w.WriteHeader(e.status)
	w.Write(b) //nolint:errcheck // the client went away; nothing to do
}
