// Package observe holds what a node records about invocations: function logs
// (and, later, invocation records, metrics, traces and the billing meter).
//
// Function logs are batched per function and published to the JetStream stream
// GUREUM_LOGS, one message per batch of JSON lines, so the warm invocation path
// pays for an append to a memory buffer rather than a store write. A batch is
// flushed every FlushInterval or when it reaches FlushBytes; a node that dies
// loses at most the last unflushed interval of log lines (never events).
package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gureum/gureum/internal/jsontext"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	logStream     = "GUREUM_LOGS"
	logSubjectPre = "gureum.logs."
	// FlushInterval is the longest a log line waits in memory.
	FlushInterval = 50 * time.Millisecond
	// FlushBytes flushes a function's batch early once it is this large.
	FlushBytes = 64 << 10
	// maxLine caps one stored log line; longer lines are cut and marked.
	maxLine = 16 << 10
)

// Entry is one log line of one function.
type Entry struct {
	Time      time.Time `json:"time"`
	Function  string    `json:"function"`
	Version   string    `json:"version,omitempty"`
	RequestID string    `json:"requestId,omitempty"`
	Message   string    `json:"message"`
}

// LogsConfig configures the log store.
type LogsConfig struct {
	Retention time.Duration // how long lines are kept; 0 = 7 days
	Replicas  int
}

// Logs stores and reads function logs.
type Logs struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	mu      sync.Mutex
	pending map[string]*bytes.Buffer // function -> JSON lines not yet published
	closed  bool

	writers sync.Pool
	stop    chan struct{}
	done    chan struct{}
}

// OpenLogs creates (or updates) the log stream and starts the flusher.
func OpenLogs(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, cfg LogsConfig) (*Logs, error) {
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       logStream,
		Subjects:   []string{logSubjectPre + ">"},
		Storage:    jetstream.FileStorage,
		MaxAge:     cfg.Retention,
		Replicas:   cfg.Replicas,
		Discard:    jetstream.DiscardOld,
		MaxMsgSize: 1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("create log stream: %w", err)
	}
	l := &Logs{
		nc: nc, js: js, stream: st,
		pending: make(map[string]*bytes.Buffer),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	l.writers.New = func() any { return &InvocationLog{logs: l} }
	go l.flushLoop()
	return l, nil
}

func (l *Logs) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			l.Flush()
			return
		case <-t.C:
			l.Flush()
		}
	}
}

// Append queues one entry.
func (l *Logs) Append(e Entry) {
	l.appendLine(e.Function, appendEntry(nil, e.Time, e.Function, e.Version, e.RequestID, e.Message))
}

// appendLine queues one JSON line of fn. line is copied.
func (l *Logs) appendLine(fn string, line []byte) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	buf := l.pending[fn]
	if buf == nil {
		buf = new(bytes.Buffer)
		l.pending[fn] = buf
	}
	buf.Write(line)
	buf.WriteByte('\n')
	var full []byte
	if buf.Len() >= FlushBytes {
		full = bytes.Clone(buf.Bytes())
		buf.Reset()
	}
	l.mu.Unlock()
	if full != nil {
		l.publish(fn, full)
	}
}

// appendEntry appends the JSON of an Entry to b, as json.Marshal writes it,
// with the message cut at maxLine bytes. The warm invocation path writes at
// least one line per invocation (REPORT), so this avoids reflection and the
// intermediate string of the message.
func appendEntry[M []byte | string](b []byte, t time.Time, fn, version, requestID string, msg M) []byte {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","function":`...)
	b = jsontext.AppendStringHTML(b, fn)
	if version != "" {
		b = append(b, `,"version":`...)
		b = jsontext.AppendStringHTML(b, version)
	}
	if requestID != "" {
		b = append(b, `,"requestId":`...)
		b = jsontext.AppendStringHTML(b, requestID)
	}
	b = append(b, `,"message":`...)
	if len(msg) > maxLine {
		b = jsontext.AppendStringHTML(b, string(msg[:maxLine])+truncated)
	} else {
		b = jsontext.AppendStringHTML(b, msg)
	}
	return append(b, '}')
}

// truncated ends a message cut at maxLine.
const truncated = " …[truncated]"

// Flush publishes every pending batch.
func (l *Logs) Flush() {
	l.mu.Lock()
	batches := make(map[string][]byte, len(l.pending))
	for fn, buf := range l.pending {
		if buf.Len() > 0 {
			batches[fn] = bytes.Clone(buf.Bytes())
			buf.Reset()
		}
	}
	l.mu.Unlock()
	for fn, b := range batches {
		l.publish(fn, b)
	}
}

func (l *Logs) publish(fn string, batch []byte) {
	// Core publish into the stream's subject: JetStream stores it without a
	// round trip on this goroutine. Log lines are best effort by design.
	_ = l.nc.Publish(logSubjectPre+fn, batch)
}

// Shutdown flushes what is pending and stops the flusher. Idempotent.
func (l *Logs) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	select {
	case <-l.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := l.nc.FlushWithContext(ctx); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("flush logs: %w", err)
	}
	return nil
}

