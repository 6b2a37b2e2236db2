// Package admin serves the token-protected admin API under /_gureum/v1/ and
// defines its wire types, which the CLI's client (internal/apiclient) shares.
package admin

import (
	"time"

	"github.com/gureum/gureum/internal/registry"
)

// Prefix is the reserved path prefix of the admin API.
const Prefix = "/_gureum/v1"

// Error codes of the admin API: stable, for programs to match on.
const (
	CodeUnauthorized   = "Unauthorized"
	CodeNotFound       = "NotFound"
	CodeInvalidRequest = "InvalidRequest"
	CodeConflict       = "Conflict"
	CodeTooLarge       = "PayloadTooLarge"
	CodeThrottled      = "Throttled"
	CodeShuttingDown   = "ShuttingDown"
	CodeInternal       = "Internal"
)

// ErrorBody is the JSON body of every admin API error.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// FunctionInfo describes a function and its $LATEST version.
type FunctionInfo struct {
	Name        string           `json:"name"`
	App         string           `json:"app,omitempty"`
	Latest      int              `json:"latest"`
	Aliases     map[string]int   `json:"aliases,omitempty"`
	Runtime     string           `json:"runtime"`
	MemoryMiB   int              `json:"memory"`
	Timeout     string           `json:"timeout"`
	Concurrency int              `json:"concurrency"`
	Provisioned int              `json:"provisioned"`
	Routes      []registry.Route `json:"routes,omitempty"`
	UpdatedAt   time.Time        `json:"updatedAt"`
	Instances   InstanceStats    `json:"instances"`
	// Snapshot is where the $LATEST version's snapshot stands on the node
	// that answered; nil until that node has prepared the version (it runs
	// no instance of it yet) or when its runtime reports none.
	Snapshot *SnapshotInfo `json:"snapshot,omitempty"`
}

// SnapshotInfo is where a function version's snapshot stands on one node.
type SnapshotInfo struct {
	// State is "off" (the function takes no snapshots), "pending" (the
	// next cold start takes it), "ready" (cold starts restore from it) or
	// "failed" (instances start without one; Reason says why).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Standby says an instance is instantiated from the snapshot ahead of
	// the next cold start on that node.
	Standby bool `json:"standby,omitempty"`
}

// InstanceStats counts a function's instances on the node that answered.
type InstanceStats struct {
	Idle       int    `json:"idle"`
	Busy       int    `json:"busy"`
	ColdStarts uint64 `json:"coldStarts"`
	WarmStarts uint64 `json:"warmStarts"`
	Throttles  uint64 `json:"throttles"`
}

// DeployRequest activates the functions of one app. Every artifact must have
// been uploaded first. Functions of the same app that the request does not
// name are removed.
type DeployRequest struct {
	App       string                    `json:"app"`
	Functions []registry.FunctionConfig `json:"functions"`
	// Queues and Topics the app declares: created, or updated in place.
	// A deploy never deletes a queue or topic (their messages would go
	// with them); gureum queue rm and gureum topic rm do.
	Queues []QueueSpec `json:"queues,omitempty"`
	Topics []TopicSpec `json:"topics,omitempty"`
	// Tables and Buckets the app declares: created when missing, bucket
	// notifications made to match. A deploy never deletes either.
	Tables  []TableSpec  `json:"tables,omitempty"`
	Buckets []BucketSpec `json:"buckets,omitempty"`
}

// DeployResult says what a deploy changed.
type DeployResult struct {
	Functions []DeployedFunction `json:"functions"`
	Removed   []string           `json:"removed,omitempty"`
}

// DeployedFunction is one function's outcome of a deploy.
type DeployedFunction struct {
	Name    string           `json:"name"`
	Version int              `json:"version"`
	Changed bool             `json:"changed"`
	Routes  []registry.Route `json:"routes,omitempty"`
}

// Response headers of POST /functions/{name}/invocations; the body is the
// function's result exactly as it returned it.
const (
	HeaderRequestID     = "X-Gureum-Request-Id"
	HeaderVersion       = "X-Gureum-Version"
	HeaderFunctionError = "X-Gureum-Function-Error"
	HeaderCold          = "X-Gureum-Cold"
	HeaderDuration      = "X-Gureum-Duration"
	HeaderInitDuration  = "X-Gureum-Init-Duration"
)
