// Package topic gives gureum topics with Amazon SNS semantics on NATS
// JetStream: a message is published once and fanned out to every matching
// subscription, and each subscription has its own delivery and retry state.
//
// # Storage
//
// Topics and subscriptions live in the KV bucket gureum_topics
// (topic.<name> and sub.<topic>.<id>), so every node sharing the JetStream
// sees them; a started Service watches sub.> and follows changes made
// through any node.
//
// Each topic has one stream, GT_<name> (file storage, interest retention,
// at most 14 days old as a safety net). Published messages go to
// gureum.t.<name>; a message meant for one subscription only (a replay
// from a dead-letter queue, see Redeliver) goes to gureum.t.<name>.sub.<id>.
// The stream message's data is the body, preceded by the attributes as
// JSON when there are any (headers are limited to 64 KiB); id, subject,
// timestamp and traceparent travel in headers.
//
// Each subscription is one durable pull consumer (sub-<id>) filtering both
// subjects, created by Subscribe before it returns: from then on messages
// are kept for the subscription even when no node delivers yet, and a
// message stays in the stream until every subscription has settled it.
// Every started node runs a delivery loop per subscription on the shared
// consumer, so work spreads over nodes. Subscriptions never wait for each
// other: each has its own consumer, goroutines and at most 16 deliveries
// in flight per node.
//
// # Delivery
//
// Publish returns once JetStream has acknowledged the message (it is
// durable). Functions receive an events.SNSEvent with one record and
// queues the SNS notification JSON (or, with raw delivery, the body and
// attributes themselves), both through the node's Deliverer. HTTP and
// HTTPS endpoints are posted the notification JSON (or the raw body) with
// the x-amz-sns-* headers; any 2xx is success. There is no
// subscription-confirmation handshake and messages are not signed:
// subscriptions are made with the admin token or by a deploy, by someone
// already trusted to send the node's traffic anywhere.
//
// # Retries and dead letters
//
// A failed attempt is retried after RetryBase, doubling up to RetryMax
// (1 s to 60 s by default), until the subscription's MaxAttempts (default
// 10, at most 100). Then the message goes to Deliverer.DeadLetter with a
// deadletter.Info naming the subscription as source, the last error and
// the attempt count, into the subscription's DLQ or, without one,
// deadletter.AutoQueue ("topic-<name>-dlq"). Only an accepted dead letter
// acknowledges the message; when the dead-letter queue fails, it is tried
// again later, so nothing is dropped. Delivery is at least once.
//
// # Filter policies
//
// A subscription's filter policy follows SNS: on message attributes (the
// default scope) or on a JSON message body (ScopeBody, which also allows
// nested properties). Supported: exact strings, numbers, booleans and null;
// prefix, suffix, equals-ignore-case; anything-but with a value, a list or
// {prefix|suffix|equals-ignore-case}; numeric with =, <, <=, >, >= and
// ranges; exists true/false; $or; arrays of conditions as OR; AND across
// keys. A String.Array attribute (or a body array) matches when any element
// does; Binary attributes are invisible to policies. Limits as in SNS: 5
// keys per combination, 150 combinations, nesting depth 5, numbers within
// ±1e9, 256 KiB. A message a policy rejects is acknowledged and skipped for
// that subscription; a replay to one subscription is not filtered again.
package topic
