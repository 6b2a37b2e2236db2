package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message headers of a table's stream.
const (
	// hdrExpires holds an item's expiry as RFC 3339 UTC time with
	// nanoseconds; absent when the item has no TTL.
	hdrExpires = "Gureum-Expires"
	// Written by JetStream KV (and this package) on delete markers.
	hdrOperation = "KV-Operation"
	opDelete     = "DEL"
	opPurge      = "PURGE"
	// Written by the server on the marker it leaves where a message expired
	// or was removed.
	hdrMarkerReason = "Nats-Marker-Reason"
)

// Item is one item of a table.
type Item struct {
	Key      string
	Value    json.RawMessage // nil in a KeysOnly listing
	Revision uint64          // the stream sequence of the item's last write
	Modified time.Time       // when the server stored the last write
	Expires  time.Time       // zero: the item has no TTL
}

// PutOptions are the conditions and TTL of a Put. IfAbsent and IfRevision
// exclude each other.
type PutOptions struct {
	// IfAbsent writes only if the key holds no item (never written, deleted
	// or expired); ErrConflict otherwise.
	IfAbsent bool
	// IfRevision writes only if the item exists and its revision is this;
	// ErrConflict otherwise. 0: no condition.
	IfRevision uint64
	// TTL makes the item expire this long after the put; 0 means never.
	// A later put without TTL makes the item permanent again.
	TTL time.Duration
}

// state is what a stored message says about its key.
type state struct {
	live    bool      // an item, not a delete marker nor expired
	expires time.Time // zero: no TTL
}

// parseState reads the headers of the last message of a key, at time now.
// An unreadable expiry is ignored: the item then lives until the server's
// own TTL removes it, if it has one.
func parseState(h nats.Header, now time.Time) state {
	if len(h) == 0 {
		return state{live: true}
	}
	switch h.Get(hdrOperation) {
	case opDelete, opPurge:
		return state{}
	}
	if h.Get(hdrMarkerReason) != "" {
		return state{}
	}
	exp, ok := parseExpires(h.Get(hdrExpires))
	if !ok {
		return state{live: true}
	}
	return state{live: now.Before(exp), expires: exp}
}

