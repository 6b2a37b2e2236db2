package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/events/deadletter"
)

// ReceiveOptions shape one Receive.
type ReceiveOptions struct {
	Max        int            // 1..10 messages; 0 means 1
	Wait       time.Duration  // long poll: 0..20s; returns as soon as one message is there
	Visibility *time.Duration // overrides the queue's visibility timeout (0..12h)
}

// Message is a received (or peeked) message.
type Message struct {
	Queue, MessageID, ReceiptHandle, Body, MD5OfBody string
	MD5OfMessageAttributes                           string // "" without attributes
	Attributes                                       map[string]MessageAttribute
	// SentAt is when Send accepted the message. FirstReceivedAt is exact on
	// the first receive; on later ones it is when the message became
	// visible, an earlier bound (JetStream does not record first deliveries).
	SentAt, FirstReceivedAt time.Time
	// ReceiveCount is the JetStream delivery count, this receive included.
	ReceiveCount int
	TraceParent  string
	DeadLetter   *deadletter.Info
}

// delivery is a received message with the JetStream message behind it.
type delivery struct {
	msg       *nats.Msg
	seq       uint64 // stream sequence
	delivered int
	m         Message
}

// minLongPoll is the shortest wait worth another pull request.
const minLongPoll = 10 * time.Millisecond

// Receive takes up to opt.Max visible messages from a queue; each stays
// invisible to other receivers for the visibility timeout, unless deleted.
// With opt.Wait it waits until at least one message is there (then takes
// what else is there at once) or the wait ends, returning no messages and
// no error. Messages received more often than the queue's MaxReceives are
// moved to its dead-letter queue instead of being returned.
func (s *Service) Receive(ctx context.Context, queue string, opt ReceiveOptions) ([]Message, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if opt.Max == 0 {
		opt.Max = 1
	}
	switch {
	case opt.Max < 1 || opt.Max > MaxReceiveBatch:
		return nil, fmt.Errorf("receive from %s: max %d: want 1 to 10: %w", queue, opt.Max, ErrInvalid)
	case opt.Wait < 0 || opt.Wait > MaxWait:
		return nil, fmt.Errorf("receive from %s: wait %s: want 0s to 20s: %w", queue, opt.Wait, ErrInvalid)
	case opt.Visibility != nil && (*opt.Visibility < 0 || *opt.Visibility > MaxVisibility):
		return nil, fmt.Errorf("receive from %s: visibility %s: want 0s to 12h: %w", queue, *opt.Visibility, ErrInvalid)
	}
	d, err := s.lookup(ctx, queue)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	visibility := opt.Visibility
	if visibility == nil && d.attrs.Visibility < time.Second {
		// The consumer's ack wait is at least a second (ackWait); serve a
		// shorter queue visibility exactly here.
		visibility = &d.attrs.Visibility
	}
	ctx, cancel := s.joinCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(opt.Wait)
	for {
		ds, _, err := s.take(ctx, d, opt.Max, time.Until(deadline))
		if visibility != nil && len(ds) > 0 {
			if verr := s.setVisibility(ctx, ds, *visibility); verr != nil && err == nil {
				err = verr
			}
		}
		out := make([]Message, len(ds))
		for i := range ds {
			out[i] = ds[i].m
		}
		if err != nil {
			if s.ctx.Err() != nil {
				err = ErrClosed
			}
			return out, fmt.Errorf("receive from %s: %w", queue, err)
		}
		if len(out) > 0 || time.Until(deadline) < minLongPoll {
			return out, nil
		}
	}
}

// take receives up to max messages, waiting up to wait for the first, and
// turns them into deliveries; messages past MaxReceives go to the
// dead-letter queue on the way. fetched counts the messages pulled, moved
// ones included.
func (s *Service) take(ctx context.Context, d *queueDef, max int, wait time.Duration) (ds []delivery, fetched int, err error) {
	msgs, err := s.pull(ctx, d.name, max, wait, true)
	if errors.Is(err, errConsumerGone) {
		err = fmt.Errorf("queue %s: %w", d.name, ErrNotFound)
	}
	return s.accept(ctx, d, msgs), len(msgs), err
}

