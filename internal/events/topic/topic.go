package topic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/events/consumer"
)

// Errors; match with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrInvalid reports a malformed name, subscription, filter policy or
	// message.
	ErrInvalid = errors.New("invalid")
	// ErrTooLarge reports a message above MaxMessageSize.
	ErrTooLarge = errors.New("message too large")
	// ErrClosed reports a Service that was shut down (or started twice).
	ErrClosed = errors.New("topics closed")
)

// invalidError reads as its message alone and matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

func errTooLarge(size int) error {
	return fmt.Errorf("message of %d bytes (body and attributes), at most %d: %w", size, MaxMessageSize, ErrTooLarge)
}

// Storage layout (see doc.go):
//
//	KV bucket gureum_topics
//	  topic.<name>          topicRecord
//	  sub.<topic>.<id>      Subscription
//	Stream GT_<name>         subjects gureum.t.<name> and gureum.t.<name>.sub.*
//	  consumer sub-<id>      durable pull consumer of one subscription
const (
	// Bucket is the KV bucket holding topics and subscriptions.
	Bucket = "gureum_topics"

	topicPrefix   = "topic."
	subPrefix     = "sub."
	streamPrefix  = "GT_"
	subjectPrefix = "gureum.t."
	consumerPref  = "sub-"

	// streamMaxAge drops messages no subscription took within two weeks,
	// a safety net under interest retention (SNS keeps retrying for days).
	streamMaxAge = 14 * 24 * time.Hour
	// maxAckPending bounds the messages one subscription has in flight or
	// waiting for a retry, over all nodes.
	maxAckPending = 1000
)

// Protocols of a subscription.
const (
	ProtocolFunction = "function" // Endpoint is a function name, optionally fn:qualifier
	ProtocolQueue    = "queue"    // Endpoint is a queue name
	ProtocolHTTP     = "http"     // Endpoint is a URL
	ProtocolHTTPS    = "https"    // Endpoint is a URL
)

// Defaults.
const (
	DefaultMaxAttempts    = 10
	maxMaxAttempts        = 100
	DefaultRetryBase      = time.Second
	DefaultRetryMax       = 60 * time.Second
	DefaultAttemptTimeout = 15 * time.Second
	DefaultRegion         = "us-east-1"
	DefaultAccountID      = "000000000000"
)

