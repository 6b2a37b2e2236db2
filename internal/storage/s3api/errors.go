package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gureum/gureum/internal/sigv4"
	"github.com/gureum/gureum/internal/storage/blob"
)

// S3 error codes answered by the API, as S3 spells them. The SDKs turn the
// modelled ones (NoSuchBucket, NoSuchKey, NoSuchUpload, …) into typed
// errors and the rest into generic API errors carrying the code.
const (
	CodeAccessDenied                 = "AccessDenied"
	CodeAuthorizationHeaderMalformed = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryError      = "AuthorizationQueryParametersError"
	CodeBadDigest                    = "BadDigest"
	CodeBucketAlreadyOwnedByYou      = "BucketAlreadyOwnedByYou"
	CodeBucketNotEmpty               = "BucketNotEmpty"
	CodeEntityTooLarge               = "EntityTooLarge"
	CodeEntityTooSmall               = "EntityTooSmall"
	CodeIncompleteBody               = "IncompleteBody"
	CodeInternalError                = "InternalError"
	CodeInvalidAccessKeyID           = "InvalidAccessKeyId"
	CodeInvalidArgument              = "InvalidArgument"
	CodeInvalidBucketName            = "InvalidBucketName"
	CodeInvalidDigest                = "InvalidDigest"
	CodeInvalidPart                  = "InvalidPart"
	CodeInvalidPartOrder             = "InvalidPartOrder"
	CodeInvalidRange                 = "InvalidRange"
	CodeInvalidRequest               = "InvalidRequest"
	CodeKeyTooLong                   = "KeyTooLongError"
	CodeMalformedXML                 = "MalformedXML"
	CodeMaxMessageLengthExceeded     = "MaxMessageLengthExceeded"
	CodeMetadataTooLarge             = "MetadataTooLarge"
	CodeMethodNotAllowed             = "MethodNotAllowed"
	CodeMissingContentLength         = "MissingContentLength"
	CodeNoSuchBucket                 = "NoSuchBucket"
	CodeNoSuchKey                    = "NoSuchKey"
	CodeNoSuchUpload                 = "NoSuchUpload"
	CodeNotImplemented               = "NotImplemented"
	CodePreconditionFailed           = "PreconditionFailed"
	CodeRequestTimeTooSkewed         = "RequestTimeTooSkewed"
	CodeSignatureDoesNotMatch        = "SignatureDoesNotMatch"
	CodeContentSHA256Mismatch        = "XAmzContentSHA256Mismatch"
)

