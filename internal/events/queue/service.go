package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus"
)

// Storage layout (see doc.go):
//
//	KV bucket gureum_queues      key = queue name, value = definition (JSON)
//	stream GQ_<name>             gureum.q.<name> (visible), gureum.qd.<name>.<id> (delayed)
//	consumer GQ_<name> > gureum  the one shared durable pull consumer of the queue
const (
	// Bucket holds the queue definitions.
	Bucket = "gureum_queues"

	streamPrefix  = "GQ_"
	subjectPrefix = "gureum.q."
	delayedPrefix = "gureum.qd."
	consumerName  = "gureum"

	// maxInFlight is the consumer's MaxAckPending: SQS's in-flight limit of
	// a standard queue.
	maxInFlight = 120_000
	// maxWaiting bounds the pull requests (receivers) waiting at once.
	maxWaiting = 4096
	// headerRoom is added to twice the queue's message size for the stream's
	// own size limit: Send checks SQS's size exactly, and the header form of
	// attributes (JSON, base64 for binary values) is at most twice as long.
	headerRoom = 16 << 10
	// dupWindow is the stream's duplicate window for Nats-Msg-Id.
	dupWindow = 2 * time.Minute
	// requestTimeout bounds a server round trip when ctx has no deadline.
	requestTimeout = 10 * time.Second
)

func streamName(queue string) string     { return streamPrefix + queue }
func visibleSubject(queue string) string { return subjectPrefix + queue }
func delayedSubject(queue, id string) string {
	return delayedPrefix + queue + "." + id
}

// Config configures a Service.
type Config struct {
	// Replicas of the bucket, streams and consumers; 0 means 1.
	Replicas int
	// Region and AccountID go into queue ARNs; defaults "local" and
	// "000000000000".
	Region, AccountID string
	// Logger receives what the service handles on its own (failed
	// dead-letter moves, trigger fetch errors); nil discards.
	Logger *slog.Logger
}

// Info describes a queue. The counts and OldestAge are approximate (see
// Get).
type Info struct {
	Name, App  string
	Attributes Attributes
	CreatedAt  time.Time
	Visible    int
	InFlight   int
	Delayed    int
	OldestAge  time.Duration
	ARN        string
}

// definition is a queue as stored in the bucket.
type definition struct {
	Name       string         `json:"name"`
	App        string         `json:"app,omitempty"`
	Attributes wireAttributes `json:"attributes"`
	CreatedAt  time.Time      `json:"createdAt"`
}

// wireAttributes are Attributes with durations in Go's text form ("30s").
type wireAttributes struct {
	Visibility      string `json:"visibility"`
	Retention       string `json:"retention"`
	Delay           string `json:"delay,omitempty"`
	MaxReceives     int    `json:"maxReceives,omitempty"`
	DLQ             string `json:"dlq,omitempty"`
	MaxMessageBytes int    `json:"maxMessageBytes"`
}

func toWire(a Attributes) wireAttributes {
	w := wireAttributes{
		Visibility: a.Visibility.String(), Retention: a.Retention.String(),
		MaxReceives: a.MaxReceives, DLQ: a.DLQ, MaxMessageBytes: a.MaxMessageBytes,
	}
	if a.Delay != 0 {
		w.Delay = a.Delay.String()
	}
	return w
}

func fromWire(w wireAttributes) (Attributes, error) {
	a := Attributes{MaxReceives: w.MaxReceives, DLQ: w.DLQ, MaxMessageBytes: w.MaxMessageBytes}
	for _, f := range []struct {
		dst *time.Duration
		src string
	}{{&a.Visibility, w.Visibility}, {&a.Retention, w.Retention}, {&a.Delay, w.Delay}} {
		if f.src == "" {
			continue
		}
		d, err := time.ParseDuration(f.src)
		if err != nil {
			return Attributes{}, fmt.Errorf("duration %q: %w", f.src, ErrInvalid)
		}
		*f.dst = d
	}
	return a, a.Validate()
}

// queueDef is a decoded definition and its bucket revision.
type queueDef struct {
	name, app string
	attrs     Attributes
	createdAt time.Time
	rev       uint64
}

func decodeDefinition(key string, value []byte, rev uint64) (*queueDef, error) {
	var d definition
	if err := json.Unmarshal(value, &d); err != nil {
		return nil, fmt.Errorf("queue definition %s: %w", key, err)
	}
	attrs, err := fromWire(d.Attributes)
	if err != nil {
		return nil, fmt.Errorf("queue definition %s: %w", key, err)
	}
	return &queueDef{name: key, app: d.App, attrs: attrs, createdAt: d.CreatedAt, rev: rev}, nil
}

