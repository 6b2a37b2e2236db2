package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// DefaultLimit is the most records a Query returns when it sets no Limit.
	DefaultLimit = 1000

	// storeSlack is how long before Query.Since the scan starts. A batch is
	// stamped by the server when stored, after every record in it started,
	// so Since would do; the slack absorbs clocks of nodes and servers that
	// disagree by up to this much.
	storeSlack = 10 * time.Second
	// storeLag bounds how long after its Start a record is stored: the
	// longest function timeout (15 minutes) plus flushing, with room to
	// spare. A Query with Until stops reading at batches stored later.
	storeLag = 20 * time.Minute
	// readWait bounds the wait for one message while reading; a stream
	// that stops delivering (messages aged out meanwhile) ends the read.
	readWait = 5 * time.Second
)

// Query selects records.
type Query struct {
	Function   string    // "" = every function
	Since      time.Time // Start at or after; zero = no lower bound
	Until      time.Time // Start before; zero = no upper bound
	ErrorsOnly bool      // only records that did not succeed (Record.Failed)
	Trigger    string    // "" = every trigger
	Limit      int       // the newest Limit records; 0 = DefaultLimit
}

// Query returns the newest q.Limit records matching q, oldest first (ordered
// by Start, then request id). It reads one function's subjects from the
// first batch stored at q.Since (less a little slack), so the last hour of
// one function costs what that hour holds, whatever else the stream holds.
func (s *Store) Query(ctx context.Context, q Query) ([]Record, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("query records: limit %d: %w", q.Limit, ErrInvalidQuery)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return nil, fmt.Errorf("query records: until %s is before since %s: %w",
			q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339), ErrInvalidQuery)
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	fn := cutField(q.Function)
	fnToken, class := "*", "*"
	if q.Function != "" {
		fnToken = token(fn)
	}
	if q.ErrorsOnly {
		class = "err"
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + fnToken + "." + class},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if !q.Since.IsZero() {
		start := q.Since.Add(-storeSlack)
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &start
	}
	var stopAfter time.Time
	if !q.Until.IsZero() {
		stopAfter = q.Until.Add(storeLag)
	}
	trigger := cutField(q.Trigger)

	var out []Record
	keep := func(r *Record) error {
		switch {
		case q.Function != "" && r.Function != fn,
			q.Trigger != "" && r.Trigger != trigger,
			q.ErrorsOnly && !r.Failed(),
			!q.Since.IsZero() && r.Start.Before(q.Since),
			!q.Until.IsZero() && !r.Start.Before(q.Until):
			return nil
		}
		out = append(out, *r)
		if len(out) >= q.Limit+max(q.Limit/2, 1024) {
			out = newest(out, q.Limit)
		}
		return nil
	}
	if err := s.scan(ctx, cfg, stopAfter, keep); err != nil {
		return nil, fmt.Errorf("query records: %w", err)
	}
	return newest(out, q.Limit), nil
}

// newest sorts recs oldest first and keeps the last n.
func newest(recs []Record, n int) []Record {
	slices.SortFunc(recs, func(a, b Record) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	if len(recs) > n {
		recs = slices.Delete(recs, 0, len(recs)-n)
	}
	return recs
}

// scan calls each for every record in the batches cfg selects, until the
// batches stored when it began are read or one is stored after stopAfter
// (when not zero).
func (s *Store) scan(ctx context.Context, cfg jetstream.OrderedConsumerConfig, stopAfter time.Time, each func(*Record) error) error {
	cons, err := s.recs.OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	remaining := info.NumPending
	if remaining == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(32))
	if err != nil {
		return err
	}
	defer it.Stop()
	for remaining > 0 {
		nctx, cancel := context.WithTimeout(ctx, readWait)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
				return nil // the rest aged out while reading
			}
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		remaining = md.NumPending
		if !stopAfter.IsZero() && md.Timestamp.After(stopAfter) {
			return nil
		}
		if err := decodeBatch(msg.Data(), each); err != nil {
			return err
		}
	}
	return nil
}