// Subscription routes a topic's messages to one endpoint.
type Subscription struct {
	ID       string `json:"id"`
	Topic    string `json:"topic"`
	Protocol string `json:"protocol"` // function | queue | http | https
	Endpoint string `json:"endpoint"` // function name, queue name or URL
	// FilterPolicy selects messages (SNS filter policy JSON); empty takes all.
	FilterPolicy json.RawMessage `json:"filterPolicy,omitempty"`
	// FilterScope is ScopeAttributes (the default, stored as "") or
	// ScopeBody; SNS's names MessageAttributes and MessageBody are accepted.
	FilterScope string `json:"filterScope,omitempty"`
	// RawDelivery hands the message body itself to a queue or an HTTP
	// endpoint instead of the SNS notification JSON.
	RawDelivery bool `json:"rawDelivery,omitempty"`
	// DLQ is the queue for messages that could not be delivered; empty
	// uses deadletter.AutoQueue.
	DLQ string `json:"dlq,omitempty"`
	// MaxAttempts bounds delivery attempts, 1..100; 0 means 10.
	MaxAttempts int `json:"maxAttempts"`
	// Owner is who made the subscription, e.g. "function:audit" for a
	// deploy; "" when made through the API.
	Owner     string    `json:"owner,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ARN       string    `json:"arn,omitempty"`
}

// Info describes a topic.
type Info struct {
	Name          string    `json:"name"`
	App           string    `json:"app,omitempty"`
	ARN           string    `json:"arn"`
	CreatedAt     time.Time `json:"createdAt"`
	Subscriptions int       `json:"subscriptions"`
}

// topicRecord is the stored form of a topic.
type topicRecord struct {
	Name      string    `json:"name"`
	App       string    `json:"app,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Config configures a Service. Zero fields take the defaults noted.
type Config struct {
	JetStream jetstream.JetStream // required
	// Replicas of the bucket and topic streams; 0 means 1.
	Replicas int
	// Region and AccountID form ARNs; defaults DefaultRegion and
	// DefaultAccountID.
	Region, AccountID string
	// Deliverer hands messages to functions and queues; required by Start.
	Deliverer Deliverer
	// HTTPClient delivers to http and https endpoints; nil uses a client
	// that does not follow redirects.
	HTTPClient *http.Client
	// RetryBase and RetryMax shape the backoff between attempts: RetryBase
	// doubled after every failed attempt, at most RetryMax. Defaults 1 s
	// and 60 s.
	RetryBase, RetryMax time.Duration
	// AttemptTimeout bounds one delivery attempt; default 15 s.
	AttemptTimeout time.Duration
	// Logger receives delivery failures; nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = DefaultAccountID
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = c.RetryBase
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Service manages topics and subscriptions and, once started, delivers
// their messages. Every node sharing a JetStream opens its own Service;
// they see the same topics and share the delivery work.
type Service struct {
	cfg Config
	js  jetstream.JetStream
	kv  jetstream.KeyValue

	group   *consumer.Group    // runs the runners; its lifecycle is the Service's
	mu      sync.Mutex         // guards runners
	runners map[string]*runner // by topic/id
}

// Open makes sure the bucket exists and returns a Service on it. Topics can
// be managed and published to at once; Start begins delivery.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.JetStream == nil {
		return nil, fmt.Errorf("open topics: %w", invalidf("jetstream is required"))
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("open topics: %w", invalidf("replicas %d", cfg.Replicas))
	}
	cfg = cfg.withDefaults()
	kv, err := bus.EnsureKeyValue(ctx, cfg.JetStream, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "gureum topics and subscriptions",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open topics: %w", err)
	}
	group := consumer.NewGroup(consumer.Config{
		JetStream:      cfg.JetStream,
		Name:           "topics",
		Records:        "subscription",
		Item:           "message",
		Logger:         cfg.Logger,
		RetryBase:      cfg.RetryBase,
		RetryMax:       cfg.RetryMax,
		AttemptTimeout: cfg.AttemptTimeout,
		MaxAckPending:  maxAckPending,
		MaxInFlight:    maxInFlight,
	})
	return &Service{cfg: cfg, js: cfg.JetStream, kv: kv, group: group, runners: map[string]*runner{}}, nil
}

// ValidName checks a topic name (and a subscription id): 1 to 64 letters,
// digits, '_' or '-'.
func ValidName(name string) error {
	if name == "" || len(name) > 64 {
		return invalidf("name %q: want 1 to 64 letters, digits, '_' or '-'", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(isAlnum(c) || c == '_' || c == '-') {
			return invalidf("name %q: want 1 to 64 letters, digits, '_' or '-'", name)
		}
	}
	return nil
}

func topicKey(name string) string        { return topicPrefix + name }
func subKey(topic, id string) string     { return subPrefix + topic + "." + id }
func streamName(topic string) string     { return streamPrefix + topic }
func topicSubject(topic string) string   { return subjectPrefix + topic }
func consumerName(id string) string      { return consumerPref + id }
func subSubject(topic, id string) string { return subjectPrefix + topic + ".sub." + id }

// TopicARN is the SNS-style ARN of a topic.
func (s *Service) TopicARN(name string) string {
	return "arn:aws:sns:" + s.cfg.Region + ":" + s.cfg.AccountID + ":" + name
}

// SubscriptionARN is the SNS-style ARN of a subscription.
func (s *Service) SubscriptionARN(topic, id string) string {
	return s.TopicARN(topic) + ":" + id
}

// Ensure creates the topic when it does not exist; app names the
// application that declares it ("" through the API). An existing topic
// keeps its app. Its stream is made sure of either way.
func (s *Service) Ensure(ctx context.Context, name, app string) (created bool, err error) {
	if err := ValidName(name); err != nil {
		return false, fmt.Errorf("ensure topic: %w", err)
	}
	if _, err := s.js.CreateOrUpdateStream(ctx, s.streamConfig(name)); err != nil {
		return false, fmt.Errorf("ensure topic %s: stream: %w", name, err)
	}
	rec := topicRecord{Name: name, App: app, CreatedAt: time.Now().UTC()}
	_, err = s.kv.Create(ctx, topicKey(name), mustJSON(rec))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ensure topic %s: %w", name, err)
	}
	return true, nil
}

func (s *Service) streamConfig(name string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        streamName(name),
		Description: "gureum topic " + name,
		Subjects:    []string{topicSubject(name), subjectPrefix + name + ".sub.*"},
		Retention:   jetstream.InterestPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
		MaxAge:      streamMaxAge,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
	}
}

