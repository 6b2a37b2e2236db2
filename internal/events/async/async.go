package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/invoke"
)

// Errors returned by this package, wrapped with detail; match with errors.Is.
var (
	// ErrTooLarge: the payload is over MaxPayloadBytes, or the whole event
	// does not fit in a NATS message of the server's max_payload.
	ErrTooLarge = errors.New("async event too large")
	// ErrInvalid: the event (or a stored envelope) is malformed.
	ErrInvalid = errors.New("invalid async event")
	// ErrInvalidConfig: Open was given a Config it cannot run with.
	ErrInvalidConfig = errors.New("invalid async config")
	// ErrClosed: the Service was shut down.
	ErrClosed = errors.New("async service is shut down")
)

// Limits and names.
const (
	// MaxPayloadBytes is the largest event payload Submit accepts (AWS
	// Lambda's limit for asynchronous invocations).
	MaxPayloadBytes = 1 << 20
	// MaxRecordBytes bounds a destination record. A record that would be
	// larger loses its responsePayload, then its requestPayload, as AWS
	// drops the payload of records over a destination's limit.
	MaxRecordBytes = 256 << 10
	// StreamName is the JetStream stream holding every async event.
	StreamName = "GUREUM_ASYNC"
	// SubjectPrefix + function is where events wait to be run.
	SubjectPrefix = "gureum.async."
	// DelayedPrefix + function + "." + unique id holds delayed retries (a
	// message schedule that fires into SubjectPrefix + function).
	DelayedPrefix = "gureum.asyncd."
)

// Defaults and bounds of Settings and Config.
const (
	DefaultRetries     = 2
	MaxRetries         = 2
	DefaultMaxEventAge = 6 * time.Hour
	MinMaxEventAge     = 60 * time.Second
	MaxMaxEventAge     = 6 * time.Hour
	DefaultConcurrency = 10

	DefaultRetryBase = time.Minute
	DefaultDeferBase = time.Second
	DefaultMaxDefer  = 5 * time.Minute
	DefaultAckWait   = 30 * time.Second
)

// headerReserve is room kept free in a NATS message for what a retry adds
// to an accepted event (the attempt list, schedule headers).
const headerReserve = 8 << 10

// Invoker runs one invocation; *invoke.Invoker is one.
type Invoker interface {
	Invoke(ctx context.Context, req *invoke.Request) (*invoke.Result, error)
}

// Destinations delivers what the async path produces.
type Destinations interface {
	// Send delivers an invocation record: to a queue as the message body, to
	// a topic as a published message, to a function as an async event.
	Send(ctx context.Context, d Destination, record []byte, traceparent string) error
	// DeadLetter moves a failed event to a dead-letter queue. ev carries
	// everything replay needs: payload, qualifier, traceparent.
	DeadLetter(ctx context.Context, queue string, ev Event, info deadletter.Info) error
}

// Settings are a function's async invocation settings, read for every
// event so that changes apply at once. The zero value means AWS's defaults.
type Settings struct {
	Retries     *int          // attempts after the first, 0..2; nil = 2
	MaxEventAge time.Duration // 60s..6h; 0 = 6h
	OnSuccess   *Destination  // record of each success; nil = none
	OnFailure   *Destination  // record of each failure; nil = dead-letter queue
	DLQ         string        // "" = deadletter.AutoQueue of the function
	Concurrency int           // invocations at once per function and node; 0 = 10
}

// Validate reports settings out of their bounds.
func (st Settings) Validate() error {
	if st.Retries != nil && (*st.Retries < 0 || *st.Retries > MaxRetries) {
		return fmt.Errorf("retries %d: want 0..%d: %w", *st.Retries, MaxRetries, ErrInvalidConfig)
	}
	if st.MaxEventAge != 0 && (st.MaxEventAge < MinMaxEventAge || st.MaxEventAge > MaxMaxEventAge) {
		return fmt.Errorf("maximum event age %s: want %s..%s: %w", st.MaxEventAge, MinMaxEventAge, MaxMaxEventAge, ErrInvalidConfig)
	}
	if st.Concurrency < 0 {
		return fmt.Errorf("concurrency %d: want 0 or more: %w", st.Concurrency, ErrInvalidConfig)
	}
	return nil
}

// resolved is Settings with defaults applied and values clamped to their
// bounds: an event is never failed because its settings are off.
type resolved struct {
	retries     int
	maxAge      time.Duration
	onSuccess   *Destination
	onFailure   *Destination
	dlq         string
	concurrency int
}