// Get returns the record of one invocation, found by its request id alone
// through the index (see doc.go): records stored within Config.IndexTTL are
// found; older ones, and ids never stored, are ErrNotFound. With
// Config.NoIndex it scans the records stored within IndexTTL instead. When several
// records share an id (an asynchronous invocation's retries), Get returns
// the last one stored.
func (s *Store) Get(ctx context.Context, requestID string) (*Record, error) {
	rid := cutField(requestID)
	if rid == "" {
		return nil, fmt.Errorf("get record: empty request id: %w", ErrNotFound)
	}
	if s.cfg.NoIndex {
		return s.getByScan(ctx, requestID, rid)
	}
	entry, err := s.ids.GetLastMsgForSubject(ctx, IndexSubjectPrefix+indexKey(rid))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("get record %s: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get record %s: read index: %w", requestID, err)
	}
	seq, err := strconv.ParseUint(string(entry.Data), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("get record %s: index entry %q: %w", requestID, entry.Data, ErrNotFound)
	}
	batch, err := s.recs.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("get record %s: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get record %s: read batch %d: %w", requestID, seq, err)
	}
	var found *Record
	_ = decodeBatch(batch.Data, func(r *Record) error {
		if r.RequestID == rid {
			c := *r
			found = &c
		}
		return nil
	})
	if found == nil {
		return nil, fmt.Errorf("get record %s: %w", requestID, ErrNotFound)
	}
	return found, nil
}

// RequestTime is the time a version 7 UUID request id was made (see
// invoke.NewRequestID); ok is false for any other id.
func RequestTime(id string) (t time.Time, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '7' {
		return time.Time{}, false
	}
	var ms int64
	for _, c := range []byte(id[:8] + id[9:13]) {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		default:
			return time.Time{}, false
		}
		ms = ms<<4 | int64(v)
	}
	return time.UnixMilli(ms), true
}

// Windows in which Get looks for the record of a request id that carries
// its time, one after the other until it is found: the minute after it
// (nearly every invocation), the rest of the longest timeout (15 minutes),
// then as far as an asynchronous invocation's retries go (6 hours). Each
// starts a minute early, for clocks that differ between nodes.
const (
	getSkew     = time.Minute
	getSoon     = time.Minute
	getNearby   = 20 * time.Minute
	getAsyncEnd = 7 * time.Hour
)

// getByScan finds a record without the index. A request id that carries its
// time (version 7) is looked for in the records stored just after it;
// any other id in every record stored in the last IndexTTL.
func (s *Store) getByScan(ctx context.Context, requestID, rid string) (*Record, error) {
	if t, ok := RequestTime(rid); ok {
		for _, w := range [][2]time.Time{
			{t.Add(-getSkew), t.Add(getSoon)},
			{t.Add(getSoon - getSkew), t.Add(getNearby)},
			{t.Add(getNearby - getSkew), t.Add(getAsyncEnd)},
		} {
			if time.Now().Before(w[0]) {
				break
			}
			r, err := s.scanFor(ctx, rid, w[0], w[1])
			if err != nil {
				return nil, fmt.Errorf("get record %s: %w", requestID, err)
			}
			if r != nil {
				return r, nil
			}
		}
		return nil, fmt.Errorf("get record %s: %w", requestID, ErrNotFound)
	}
	r, err := s.scanFor(ctx, rid, time.Now().Add(-s.cfg.IndexTTL), time.Time{})
	if err != nil {
		return nil, fmt.Errorf("get record %s: %w", requestID, err)
	}
	if r == nil {
		return nil, fmt.Errorf("get record %s: %w", requestID, ErrNotFound)
	}
	return r, nil
}

// scanFor reads the records stored from start (to stop, when not zero) and
// returns the last one of rid, or nil.
func (s *Store) scanFor(ctx context.Context, rid string, start, stop time.Time) (*Record, error) {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	}
	var found *Record
	err := s.scan(ctx, cfg, stop, func(r *Record) error {
		if r.RequestID == rid {
			c := *r
			found = &c
		}
		return nil
	})
	return found, err
}