// handles are the JetStream handles of one queue, looked up once.
type handles struct {
	stream jetstream.Stream
	cons   jetstream.Consumer
}

// Service manages queues and their messages on one JetStream. Every node
// sharing the JetStream sees the same queues. Create it with Open and stop
// it with Shutdown.
type Service struct {
	js  jetstream.JetStream
	nc  *nats.Conn
	api string // JetStream API subject prefix, with the trailing dot
	kv  jetstream.KeyValue
	cfg Config
	log *slog.Logger

	// ctx ends with Shutdown; long polls and trigger fetches use it.
	ctx       context.Context
	cancel    context.CancelFunc
	watcher   jetstream.KeyWatcher
	watchDone chan struct{}

	mu       sync.Mutex
	defs     map[string]*queueDef // cache of the bucket, kept by the watcher
	handles  map[string]*handles
	triggers map[*Trigger]struct{}
	closed   bool

	shutdownOnce sync.Once
	shutdownErr  error
}

// Open creates the definitions bucket when missing and starts watching it.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Service, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("open queues: replicas %d: %w", cfg.Replicas, ErrInvalid)
	}
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := bus.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "gureum queue definitions", History: 1,
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open queues: %w", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		js: js, nc: js.Conn(), api: apiPrefix(js), kv: kv, cfg: cfg, log: log.With("component", "queue"),
		ctx: sctx, cancel: cancel, watchDone: make(chan struct{}),
		defs: map[string]*queueDef{}, handles: map[string]*handles{}, triggers: map[*Trigger]struct{}{},
	}
	w, err := kv.WatchAll(sctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open queues: watch %s: %w", Bucket, err)
	}
	s.watcher = w
	ready := make(chan struct{})
	go s.watch(ready)
	select {
	case <-ready:
		return s, nil
	case <-ctx.Done():
		_ = w.Stop()
		cancel()
		<-s.watchDone
		return nil, fmt.Errorf("open queues: read definitions: %w", ctx.Err())
	}
}

// watch keeps s.defs equal to the bucket. ready closes once the initial
// values are in.
func (s *Service) watch(ready chan struct{}) {
	defer close(s.watchDone)
	initial := true
	for e := range s.watcher.Updates() {
		if e == nil {
			if initial {
				initial = false
				close(ready)
			}
			continue
		}
		name := e.Key()
		if e.Operation() != jetstream.KeyValuePut {
			s.forget(name, e.Revision())
			continue
		}
		d, err := decodeDefinition(name, e.Value(), e.Revision())
		if err != nil {
			s.log.Warn("ignore queue definition", "queue", name, "err", err)
			continue
		}
		s.remember(d)
	}
	if initial {
		close(ready)
	}
}

// remember caches d unless a newer revision is cached.
func (s *Service) remember(d *queueDef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.defs[d.name]; ok && old.rev > d.rev {
		return
	}
	s.defs[d.name] = d
}

// forget drops the cached definition of a deleted queue.
func (s *Service) forget(name string, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.defs[name]; ok && old.rev > rev {
		return
	}
	delete(s.defs, name)
	delete(s.handles, name)
}

// lookup returns a queue's definition: from the cache, or from the bucket
// when another node created the queue a moment ago.
func (s *Service) lookup(ctx context.Context, name string) (*queueDef, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	d, ok := s.defs[name]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	return s.load(ctx, name)
}

// load reads a definition from the bucket and caches it.
func (s *Service) load(ctx context.Context, name string) (*queueDef, error) {
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("queue %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("queue %s: read definition: %w", name, err)
	}
	d, err := decodeDefinition(name, e.Value(), e.Revision())
	if err != nil {
		return nil, err
	}
	s.remember(d)
	return d, nil
}

// queueHandles returns the stream and consumer handles of a queue.
func (s *Service) queueHandles(ctx context.Context, name string) (*handles, error) {
	s.mu.Lock()
	h, ok := s.handles[name]
	s.mu.Unlock()
	if ok {
		return h, nil
	}
	st, err := s.js.Stream(ctx, streamName(name))
	if err != nil {
		return nil, notFound(name, err)
	}
	cons, err := st.Consumer(ctx, consumerName)
	if err != nil {
		return nil, notFound(name, err)
	}
	h = &handles{stream: st, cons: cons}
	s.mu.Lock()
	s.handles[name] = h
	s.mu.Unlock()
	return h, nil
}

