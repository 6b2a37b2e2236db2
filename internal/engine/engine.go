// Package engine defines what runs function instances. Each runtime (wasm,
// process) lives in a sub-package and implements Engine; the pool and the
// invoker see only these interfaces.
package engine

import (
	"context"
	"errors"
	"io"
	"time"
)

// Spec is everything a runtime needs to prepare one immutable function version.
type Spec struct {
	Function     string            // function name
	Version      string            // immutable version number, e.g. "3"
	Runtime      string            // "wasm" or "process"
	ArtifactPath string            // local file: a .wasm module or an executable
	ArtifactHash string            // sha256 hex of the artifact
	Handler      string            // process runtime: value of _HANDLER
	MemoryMiB    int               // memory cap of one instance
	Timeout      time.Duration     // longest a single invocation may run
	Env          map[string]string // the function's own environment; nothing else
	// Snapshot starts instances from a snapshot of an initialized one (wasm
	// reactors only).
	Snapshot bool
	// SnapshotWarmup, when set, is an event (JSON) the instance whose
	// snapshot is taken serves once before the snapshot, so that restored
	// instances start with what a first invocation sets up (lazily
	// initialized state, grown buffers). Its host calls are refused and its
	// result is discarded; it must succeed, or no snapshot is taken.
	SnapshotWarmup []byte
	// HostURL and HostToken tell a process function where and how to reach
	// the node's host API (internal/host): the base URL, such as
	// http://127.0.0.1:8080/_gureum/host/v1, and the bearer token bound to
	// this function version. They reach the process as GUREUM_HOST_URL and
	// GUREUM_HOST_TOKEN. Empty means none. The wasm runtime ignores them: its
	// guests reach the host through Request.Host.
	HostURL, HostToken string
	// HostEnv are further variables the node sets for a process function
	// to reach its services, such as the S3-compatible API's endpoint and
	// the function's own access key (AWS_ENDPOINT_URL_S3,
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), as Lambda hands a function
	// its role's credentials. They override the function's own variables.
	HostEnv map[string]string
}

// Request is one invocation handed to one instance.
type Request struct {
	ID          string    // request id
	Payload     []byte    // the event, JSON
	Deadline    time.Time // the invocation ends here (timeout)
	FunctionARN string    // invoked function ARN, for lambda context
	TraceID     string    // trace context (W3C traceparent or X-Amzn-Trace-Id)
	// Log receives everything the instance writes (stdout, stderr, SDK log
	// calls) while it serves this request. Never nil.
	Log io.Writer
	// Host serves the host calls the function makes while it serves this
	// request (wasm guests; process functions use Spec.HostURL). Nil means
	// no host capabilities.
	Host Host
}

// Host is what a running invocation may ask of the node — publish, send, and
// later kv, blob and http — already bound to the function's identity, grants
// and the request's trace context. Nil means no host capabilities.
//
// op names the operation ("publish", "send"); req and resp are JSON. req is
// valid only during the call. Errors are *host.Error values carrying a
// stable code (internal/host). Call runs on the goroutine of the invocation.
type Host interface {
	Call(ctx context.Context, op string, req []byte) (resp []byte, err error)
}

// Response is what the function returned.
type Response struct {
	Payload []byte
	// FunctionError is true when the handler returned an error (or panicked
	// in a way the runtime caught and reported). Payload then holds the Lambda
	// error document: {"errorMessage": "...", "errorType": "..."}.
	FunctionError bool
}

// Instance is one running copy of a function version. It serves one request at
// a time. Any error from Invoke (as opposed to Response.FunctionError) means the
// instance is broken and must be closed and discarded.
type Instance interface {
	Invoke(ctx context.Context, req *Request) (*Response, error)
	Close(ctx context.Context) error
}

// Function is a prepared (compiled, validated) function version from which
// instances are started.
type Function interface {
	// NewInstance starts and initializes one instance (a cold start). Output
	// written during initialization goes to log.
	NewInstance(ctx context.Context, log io.Writer) (Instance, error)
	Close(ctx context.Context) error
}

// Warmer is implemented by a Function that can do ahead of its first cold
// start what that cold start would otherwise do for the ones after it: a
// wasm function takes its snapshot. Warm starts no instance that outlives
// it; output of the work goes to log. It does nothing when there is
// nothing to do, and an error leaves the Function usable.
type Warmer interface {
	Warm(ctx context.Context, log io.Writer) error
}

// SnapshotReporter is implemented by a Function that may start its
// instances from a snapshot: it says where that stands.
type SnapshotReporter interface {
	SnapshotStatus() SnapshotStatus
}

// SnapshotStatus is where a function's snapshot stands.
type SnapshotStatus struct {
	State  string // one of the Snapshot* states
	Reason string // why, when State is SnapshotFailed
	// Standby says an instance is instantiated from the snapshot ahead of
	// the next cold start, which then only runs the restore hook.
	Standby bool
}

// States of a function's snapshot.
const (
	SnapshotOff     = "off"     // the function does not use snapshots
	SnapshotPending = "pending" // not taken yet: the next cold start takes it
	SnapshotReady   = "ready"   // cold starts restore from it
	SnapshotFailed  = "failed"  // it could not be taken or used; instances start normally
)

// Engine prepares function versions for one runtime.
type Engine interface {
	Prepare(ctx context.Context, spec Spec) (Function, error)
	Close(ctx context.Context) error
}

// Errors an Instance or Function returns, wrapped with detail; match with errors.Is.
var (
	// ErrTimeout: the invocation ran past its deadline and was stopped.
	ErrTimeout = errors.New("function timed out")
	// ErrCrashed: the instance trapped, panicked outside the handler, exited or
	// ran out of memory.
	ErrCrashed = errors.New("function instance crashed")
	// ErrInit: the instance failed while initializing.
	ErrInit = errors.New("function initialization failed")
	// ErrInvalidArtifact: the artifact cannot be run by this engine.
	ErrInvalidArtifact = errors.New("invalid function artifact")
	// ErrNotDelivered: the instance had stopped (its process exited while it
	// was idle) before it took the event. The event never reached the
	// function, so the caller may run it on another instance.
	ErrNotDelivered = errors.New("event not delivered: the instance had stopped")
	// ErrResponseTooLarge: the function's response exceeded the payload limit.
	ErrResponseTooLarge = errors.New("function response too large")
)

// MaxResponseBytes is the largest response payload an instance may return
// (the synchronous Lambda limit).
const MaxResponseBytes = 6 << 20
