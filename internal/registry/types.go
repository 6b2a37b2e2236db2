// Package registry stores functions, their immutable versions, aliases, routes
// and artifacts in JetStream (KV for metadata, object store for artifacts) so
// that every node sharing the JetStream sees the same deployed state.
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Errors; match with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrInvalid reports a malformed name, alias, hash or configuration.
	ErrInvalid = errors.New("invalid")
	// ErrCorrupt reports an artifact whose content does not match its hash.
	ErrCorrupt = errors.New("artifact content does not match its hash")
)

// Runtimes a function can name in FunctionConfig.Runtime.
const (
	RuntimeWasm    = "wasm"
	RuntimeProcess = "process"
)

// MaxSnapshotWarmup is the largest FunctionConfig.SnapshotWarmup, in bytes
// of compact JSON.
const MaxSnapshotWarmup = 256 << 10

// LatestQualifier names the newest version of a function.
const LatestQualifier = "$LATEST"

// FunctionConfig is the deployable description of a function: what a manifest
// entry becomes after it is built. It is stored in every version verbatim.
type FunctionConfig struct {
	Name         string   `json:"name"`
	App          string   `json:"app,omitempty"`     // the project (manifest app) that deployed it
	Runtime      string   `json:"runtime"`           // wasm | process
	ArtifactHash string   `json:"artifactHash"`      // sha256 hex of the artifact in the object store
	ArtifactSize int64    `json:"artifactSize"`      // bytes
	Handler      string   `json:"handler,omitempty"` // process: _HANDLER
	MemoryMiB    int      `json:"memory"`
	Timeout      Duration `json:"timeout"`
	Concurrency  int      `json:"concurrency"`        // most instances at once, 0 = node default
	Provisioned  int      `json:"provisioned"`        // instances kept warm
	Snapshot     bool     `json:"snapshot,omitempty"` // wasm: start instances from a snapshot of an initialized one
	// SnapshotWarmup is an event (JSON) the instance whose snapshot is
	// taken serves once before it is taken; nil = none. Set only with
	// Snapshot; at most MaxSnapshotWarmup bytes.
	SnapshotWarmup json.RawMessage   `json:"snapshotWarmup,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	Routes         []Route           `json:"routes,omitempty"` // HTTP events
	Events         []EventSource     `json:"events,omitempty"` // queue, topic and schedule events
	Async          *AsyncConfig      `json:"async,omitempty"`  // asynchronous invocation settings; nil = defaults
	Permissions    *Permissions      `json:"permissions,omitempty"`
}

// EventSource is one non-HTTP trigger of a function. Exactly one field is set.
type EventSource struct {
	Queue    *QueueTrigger    `json:"queue,omitempty"`
	Topic    *TopicTrigger    `json:"topic,omitempty"`
	Schedule *ScheduleTrigger `json:"schedule,omitempty"`
	Bucket   *BucketTrigger   `json:"bucket,omitempty"`
}

// Bucket event kinds of a BucketTrigger or a bucket notification.
const (
	BucketCreated = "created" // s3:ObjectCreated:* (put, copy, multipart completion)
	BucketRemoved = "removed" // s3:ObjectRemoved:*
)

// BucketTrigger invokes the function (asynchronously, as S3 invokes Lambda)
// with an events.S3Event for each matching object event of a bucket.
type BucketTrigger struct {
	Name   string   `json:"name"`
	On     []string `json:"on"`               // BucketCreated and/or BucketRemoved
	Prefix string   `json:"prefix,omitempty"` // only keys with this prefix
	Suffix string   `json:"suffix,omitempty"` // only keys with this suffix
}

// QueueTrigger delivers a queue's messages to the function in batches.
type QueueTrigger struct {
	Name        string   `json:"name"`
	Batch       int      `json:"batch,omitempty"`       // 0 = 10
	Window      Duration `json:"window,omitempty"`      // batching window
	Concurrency int      `json:"concurrency,omitempty"` // most batches in flight per node; 0 = default
}

// TopicTrigger subscribes the function to a topic.
type TopicTrigger struct {
	Name        string          `json:"name"`
	Filter      json.RawMessage `json:"filter,omitempty"`      // SNS filter policy
	FilterScope string          `json:"filterScope,omitempty"` // "attributes" (default) or "body"
}

// ScheduleTrigger invokes the function on a schedule.
type ScheduleTrigger struct {
	Expression string          `json:"expression"`
	Timezone   string          `json:"timezone,omitempty"`
	Input      json.RawMessage `json:"input,omitempty"` // constant event instead of the scheduled event
}

// AsyncConfig tunes asynchronous invocations of a function.
type AsyncConfig struct {
	Retries     int      `json:"retries"`               // 0..2
	MaxEventAge Duration `json:"maxEventAge,omitempty"` // 0 = 6h
	OnSuccess   string   `json:"onSuccess,omitempty"`   // queue:NAME | topic:NAME | function:NAME
	OnFailure   string   `json:"onFailure,omitempty"`
	DLQ         string   `json:"dlq,omitempty"` // queue for failed events when OnFailure is empty
}

// Permissions are the function's grants to node resources ("*" = any).
//
// Tables and Buckets hold "NAME:MODE" grants, MODE being r, w or rw (always
// written out; "*:r" grants reading every bucket). HTTP holds host names a
// wasm function may reach with the outbound HTTP capability: "api.example.com",
// "api.example.com:8443", "*.example.com" or "*".
type Permissions struct {
	Publish []string `json:"publish,omitempty"` // topics
	Send    []string `json:"send,omitempty"`    // queues
	Tables  []string `json:"tables,omitempty"`  // KV tables, NAME:MODE
	Buckets []string `json:"buckets,omitempty"` // buckets, NAME:MODE
	HTTP    []string `json:"http,omitempty"`    // outbound hosts
}

// Route is an HTTP event: requests matching Method and Path invoke the function.
type Route struct {
	Method string `json:"method"` // GET, POST, ... or ANY
	Path   string `json:"path"`   // /orders/{id}, /files/{proxy+}
	Auth   string `json:"auth,omitempty"`
}

// Version is one immutable deployed version of a function.
type Version struct {
	Number    int            `json:"version"`
	Config    FunctionConfig `json:"config"`
	CreatedAt time.Time      `json:"createdAt"`
}

// VersionString is the version number as Lambda spells it.
func (v *Version) VersionString() string { return itoa(v.Number) }

// Function is a function's head record: its versions and aliases.
type Function struct {
	Name      string         `json:"name"`
	Latest    int            `json:"latest"`            // version $LATEST points at
	Aliases   map[string]int `json:"aliases,omitempty"` // alias name -> version
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
}

// Duration is a time.Duration that encodes as a Go duration string in JSON.
type Duration time.Duration

// Std is d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as a Go duration ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON encodes d as a Go duration string, e.g. "10s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON decodes a Go duration string ("10s", "1m30s") or a whole
// number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration %s: want a duration string such as \"10s\" or whole nanoseconds", b)
	}
	*d = Duration(n)
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
