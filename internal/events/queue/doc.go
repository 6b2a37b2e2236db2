// Package queue gives gureum queues with Amazon SQS semantics (standard
// queues: at-least-once, best-effort order) on NATS JetStream, and the
// trigger that feeds queue messages to functions in batches, as AWS's
// SQS event source mapping feeds Lambda.
//
// # Storage
//
//	KV bucket gureum_queues   key = queue name; value = JSON definition:
//	                          {"name","app","attributes":{"visibility":"30s",...},"createdAt"}
//	stream GQ_<name>          work-queue retention, file storage, MaxAge = retention,
//	                          subjects gureum.q.<name> (visible messages) and
//	                          gureum.qd.<name>.<id> (delayed messages, one subject each)
//	consumer GQ_<name>>gureum the one durable pull consumer of the queue: explicit ack,
//	                          AckWait = visibility timeout, unlimited deliveries,
//	                          MaxAckPending 120000 (SQS's in-flight limit),
//	                          filter gureum.q.<name>
//
// A queue exists when its definition does; Ensure writes the stream and
// consumer first, so a definition always names a usable queue (and Ensure
// again repairs one whose stream went missing). Every node sharing the
// JetStream sees the same queues; each Service keeps a cache of the bucket
// fed by a KV watch, and falls back to reading the bucket for a queue
// another node created a moment ago. Every receiver on every node pulls
// from the same consumer, so work spreads over nodes and a message is in
// one receiver's hands at a time.
//
// # Messages
//
// The body is the NATS payload; the rest travels in headers:
//
//	Gureum-Msg-Id      the message id, a random UUID
//	Gureum-Sent-At     when Send accepted it (RFC 3339, nanoseconds, UTC)
//	Gureum-Attributes  message attributes as JSON (binary values base64),
//	                   which escapes everything a header line cannot hold
//	traceparent        W3C trace context
//	Gureum-Dlq-*       dead-letter Info (package deadletter)
//	Nats-Msg-Id        SendEntry.DedupID, only when set (the stream's
//	                   duplicate window is two minutes, or the retention if
//	                   shorter); Send does not set one of its own, because
//	                   the server keeps every id in memory for the window
//
// Send validates as SQS does (body characters, attribute names, types and
// numbers, size of body plus attributes against MaxMessageBytes) and
// returns once JetStream acknowledged the write to the file store. Entries
// of a batch are independent. The stream's own MaxMsgSize is a backstop at
// twice MaxMessageBytes plus 16 KiB, as the header form of attributes can
// be up to about twice their SQS size. A message must also fit the NATS
// server's max_payload (1 MiB by default) with its headers, so a queue of
// MaxMessageBytes 1048576 takes bodies that large only on a server
// configured with a larger max_payload; Send reports ErrTooLarge otherwise.
//
// MD5OfBody and MD5OfMessageAttributes are computed as SQS does, so SQS
// clients that check them accept gureum's answers.
//
// # Receiving
//
// A receive is a pull request of our own (see pull.go) with no_wait and
// expires together: the server holds it until at least one message is
// there, then answers at once with what is there, up to the batch — SQS's
// long poll in one round trip. A receive without a wait still waits up to
// 50 ms, because the server learns of a stored message just after
// acknowledging its publish; without that, a receive right after a send
// could come back empty.
//
// ReceiveCount is JetStream's delivery count. The receipt handle is the
// delivery's ack subject, base64url-encoded: it names the stream, consumer,
// delivery count and stream sequence, so it identifies the delivery.
// DeleteMessage and ChangeVisibility accept only a well-formed ack subject
// of this queue's consumer whose message is still in the stream (one
// request to check); anything else is ErrReceiptInvalid. Nothing a client
// sends is published anywhere but to such a checked ack subject.
//
//   - DeleteMessage acknowledges and waits for the server's reply.
//   - ChangeVisibility(0) is a negative acknowledgement: visible at once.
//     ChangeVisibility(d) is a negative acknowledgement with delay d:
//     invisible for d from now, as on SQS. Unlike SQS, the total is not
//     bounded by 12 h from the first receive, and the receive count grows
//     only when the message is received again.
//   - ReceiveOptions.Visibility overrides the timeout for one receive the
//     same way (a delayed negative acknowledgement right after the pull).
//   - A handle from an earlier receive of a message still in the queue
//     still deletes it (JetStream acknowledges by stream sequence), as on
//     an SQS standard queue.
//   - JetStream has no zero ack wait, so the consumer's AckWait is at least
//     one second. A queue visibility below that is served exactly by
//     Receive (as an override); a trigger sees one second.
//
// FirstReceivedAt is exact on the first receive; on later ones it is when
// the message became visible (JetStream does not record first
// deliveries), which is earlier or equal.
//
// # Delay
//
// Delayed messages use nats-server's message schedules (stream
// AllowMsgSchedules; TestServerMessageSchedules pins the behaviour): Send
// publishes the message to its own subject gureum.qd.<name>.<id> with
// "Nats-Schedule: @at <time>" and "Nats-Schedule-Target: gureum.q.<name>".
// At that time the server stores a copy on the visible subject, with the
// body and every header except Nats-Msg-Id and the Nats-Schedule ones, and
// purges the schedule message, so a delayed message is one stream message
// at any time and Get can count delayed messages as the stream's messages
// not on the visible subject. The time is given with nanoseconds and the
// server honours it to within its timer's granularity (a schedule fires no
// earlier than its time and, for a time already passed, about 250 ms after
// it is stored). Schedules are stored in the stream and survive restarts.
// Message schedules require AllowRollup on the stream (the server sets it);
// Send never sets a rollup header. Retention counts from when a delayed
// message becomes visible, not from Send; a delay longer than the
// retention loses the message, as on SQS (the schedule message expires).
//
// # Dead-letter queues
//
// With MaxReceives and DLQ set, a receive that meets a message delivered
// more than MaxReceives times moves it: it sends a copy to the dead-letter
// queue (same body, attributes, message id, sent time and trace, plus a
// deadletter.Info: source queue:<name>, reason "maximum receives (N)
// exceeded", count N) and then acknowledges the original. Sent first, so a
// crash in between leaves the message in both queues, never in none; the
// copy's Nats-Msg-Id (source queue, sequence, message id) makes a repeated
// move within two minutes store one copy. A move that fails (dead-letter
// queue deleted, message too large for it) is logged and the message stays
// in flight, to be tried again after its visibility timeout.
//
// # Trigger
//
// Consume runs one collector per trigger and node, which pulls batches
// and hands each to a handler goroutine, at most Concurrency at once.
// Without a window a batch is what one pull returns (up to Batch, at least
// one message); with a window the collector keeps pulling until the batch
// is full or the window after the first message ends. Collected messages
// are kept invisible meanwhile (in-progress acknowledgements every half
// visibility timeout, and once more just before the handler is called), and
// so are the batch's messages while the handler runs, cold start included,
// so that a slow start never hands them to a second invocation; the
// function's timeout bounds how long that lasts. A message redelivered
// anyway replaces its earlier delivery in the batch. On a nil error every
// message not in failedMessageIDs is deleted; an error, or a failed id not
// in the batch (as on AWS), fails the whole batch. Failed messages stay
// invisible until their visibility timeout ends and come back then, except
// that one whose receive count reached MaxReceives goes to the dead-letter
// queue at once with the handler's error as the reason. Stop ends the
// collector (messages collected but not handed out are made visible
// again), waits for batches in flight, and, when its context ends first,
// cancels the handlers and makes their messages visible again at once.
//
// # Counts
//
// Get reads the stream (messages on the visible subject, all messages) and
// the consumer (messages delivered and not yet acknowledged) one after
// the other: InFlight is the unacknowledged deliveries (a message whose
// visibility timeout ended counts as in flight until received again),
// Visible the rest of the visible subject, Delayed the stream's other
// messages. OldestAge is from the sent time of the first message on the
// visible subject. Purge returns the stream's message count read just
// before purging.
package queue
