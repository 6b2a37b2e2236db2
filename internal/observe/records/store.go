package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// Stream holds the records, in batches of JSON lines.
	Stream = "GUREUM_RECORDS"
	// SubjectPrefix starts a batch's subject: the prefix, the function's
	// token (see doc.go), then ".ok" or ".err".
	SubjectPrefix = "gureum.rec."
	// IndexStream maps request ids to the batch that holds their record.
	IndexStream = "GUREUM_RECORD_IDS"
	// IndexSubjectPrefix starts an index entry's subject: the prefix and
	// the request id's token.
	IndexSubjectPrefix = "gureum.recid."

	// FlushInterval is the longest a record waits in memory.
	FlushInterval = 50 * time.Millisecond

	// flushRecords wakes the flusher early once this many records wait.
	flushRecords = 1024
	// maxMessage ends a batch message once it is this large.
	maxMessage = 128 << 10
	// publishTimeout bounds one flush's wait for JetStream's acknowledgements.
	publishTimeout = 10 * time.Second
	// maxToken is the longest name used as a subject token as it is; longer
	// names (and names with other characters) are hashed.
	maxToken = 128
)

// Errors; match with errors.Is.
var (
	ErrNotFound      = errors.New("invocation record not found")
	ErrInvalidConfig = errors.New("invalid records config")
	ErrInvalidQuery  = errors.New("invalid records query")
)

// Config configures the record store. The zero value is usable.
type Config struct {
	// Replicas of the streams; 0 means 1.
	Replicas int
	// Retention is how long records are kept; 0 means 7 days.
	Retention time.Duration
	// IndexTTL is how long Get finds a record by its request id alone;
	// 0 means 1 hour, and it is at most Retention. Each indexed request id
	// costs the server some memory while it is kept (see doc.go).
	IndexTTL time.Duration
	// NoIndex writes no request id index, saving the server one stored
	// message per record; Get then scans the records stored in the last
	// IndexTTL instead.
	NoIndex bool
	// Buffer is the most records held in memory awaiting a flush; Append
	// drops (and counts) records beyond it. 0 means 65536.
	Buffer int
	// Node is written into records that name no node.
	Node string
}

// Defaults of Config.
const (
	DefaultRetention = 7 * 24 * time.Hour
	DefaultIndexTTL  = time.Hour
	DefaultBuffer    = 1 << 16
)

func (c Config) withDefaults() (Config, error) {
	if c.Replicas < 0 || c.Retention < 0 || c.IndexTTL < 0 || c.Buffer < 0 {
		return c, fmt.Errorf("%w: negative replicas, retention, index ttl or buffer", ErrInvalidConfig)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.IndexTTL == 0 {
		c.IndexTTL = DefaultIndexTTL
	}
	c.IndexTTL = min(c.IndexTTL, c.Retention)
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	return c, nil
}

// Stats counts what became of appended records.
type Stats struct {
	Appended uint64 // accepted into the buffer
	Stored   uint64 // acknowledged by JetStream
	// Dropped were lost: the buffer was full, the store shut down, the
	// record could not be encoded, or JetStream did not acknowledge it.
	Dropped uint64
}

// Store writes and reads invocation records. Create it with Open and stop it
// with Shutdown.
type Store struct {
	cfg  Config
	nc   *nats.Conn
	js   jetstream.JetStream
	recs jetstream.Stream
	ids  jetstream.Stream

	mu      sync.Mutex
	pending []Record // appended, not yet taken by a flush
	closed  bool
	stats   Stats

	flushMu sync.Mutex // one flush at a time; guards spare
	spare   []Record   // the previous flush's slice, reused for pending

	kick      chan struct{} // wakes the flusher early
	stop      chan struct{}
	done      chan struct{}
	runCtx    context.Context // ends when Shutdown stops waiting
	cancelRun context.CancelFunc
	stopOnce  sync.Once
}

// Open creates (or updates) the record streams and starts the flusher.
func Open(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open records: %w", err)
	}
	recs, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "gureum invocation records",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.Retention,
		Replicas:    cfg.Replicas,
		Discard:     jetstream.DiscardOld,
		MaxMsgSize:  1 << 20,
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open records: create stream %s: %w", Stream, err)
	}
	var ids jetstream.Stream
	if !cfg.NoIndex {
		ids, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:              IndexStream,
			Description:       "gureum invocation records by request id",
			Subjects:          []string{IndexSubjectPrefix + "*"},
			Storage:           jetstream.FileStorage,
			MaxAge:            cfg.IndexTTL,
			MaxMsgsPerSubject: 1,
			Replicas:          cfg.Replicas,
			Discard:           jetstream.DiscardOld,
			MaxMsgSize:        1 << 10,
			AllowDirect:       true,
		})
		if err != nil {
			return nil, fmt.Errorf("open records: create stream %s: %w", IndexStream, err)
		}
	}
	s := &Store{
		cfg: cfg, nc: nc, js: js, recs: recs, ids: ids,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Append queues r for storage. It never blocks: when the buffer is full, or
// after Shutdown, r is dropped and counted (Stats). A zero Start becomes now.
func (s *Store) Append(r Record) {
	if r.Start.IsZero() {
		r.Start = time.Now()
	}
	s.mu.Lock()
	if s.closed || len(s.pending) >= s.cfg.Buffer {
		s.stats.Dropped++
		s.mu.Unlock()
		return
	}
	s.pending = append(s.pending, r)
	s.stats.Appended++
	n := len(s.pending)
	s.mu.Unlock()
	if n >= flushRecords {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Stats returns the counters so far.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// run is the flusher goroutine.
func (s *Store) run() {
	defer close(s.done)
	defer s.cancelRun()
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.Flush()
			return
		case <-t.C:
			s.Flush()
		case <-s.kick:
			s.Flush()
		}
	}
}

// Flush stores what is buffered now and returns once JetStream has
// acknowledged it (or failed to, within 10 s); Get and Query see the
// records afterwards.
func (s *Store) Flush() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	batch := s.pending
	s.pending, s.spare = s.spare, nil
	s.mu.Unlock()
	if len(batch) == 0 {
		s.spare = batch
		return
	}
	s.store(batch)
	clear(batch)
	if cap(batch) > 4*flushRecords {
		batch = nil // do not keep a burst's memory
	}
	s.spare = batch[:0]
}

