package host

import (
	"context"
	"errors"
	"net/http"
)

// Codes an Error carries. They are stable: guests and SDKs match on them.
const (
	CodeAccessDenied     = "AccessDenied"     // the function's grants do not allow the call
	CodeNotFound         = "NotFound"         // no such topic, queue, table, item, bucket, object or operation
	CodeConditionFailed  = "ConditionFailed"  // a conditional write's condition does not hold
	CodeInvalidParameter = "InvalidParameter" // the request is malformed or out of range
	CodeTooLarge         = "TooLarge"         // the request or message exceeds a limit
	CodeUnauthorized     = "Unauthorized"     // the HTTP API's token is missing or invalid
	CodeUnavailable      = "Unavailable"      // the node cannot serve the call now; retry later
	CodeInternal         = "Internal"         // anything else
)

// Sentinels that Services implementations wrap so that their errors reach the
// guest with the right code, e.g.
// fmt.Errorf("topic %s does not exist: %w", name, host.ErrNotFound).
// An *Error matches the sentinel of its code with errors.Is.
var (
	ErrAccessDenied = errors.New("access denied")
	ErrNotFound     = errors.New("not found")
	ErrCondition    = errors.New("condition failed")
	ErrInvalid      = errors.New("invalid parameter")
	ErrTooLarge     = errors.New("too large")
	ErrUnauthorized = errors.New("invalid host token")
	ErrUnavailable  = errors.New("unavailable")
)

// codes pairs each sentinel with its code, in the order ErrorOf tries them.
var codes = [...]struct {
	err  error
	code string
}{
	{ErrAccessDenied, CodeAccessDenied},
	{ErrNotFound, CodeNotFound},
	{ErrCondition, CodeConditionFailed},
	{ErrInvalid, CodeInvalidParameter},
	{ErrTooLarge, CodeTooLarge},
	{ErrUnauthorized, CodeUnauthorized},
	{ErrUnavailable, CodeUnavailable},
}

// Error is a failed host call as the guest sees it: a stable code and a
// sentence a user can act on. Its JSON form, {"code": "...", "message":
// "..."}, is what the wasm ABI and the HTTP API return.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes an *Error match the sentinel of its code.
func (e *Error) Is(target error) bool {
	for _, c := range codes {
		if c.err == target {
			return e.Code == c.code
		}
	}
	return false
}

// ErrorOf turns any error into an *Error: an *Error in err's chain as it is,
// a sentinel of this package by its code, the end of the invocation's
// context as Unavailable, and anything else as Internal. Nil stays nil.
func ErrorOf(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return &Error{Code: c.code, Message: err.Error()}
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeUnavailable, Message: "the invocation ended: " + err.Error()}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// httpStatus is the HTTP API's status for an error code.
func httpStatus(code string) int {
	switch code {
	case CodeAccessDenied:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConditionFailed:
		return http.StatusConflict
	case CodeInvalidParameter:
		return http.StatusBadRequest
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func errorf(code, msg string) *Error { return &Error{Code: code, Message: msg} }