// accept turns fetched messages into deliveries. One received more often
// than MaxReceives is moved to the dead-letter queue; if that fails it
// stays in flight and is tried again on a later receive.
func (s *Service) accept(ctx context.Context, d *queueDef, msgs []*nats.Msg) []delivery {
	out := make([]delivery, 0, len(msgs))
	now := time.Now()
	for _, msg := range msgs {
		meta, err := parseAckSubject(msg.Reply)
		if err != nil {
			s.log.Warn("skip message without delivery metadata", "queue", d.name, "reply", msg.Reply)
			continue
		}
		dc := int(min(meta.delivered, 1<<31-1))
		if d.attrs.MaxReceives > 0 && dc > d.attrs.MaxReceives {
			reason := "maximum receives (" + strconv.Itoa(d.attrs.MaxReceives) + ") exceeded"
			s.deadLetter(ctx, d, msg, meta.streamSeq, reason, dc-1)
			continue
		}
		stored := time.Unix(0, meta.stamp)
		m := Message{
			Queue:         d.name,
			ReceiptHandle: encodeReceipt(msg.Reply),
			Body:          string(msg.Data),
			MD5OfBody:     md5Hex(msg.Data),
			ReceiveCount:  dc,
		}
		readHeaders(&m, msg.Header, meta.streamSeq, stored)
		m.FirstReceivedAt = stored
		if dc == 1 {
			m.FirstReceivedAt = now
		}
		out = append(out, delivery{msg: msg, seq: meta.streamSeq, delivered: dc, m: m})
	}
	return out
}

// deadLetter moves msg to d's dead-letter queue and logs a failure (the
// message then stays in flight and comes back after its visibility
// timeout, so nothing is lost).
func (s *Service) deadLetter(ctx context.Context, d *queueDef, msg *nats.Msg, seq uint64, reason string, count int) bool {
	ctx, cancel := withTimeout(context.WithoutCancel(ctx))
	defer cancel()
	if err := s.move(ctx, d, msg, seq, reason, count); err != nil {
		s.log.Error("move message to dead-letter queue", "queue", d.name, "dlq", d.attrs.DLQ, "seq", seq, "err", err)
		return false
	}
	return true
}

// move sends msg to the dead-letter queue with its body, attributes,
// message id, sent time and trace, plus a dead-letter Info, and then
// deletes the original: sent first, so a crash in between leaves a copy
// in both queues, never in none. The copy's Nats-Msg-Id is made of the
// source queue and sequence, so a repeated move within the duplicate
// window stores one copy.
func (s *Service) move(ctx context.Context, d *queueDef, msg *nats.Msg, seq uint64, reason string, count int) error {
	dlq := d.attrs.DLQ
	if dlq == "" {
		return fmt.Errorf("queue %s has no dead-letter queue", d.name)
	}
	out := &nats.Msg{Subject: visibleSubject(dlq), Header: nats.Header{}, Data: msg.Data}
	for k, vs := range msg.Header {
		if strings.HasPrefix(k, "Nats-") || strings.HasPrefix(k, "Gureum-Dlq-") {
			continue
		}
		out.Header[k] = vs
	}
	id := out.Header.Get(headerMessageID)
	if id == "" {
		id = seqMessageID(seq)
		out.Header.Set(headerMessageID, id)
	}
	info := deadletter.Info{
		Source: deadletter.Source{Kind: deadletter.KindQueue, Name: d.name},
		Reason: reason, Count: count, At: time.Now().UTC(),
	}
	for k, v := range info.Headers() {
		out.Header.Set(k, headerValue(v))
	}
	out.Header.Set(jetstream.MsgIDHeader, "dlq."+d.name+"."+strconv.FormatUint(seq, 10)+"."+id)
	if _, err := s.js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("send to dead-letter queue: %w", publishError(dlq, err))
	}
	if err := s.ackRequest(ctx, msg.Reply, ackOK); err != nil {
		return fmt.Errorf("delete from %s after the move: %w", d.name, err)
	}
	return nil
}