// Query selects log entries of one function.
type Query struct {
	Since     time.Time // zero: the last hour
	RequestID string    // only this request's lines
	Limit     int       // the most recent Limit lines; 0 = 1000
}

// Read returns the most recent entries of fn matching q, oldest first.
func (l *Logs) Read(ctx context.Context, fn string, q Query) ([]Entry, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var out []Entry
	err := l.scan(ctx, fn, q, false, func(e Entry) error {
		out = append(out, e)
		if len(out) > q.Limit {
			out = out[len(out)-q.Limit:]
		}
		return nil
	})
	return out, err
}

// Follow calls fn for every entry matching q, first the stored ones and then
// new ones as they arrive, until ctx ends or fn returns an error.
func (l *Logs) Follow(ctx context.Context, function string, q Query, fn func(Entry) error) error {
	return l.scan(ctx, function, q, true, fn)
}

func (l *Logs) scan(ctx context.Context, fn string, q Query, follow bool, each func(Entry) error) error {
	since := q.Since
	if since.IsZero() {
		since = time.Now().Add(-time.Hour)
	}
	// Batches carry lines written up to FlushInterval before they were stored.
	start := since.Add(-2 * FlushInterval)
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{logSubjectPre + fn},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return fmt.Errorf("read logs of %s: %w", fn, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read logs of %s: %w", fn, err)
	}
	remaining := info.NumPending
	if !follow && remaining == 0 {
		return nil
	}
	for {
		if !follow && remaining == 0 {
			return nil
		}
		wait := time.Second
		if follow {
			wait = 30 * time.Second
		}
		// The wait ends with ctx too, so a follower stops as soon as its
		// caller goes (or the node shuts down).
		nctx, cancel := context.WithTimeout(ctx, wait)
		msg, err := cons.Next(jetstream.FetchContext(nctx))
		waited := nctx.Err() != nil
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				if follow {
					return nil
				}
				return ctx.Err()
			}
			if waited || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				if follow {
					continue
				}
				return nil
			}
			return fmt.Errorf("read logs of %s: %w", fn, err)
		}
		if md, err := msg.Metadata(); err == nil {
			remaining = md.NumPending
		}
		for _, line := range bytes.Split(msg.Data(), []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			var e Entry
			if json.Unmarshal(line, &e) != nil {
				continue
			}
			if e.Time.Before(since) || (q.RequestID != "" && e.RequestID != q.RequestID) {
				continue
			}
			if err := each(e); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// Writer returns the log of one invocation: an io.Writer that turns the
// instance's output into entries, one per line. Close it when the invocation
// ends. keepTail keeps the output for the caller (Tail).
func (l *Logs) Writer(fn, version, requestID string, keepTail bool) *InvocationLog {
	w := l.writers.Get().(*InvocationLog)
	w.fn, w.version, w.rid, w.keep = fn, version, requestID, keepTail
	return w
}

// InvocationLog is the output of one invocation. It is not safe for
// concurrent use; an instance serves one invocation at a time.
type InvocationLog struct {
	logs    *Logs
	fn      string
	version string
	rid     string
	keep    bool
	partial []byte
	tail    []byte
	line    []byte // the entry being written
}

// Write splits p into lines and stores each complete one.
func (w *InvocationLog) Write(p []byte) (int, error) {
	if w.keep {
		w.tail = append(w.tail, p...)
	}
	data := p
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			w.partial = append(w.partial, data...)
			if len(w.partial) > maxLine {
				w.emit(w.partial)
				w.partial = w.partial[:0]
			}
			break
		}
		if len(w.partial) > 0 {
			w.partial = append(w.partial, data[:i]...)
			w.emit(w.partial)
			w.partial = w.partial[:0]
		} else {
			w.emit(data[:i])
		}
		data = data[i+1:]
	}
	return len(p), nil
}

// Printf writes a platform line (START, END, REPORT) into the invocation's log.
func (w *InvocationLog) Printf(format string, args ...any) {
	w.Line(fmt.Sprintf(format, args...))
}

// Line writes a platform line (START, END, REPORT) into the invocation's
// log, as Printf("%s", line) does.
func (w *InvocationLog) Line(line string) {
	if w.keep {
		w.tail = append(w.tail, line...)
		w.tail = append(w.tail, '\n')
	}
	w.line = appendEntry(w.line[:0], time.Now(), w.fn, w.version, w.rid, strings.TrimRight(line, "\r"))
	w.logs.appendLine(w.fn, w.line)
}

func (w *InvocationLog) emit(line []byte) {
	w.line = appendEntry(w.line[:0], time.Now(), w.fn, w.version, w.rid, bytes.TrimRight(line, "\r"))
	w.logs.appendLine(w.fn, w.line)
}

// Tail returns what was written, when the writer was asked to keep it.
func (w *InvocationLog) Tail() []byte { return w.tail }

// Close stores a final unterminated line and recycles the writer. The writer
// and its Tail must not be used afterwards.
func (w *InvocationLog) Close() {
	if len(w.partial) > 0 {
		w.emit(w.partial)
	}
	w.partial = w.partial[:0]
	w.tail = w.tail[:0]
	w.keep = false
	w.logs.writers.Put(w)
}