// Get describes a topic.
func (s *Service) Get(ctx context.Context, name string) (*Info, error) {
	rec, err := s.topic(ctx, name)
	if err != nil {
		return nil, err
	}
	keys, err := s.keys(ctx, subPrefix+name+".*")
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", name, err)
	}
	return s.info(rec, len(keys)), nil
}

// List describes every topic, sorted by name.
func (s *Service) List(ctx context.Context) ([]Info, error) {
	entries, err := s.scan(ctx, topicPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	keys, err := s.keys(ctx, subPrefix+">")
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	count := map[string]int{}
	for _, k := range keys {
		if topic, _, ok := strings.Cut(strings.TrimPrefix(k, subPrefix), "."); ok {
			count[topic]++
		}
	}
	out := make([]Info, 0, len(entries))
	for _, e := range entries {
		var rec topicRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, fmt.Errorf("list topics: decode %s: %w", e.Key(), err)
		}
		out = append(out, *s.info(&rec, count[rec.Name]))
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Service) info(rec *topicRecord, subs int) *Info {
	return &Info{Name: rec.Name, App: rec.App, ARN: s.TopicARN(rec.Name), CreatedAt: rec.CreatedAt, Subscriptions: subs}
}

// Delete removes a topic, its subscriptions and the messages not yet
// delivered.
func (s *Service) Delete(ctx context.Context, name string) error {
	if _, err := s.topic(ctx, name); err != nil {
		return fmt.Errorf("delete topic: %w", err)
	}
	// The record first, so that no new subscription can be made; then the
	// subscriptions (every node stops delivering); then the stream.
	if err := s.kv.Purge(ctx, topicKey(name)); err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	keys, err := s.keys(ctx, subPrefix+name+".*")
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	for _, k := range keys {
		if err := s.kv.Purge(ctx, k); err != nil {
			return fmt.Errorf("delete topic %s: %s: %w", name, k, err)
		}
	}
	if err := s.js.DeleteStream(ctx, streamName(name)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete topic %s: stream: %w", name, err)
	}
	return nil
}

// Subscribe creates a subscription (ID "" generates one) or updates the
// one with sub.ID in place. Messages published after it returns are kept
// for the subscription, whether or not a node delivers yet.
func (s *Service) Subscribe(ctx context.Context, sub Subscription) (*Subscription, error) {
	if sub.ID == "" {
		sub.ID = newUUID()
	}
	if err := s.normalize(&sub); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", sub.Topic, err)
	}
	if _, err := s.topic(ctx, sub.Topic); err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	key := subKey(sub.Topic, sub.ID)
	if e, err := s.kv.Get(ctx, key); err == nil {
		var old Subscription
		if json.Unmarshal(e.Value(), &old) == nil && !old.CreatedAt.IsZero() {
			sub.CreatedAt = old.CreatedAt
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("subscribe to %s: %w", sub.Topic, err)
	}
	if sub.CreatedAt.IsZero() {
		sub.CreatedAt = time.Now().UTC()
	}
	// The consumer before the record: a node that sees the record finds
	// the consumer, and messages are kept from now on.
	if _, err := s.js.CreateOrUpdateConsumer(ctx, streamName(sub.Topic), s.consumerConfig(sub.Topic, sub.ID)); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("subscribe to %s: stream missing (ensure the topic again): %w", sub.Topic, ErrNotFound)
		}
		return nil, fmt.Errorf("subscribe to %s: consumer: %w", sub.Topic, err)
	}
	stored := sub
	stored.ARN = ""
	if _, err := s.kv.Put(ctx, key, mustJSON(stored)); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", sub.Topic, err)
	}
	sub.ARN = s.SubscriptionARN(sub.Topic, sub.ID)
	return &sub, nil
}

func (s *Service) consumerConfig(topic, id string) jetstream.ConsumerConfig {
	// A message waits in a node's buffer for at most one attempt's time
	// before its own attempt starts; twice that and some more before the
	// server gives it to another node.
	ackWait := max(4*s.cfg.AttemptTimeout, 30*time.Second)
	return jetstream.ConsumerConfig{
		Durable:        consumerName(id),
		Description:    "gureum subscription " + topic + "/" + id,
		FilterSubjects: []string{topicSubject(topic), subSubject(topic, id)},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1, // the delivery loop counts attempts and dead-letters
		MaxAckPending:  maxAckPending,
	}
}