// headerValue keeps v to printable ASCII, replacing other bytes with '?'.
func headerValue(v string) string {
	if headerSafe(v, len(v)) {
		return v
	}
	b := []byte(v)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// setVisibility makes deliveries visible again after v (0: at once).
func (s *Service) setVisibility(ctx context.Context, ds []delivery, v time.Duration) error {
	var errs []error
	for _, dl := range ds {
		if err := s.ackRequest(ctx, dl.msg.Reply, nakPayload(v)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Acknowledgement payloads.
var (
	ackOK       = []byte("+ACK")
	ackProgress = []byte("+WPI")
)

func nakPayload(d time.Duration) []byte {
	if d <= 0 {
		return []byte("-NAK")
	}
	return []byte(`-NAK {"delay":` + strconv.FormatInt(int64(d), 10) + `}`)
}

// ackRequest sends an acknowledgement to an ack subject and waits for the
// server's confirmation.
func (s *Service) ackRequest(ctx context.Context, subject string, payload []byte) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := s.nc.RequestWithContext(ctx, subject, payload); err != nil {
		return fmt.Errorf("acknowledge: %w", err)
	}
	return nil
}

// checkReceipt parses a receipt handle and checks that it is a delivery of
// this queue's consumer whose message is still in the queue.
func (s *Service) checkReceipt(ctx context.Context, queue, handle string) (receipt, error) {
	if _, err := s.lookup(ctx, queue); err != nil {
		return receipt{}, err
	}
	r, err := parseReceipt(handle)
	if err != nil {
		return receipt{}, fmt.Errorf("queue %s: %w", queue, err)
	}
	if r.stream != streamName(queue) || r.consumer != consumerName {
		return receipt{}, fmt.Errorf("queue %s: the receipt handle is of another queue: %w", queue, ErrReceiptInvalid)
	}
	h, err := s.queueHandles(ctx, queue)
	if err != nil {
		return receipt{}, err
	}
	m, err := h.stream.GetMsg(ctx, r.streamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && m.Subject != visibleSubject(queue) {
		return receipt{}, fmt.Errorf("queue %s: the message of the receipt handle was deleted: %w", queue, ErrReceiptInvalid)
	}
	if err != nil {
		return receipt{}, notFound(queue, err)
	}
	return r, nil
}

// DeleteMessage deletes a received message, waiting for the server's
// confirmation. A malformed handle, one of another queue, or one whose
// message is gone (deleted, purged, expired, moved) gives ErrReceiptInvalid.
// A handle of an earlier receive of a message still in the queue deletes it
// too, as on an SQS standard queue.
func (s *Service) DeleteMessage(ctx context.Context, queue, receiptHandle string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	r, err := s.checkReceipt(ctx, queue, receiptHandle)
	if err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	if err := s.ackRequest(ctx, r.subject, ackOK); err != nil {
		return fmt.Errorf("delete message from %s: %w", queue, err)
	}
	return nil
}

// ChangeVisibility makes a received message visible again after d from
// now (0: at once), like SQS's ChangeMessageVisibility. It is served by a
// negative acknowledgement with a delay: the message keeps its receive
// count until it is received again, and its receipt handle still deletes
// it meanwhile.
func (s *Service) ChangeVisibility(ctx context.Context, queue, receiptHandle string, d time.Duration) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if d < 0 || d > MaxVisibility {
		return fmt.Errorf("change visibility: %s: want 0s to 12h: %w", d, ErrInvalid)
	}
	r, err := s.checkReceipt(ctx, queue, receiptHandle)
	if err != nil {
		return fmt.Errorf("change visibility: %w", err)
	}
	if err := s.ackRequest(ctx, r.subject, nakPayload(d)); err != nil {
		return fmt.Errorf("change visibility in %s: %w", queue, err)
	}
	return nil
}

// Purge deletes every message of a queue, visible, in flight and delayed,
// and returns how many there were just before.
func (s *Service) Purge(ctx context.Context, queue string) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if _, err := s.lookup(ctx, queue); err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	h, err := s.queueHandles(ctx, queue)
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	info, err := h.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge: %w", notFound(queue, err))
	}
	if err := h.stream.Purge(ctx); err != nil {
		return 0, fmt.Errorf("purge: %w", notFound(queue, err))
	}
	return int(info.State.Msgs), nil
}

// MaxPeek is the most messages one Peek returns.
const MaxPeek = 1000

// Peek reads up to max (1..1000; 0 means 10) messages of a queue in order,
// visible or in flight, without receiving them: no receipt handle, no
// visibility change, no receive count (ReceiveCount is 0). Delayed
// messages are not shown.
func (s *Service) Peek(ctx context.Context, queue string, max int) ([]Message, error) {
	if max == 0 {
		max = 10
	}
	if max < 1 || max > MaxPeek {
		return nil, fmt.Errorf("peek %s: max %d: want 1 to 1000: %w", queue, max, ErrInvalid)
	}
	if _, err := s.lookup(ctx, queue); err != nil {
		return nil, fmt.Errorf("peek: %w", err)
	}
	h, err := s.queueHandles(ctx, queue)
	if err != nil {
		return nil, fmt.Errorf("peek: %w", err)
	}
	subj := visibleSubject(queue)
	var out []Message
	for seq := uint64(1); len(out) < max; {
		raw, err := h.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("peek %s: %w", queue, notFound(queue, err))
		}
		m := Message{Queue: queue, Body: string(raw.Data), MD5OfBody: md5Hex(raw.Data)}
		readHeaders(&m, raw.Header, raw.Sequence, raw.Time)
		out = append(out, m)
		seq = raw.Sequence + 1
	}
	return out, nil
}

