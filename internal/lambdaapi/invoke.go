package lambdaapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gureum/gureum/internal/invoke"
)

// Invocation types (X-Amz-Invocation-Type) and log types (X-Amz-Log-Type).
const (
	InvocationRequestResponse = "RequestResponse"
	InvocationEvent           = "Event"
	InvocationDryRun          = "DryRun"
	LogTail                   = "Tail"
	LogNone                   = "None"
)

// FunctionErrorUnhandled is X-Amz-Function-Error on a failed invocation:
// a returned error, a panic, a timeout or a crash.
const FunctionErrorUnhandled = "Unhandled"

// ThrottleReason is TooManyRequestsException's Reason when a function is
// at its concurrency limit (the manifest's concurrency is Lambda's
// reserved concurrency).
const ThrottleReason = "ReservedFunctionConcurrentInvocationLimitExceeded"

// emptyEvent is the event of an invocation without a payload, as in Lambda.
var emptyEvent = []byte("{}")

// invoke serves Invoke.
func (h *Handler) invoke(w http.ResponseWriter, r *http.Request, rid, rawName string, body []byte) {
	name, qualifier, aerr := h.resolveRef(r, rawName)
	if aerr != nil {
		aerr.write(w)
		return
	}
	invType := r.Header.Get(HeaderInvocationType)
	switch invType {
	case "", InvocationRequestResponse, InvocationEvent, InvocationDryRun:
	default:
		newError(CodeValidation, "1 validation error detected: Value '"+clip(invType)+
			"' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]").write(w)
		return
	}
	logType := r.Header.Get(HeaderLogType)
	switch logType {
	case "", LogNone, LogTail:
	default:
		newError(CodeValidation, "1 validation error detected: Value '"+clip(logType)+
			"' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]").write(w)
		return
	}
	payload := body
	if isBlank(payload) {
		payload = emptyEvent
	} else if !json.Valid(payload) {
		var v json.RawMessage
		err := json.Unmarshal(payload, &v)
		newError(CodeInvalidRequestContent, "Could not parse request body into json: "+err.Error()).write(w)
		return
	}

	ctx := r.Context()
	switch invType {
	case InvocationDryRun:
		if _, aerr := h.lookup(ctx, name, qualifier); aerr != nil {
			aerr.write(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case InvocationEvent:
		if _, aerr := h.lookup(ctx, name, qualifier); aerr != nil {
			aerr.write(w)
			return
		}
		if h.cfg.Async == nil {
			newError(CodeInvalidParameterValue, "Asynchronous invocation (InvocationType Event) is not available on this node; "+
				"invoke with InvocationType RequestResponse.").write(w)
			return
		}
		if len(payload) > MaxAsyncPayloadBytes {
			newError(CodeRequestTooLarge, "Request must be smaller than "+strconv.Itoa(MaxAsyncPayloadBytes)+" bytes for the InvokeFunction operation with InvocationType Event").write(w)
			return
		}
		id, err := h.cfg.Async.InvokeAsync(ctx, name, qualifier, payload, traceParent(r.Header.Get("Traceparent")))
		if err != nil {
			switch {
			case errors.Is(err, invoke.ErrFunctionNotFound):
				h.notFound(name, qualifier).write(w)
			case errors.Is(err, invoke.ErrPayloadTooLarge):
				newError(CodeRequestTooLarge, "Request must be smaller than "+strconv.Itoa(MaxAsyncPayloadBytes)+" bytes for the InvokeFunction operation with InvocationType Event").write(w)
			case errors.Is(err, invoke.ErrShuttingDown):
				newError(CodeService, "The node is shutting down and accepts no new invocations; retry on another node.").write(w)
			default:
				newError(CodeService, "The node could not accept the event: "+err.Error()).write(w)
			}
			return
		}
		// The event is durable now; its request id is the one the
		// invocation and its logs carry.
		w.Header()[HeaderRequestID] = []string{id}
		w.WriteHeader(http.StatusAccepted)
		return
	}

	// A client that goes away does not cancel the invocation, as in Lambda:
	// the function runs to completion (its own timeout bounds it).
	tail := logType == LogTail
	res, err := h.cfg.Invoker.Invoke(context.WithoutCancel(ctx), &invoke.Request{
		Function:  name,
		Qualifier: qualifier,
		Payload:   payload,
		RequestID: rid,
		Trigger:   "lambda-api",
		TraceID:   traceParent(r.Header.Get("Traceparent")),
		KeepLog:   tail,
	})
	switch {
	case err == nil && res != nil:
		writeResult(w, res, res.Payload, res.FunctionError, tail)
	case res != nil && (errors.Is(err, invoke.ErrTimeout) || errors.Is(err, invoke.ErrFunctionFailed)):
		// The invoker has put the Lambda error document (errorMessage,
		// errorType: Sandbox.Timedout for a timeout) in the payload.
		writeResult(w, res, res.Payload, true, tail)
	case errors.Is(err, invoke.ErrInitFailed):
		doc := errorDocument(err.Error(), "Runtime.InitError")
		if res == nil {
			res = &invoke.Result{}
		}
		writeResult(w, res, doc, true, tail)
	case errors.Is(err, invoke.ErrFunctionNotFound):
		h.notFound(name, qualifier).write(w)
	case errors.Is(err, invoke.ErrThrottled):
		e := newError(CodeTooManyRequests, "Rate Exceeded.")
		e.reason = ThrottleReason
		e.write(w)
	case errors.Is(err, invoke.ErrPayloadTooLarge):
		newError(CodeRequestTooLarge, "Request must be smaller than "+strconv.Itoa(invoke.MaxPayloadBytes)+" bytes for the InvokeFunction operation").write(w)
	case errors.Is(err, invoke.ErrShuttingDown):
		newError(CodeService, "The node is shutting down and accepts no new invocations; retry on another node.").write(w)
	case err != nil:
		newError(CodeService, "The invocation failed inside the node: "+err.Error()).write(w)
	default:
		newError(CodeService, "The invoker returned no result.").write(w)
	}
}

// writeResult answers a RequestResponse invocation that reached the
// function: 200, the payload, the executed version and, on failure,
// X-Amz-Function-Error.
func writeResult(w http.ResponseWriter, res *invoke.Result, payload []byte, failed, tail bool) {
	hdr := w.Header()
	hdr["Content-Type"] = []string{"application/json"}
	hdr["Content-Length"] = []string{strconv.Itoa(len(payload))}
	if res.Version != "" {
		hdr[HeaderExecutedVersion] = []string{res.Version}
	}
	if failed {
		hdr[HeaderFunctionError] = []string{FunctionErrorUnhandled}
	}
	if tail {
		log := res.Log
		if len(log) > MaxLogResultBytes {
			log = log[len(log)-MaxLogResultBytes:]
		}
		hdr[HeaderLogResult] = []string{base64.StdEncoding.EncodeToString(log)}
	}
	w.WriteHeader(http.StatusOK)
	w.Write(payload) //nolint:errcheck // the client went away; nothing to do
}

// errorDocument is a Lambda error payload.
func errorDocument(msg, typ string) []byte {
	b := appendJSONString([]byte(`{"errorMessage":`), msg)
	b = append(b, `,"errorType":`...)
	b = appendJSONString(b, typ)
	return append(b, '}')
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// traceParent returns a W3C traceparent value when it has the version-00
// form "00-<32 hex>-<16 hex>-<2 hex>", else "".
func traceParent(v string) string {
	if len(v) != 55 || v[:3] != "00-" || v[35] != '-' || v[52] != '-' {
		return ""
	}
	for i := 3; i < 55; i++ {
		if i == 35 || i == 52 {
			continue
		}
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ""
		}
	}
	return v
}