func formatExpires(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseExpires(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// serverTTL is the TTL given to the server for an item TTL: whole seconds,
// rounded up, at least one (the server's unit and minimum). The expiry
// header is exact; the server removes the item at or after it.
func serverTTL(ttl time.Duration) time.Duration {
	secs := (ttl + time.Second - 1) / time.Second
	return max(secs, 1) * time.Second
}

// Get returns the item at key; ErrNotFound when there is none or it has
// expired.
func (s *Store) Get(ctx context.Context, table, key string) (Item, error) {
	if err := validKey(key); err != nil {
		return Item{}, err
	}
	st, err := s.stream(ctx, table)
	if err != nil {
		return Item{}, err
	}
	m, err := st.GetLastMsgForSubject(ctx, subjectPrefix(table)+encodeKey(key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Item{}, fmt.Errorf("%s/%s: %w", table, key, ErrNotFound)
	}
	if err != nil {
		return Item{}, s.tableErr(table, "get "+table+"/"+key, err)
	}
	it, ok := s.item(key, m)
	if !ok {
		return Item{}, fmt.Errorf("%s/%s: %w", table, key, ErrNotFound)
	}
	return it, nil
}

// item turns the last message of key into an Item; false when it holds no
// live item.
func (s *Store) item(key string, m *jetstream.RawStreamMsg) (Item, bool) {
	st := parseState(m.Header, s.cfg.Now())
	if !st.live {
		return Item{}, false
	}
	return Item{Key: key, Value: json.RawMessage(m.Data), Revision: m.Sequence, Modified: m.Time, Expires: st.expires}, true
}

// Put writes value, which must be JSON, at key and returns the item's new
// revision.
func (s *Store) Put(ctx context.Context, table, key string, value []byte, opt PutOptions) (revision uint64, err error) {
	if err := validKey(key); err != nil {
		return 0, err
	}
	if err := validValue(value); err != nil {
		return 0, err
	}
	if opt.IfAbsent && opt.IfRevision != 0 {
		return 0, fmt.Errorf("%w: IfAbsent and IfRevision exclude each other", ErrInvalid)
	}
	if opt.TTL < 0 {
		return 0, fmt.Errorf("%w: negative TTL %s", ErrInvalid, opt.TTL)
	}
	st, err := s.stream(ctx, table)
	if err != nil {
		return 0, err
	}
	subject := subjectPrefix(table) + encodeKey(key)
	var expires time.Time
	if opt.TTL > 0 {
		expires = s.cfg.Now().Add(opt.TTL)
	}
	// msg builds the message afresh for each attempt: publishing sets
	// headers on it.
	msg := func() (*nats.Msg, []jetstream.PublishOpt) {
		m := nats.NewMsg(subject)
		m.Data = value
		if opt.TTL <= 0 {
			return m, nil
		}
		m.Header.Set(hdrExpires, formatExpires(expires))
		return m, []jetstream.PublishOpt{jetstream.WithMsgTTL(serverTTL(opt.TTL))}
	}
	op := "put " + table + "/" + key
	switch {
	case opt.IfRevision != 0:
		if err := s.checkRevision(ctx, st, table, key, subject, opt.IfRevision); err != nil {
			return 0, err
		}
		m, po := msg()
		return s.publish(ctx, table, key, op, m, append(po, jetstream.WithExpectLastSequencePerSubject(opt.IfRevision)))
	case opt.IfAbsent:
		return s.create(ctx, st, table, key, subject, op, msg)
	default:
		m, po := msg()
		return s.publish(ctx, table, key, op, m, po)
	}
}

// create writes msg only where key holds no live item: first on the
// condition that the subject has no message at all, then, when a delete
// marker or an expired item is in the way, on the condition that it is
// still the last message. Of writers racing on one key exactly one wins.
func (s *Store) create(ctx context.Context, st jetstream.Stream, table, key, subject, op string,
	msg func() (*nats.Msg, []jetstream.PublishOpt)) (uint64, error) {
	var last uint64
	for range conditionAttempts {
		m, po := msg()
		rev, err := s.publish(ctx, table, key, op, m, append(po, jetstream.WithExpectLastSequencePerSubject(last)))
		if !errors.Is(err, ErrConflict) {
			return rev, err
		}
		cur, err := st.GetLastMsgForSubject(ctx, subject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			last = 0
			continue
		case err != nil:
			return 0, s.tableErr(table, op, err)
		}
		if parseState(cur.Header, s.cfg.Now()).live {
			return 0, fmt.Errorf("%s/%s exists: %w", table, key, ErrConflict)
		}
		last = cur.Sequence
	}
	return 0, fmt.Errorf("%s/%s: too many concurrent writes: %w", table, key, ErrConflict)
}

// checkRevision returns nil when the live item at key has revision rev, and
// ErrConflict otherwise. It looks the revision up rather than trusting the
// server's sequence check alone, so that an expired item the server has
// not removed yet fails the condition too.
func (s *Store) checkRevision(ctx context.Context, st jetstream.Stream, table, key, subject string, rev uint64) error {
	m, err := st.GetMsg(ctx, rev)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("%s/%s: no item at revision %d: %w", table, key, rev, ErrConflict)
	case err != nil:
		return s.tableErr(table, "check "+table+"/"+key, err)
	}
	if m.Subject != subject || !parseState(m.Header, s.cfg.Now()).live {
		return fmt.Errorf("%s/%s: no item at revision %d: %w", table, key, rev, ErrConflict)
	}
	return nil
}

// publish stores m and returns its sequence; a failed condition is
// ErrConflict.
func (s *Store) publish(ctx context.Context, table, key, op string, m *nats.Msg, opts []jetstream.PublishOpt) (uint64, error) {
	ack, err := s.js.PublishMsg(ctx, m, opts...)
	if isWrongLastSequence(err) {
		return 0, fmt.Errorf("%s/%s: revision changed: %w", table, key, ErrConflict)
	}
	if err != nil {
		return 0, s.tableErr(table, op, err)
	}
	return ack.Sequence, nil
}

// isWrongLastSequence reports whether err is the server refusing an
// expected-last-subject-sequence condition (10164 on replicated streams).
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// Delete removes the item at key. A missing item is no error unless
// ifRevision is set: then the item must exist with that revision, or the
// result is ErrConflict.
func (s *Store) Delete(ctx context.Context, table, key string, ifRevision uint64) error {
	if err := validKey(key); err != nil {
		return err
	}
	st, err := s.stream(ctx, table)
	if err != nil {
		return err
	}
	subject := subjectPrefix(table) + encodeKey(key)
	m := nats.NewMsg(subject)
	m.Header.Set(hdrOperation, opPurge)
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	opts := []jetstream.PublishOpt{jetstream.WithMsgTTL(markerTTL)}
	if ifRevision != 0 {
		if err := s.checkRevision(ctx, st, table, key, subject, ifRevision); err != nil {
			return err
		}
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(ifRevision))
	}
	_, err = s.publish(ctx, table, key, "delete "+table+"/"+key, m, opts)
	return err
}
