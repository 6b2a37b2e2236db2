package lambdaapi

import (
	"net/http"
	"strconv"
)

// Error codes, as the x-amzn-ErrorType header names them. The SDKs turn the
// modelled ones into typed errors (*types.ResourceNotFoundException, …) and
// the rest into generic API errors with this code.
const (
	CodeResourceNotFound      = "ResourceNotFoundException"
	CodeTooManyRequests       = "TooManyRequestsException"
	CodeInvalidRequestContent = "InvalidRequestContentException"
	CodeInvalidParameterValue = "InvalidParameterValueException"
	CodeRequestTooLarge       = "RequestTooLargeException"
	CodeService               = "ServiceException"
	CodeValidation            = "ValidationException"
	CodeUnknownOperation      = "UnknownOperationException"
	CodeInvalidSignature      = "InvalidSignatureException"
	CodeUnrecognizedClient    = "UnrecognizedClientException"
	CodeMissingToken          = "MissingAuthenticationTokenException"
	CodeIncompleteSignature   = "IncompleteSignatureException"
)

// apiError is one error answer.
type apiError struct {
	status  int
	code    string
	message string
	reason  string // TooManyRequestsException's Reason
}

// errorShape is how an error code is answered: its status and the JSON
// members of its body. The Lambda model spells the message member
// "Message" for some exceptions and "message" for others, and the SDKs'
// decoders match member names exactly, so each code keeps AWS's spelling.
type errorShape struct {
	status     int
	messageKey string
	typ        string // the "Type" member: "User" or "Service"; "" for none
}

func shapeOf(code string) errorShape {
	switch code {
	case CodeResourceNotFound:
		return errorShape{http.StatusNotFound, "Message", "User"}
	case CodeService:
		return errorShape{http.StatusInternalServerError, "Message", "Service"}
	case CodeTooManyRequests:
		return errorShape{http.StatusTooManyRequests, "message", "User"}
	case CodeInvalidRequestContent, CodeInvalidParameterValue:
		return errorShape{http.StatusBadRequest, "message", "User"}
	case CodeRequestTooLarge:
		return errorShape{http.StatusRequestEntityTooLarge, "message", "User"}
	case CodeValidation:
		return errorShape{http.StatusBadRequest, "message", ""}
	case CodeUnknownOperation:
		return errorShape{http.StatusNotFound, "message", ""}
	case CodeIncompleteSignature:
		return errorShape{http.StatusBadRequest, "message", ""}
	case CodeInvalidSignature, CodeUnrecognizedClient, CodeMissingToken:
		return errorShape{http.StatusForbidden, "message", ""}
	}
	return errorShape{http.StatusInternalServerError, "Message", "Service"}
}

func newError(code, message string) *apiError {
	return &apiError{status: shapeOf(code).status, code: code, message: message}
}

// write answers with e in AWS's REST-JSON error form: the code in
// x-amzn-ErrorType and a JSON body such as
// {"Type":"User","Message":"Function not found: arn:…"}.
func (e *apiError) write(w http.ResponseWriter) {
	shape := shapeOf(e.code)
	b := make([]byte, 0, 64+len(e.message))
	b = append(b, '{')
	if e.reason != "" {
		b = append(b, `"Reason":`...)
		b = appendJSONString(b, e.reason)
		b = append(b, ',')
	}
	if shape.typ != "" {
		b = append(b, `"Type":`...)
		b = appendJSONString(b, shape.typ)
		b = append(b, ',')
	}
	b = appendJSONString(b, shape.messageKey)
	b = append(b, ':')
	b = appendJSONString(b, e.message)
	b = append(b, '}')
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	h["X-Amzn-Errortype"] = []string{e.code}
	if e.code == CodeTooManyRequests {
		h["Retry-After"] = []string{"1"}
	}
	w.WriteHeader(e.status)
	w.Write(b) //nolint:errcheck // the client went away; nothing to do
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 bytes become
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			switch r {
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&15])
			}
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&15])
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, '"')
}
