package bucket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/events/consumer"
	"github.com/gureum/gureum/internal/storage/blob"
)

// Errors; match with errors.Is.
var (
	// ErrInvalid reports a malformed bucket name, notification or event.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound reports a notification that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a notification id that another owner already
	// uses on the bucket.
	ErrConflict = errors.New("notification id taken by another owner")
	// ErrClosed reports a Service that was shut down (or started twice).
	ErrClosed = errors.New("bucket events closed")
)

// invalidError reads as its message alone and matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// Storage layout (see doc.go):
//
//	KV bucket gureum_bucket_notifications
//	  n.<token>.<id>                    Notification
//	Stream GBUCKET_EVENTS               subjects gureum.bucketevent.>
//	  gureum.bucketevent.<token>        object events of one bucket
//	  gureum.bucketevent.<token>.n.<id> a replay meant for one notification
//	  consumer bn-<hash>                durable pull consumer of one notification
const (
	// KeyValueBucket holds the notifications.
	KeyValueBucket = "gureum_bucket_notifications"
	// StreamName is the stream holding object events until every
	// notification of their bucket has settled them.
	StreamName = "GBUCKET_EVENTS"

	notePrefix    = "n."
	subjectPrefix = "gureum.bucketevent."

	// streamMaxAge drops events no notification settled within a week, a
	// safety net under interest retention.
	streamMaxAge = 7 * 24 * time.Hour
	// maxAckPending bounds the events one notification has in flight or
	// waiting for a retry, over all nodes.
	maxAckPending = 1000
	// maxInFlight bounds the deliveries one node makes at once for one
	// notification.
	maxInFlight = 16
)

// Headers of a stream message.
const (
	headerTraceParent = "traceparent"
	// headerReplay marks a replayed delivery: the data is the S3 event
	// itself, to be handed on unchanged and unfiltered.
	headerReplay = "Gureum-Bucket-Replay"
)

// Defaults.
const (
	DefaultRegion         = "us-east-1"
	DefaultRetryBase      = time.Second
	DefaultRetryMax       = 60 * time.Second
	DefaultMaxAttempts    = 10
	DefaultAttemptTimeout = 15 * time.Second
)

// Config configures a Service. Zero fields take the defaults noted.
type Config struct {
	// Region is the records' awsRegion; default DefaultRegion.
	Region string
	// Deliverer hands events to functions, queues, topics and dead-letter
	// queues; required by Start.
	Deliverer Deliverer
	// Replicas of the stream and the KV bucket; 0 means 1.
	Replicas int
	// RetryBase is the delay after the first failed attempt, doubled after
	// each further one up to RetryMax. Defaults 1 s and 60 s.
	RetryBase, RetryMax time.Duration
	// MaxAttempts bounds the delivery attempts of one event to one
	// notification before it is dead-lettered; default 10.
	MaxAttempts int
	// AttemptTimeout bounds one delivery attempt; default 15 s.
	AttemptTimeout time.Duration
	// Logger receives delivery failures; nil discards.
	Logger *slog.Logger
	// Now is the clock of dead-letter records; nil is time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	c.RetryMax = max(c.RetryMax, c.RetryBase)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service records object events and, once started, delivers them to the
// notifications of their buckets. Every node sharing a JetStream makes its
// own Service; they see the same notifications and share the delivery work.
type Service struct {
	cfg Config
	js  jetstream.JetStream

	setup   sync.Mutex         // held while the stream and KV bucket are made sure of
	kvReady jetstream.KeyValue // set once both exist

	group   *consumer.Group    // runs the runners; its lifecycle is the Service's
	mu      sync.Mutex         // guards runners
	runners map[string]*runner // by KV key
}

// New returns a Service on js. It does no I/O: the stream and the KV bucket
// are made sure of by the first call that needs them.
func New(js jetstream.JetStream, cfg Config) (*Service, error) {
	if js == nil {
		return nil, fmt.Errorf("bucket events: %w", invalidf("jetstream is required"))
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("bucket events: %w", invalidf("replicas %d", cfg.Replicas))
	}
	if cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("bucket events: %w", invalidf("max attempts %d", cfg.MaxAttempts))
	}
	cfg = cfg.withDefaults()
	group := consumer.NewGroup(consumer.Config{
		JetStream:      js,
		Name:           "bucket events",
		Records:        "notification",
		Item:           "event",
		Logger:         cfg.Logger,
		RetryBase:      cfg.RetryBase,
		RetryMax:       cfg.RetryMax,
		AttemptTimeout: cfg.AttemptTimeout,
		MaxAckPending:  maxAckPending,
		MaxInFlight:    maxInFlight,
		// A dead-lettering cut short by Shutdown is handed back at once,
		// like an attempt cut short.
		NakAbortedDeadLetter: true,
	})
	return &Service{cfg: cfg, js: js, group: group, runners: map[string]*runner{}}, nil
}

// kv makes sure the stream and the KV bucket exist, once per Service (again
// after a failure), and returns the KV bucket.
func (s *Service) kv(ctx context.Context) (jetstream.KeyValue, error) {
	s.setup.Lock()
	defer s.setup.Unlock()
	if s.kvReady != nil {
		return s.kvReady, nil
	}
	if err := s.ensureStream(ctx); err != nil {
		return nil, err
	}
	kv, err := bus.EnsureKeyValue(ctx, s.js, jetstream.KeyValueConfig{
		Bucket:      KeyValueBucket,
		Description: "gureum bucket notifications",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
	})
	if err != nil {
		return nil, err
	}
	s.kvReady = kv
	return kv, nil
}