// notFound maps JetStream's "no such stream or consumer" to ErrNotFound.
func notFound(name string, err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("queue %s: %w", name, ErrNotFound)
	}
	return fmt.Errorf("queue %s: %w", name, err)
}

func (s *Service) streamConfig(name string, a Attributes) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              streamName(name),
		Description:       "gureum queue " + name,
		Subjects:          []string{visibleSubject(name), delayedPrefix + name + ".>"},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          s.cfg.Replicas,
		MaxAge:            a.Retention,
		MaxMsgSize:        int32(2*a.MaxMessageBytes + headerRoom),
		Duplicates:        min(dupWindow, a.Retention),
		Discard:           jetstream.DiscardOld,
		AllowMsgSchedules: true,
		AllowRollup:       true, // required by message schedules
	}
}

func consumerConfig(name string, a Attributes) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       consumerName,
		Description:   "gureum queue " + name + " receivers",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait(a.Visibility),
		MaxDeliver:    -1,
		MaxAckPending: maxInFlight,
		MaxWaiting:    maxWaiting,
		FilterSubject: visibleSubject(name),
	}
}

// ackWait is the consumer's AckWait for a visibility timeout. JetStream
// has no zero ack wait (0 means its 30 s default), so a visibility of 0
// is served as one second.
func ackWait(visibility time.Duration) time.Duration {
	return max(visibility, time.Second)
}

// Ensure creates a queue, or updates the attributes of an existing one.
// The dead-letter queue must exist. A queue of one app is not taken over by
// another: Ensure then fails with ErrExists (an empty app matches any).
func (s *Service) Ensure(ctx context.Context, name, app string, attrs Attributes) (created bool, err error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	if err := ValidName(name); err != nil {
		return false, err
	}
	if err := attrs.Validate(); err != nil {
		return false, fmt.Errorf("queue %s: %w", name, err)
	}
	if attrs.DLQ != "" {
		if attrs.DLQ == name {
			return false, fmt.Errorf("queue %s: the dead-letter queue must be another queue: %w", name, ErrInvalid)
		}
		if _, err := s.load(ctx, attrs.DLQ); err != nil {
			if errors.Is(err, ErrNotFound) {
				return false, fmt.Errorf("queue %s: dead-letter queue %s does not exist; create it first: %w", name, attrs.DLQ, ErrInvalid)
			}
			return false, err
		}
	}
	for attempt := 0; ; attempt++ {
		created, err = s.ensureOnce(ctx, name, app, attrs)
		// A concurrent Ensure of the same queue won the compare-and-set; read
		// its result and try again.
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongLastSequence(err) || attempt == 10 {
			return created, err
		}
	}
}