// statusOf is the HTTP status S3 answers a code with.
func statusOf(code string) int {
	switch code {
	case CodeAccessDenied, CodeInvalidAccessKeyID, CodeSignatureDoesNotMatch, CodeRequestTimeTooSkewed:
		return http.StatusForbidden
	case CodeNoSuchBucket, CodeNoSuchKey, CodeNoSuchUpload:
		return http.StatusNotFound
	case CodeBucketAlreadyOwnedByYou, CodeBucketNotEmpty:
		return http.StatusConflict
	case CodeInvalidRange:
		return http.StatusRequestedRangeNotSatisfiable
	case CodePreconditionFailed:
		return http.StatusPreconditionFailed
	case CodeMissingContentLength:
		return http.StatusLengthRequired
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeNotImplemented:
		return http.StatusNotImplemented
	case CodeInternalError:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// apiError is one error answer. status 304 (Not Modified) is answered
// without a body.
type apiError struct {
	status  int
	code    string
	message string
	cause   error // logged for internal errors; never sent
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newError(code, message string) *apiError {
	return &apiError{status: statusOf(code), code: code, message: message}
}

func errorf(code, format string, args ...any) *apiError {
	return newError(code, fmt.Sprintf(format, args...))
}

// Messages S3 answers common codes with.
const (
	msgNoSuchBucket = "The specified bucket does not exist"
	msgNoSuchKey    = "The specified key does not exist."
	msgNoSuchUpload = "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
	msgMalformedXML = "The XML you provided was not well-formed or did not validate against our published schema"
	msgInternal     = "We encountered an internal error. Please try again."
	msgPrecondition = "At least one of the pre-conditions you specified did not hold"
)

var errNotModified = &apiError{status: http.StatusNotModified}

// storeError maps an error of the store (or of a request body the store
// was reading) to S3's answer.
func storeError(err error) *apiError {
	var be *bodyError
	if errors.As(err, &be) {
		return be.apiError()
	}
	switch {
	case errors.Is(err, blob.ErrNoBucket):
		return newError(CodeNoSuchBucket, msgNoSuchBucket)
	case errors.Is(err, blob.ErrBucketExists):
		return newError(CodeBucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
	case errors.Is(err, blob.ErrBucketNotEmpty):
		return newError(CodeBucketNotEmpty, "The bucket you tried to delete is not empty")
	case errors.Is(err, blob.ErrNoKey):
		return newError(CodeNoSuchKey, msgNoSuchKey)
	case errors.Is(err, blob.ErrNoUpload):
		return newError(CodeNoSuchUpload, msgNoSuchUpload)
	case errors.Is(err, blob.ErrInvalidName):
		return newError(CodeInvalidBucketName, "The specified bucket is not valid.")
	case errors.Is(err, blob.ErrInvalidKey):
		return newError(CodeInvalidArgument, "The specified object key is not valid.")
	case errors.Is(err, blob.ErrInvalidPart):
		return newError(CodeInvalidPart, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
	case errors.Is(err, blob.ErrInvalidPartOrder):
		return newError(CodeInvalidPartOrder, "The list of parts was not in ascending order. Parts must be ordered by part number.")
	case errors.Is(err, blob.ErrEntityTooSmall):
		return newError(CodeEntityTooSmall, "Your proposed upload is smaller than the minimum allowed object size.")
	case errors.Is(err, blob.ErrEntityTooLarge):
		return newError(CodeEntityTooLarge, "Your proposed upload exceeds the maximum allowed object size.")
	case errors.Is(err, blob.ErrInvalidRange):
		return newError(CodeInvalidRange, "The requested range is not satisfiable")
	case errors.Is(err, blob.ErrPrecondition):
		return newError(CodePreconditionFailed, msgPrecondition)
	case errors.Is(err, blob.ErrNotModified):
		return errNotModified
	case errors.Is(err, blob.ErrBadDigest):
		return newError(CodeBadDigest, "The Content-MD5 you specified did not match what we received.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e := newError(CodeInternalError, "The request was canceled before it completed.")
		e.cause = err
		return e
	}
	e := newError(CodeInternalError, msgInternal)
	e.cause = err
	return e
}

// authError maps a Signature V4 verification failure to S3's answer.
func authError(err error, presigned bool) *apiError {
	var se *sigv4.Error
	msg := err.Error()
	if errors.As(err, &se) {
		msg = se.Message
	}
	malformed := CodeAuthorizationHeaderMalformed
	if presigned {
		malformed = CodeAuthorizationQueryError
	}
	switch {
	case errors.Is(err, sigv4.ErrMissing):
		return newError(CodeAccessDenied, "Access Denied: the request is not signed and anonymous access is not allowed.")
	case errors.Is(err, sigv4.ErrUnknownKey):
		return newError(CodeInvalidAccessKeyID, "The AWS Access Key Id you provided does not exist in our records.")
	case errors.Is(err, sigv4.ErrMismatch):
		return newError(CodeSignatureDoesNotMatch, msg)
	case errors.Is(err, sigv4.ErrExpired):
		if presigned {
			return newError(CodeAccessDenied, msg)
		}
		return newError(CodeRequestTimeTooSkewed, "The difference between the request time and the current time is too large. "+msg)
	case errors.Is(err, sigv4.ErrContentHash):
		return newError(CodeContentSHA256Mismatch, msg)
	}
	// ErrMalformed, ErrScope.
	return newError(malformed, msg)
}

// errorBody is S3's error document.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

// writeError answers with e: status only for HEAD requests and 304,
// otherwise S3's XML error document.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError, resource, requestID, hostID string) {
	h := w.Header()
	if e.status == http.StatusNotModified || r.Method == http.MethodHead {
		w.WriteHeader(e.status)
		return
	}
	b, err := xml.Marshal(errorBody{
		Code:      e.code,
		Message:   e.message,
		Resource:  resource,
		RequestID: requestID,
		HostID:    hostID,
	})
	if err != nil { // cannot happen with string fields
		w.WriteHeader(e.status)
		return
	}
	b = append([]byte(xml.Header), b...)
	h["Content-Type"] = []string{"application/xml"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(e.status)
	w.Write(b) //nolint:errcheck // the client went away; nothing to do
}
