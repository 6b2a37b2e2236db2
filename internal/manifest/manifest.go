package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gureum/gureum/internal/registry"
)

// Names Load looks for in a project directory.
const (
	FileName    = "gureum.yaml"
	AltFileName = "gureum.yml"
)

// Defaults applied to settings a manifest leaves out.
const (
	DefaultRuntime = RuntimeWasm
	DefaultMemory  = 128 // MiB
	DefaultTimeout = 3 * time.Second
	DefaultMethod  = "ANY"
	DefaultAuth    = AuthNone
	// DefaultWasmSnapshot is the snapshot setting of a wasm function that
	// writes none. A process function never takes snapshots.
	DefaultWasmSnapshot = true

	DefaultVisibility      = 30 * time.Second
	DefaultRetention       = 4 * 24 * time.Hour
	DefaultMaxReceives     = 5 // when a queue names a dlq but no maxReceives
	DefaultMaxMessageBytes = 256 << 10
	DefaultBatch           = 10
	DefaultRetries         = 2
	DefaultMaxEventAge     = 6 * time.Hour
	DefaultFilterScope     = FilterScopeAttributes
)

// Kinds of grants: the keys of a function's permissions.
const (
	PermissionPublish = "publish" // topics the function may publish to
	PermissionSend    = "send"    // queues the function may send to
	PermissionTables  = "tables"  // KV tables, NAME:MODE; also written kv
	PermissionKV      = "kv"      // the design's name of tables
	PermissionBuckets = "buckets" // buckets, NAME:MODE
	PermissionHTTP    = "http"    // hosts reached with outbound HTTP
)

// Modes of table and bucket grants.
const (
	ModeRead      = "r"
	ModeWrite     = "w"
	ModeReadWrite = "rw"
)

// Bucket event kinds, of bucket events and bucket notifications.
const (
	BucketCreated = registry.BucketCreated // an object was put, copied or completed from a multipart upload
	BucketRemoved = registry.BucketRemoved // an object was deleted
)

// Topic filter scopes: what a filter policy is matched against.
const (
	FilterScopeAttributes = "attributes" // the message attributes
	FilterScopeBody       = "body"       // the message body, a JSON object
)

// Runtimes.
const (
	RuntimeWasm    = registry.RuntimeWasm
	RuntimeProcess = registry.RuntimeProcess
)

// Route auth modes.
const (
	AuthNone = "none"
)

// Project is a valid manifest.
type Project struct {
	App       string
	Dir       string      // directory holding the manifest; absolute when loaded with Load
	File      string      // the manifest file; absolute when loaded with Load
	Functions []*Function // in file order
	Queues    []*Queue    // in file order
	Topics    []*Topic    // in file order
	Tables    []*Table    // in file order
	Buckets   []*Bucket   // in file order
}