// group is where a batch message goes: one function, ok or failed records.
type group struct {
	function string
	failed   bool
}

// message is one batch message being built.
type message struct {
	subject string
	data    []byte
	keys    []string // index keys of its records ("" for no request id)
}

// store publishes records in batch messages, one or more per function and
// outcome class, waits for the acknowledgements, then writes the request id
// index.
func (s *Store) store(batch []Record) {
	var dropped, stored uint64
	defer func() {
		s.mu.Lock()
		s.stats.Dropped += dropped
		s.stats.Stored += stored
		s.mu.Unlock()
	}()

	current := make(map[group]*message)
	var order []*message
	for i := range batch {
		r := &batch[i]
		if r.Node == "" {
			r.Node = s.cfg.Node
		}
		if !normalize(r) {
			dropped++
			continue
		}
		g := group{r.Function, r.Failed()}
		m := current[g]
		if m == nil || len(m.data) >= maxMessage {
			m = &message{subject: recordSubject(r.Function, g.failed)}
			current[g] = m
			order = append(order, m)
		}
		m.data = appendRecord(m.data, r)
		m.data = append(m.data, '\n')
		m.keys = append(m.keys, indexKey(r.RequestID))
	}

	ctx, cancel := context.WithTimeout(s.runCtx, publishTimeout)
	defer cancel()
	type sent struct {
		f jetstream.PubAckFuture
		m *message
	}
	futures := make([]sent, 0, len(order))
	for _, m := range order {
		f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: m.subject, Data: m.data})
		if err != nil {
			dropped += uint64(len(m.keys))
			continue
		}
		futures = append(futures, sent{f, m})
	}
	var index []indexEntry
	for _, p := range futures {
		select {
		case ack := <-p.f.Ok():
			stored += uint64(len(p.m.keys))
			for _, k := range p.m.keys {
				if k != "" && !s.cfg.NoIndex {
					index = append(index, indexEntry{IndexSubjectPrefix + k, ack.Sequence})
				}
			}
		case <-p.f.Err():
			dropped += uint64(len(p.m.keys))
		case <-ctx.Done():
			dropped += uint64(len(p.m.keys))
		}
	}
	s.writeIndex(ctx, index)
}

// indexEntry points a request id's subject at a batch message.
type indexEntry struct {
	subject string
	seq     uint64
}

// writeIndex publishes one index entry per record, the value being the
// sequence of the batch message that holds it. All but the last go out as
// plain publishes (no round trip each); the last is acknowledged, and since
// one connection's messages to one stream are stored in order, its
// acknowledgement means the whole index of this flush is stored. The index
// is best effort: a lost entry only makes Get miss that record.
func (s *Store) writeIndex(ctx context.Context, index []indexEntry) {
	if len(index) == 0 {
		return
	}
	var num [20]byte
	for _, e := range index[:len(index)-1] {
		// nats.Conn.Publish copies the data into its buffer.
		_ = s.nc.Publish(e.subject, strconv.AppendUint(num[:0], e.seq, 10))
	}
	e := index[len(index)-1]
	f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: e.subject, Data: strconv.AppendUint(nil, e.seq, 10)})
	if err != nil {
		return
	}
	select {
	case <-f.Ok():
	case <-f.Err():
	case <-ctx.Done():
	}
}

// Shutdown stores what is buffered and stops the flusher; Appends after it
// are dropped. If ctx ends first, the publishes in flight are abandoned and
// ctx's error returned. Idempotent. Query and Get keep working.
func (s *Store) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cancelRun()
		<-s.done
		return fmt.Errorf("shut down records: %w", ctx.Err())
	}
}

// recordSubject is the subject of a batch of fn's records.
func recordSubject(fn string, failed bool) string {
	if failed {
		return SubjectPrefix + token(fn) + ".err"
	}
	return SubjectPrefix + token(fn) + ".ok"
}

// indexKey is the index token of a request id; "" for none.
func indexKey(requestID string) string {
	if requestID == "" {
		return ""
	}
	return token(requestID)
}

// token turns a name into one subject token: the name itself when it is 1
// to maxToken letters, digits, '-' and '_' (every function name and request
// id gureum makes), "=" for the empty name, else "=" and 24 hex digits of
// its SHA-256. '=' never occurs in the first form, so forms cannot collide.
func token(s string) string {
	if s == "" {
		return "="
	}
	if len(s) <= maxToken && plain(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "=" + hex.EncodeToString(sum[:12])
}

func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
