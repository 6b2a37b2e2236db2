package admin

import (
	"context"
	"errors"
	"time"

	"github.com/gureum/gureum/internal/observe"
)

// ErrNotFound is what an ObserveService wraps when it has no record of an
// invocation or no stored span of a trace; the handler answers 404 NotFound.
// Match with errors.Is.
var ErrNotFound = errors.New("not found")

// Limits and defaults of the observability endpoints.
const (
	// DefaultRecordLimit is how many invocation records a listing returns
	// when limit is not given; MaxRecordLimit is the most one may ask for.
	DefaultRecordLimit = 100
	MaxRecordLimit     = 10000
	// DefaultCostWindow is the window of a cost report when since is not
	// given.
	DefaultCostWindow = 24 * time.Hour
)

// Keys a cost report can group its lines by.
const (
	CostByFunction = "function"
	CostByTrigger  = "trigger"
)

// Outcomes of an invocation, as InvocationRecord.Outcome reports them.
const (
	OutcomeSuccess   = "success"
	OutcomeError     = "error"
	OutcomeTimeout   = "timeout"
	OutcomeThrottled = "throttled"
	OutcomeInitError = "init_error"
)

// InvocationRecord is one invocation's record.
type InvocationRecord struct {
	RequestID string `json:"requestId"`
	Function  string `json:"function"`
	Version   string `json:"version"`
	// Trigger is what brought the invocation in: http, direct, lambda-api,
	// async, queue, topic, schedule, replay, destination, bucket.
	Trigger string `json:"trigger"`
	// Source names the trigger's origin: a route key, a queue or topic
	// ARN, a schedule id.
	Source         string    `json:"source,omitempty"`
	TraceID        string    `json:"traceId,omitempty"`
	Start          time.Time `json:"start"`
	Cold           bool      `json:"cold"`
	InitDurationMs float64   `json:"initDurationMs"`
	DurationMs     float64   `json:"durationMs"`
	MemoryMiB      int       `json:"memoryMiB"`
	Outcome        string    `json:"outcome"` // success | error | timeout | throttled | init_error
	ErrorType      string    `json:"errorType,omitempty"`
	// BilledMs is the run duration rounded up to the millisecond (0 when
	// throttled: nothing ran); GBSeconds is MemoryMiB/1024 × BilledMs/1000.
	BilledMs  int64   `json:"billedMs"`
	GBSeconds float64 `json:"gbSeconds"`
	Node      string  `json:"node,omitempty"`
}

// RecordQuery selects a function's invocation records. The handler hands
// the service a Limit from 1 to MaxRecordLimit; a zero Since means no lower
// bound. The newest Limit records that match are wanted.
type RecordQuery struct {
	Since      time.Time
	ErrorsOnly bool   // only outcomes other than success
	Trigger    string // "" = every trigger
	Limit      int
}

// InvocationDetail is an invocation's record and its log lines.
type InvocationDetail struct {
	InvocationRecord
	Log []observe.Entry `json:"log"`
}

// TraceSpan is one stored span of a trace.
type TraceSpan struct {
	TraceID       string            `json:"traceId"`
	SpanID        string            `json:"spanId"`
	ParentID      string            `json:"parentId,omitempty"` // "" for a root
	Name          string            `json:"name"`
	Kind          string            `json:"kind"` // internal, server, client, producer, consumer
	Start         time.Time         `json:"start"`
	DurationMs    float64           `json:"durationMs"`
	Status        string            `json:"status"` // unset, ok, error
	StatusMessage string            `json:"statusMessage,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	Node          string            `json:"node,omitempty"`
}

// CostLine is one line of a cost report: a function or a trigger, or the
// total.
type CostLine struct {
	Key         string  `json:"key"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	GBSeconds   float64 `json:"gbSeconds"`
	RequestCost float64 `json:"requestCost"`
	ComputeCost float64 `json:"computeCost"`
	Cost        float64 `json:"cost"` // RequestCost + ComputeCost
	// PeakConcurrency is the most invocations that ran at once in the
	// window.
	PeakConcurrency int `json:"peakConcurrency"`
	// AlwaysOnGBSeconds and AlwaysOnCost are what the same work would cost
	// with PeakConcurrency instances kept running for the whole window: the
	// comparison pay-per-use is measured against.
	AlwaysOnGBSeconds float64 `json:"alwaysOnGBSeconds"`
	AlwaysOnCost      float64 `json:"alwaysOnCost"`
}

// CostReport is the pay-per-use cost of the invocations in a window,
// grouped by function or by trigger, at the prices it names.
type CostReport struct {
	Since       time.Time  `json:"since"`
	Until       time.Time  `json:"until"`
	By          string     `json:"by"` // function | trigger
	Currency    string     `json:"currency"`
	PerRequest  float64    `json:"perRequest"`
	PerGBSecond float64    `json:"perGBSecond"`
	Lines       []CostLine `json:"lines"`
	Total       CostLine   `json:"total"`
}

// ObserveService is what the observability endpoints (invocation records,
// traces and cost) need from the node.
type ObserveService interface {
	// Invocations returns the newest q.Limit records of a function that
	// match q, in any order (the handler answers them oldest first).
	Invocations(ctx context.Context, function string, q RecordQuery) ([]InvocationRecord, error)
	// Invocation returns one invocation's record and log; ErrNotFound
	// when there is no record of it.
	Invocation(ctx context.Context, requestID string) (*InvocationDetail, error)
	// Trace returns a trace's stored spans; ErrNotFound when there are none.
	Trace(ctx context.Context, traceID string) ([]TraceSpan, error)
	// Cost reports the invocations from since until now, grouped by
	// CostByFunction or CostByTrigger.
	Cost(ctx context.Context, since time.Time, by string) (*CostReport, error)
}
