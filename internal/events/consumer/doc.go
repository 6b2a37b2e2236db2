// Package consumer runs the delivery loops that topics and bucket
// notifications share: one Runner per durable JetStream pull consumer,
// started and stopped by a Group that follows the KV records defining the
// consumers.
//
// # A runner
//
// A Runner fetches from its consumer and hands each message to the
// package that owns it (Spec.Prepare), which says what one delivery is: a
// skip (acknowledged at once), a reject (dead-lettered at once), or an
// attempt with its dead-letter queue. At most MaxInFlight messages are
// handled at once per runner. When fetching fails (the consumer is being
// removed, or the stream restored) the runner tries again after 1 s, 2 s,
// and so on up to 30 s.
//
// The runner settles every message: an ack on success, a nak with the
// backoff (RetryBase doubled per failed attempt up to RetryMax) while
// attempts remain, and the dead-letter queue once they are used up; only an
// accepted dead letter acknowledges the message, so nothing is dropped.
// Each attempt and each dead-lettering is bounded by AttemptTimeout. The
// reason of a message's last failure is kept in memory (at most four times
// MaxAckPending messages), so a dead-lettering that must be tried again
// still carries it; a node that only saw later deliveries of a message
// gives the reason "not delivered in N attempts".
//
// # A group
//
// Group.Start reads every record under a KV key pattern before it
// returns and then follows changes until Shutdown; the owner's apply
// callback starts a Runner (Group.Run) for a new record and stops it
// (Runner.Stop) for a deleted one. Shutdown stops fetching everywhere, lets
// the deliveries in flight finish until its ctx ends, then cancels them,
// and waits for every goroutine. Messages fetched but not started are
// handed back at once so another node takes them; messages not
// acknowledged come again after the consumer's ack wait.
package consumer