// normalize validates sub and fills its defaults.
func (s *Service) normalize(sub *Subscription) error {
	if err := ValidName(sub.Topic); err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	if err := ValidName(sub.ID); err != nil {
		return fmt.Errorf("subscription id: %w", err)
	}
	switch sub.Protocol {
	case ProtocolFunction:
		if err := validFunction(sub.Endpoint); err != nil {
			return err
		}
	case ProtocolQueue:
		if err := ValidName(sub.Endpoint); err != nil {
			return fmt.Errorf("queue endpoint: %w", err)
		}
	case ProtocolHTTP, ProtocolHTTPS:
		u, err := url.Parse(sub.Endpoint)
		if err != nil || u.Scheme != sub.Protocol || u.Host == "" || len(sub.Endpoint) > 2048 {
			return invalidf("%s endpoint %q: want an absolute %s:// URL", sub.Protocol, sub.Endpoint, sub.Protocol)
		}
	default:
		return invalidf("protocol %q: want function, queue, http or https", sub.Protocol)
	}
	if sub.RawDelivery && sub.Protocol == ProtocolFunction {
		return invalidf("raw delivery is for queue, http and https subscriptions; a function receives an SNS event")
	}
	if sub.DLQ != "" {
		if err := ValidName(sub.DLQ); err != nil {
			return fmt.Errorf("dead-letter queue: %w", err)
		}
	}
	switch {
	case sub.MaxAttempts == 0:
		sub.MaxAttempts = DefaultMaxAttempts
	case sub.MaxAttempts < 1 || sub.MaxAttempts > maxMaxAttempts:
		return invalidf("max attempts %d: want 1 to %d", sub.MaxAttempts, maxMaxAttempts)
	}
	scope, err := canonicalScope(sub.FilterScope)
	if err != nil {
		return err
	}
	sub.FilterScope = "" // the default, attributes
	if scope == ScopeBody {
		sub.FilterScope = ScopeBody
	}
	policy := bytes.TrimSpace(sub.FilterPolicy)
	if len(policy) == 0 || string(policy) == "null" {
		sub.FilterPolicy = nil
		return nil
	}
	if _, err := parsePolicy(policy, scope); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, policy); err != nil {
		return invalidf("filter policy: not JSON: %v", err)
	}
	sub.FilterPolicy = buf.Bytes()
	return nil
}

// validFunction accepts "name" or "name:qualifier" (a version or alias).
func validFunction(endpoint string) error {
	name, qualifier, hasQ := strings.Cut(endpoint, ":")
	if err := ValidName(name); err != nil {
		return fmt.Errorf("function endpoint: %w", err)
	}
	if hasQ {
		ok := qualifier != "" && len(qualifier) <= 128
		for i := 0; ok && i < len(qualifier); i++ {
			c := qualifier[i]
			ok = isAlnum(c) || c == '_' || c == '-' || c == '$'
		}
		if !ok {
			return invalidf("function endpoint %q: want name or name:qualifier", endpoint)
		}
	}
	return nil
}

// Unsubscribe removes a subscription and the messages it has not taken yet.
func (s *Service) Unsubscribe(ctx context.Context, topic, id string) error {
	if _, err := s.subscription(ctx, topic, id); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	if err := s.kv.Purge(ctx, subKey(topic, id)); err != nil {
		return fmt.Errorf("unsubscribe %s/%s: %w", topic, id, err)
	}
	err := s.js.DeleteConsumer(ctx, streamName(topic), consumerName(id))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("unsubscribe %s/%s: consumer: %w", topic, id, err)
	}
	return nil
}