func (st Settings) resolve(function string) resolved {
	r := resolved{
		retries:     DefaultRetries,
		maxAge:      st.MaxEventAge,
		onSuccess:   st.OnSuccess,
		onFailure:   st.OnFailure,
		dlq:         st.DLQ,
		concurrency: st.Concurrency,
	}
	if st.Retries != nil {
		r.retries = min(max(*st.Retries, 0), MaxRetries)
	}
	if r.maxAge == 0 {
		r.maxAge = DefaultMaxEventAge
	}
	r.maxAge = min(max(r.maxAge, MinMaxEventAge), MaxMaxEventAge)
	if r.dlq == "" {
		r.dlq = deadletter.AutoQueue(deadletter.Source{Kind: deadletter.KindFunction, Name: function})
	}
	if r.concurrency <= 0 {
		r.concurrency = DefaultConcurrency
	}
	return r
}

// Event is one asynchronous invocation and its history.
type Event struct {
	RequestID   string          // generated by Submit when empty
	Function    string          // function name
	Qualifier   string          // "", "$LATEST", a version or an alias
	Payload     json.RawMessage // the event, JSON; empty means {}
	Trigger     string          // "async", "lambda-api", "topic", "schedule", ...; "" = "async"
	Source      string          // where it came from (a topic ARN, a schedule), optional
	TraceParent string          // W3C traceparent, optional
	AcceptedAt  time.Time       // set by Submit
	Attempts    []Attempt       // attempts so far, oldest first
}

// Attempt records one invocation of an event. Error is empty for a
// successful attempt.
type Attempt struct {
	At        time.Time     `json:"at"`
	Error     string        `json:"error,omitempty"`     // errorMessage
	ErrorType string        `json:"errorType,omitempty"` // errorType
	Duration  time.Duration `json:"duration,omitempty"`
	Version   string        `json:"version,omitempty"` // version that ran
}

// Config wires a Service. JetStream, Invoker and Destinations are required;
// every other field has a default.
type Config struct {
	JetStream    jetstream.JetStream
	Replicas     int    // of the stream; 0 = 1
	Region       string // for ARNs; "" = "local"
	AccountID    string // for ARNs; "" = "000000000000"
	Invoker      Invoker
	Destinations Destinations
	// Settings returns a function's settings; nil means defaults for all.
	// An error delays the event (it is offered again later).
	Settings func(ctx context.Context, function string) (Settings, error)
	// OnRetry, when set, learns of each retry scheduled for a function
	// (for metrics).
	OnRetry func(function string)
	// RetryBase is the delay before the first retry; each further retry
	// waits twice as long. 0 = 1 minute.
	RetryBase time.Duration
	// DeferBase is the first delay after a throttled invocation or a failed
	// delivery to a destination; it doubles up to MaxDefer. 0 = 1 second.
	DeferBase time.Duration
	// MaxDefer caps DeferBase's doubling. 0 = 5 minutes.
	MaxDefer time.Duration
	// AckWait is how long an event a node took may go without a sign of
	// life before another node runs it. Workers renew it while an
	// invocation runs, so it bounds the time to recover from a lost node,
	// not a function's timeout. 0 = 30 seconds.
	AckWait time.Duration
	// Now is the clock of event times (acceptance, attempts, ages, records).
	// Delays are kept by the NATS server's clock. nil = time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil = discard
}

// Service accepts async events and runs them. Create it with Open; Submit
// works at once, workers run between Start and Shutdown.
type Service struct {
	cfg    Config
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger

	// runCtx is the context of work in flight; cancelled only when Shutdown
	// runs out of time.
	runCtx    context.Context
	cancelRun context.CancelFunc

	mu       sync.Mutex
	started  bool
	closed   bool
	wanted   map[string]bool    // functions from the last Sync
	workers  map[string]*worker // running workers by function
	loops    sync.WaitGroup     // worker loops
	handlers sync.WaitGroup     // events in flight

	shutdownOnce sync.Once
	shutdownErr  error
}

