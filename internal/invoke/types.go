// Package invoke is the one entry point for every invocation: it resolves a
// function version in the registry, leases an instance from the pool, runs the
// request on it and records the outcome.
package invoke

import (
	"errors"
	"time"
)

// Request asks for one synchronous invocation.
type Request struct {
	Function  string // function name
	Qualifier string // "", "$LATEST", a version number or an alias
	Payload   []byte // the event, JSON
	RequestID string // optional; generated when empty
	Trigger   string // "http", "direct", "lambda-api", ...
	Source    string // what triggered it: a route key, a queue or topic ARN, a schedule
	TraceID   string // incoming trace context, if any
	// KeepLog asks for the invocation's log output in Result.Log.
	KeepLog bool
}

// Result is the outcome of an invocation that reached a function instance.
type Result struct {
	RequestID     string
	Function      string
	Version       string
	Payload       []byte
	FunctionError bool // Payload is a Lambda error document
	Cold          bool
	InitDuration  time.Duration
	Duration      time.Duration
	Start         time.Time // when the function was handed the event
	Log           []byte    // the invocation's log, when Request.KeepLog
}

// Errors returned by Invoke, wrapped with detail; match with errors.Is. The
// Result is non-nil alongside ErrTimeout and ErrFunctionFailed so that callers
// still learn the request id and log.
var (
	ErrFunctionNotFound = errors.New("function not found")
	ErrThrottled        = errors.New("rate exceeded: function is at its concurrency limit")
	ErrTimeout          = errors.New("function timed out")
	ErrFunctionFailed   = errors.New("function failed")
	ErrInitFailed       = errors.New("function initialization failed")
	ErrPayloadTooLarge  = errors.New("payload too large")
	ErrShuttingDown     = errors.New("node is shutting down")
)

// MaxPayloadBytes is the largest synchronous request or response payload.
const MaxPayloadBytes = 6 << 20