func (s *Service) ensureStream(ctx context.Context) error {
	_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "gureum bucket events",
		Subjects:    []string{subjectPrefix + ">"},
		Retention:   jetstream.InterestPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
		MaxAge:      streamMaxAge,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", StreamName, err)
	}
	return nil
}

// forget makes the next call check the stream and KV bucket again.
func (s *Service) forget() {
	s.setup.Lock()
	s.kvReady = nil
	s.setup.Unlock()
}

func bucketSubject(bucket string) string     { return subjectPrefix + token(bucket) }
func replaySubject(bucket, id string) string { return bucketSubject(bucket) + ".n." + id }

// storedEvent is an object event as the stream keeps it.
type storedEvent struct {
	Name      string    `json:"name"`
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	Size      int64     `json:"size,omitempty"`
	ETag      string    `json:"etag,omitempty"`
	Sequencer string    `json:"seq,omitempty"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal,omitempty"`
	SourceIP  string    `json:"ip,omitempty"`
	RequestID string    `json:"request,omitempty"`
}

func encodeEvent(ev blob.Event) ([]byte, error) {
	b, err := json.Marshal(storedEvent{
		Name: ev.Name, Bucket: ev.Bucket, Key: ev.Key, Size: ev.Size, ETag: ev.ETag,
		Sequencer: ev.Sequencer, Time: ev.Time.UTC(), Principal: ev.Principal,
		SourceIP: ev.SourceIP, RequestID: ev.RequestID,
	})
	if err != nil { // only a time outside years 0 to 9999
		return nil, invalidf("encode object event: %v", err)
	}
	return b, nil
}

// decodeEvent reads back encodeEvent's form; traceparent comes from the
// message's header.
func decodeEvent(data []byte, traceparent string) (blob.Event, error) {
	var se storedEvent
	if err := json.Unmarshal(data, &se); err != nil {
		return blob.Event{}, fmt.Errorf("decode object event: %w", err)
	}
	if se.Bucket == "" || se.Name == "" {
		return blob.Event{}, fmt.Errorf("decode object event: %w", invalidf("bucket and name are required"))
	}
	return blob.Event{
		Name: se.Name, Bucket: se.Bucket, Key: se.Key, Size: se.Size, ETag: se.ETag,
		Sequencer: se.Sequencer, Time: se.Time, Principal: se.Principal,
		SourceIP: se.SourceIP, RequestID: se.RequestID, TraceParent: traceparent,
	}, nil
}

// ObjectEvent records ev durably for the notifications of its bucket: it
// returns nil only once JetStream has stored it. It implements
// blob.EventSink, and works whether or not the Service is started.
func (s *Service) ObjectEvent(ctx context.Context, ev blob.Event) error {
	if err := validBucket(ev.Bucket); err != nil {
		return fmt.Errorf("object event: %w", err)
	}
	if ev.Name == "" {
		return fmt.Errorf("object event in %s: %w", ev.Bucket, invalidf("event name is required"))
	}
	if ev.Time.IsZero() {
		ev.Time = s.cfg.Now()
	}
	data, err := encodeEvent(ev)
	if err != nil {
		return fmt.Errorf("object event in %s: %w", ev.Bucket, err)
	}
	msg := nats.NewMsg(bucketSubject(ev.Bucket))
	msg.Data = data
	if ev.TraceParent != "" {
		msg.Header.Set(headerTraceParent, ev.TraceParent)
	}
	if err := s.publish(ctx, msg); err != nil {
		return fmt.Errorf("object event %s in %s: %w", ev.Name, ev.Bucket, err)
	}
	return nil
}

// publish stores msg in the stream and waits for the acknowledgement. A
// missing stream is made again once.
func (s *Service) publish(ctx context.Context, msg *nats.Msg) error {
	for try := 0; ; try++ {
		if _, err := s.kv(ctx); err != nil {
			return err
		}
		_, err := s.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(StreamName))
		if err == nil {
			return nil
		}
		if try > 0 || !errors.Is(err, jetstream.ErrNoStreamResponse) {
			return err
		}
		s.forget()
	}
}

// Redeliver hands an S3 event (as a dead-letter queue kept it) to one
// notification again, with the notification's retries; it is not filtered
// again. A replay of a dead letter whose source ParseDeadLetterSource
// recognizes calls it.
func (s *Service) Redeliver(ctx context.Context, bucket, id string, event []byte, traceparent string) error {
	if !json.Valid(event) {
		return fmt.Errorf("redeliver to %s/%s: %w", bucket, id, invalidf("the event is not JSON"))
	}
	if _, err := s.notification(ctx, bucket, id); err != nil {
		return fmt.Errorf("redeliver: %w", err)
	}
	msg := nats.NewMsg(replaySubject(bucket, id))
	msg.Data = event
	msg.Header.Set(headerReplay, "1")
	if traceparent != "" {
		msg.Header.Set(headerTraceParent, traceparent)
	}
	if err := s.publish(ctx, msg); err != nil {
		return fmt.Errorf("redeliver to %s/%s: %w", bucket, id, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bucket events: encode %T: %v", v, err)) // plain data: cannot happen
	}
	return b
}

var _ blob.EventSink = (*Service)(nil)