// Subscriptions lists a topic's subscriptions, oldest first.
func (s *Service) Subscriptions(ctx context.Context, topic string) ([]Subscription, error) {
	if _, err := s.topic(ctx, topic); err != nil {
		return nil, err
	}
	entries, err := s.scan(ctx, subPrefix+topic+".*")
	if err != nil {
		return nil, fmt.Errorf("topic %s: subscriptions: %w", topic, err)
	}
	out := make([]Subscription, 0, len(entries))
	for _, e := range entries {
		sub, err := s.decodeSub(e.Key(), e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, *sub)
	}
	slices.SortFunc(out, func(a, b Subscription) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Publish stores a message for every subscription of the topic and returns
// its id once JetStream has it.
func (s *Service) Publish(ctx context.Context, topic string, in PublishInput) (messageID string, err error) {
	if err := ValidName(topic); err != nil {
		return "", fmt.Errorf("publish: topic %w", err)
	}
	m := Message{
		Topic:       topic,
		MessageID:   newUUID(),
		Subject:     in.Subject,
		Body:        in.Message,
		Attributes:  in.Attributes,
		Timestamp:   time.Now().UTC().Truncate(time.Millisecond),
		TraceParent: in.TraceParent,
	}
	if err := validateMessage(&m); err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	nm := encodeMessage(topicSubject(topic), &m)
	nm.Header.Set(jetstream.MsgIDHeader, m.MessageID)
	if err := s.publish(ctx, topic, nm); err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	return m.MessageID, nil
}

// Redeliver sends msg (as kept by a dead-letter queue) to one subscription
// only, keeping its id and timestamp. It does not pass the subscription's
// filter policy again: it was delivered to that subscription before.
func (s *Service) Redeliver(ctx context.Context, topic, subID string, msg Message) error {
	if _, err := s.subscription(ctx, topic, subID); err != nil {
		return fmt.Errorf("redeliver: %w", err)
	}
	msg.Topic = topic
	if !validUUID(msg.MessageID) {
		msg.MessageID = newUUID()
	}
	if msg.Timestamp.IsZero() {
		msg.Timestamp = time.Now().UTC().Truncate(time.Millisecond)
	}
	if err := validateMessage(&msg); err != nil {
		return fmt.Errorf("redeliver to %s/%s: %w", topic, subID, err)
	}
	// No Nats-Msg-Id: the original publish may still be in the stream's
	// duplicate window under the same message id.
	if err := s.publish(ctx, topic, encodeMessage(subSubject(topic, subID), &msg)); err != nil {
		return fmt.Errorf("redeliver to %s/%s: %w", topic, subID, err)
	}
	return nil
}

// maxEncoded keeps an encoded message under the server's default maximum
// payload (1 MiB) with room for headers. Only attributes full of control
// characters, which JSON escapes six-fold, come near it.
const maxEncoded = 1<<20 - 16<<10

func (s *Service) publish(ctx context.Context, topic string, nm *nats.Msg) error {
	if len(nm.Data) > maxEncoded {
		return fmt.Errorf("message encodes to %d bytes, at most %d: %w", len(nm.Data), maxEncoded, ErrTooLarge)
	}
	_, err := s.js.PublishMsg(ctx, nm, jetstream.WithExpectStream(streamName(topic)))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		return fmt.Errorf("topic %s: %w", topic, ErrNotFound)
	}
	return err
}

// topic reads a topic record.
func (s *Service) topic(ctx context.Context, name string) (*topicRecord, error) {
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("topic %w", err)
	}
	e, err := s.kv.Get(ctx, topicKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("topic %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", name, err)
	}
	var rec topicRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, fmt.Errorf("topic %s: decode: %w", name, err)
	}
	return &rec, nil
}

// subscription reads a subscription record.
func (s *Service) subscription(ctx context.Context, topic, id string) (*Subscription, error) {
	if err := ValidName(topic); err != nil {
		return nil, fmt.Errorf("topic %w", err)
	}
	if err := ValidName(id); err != nil {
		return nil, fmt.Errorf("subscription %w", err)
	}
	e, err := s.kv.Get(ctx, subKey(topic, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("subscription %s/%s: %w", topic, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("subscription %s/%s: %w", topic, id, err)
	}
	return s.decodeSub(e.Key(), e.Value())
}

func (s *Service) decodeSub(key string, value []byte) (*Subscription, error) {
	var sub Subscription
	if err := json.Unmarshal(value, &sub); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	sub.ARN = s.SubscriptionARN(sub.Topic, sub.ID)
	return &sub, nil
}

// scan returns the current entries under a key filter in one pass.
func (s *Service) scan(ctx context.Context, filter string) ([]jetstream.KeyValueEntry, error) {
	return bus.Scan(ctx, s.kv, filter)
}

// keys lists the keys under a filter.
func (s *Service) keys(ctx context.Context, filter string) ([]string, error) {
	return bus.Keys(ctx, s.kv, filter)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("topic: encode %T: %v", v, err)) // plain data: cannot happen
	}
	return b
}
