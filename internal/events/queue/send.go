package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/events/deadletter"
)

// SendEntry is one message to send.
type SendEntry struct {
	// ID names the entry in its batch (SQS's batch entry id): 1 to 80
	// letters, digits, '-' and '_', distinct within the batch. Optional.
	ID string
	// Body is the message: 1 byte or more of the characters SQS allows.
	Body string
	// Delay overrides the queue's delay when set (0 to 15 minutes).
	Delay *time.Duration
	// Attributes are SQS message attributes (ValidateMessageAttributes).
	Attributes map[string]MessageAttribute
	// TraceParent is a W3C traceparent carried to the receiver.
	TraceParent string
	// DeadLetter marks a message sent to a dead-letter queue.
	DeadLetter *deadletter.Info
	// DedupID, when set, is the message's Nats-Msg-Id: a second send with
	// the same DedupID within two minutes is acknowledged without storing
	// the message again. Printable ASCII, at most 128 characters.
	DedupID string
}

// SendResult is the outcome of one entry, in entry order. Err is nil when
// the message is stored; otherwise it wraps ErrInvalid, ErrTooLarge,
// ErrNotFound or a JetStream error.
type SendResult struct {
	ID, MessageID, MD5OfBody string
	MD5OfMessageAttributes   string // "" without attributes
	Err                      error
}

// Send stores up to 10 messages in a queue and returns once each is
// durable (its JetStream publish acknowledgement arrived), or failed. The
// entries are independent: one invalid or too large entry fails alone. err
// is set only when no entry could be tried: an unknown queue (ErrNotFound),
// no entries (ErrEmptyBatch), more than 10 (ErrTooManyEntries), repeated
// entry ids (ErrInvalid).
func (s *Service) Send(ctx context.Context, queue string, entries []SendEntry) ([]SendResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	switch {
	case len(entries) == 0:
		return nil, fmt.Errorf("send to %s: %w", queue, ErrEmptyBatch)
	case len(entries) > MaxBatchEntries:
		return nil, fmt.Errorf("send to %s: %d entries, at most 10 are allowed: %w", queue, len(entries), ErrTooManyEntries)
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e.ID == "" {
			continue
		}
		if seen[e.ID] {
			return nil, fmt.Errorf("send to %s: entry id %q used twice; ids must be distinct: %w", queue, e.ID, ErrInvalid)
		}
		seen[e.ID] = true
	}
	d, err := s.lookup(ctx, queue)
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	results := make([]SendResult, len(entries))
	msgs := make([]*nats.Msg, len(entries))
	now := time.Now().UTC()
	for i, e := range entries {
		results[i].ID = e.ID
		msgs[i], results[i].Err = s.buildMessage(d, e, now, &results[i])
	}
	publish := func(i int) {
		if msgs[i] == nil {
			return
		}
		if _, err := s.js.PublishMsg(ctx, msgs[i]); err != nil {
			results[i].Err = publishError(queue, err)
			results[i].MessageID, results[i].MD5OfBody, results[i].MD5OfMessageAttributes = "", "", ""
		}
	}
	if len(msgs) == 1 {
		publish(0)
		return results, nil
	}
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Go(func() { publish(i) })
	}
	wg.Wait()
	return results, nil
}

// buildMessage validates e and makes its NATS message, filling res.
func (s *Service) buildMessage(d *queueDef, e SendEntry, now time.Time, res *SendResult) (*nats.Msg, error) {
	fail := func(err error) (*nats.Msg, error) {
		if e.ID != "" {
			return nil, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		return nil, err
	}
	if e.ID != "" {
		if err := validEntryID(e.ID); err != nil {
			return fail(err)
		}
	}
	if e.Body == "" {
		return fail(fmt.Errorf("empty body; a message needs at least one character: %w", ErrInvalid))
	}
	if err := validText(e.Body); err != nil {
		return fail(fmt.Errorf("body: %w", err))
	}
	if err := ValidateMessageAttributes(e.Attributes); err != nil {
		return fail(err)
	}
	if size := messageSize(e.Body, e.Attributes); size > d.attrs.MaxMessageBytes {
		return fail(fmt.Errorf("message of %d bytes (body and attributes): queue %s takes at most %d: %w",
			size, d.name, d.attrs.MaxMessageBytes, ErrTooLarge))
	}
	delay := d.attrs.Delay
	if e.Delay != nil {
		delay = *e.Delay
		if delay < 0 || delay > MaxDelay {
			return fail(fmt.Errorf("delay %s: want 0s to 15m: %w", delay, ErrInvalid))
		}
	}
	if !headerSafe(e.TraceParent, 512) {
		return fail(fmt.Errorf("traceparent: want at most 512 printable ASCII characters: %w", ErrInvalid))
	}
	if !headerSafe(e.DedupID, 128) {
		return fail(fmt.Errorf("dedup id: want at most 128 printable ASCII characters: %w", ErrInvalid))
	}
	id := newMessageID()
	m := &nats.Msg{Header: nats.Header{}, Data: []byte(e.Body)}
	m.Header.Set(headerMessageID, id)
	m.Header.Set(headerSentAt, now.Format(time.RFC3339Nano))
	if len(e.Attributes) > 0 {
		v, err := encodeAttributes(e.Attributes)
		if err != nil {
			return fail(err)
		}
		m.Header.Set(headerAttributes, v)
	}
	if e.TraceParent != "" {
		m.Header.Set(headerTrace, e.TraceParent)
	}
	if e.DeadLetter != nil {
		for k, v := range e.DeadLetter.Headers() {
			if !headerSafe(v, 2048) {
				return fail(fmt.Errorf("dead-letter info %s: want printable ASCII: %w", k, ErrInvalid))
			}
			m.Header.Set(k, v)
		}
	}
	if e.DedupID != "" {
		// Only on request: every Nats-Msg-Id costs the server memory for
		// the duplicate window.
		m.Header.Set(jetstream.MsgIDHeader, e.DedupID)
	}
	if delay > 0 {
		m.Subject = delayedSubject(d.name, id)
		m.Header.Set(jetstream.ScheduleHeader, "@at "+now.Add(delay).Format(time.RFC3339Nano))
		m.Header.Set(jetstream.ScheduleTargetHeader, visibleSubject(d.name))
	} else {
		m.Subject = visibleSubject(d.name)
	}
	if size, limit := wireSize(m), s.nc.MaxPayload(); int64(size) > limit {
		return fail(fmt.Errorf("message of %d bytes with its headers: the NATS server takes at most %d (max_payload): %w", size, limit, ErrTooLarge))
	}
	res.MessageID = id
	res.MD5OfBody = md5Hex(m.Data)
	res.MD5OfMessageAttributes = md5OfAttributes(e.Attributes)
	return m, nil
}

// wireSize is the size of m as the server counts it against max_payload:
// the header block and the payload.
func wireSize(m *nats.Msg) int {
	n := len("NATS/1.0\r\n\r\n") + len(m.Data)
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

// publishError maps a publish failure to the package's sentinels.
func publishError(queue string, err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("queue %s: %w", queue, ErrNotFound)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("queue %s: %w: %w", queue, ErrTooLarge, err)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return fmt.Errorf("queue %s: %w: %w", queue, ErrTooLarge, err)
	}
	return fmt.Errorf("queue %s: store message: %w", queue, err)
}