func (s *Service) ensureOnce(ctx context.Context, name, app string, attrs Attributes) (bool, error) {
	var existing *queueDef
	e, err := s.kv.Get(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return false, fmt.Errorf("queue %s: read definition: %w", name, err)
	default:
		if existing, err = decodeDefinition(name, e.Value(), e.Revision()); err != nil {
			existing = &queueDef{name: name, rev: e.Revision()} // overwrite a damaged definition
		}
	}
	if existing != nil && existing.app != "" && app != "" && existing.app != app {
		return false, fmt.Errorf("queue %s belongs to app %s, not %s: %w", name, existing.app, app, ErrExists)
	}
	// Stream and consumer first: a definition in the bucket means a usable
	// queue. Ensure again repairs a queue whose stream is missing.
	st, err := s.js.CreateOrUpdateStream(ctx, s.streamConfig(name, attrs))
	if err != nil {
		return false, fmt.Errorf("queue %s: stream: %w", name, err)
	}
	if _, err := st.CreateOrUpdateConsumer(ctx, consumerConfig(name, attrs)); err != nil {
		return false, fmt.Errorf("queue %s: consumer: %w", name, err)
	}
	def := definition{Name: name, App: app, Attributes: toWire(attrs), CreatedAt: time.Now().UTC()}
	if existing != nil {
		if app == "" {
			def.App = existing.app
		}
		if !existing.createdAt.IsZero() {
			def.CreatedAt = existing.createdAt
		}
		if existing.app == def.App && existing.attrs == attrs && !existing.createdAt.IsZero() {
			return false, nil
		}
	}
	value, err := json.Marshal(def)
	if err != nil {
		return false, fmt.Errorf("queue %s: encode definition: %w", name, err)
	}
	var rev uint64
	if existing == nil {
		rev, err = s.kv.Create(ctx, name, value)
	} else {
		rev, err = s.kv.Update(ctx, name, value, existing.rev)
	}
	if err != nil {
		return false, fmt.Errorf("queue %s: write definition: %w", name, err)
	}
	s.remember(&queueDef{name: name, app: def.App, attrs: attrs, createdAt: def.CreatedAt, rev: rev})
	return existing == nil, nil
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Get describes a queue with its message counts. Visible and InFlight come
// from the consumer (messages on the visible subject not delivered, or
// delivered and not yet deleted; a message whose visibility timeout ended
// counts as in flight until it is received again), Delayed is every other
// message of the stream, and OldestAge is the age of the first message on
// the visible subject, from its sent time. The figures are read one after
// another, not as one snapshot.
func (s *Service) Get(ctx context.Context, name string) (*Info, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	d, err := s.load(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.info(ctx, d)
}

func (s *Service) info(ctx context.Context, d *queueDef) (*Info, error) {
	info := &Info{
		Name: d.name, App: d.app, Attributes: d.attrs, CreatedAt: d.createdAt,
		ARN: s.arn(d.name),
	}
	h, err := s.queueHandles(ctx, d.name)
	if err != nil {
		return nil, err
	}
	subj := visibleSubject(d.name)
	si, err := h.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return nil, notFound(d.name, err)
	}
	ci, err := h.cons.Info(ctx)
	if err != nil {
		return nil, notFound(d.name, err)
	}
	onVisible := int(si.State.Subjects[subj])
	info.InFlight = min(ci.NumAckPending, onVisible)
	info.Visible = onVisible - info.InFlight
	info.Delayed = max(0, int(si.State.Msgs)-onVisible)
	if onVisible > 0 {
		m, err := h.stream.GetMsg(ctx, si.State.FirstSeq, jetstream.WithGetMsgSubject(subj))
		if err == nil {
			sent := m.Time
			if t, err := time.Parse(time.RFC3339Nano, m.Header.Get(headerSentAt)); err == nil {
				sent = t
			}
			info.OldestAge = max(0, time.Since(sent))
		}
	}
	return info, nil
}

func (s *Service) arn(name string) string {
	return "arn:aws:sqs:" + s.cfg.Region + ":" + s.cfg.AccountID + ":" + name
}

// List describes every queue, by name.
func (s *Service) List(ctx context.Context) ([]Info, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	var names []string
	for k := range lister.Keys() {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]Info, 0, len(names))
	for _, name := range names {
		info, err := s.Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		out = append(out, *info)
	}
	return out, nil
}

// Delete removes a queue: its stream (messages and consumer), then its
// definition. Queues naming it as their dead-letter queue keep failed
// messages until it exists again.
func (s *Service) Delete(ctx context.Context, name string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := ValidName(name); err != nil {
		return err
	}
	if _, err := s.load(ctx, name); err != nil {
		return err
	}
	if err := s.js.DeleteStream(ctx, streamName(name)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete queue %s: stream: %w", name, err)
	}
	if err := s.kv.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete queue %s: definition: %w", name, err)
	}
	s.mu.Lock()
	delete(s.defs, name)
	delete(s.handles, name)
	s.mu.Unlock()
	return nil
}

func (s *Service) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// Shutdown stops every trigger (batches in flight finish within ctx), ends
// long polls and stops watching definitions. Calling it again returns the
// first call's result.
func (s *Service) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Service) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	triggers := make([]*Trigger, 0, len(s.triggers))
	for t := range s.triggers {
		triggers = append(triggers, t)
	}
	s.mu.Unlock()
	var errs []error
	for _, t := range triggers {
		if err := t.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("trigger on %s: %w", t.queue, err))
		}
	}
	s.cancel()
	_ = s.watcher.Stop()
	select {
	case <-s.watchDone:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stop watching definitions: %w", ctx.Err()))
	}
	if len(errs) > 0 {
		return fmt.Errorf("shutdown queues: %w", errors.Join(errs...))
	}
	return nil
}

// withTimeout gives ctx a deadline when it has none, so that a request the
// server never answers ends.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, requestTimeout)
}

// joinCancel returns a context that ends with ctx or with the service.
func (s *Service) joinCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return c, func() { stop(); cancel() }
}
