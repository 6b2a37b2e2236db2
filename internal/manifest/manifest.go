package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

	DefaultVisibility      = 30 * time.Second
	DefaultRetention       = 4 * 24 * time.Hour
	DefaultMaxReceives     = 5 // when a queue names a dlq but no maxReceives
	DefaultMaxMessageBytes = 256 << 10
	DefaultBatch           = 10
	DefaultRetries         = 2
	DefaultMaxEventAge     = 6 * time.Hour
	DefaultFilterScope     = FilterScopeAttributes
)

// Grants in Function.Permissions.
const (
	PermissionPublish = "publish" // topics the function may publish to
	PermissionSend    = "send"    // queues the function may send to
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

// Function is one function of a project, with defaults applied.
type Function struct {
	Name    string
	Runtime string // RuntimeWasm or RuntimeProcess
	// At most one of Build, Artifact and Handler is set (see the package
	// rules). Each is the manifest's path joined to Project.Dir.
	Build       string              // Go package directory to build
	Artifact    string              // wasm module
	Handler     string              // process executable
	Memory      int                 // MiB
	Timeout     time.Duration       //
	Concurrency int                 // most instances at once; 0 = node default
	Provisioned int                 // instances kept warm
	Snapshot    bool                // wasm: start instances from a snapshot (experimental)
	Env         map[string]string   // nil when empty
	Async       *Async              // asynchronous invocation settings; nil when not written
	Permissions map[string][]string // PermissionPublish and PermissionSend → names or "*"; nil when empty
	Events      []Event             // in file order
	Line        int                 // line of the function's name

	handlerName string // Handler as written, relative to the project, slash-separated
}

// Event is one trigger of a function. Exactly one kind is set.
type Event struct {
	Line     int
	HTTP     *HTTPEvent
	Queue    *QueueEvent
	Topic    *TopicEvent
	Schedule *ScheduleEvent
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