// Function returns the function called name, or nil.
func (p *Project) Function(name string) *Function {
	for _, f := range p.Functions {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Queue returns the queue called name, or nil.
func (p *Project) Queue(name string) *Queue {
	for _, q := range p.Queues {
		if q.Name == name {
			return q
		}
	}
	return nil
}

// Topic returns the topic called name, or nil.
func (p *Project) Topic(name string) *Topic {
	for _, t := range p.Topics {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Table returns the table called name, or nil.
func (p *Project) Table(name string) *Table {
	for _, t := range p.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Bucket returns the bucket called name, or nil.
func (p *Project) Bucket(name string) *Bucket {
	for _, b := range p.Buckets {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// Function is one function of a project, with defaults applied.
type Function struct {
	Name    string
	Runtime string // RuntimeWasm or RuntimeProcess
	// At most one of Build, Artifact and Handler is set (see the package
	// rules). Each is the manifest's path joined to Project.Dir.
	Build       string        // Go package directory to build
	Artifact    string        // wasm module
	Handler     string        // process executable
	Memory      int           // MiB
	Timeout     time.Duration //
	Concurrency int           // most instances at once; 0 = node default
	Provisioned int           // instances kept warm
	// Snapshot starts the function's instances from a snapshot of an
	// initialized one. Resolved at parse time: DefaultWasmSnapshot for a
	// wasm function that writes no snapshot setting; always false for a
	// process function.
	Snapshot bool
	// SnapshotWarmup is the event, as compact JSON, that the instance whose
	// snapshot is taken serves before the snapshot; nil = none. Set only
	// when Snapshot is.
	SnapshotWarmup json.RawMessage
	Env            map[string]string // nil when empty
	Async          *Async            // asynchronous invocation settings; nil when not written
	Permissions    *Permissions      // grants; nil when none is written
	Events         []Event           // in file order
	Line           int               // line of the function's name

	handlerName string // Handler as written, relative to the project, slash-separated
}

// Event is one trigger of a function. Exactly one kind is set.
type Event struct {
	Line     int
	HTTP     *HTTPEvent
	Queue    *QueueEvent
	Topic    *TopicEvent
	Schedule *ScheduleEvent
	Bucket   *BucketEvent
}

// HTTPEvent routes HTTP requests to a function.
type HTTPEvent struct {
	Method string // upper case: GET, POST, ... or ANY
	Path   string // valid for ParseRoutePath
	Auth   string // AuthNone
}

// QueueEvent delivers a queue's messages to the function in batches.
type QueueEvent struct {
	Name        string        // the queue; declared in the project or existing on the node
	Batch       int           // most messages per invocation, 1-10000; default 10
	Window      time.Duration // how long to gather a batch; 0 = deliver at once
	Concurrency int           // most batches in flight, 2-1000; 0 = unset (the node's default)
}

// TopicEvent subscribes the function to a topic.
type TopicEvent struct {
	Name        string          // the topic; declared in the project or existing on the node
	Filter      json.RawMessage // SNS filter policy as compact JSON; nil = every message
	FilterScope string          // FilterScopeAttributes or FilterScopeBody
}

// ScheduleEvent invokes the function on a schedule.
type ScheduleEvent struct {
	Expression string          // rate(...), cron(...) or a 5-field cron line
	Timezone   string          // an IANA zone; "" = UTC
	Input      json.RawMessage // compact JSON sent instead of the scheduled event; nil = the scheduled event
}

// BucketEvent invokes the function, asynchronously, for object events of a
// bucket (S3 notifications to Lambda).
type BucketEvent struct {
	Name   string   // the bucket; declared in the project or existing on the node
	On     []string // BucketCreated and/or BucketRemoved, in file order; default [BucketCreated]
	Prefix string   // only keys starting with this; "" = every key
	Suffix string   // only keys ending with this; "" = every key
}

// Permissions are a function's grants, each list in file order. A function
// may touch no topic, queue, table, bucket or host that they do not grant.
type Permissions struct {
	Publish []Grant // topics: a name or "*"
	Send    []Grant // queues: a name or "*"
	Tables  []Grant // KV tables: a name or "*", with a mode
	Buckets []Grant // buckets: a name or "*", with a mode
	HTTP    []Grant // hosts: api.example.com, api.example.com:8443, *.example.com or *
	Line    int     // line of the permissions key
}

// Empty reports whether p grants nothing.
func (p *Permissions) Empty() bool {
	return p == nil || len(p.Publish)+len(p.Send)+len(p.Tables)+len(p.Buckets)+len(p.HTTP) == 0
}

// Grant is one item of a grant list.
type Grant struct {
	// Name is the granted name, or "*" for every one. For HTTP it is a
	// lower-case host with an optional :port, "*.domain" or "*".
	Name string
	Mode string // tables and buckets: ModeRead, ModeWrite or ModeReadWrite; "" for the others
	Line int    // line of the list item
}

// String is the grant as the registry holds it: NAME:MODE for tables and
// buckets, the name alone for the others.
func (g Grant) String() string {
	if g.Mode == "" {
		return g.Name
	}
	return g.Name + ":" + g.Mode
}

// Reads reports whether a table or bucket grant allows reading.
func (g Grant) Reads() bool { return strings.Contains(g.Mode, ModeRead) }

// Writes reports whether a table or bucket grant allows writing.
func (g Grant) Writes() bool { return strings.Contains(g.Mode, ModeWrite) }

// Wildcard reports whether the grant names more than one thing: "*" or,
// for HTTP, "*.domain".
func (g Grant) Wildcard() bool { return strings.HasPrefix(g.Name, "*") }

// Queue is a queue of the project (SQS semantics), with defaults applied.
type Queue struct {
	Name            string
	Visibility      time.Duration // a received message stays hidden this long
	Retention       time.Duration // an unreceived message is kept this long
	Delay           time.Duration // a new message becomes visible after this
	MaxReceives     int           // receives before a message moves to DLQ; 0 when DLQ is ""
	DLQ             string        // dead-letter queue; "" = none
	MaxMessageBytes int           // largest message body
	Line            int           // line of the queue's name
}

// Topic is a topic of the project (SNS semantics).
type Topic struct {
	Name          string
	Subscriptions []*Subscription // besides function events; in file order
	Line          int             // line of the topic's name
}

// Subscription delivers a topic's messages to a queue or an HTTP endpoint.
// Exactly one of Queue and HTTP is set.
type Subscription struct {
	Queue  string          // a queue name
	HTTP   string          // an http or https URL
	Filter json.RawMessage // SNS filter policy on the message attributes as compact JSON; nil = every message
	Raw    bool            // deliver the message body alone, not the SNS envelope
	DLQ    string          // queue for messages that cannot be delivered; "" = the automatic one
	Line   int             // line of the list item
}

// Table is a KV table of the project. Tables have no settings yet.
type Table struct {
	Name string
	Line int // line of the table's name
}

// Bucket is a bucket of the project, with the notifications it sends to
// queues and topics (functions receive its events through their own events).
type Bucket struct {
	Name          string
	Notifications []*BucketNotification // in file order
	Line          int                   // line of the bucket's name
}

// BucketNotification sends a bucket's object events to a queue or a topic.
// Exactly one of Queue and Topic is set.
type BucketNotification struct {
	Queue  string
	Topic  string
	On     []string // BucketCreated and/or BucketRemoved; default [BucketCreated]
	Prefix string   // only keys starting with this; "" = every key
	Suffix string   // only keys ending with this; "" = every key
	Line   int      // line of the list item
}

// Async tunes a function's asynchronous invocations.
type Async struct {
	Retries     int           // retries after the first attempt, 0-2
	MaxEventAge time.Duration // an event older than this is not tried again
	OnSuccess   string        // destination: "queue:NAME", "topic:NAME" or "function:NAME"; "" = none
	OnFailure   string        // destination of events that failed every attempt; "" = none
	DLQ         string        // queue for failed events, when OnFailure is ""; "" = the automatic one
	Line        int           // line of the async key
}

// Checks are validations that belong to other packages, supplied by the
// caller of ParseWith and LoadWith. A nil field skips its check. A
// returned error becomes a problem at the checked value; its text should
// say what is wrong.
type Checks struct {
	// Schedule checks a schedule expression; tz is an IANA zone that
	// time.LoadLocation accepts, or "" for UTC.
	Schedule func(expr, tz string) error
	// FilterPolicy checks a topic filter policy given as JSON, for scope
	// FilterScopeAttributes or FilterScopeBody.
	FilterPolicy func(policy []byte, scope string) error
}

// Parse parses and validates a manifest's text. It touches no file system:
// paths are joined to filename's directory but not checked. filename is used
// in problems and as Project.File.
func Parse(filename string, data []byte) (*Project, error) {
	return ParseWith(filename, data, Checks{})
}

// ParseWith is Parse with the caller's checks of schedule expressions and
// filter policies.
func ParseWith(filename string, data []byte, c Checks) (*Project, error) {
	return parse(filename, filename, filepath.Dir(filename), false, c, data)
}

// Load reads and validates a manifest and checks the files it names: a build
// directory exists and holds Go files, an artifact is a wasm module, a handler
// is an executable file. path is a manifest file or a project directory
// holding gureum.yaml (or gureum.yml).
//
// Problems in the manifest are reported as an *Error; failing to find or read
// it is an ordinary error (errors.Is(err, fs.ErrNotExist) when it is missing).
func Load(path string) (*Project, error) {
	return LoadWith(path, Checks{})
}

// LoadWith is Load with the caller's checks of schedule expressions and
// filter policies.
func LoadWith(path string, c Checks) (*Project, error) {
	file, err := find(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read one byte past the limit so that parse reports an oversized file.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return parse(file, abs, filepath.Dir(abs), true, c, data)
}

// find returns the manifest file path names.
func find(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return path, nil
	}
	var found []string
	for _, name := range []string{FileName, AltFileName} {
		p := filepath.Join(path, name)
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no %s in %s; create one, or pass the manifest file: %w", FileName, path, fs.ErrNotExist)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("both %s and %s are in %s; keep one", FileName, AltFileName, path)
	}
}