// Drain receives up to max messages (0: until the queue has no visible
// message) and calls fn on each; fn returning nil deletes the message, an
// error makes it visible again — once Drain is done, so that one Drain
// meets each message once. Used for dead-letter replay. Returns counts.
func (s *Service) Drain(ctx context.Context, queue string, max int, fn func(context.Context, Message) error) (ok, failed int, err error) {
	if err := s.checkOpen(); err != nil {
		return 0, 0, err
	}
	if max < 0 {
		return 0, 0, fmt.Errorf("drain %s: max %d: want 0 (all) or more: %w", queue, max, ErrInvalid)
	}
	d, err := s.lookup(ctx, queue)
	if err != nil {
		return 0, 0, fmt.Errorf("drain: %w", err)
	}
	var held []delivery // failed, kept in flight until the end
	defer func() {
		if len(held) == 0 {
			return
		}
		rctx, cancel := withTimeout(context.WithoutCancel(ctx))
		defer cancel()
		if verr := s.setVisibility(rctx, held, 0); verr != nil && err == nil {
			err = fmt.Errorf("drain %s: make failed messages visible: %w", queue, verr)
		}
	}()
	seen := make(map[uint64]bool)
	for max == 0 || ok+failed < max {
		if err := ctx.Err(); err != nil {
			return ok, failed, err
		}
		n := MaxReceiveBatch
		if max > 0 {
			n = min(n, max-ok-failed)
		}
		ds, fetched, err := s.take(ctx, d, n, 0)
		if err != nil {
			held = append(held, ds...)
			return ok, failed, fmt.Errorf("drain %s: %w", queue, err)
		}
		fresh := 0
		for _, dl := range ds {
			if seen[dl.seq] {
				// Its visibility ended while this Drain ran; it failed here already.
				held = append(held, dl)
				continue
			}
			seen[dl.seq] = true
			fresh++
			if ferr := fn(ctx, dl.m); ferr != nil {
				failed++
				held = append(held, dl)
				continue
			}
			if aerr := s.ackRequest(ctx, dl.msg.Reply, ackOK); aerr != nil {
				return ok, failed, fmt.Errorf("drain %s: delete message %s: %w", queue, dl.m.MessageID, aerr)
			}
			ok++
		}
		if fetched == 0 || len(ds) > 0 && fresh == 0 {
			break
		}
	}
	return ok, failed, nil
}