// Open creates or updates the stream and returns a Service that accepts
// events. Workers start with Start.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.JetStream == nil || cfg.Invoker == nil || cfg.Destinations == nil {
		return nil, fmt.Errorf("open async: JetStream, Invoker and Destinations are required: %w", ErrInvalidConfig)
	}
	if cfg.Replicas < 0 || cfg.RetryBase < 0 || cfg.DeferBase < 0 || cfg.MaxDefer < 0 || cfg.AckWait < 0 {
		return nil, fmt.Errorf("open async: negative replicas or duration: %w", ErrInvalidConfig)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.DeferBase == 0 {
		cfg.DeferBase = DefaultDeferBase
	}
	if cfg.MaxDefer == 0 {
		cfg.MaxDefer = DefaultMaxDefer
	}
	cfg.MaxDefer = max(cfg.MaxDefer, cfg.DeferBase)
	if cfg.AckWait == 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	stream, err := cfg.JetStream.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              StreamName,
		Description:       "gureum asynchronous invocations",
		Subjects:          []string{SubjectPrefix + "*", DelayedPrefix + "*.*"},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
		AllowMsgSchedules: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open async: ensure stream %s: %w", StreamName, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg:       cfg,
		js:        cfg.JetStream,
		stream:    stream,
		log:       cfg.Logger.With("component", "async"),
		runCtx:    runCtx,
		cancelRun: cancel,
		wanted:    map[string]bool{},
		workers:   map[string]*worker{},
	}, nil
}

// Submit accepts ev and returns once it is stored in JetStream, so that a
// caller's acknowledgement means the event is durable. The request id is
// generated when ev has none; AcceptedAt is set and Attempts cleared (a
// replayed event starts afresh).
func (s *Service) Submit(ctx context.Context, ev Event) (string, error) {
	if ev.RequestID == "" {
		ev.RequestID = invoke.NewRequestID()
	}
	if ev.Trigger == "" {
		ev.Trigger = "async"
	}
	if len(ev.Payload) == 0 {
		ev.Payload = json.RawMessage("{}")
	}
	if len(ev.Payload) > MaxPayloadBytes {
		return "", fmt.Errorf("submit to %s: payload of %d bytes is over the %d byte limit: %w", ev.Function, len(ev.Payload), MaxPayloadBytes, ErrTooLarge)
	}
	if err := validateEvent(&ev); err != nil {
		return "", fmt.Errorf("submit to %s: %w", ev.Function, err)
	}
	if !json.Valid(ev.Payload) {
		return "", fmt.Errorf("submit to %s: payload is not JSON: %w", ev.Function, ErrInvalid)
	}
	ev.AcceptedAt = s.cfg.Now().UTC()
	ev.Attempts = nil
	msg := encode(&envelope{Event: ev}, SubjectPrefix+ev.Function)
	if limit := s.js.Conn().MaxPayload(); int64(msgSize(msg)+headerReserve) > limit {
		return "", fmt.Errorf("submit to %s: event of %d bytes does not fit the NATS server's max_payload of %d bytes: %w", ev.Function, msgSize(msg), limit, ErrTooLarge)
	}
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(StreamName)); err != nil {
		return "", fmt.Errorf("submit to %s: %w", ev.Function, err)
	}
	return ev.RequestID, nil
}

// Pending counts a function's events not yet finished: waiting, running,
// delayed for a retry or for a destination.
func (s *Service) Pending(ctx context.Context, function string) (int, error) {
	if !validFunctionName(function) {
		return 0, fmt.Errorf("pending of %q: function name: %w", function, ErrInvalid)
	}
	n := 0
	for _, filter := range []string{SubjectPrefix + function, DelayedPrefix + function + ".*"} {
		info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return 0, fmt.Errorf("pending of %s: %w", function, err)
		}
		for _, c := range info.State.Subjects {
			n += int(c)
		}
	}
	return n, nil
}

// validateEvent checks the fields that travel as headers.
func validateEvent(ev *Event) error {
	if !validFunctionName(ev.Function) {
		return fmt.Errorf("function name %q: want 1-64 letters, digits, '-' or '_': %w", ev.Function, ErrInvalid)
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"request id", ev.RequestID, 128},
		{"qualifier", ev.Qualifier, 128},
		{"trigger", ev.Trigger, 64},
		{"source", ev.Source, 2048},
		{"traceparent", ev.TraceParent, 512},
	} {
		if len(f.value) > f.max {
			return fmt.Errorf("%s of %d bytes is over %d: %w", f.name, len(f.value), f.max, ErrInvalid)
		}
		if !headerSafe(f.value) {
			return fmt.Errorf("%s %q: control characters or surrounding spaces: %w", f.name, f.value, ErrInvalid)
		}
	}
	return nil
}

// validFunctionName follows Lambda: 1-64 letters, digits, '-' and '_'. Such
// a name is a single NATS subject token and a valid consumer name.
func validFunctionName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// headerSafe reports whether s survives as a NATS header value unchanged:
// valid UTF-8, no control characters, no leading or trailing space.
func headerSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return len(s) == 0 || s[0] != ' ' && s[len(s)-1] != ' '
}
