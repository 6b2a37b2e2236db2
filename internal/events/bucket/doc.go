// Package bucket delivers gureum's bucket events: when an object is created
// in or removed from a bucket, each matching notification of the bucket
// receives an S3 event notification (events.S3Event JSON with one record,
// as S3 sends it) at its target: a function (an asynchronous invocation, as
// S3 invokes Lambda), a queue or a topic.
//
// # The guarantee
//
// An upload that succeeded always produces its event, even across a
// restart. The blob store calls ObjectEvent (the blob.EventSink) after it
// has stored a change and before it answers the client; ObjectEvent
// returns nil only once JetStream has stored the event. Delivery happens
// afterwards, from durable consumers, so a crash between the two loses
// nothing: the events wait in the stream until a node delivers them.
//
// # Storage
//
// Notifications live in the KV bucket gureum_bucket_notifications under
// n.<token>.<id>, token being the bucket name with every byte other than a
// letter, digit or '-' written as '_' and two hex digits (bucket names may
// hold '.'). Object events go to the stream GBUCKET_EVENTS (file storage,
// interest retention, at most 7 days old as a safety net) on the subject
// gureum.bucketevent.<token>, as JSON with the traceparent in a header. An
// event of a bucket without notifications is not kept.
//
// Each notification has one durable pull consumer, bn-<hash of bucket and
// id>, created by SetNotifications before the notification's record is
// written and deleted after the record is removed. It starts with the
// events stored after its creation: a notification added later does not
// get old events. Every started Service watches the notifications and runs
// a delivery loop for each on the shared consumer, so the nodes share the
// work and each event reaches each notification once (at least once when
// a node is lost mid-delivery or an ack is lost).
//
// SetNotifications makes the notifications of one owner on a bucket
// exactly those given ("function:NAME" for the bucket events of a
// function's manifest, "app:NAME" for an app's bucket notifications to
// queues and topics), leaving other owners' alone. RemoveBucket drops a
// deleted bucket's notifications and undelivered events.
//
// # Delivery
//
// Filters (On, Prefix, Suffix) are applied when an event is handled; an
// event a notification does not take is acknowledged and skipped. The
// record's s3.configurationId is the notification's id and its key is
// URL-encoded as S3 does (a space as '+'); see Record. The event's W3C
// traceparent is passed on to the target.
//
// A failed attempt is retried after RetryBase, doubling up to RetryMax (1 s
// to 60 s by default), until MaxAttempts (default 10). The event then goes
// to Deliverer.DeadLetter in the bucket's automatic dead-letter queue,
// DeadLetterQueue(bucket) ("bucket-NAME-dlq"), with a deadletter.Info
// whose source is DeadLetterSource(bucket, id): the subscription form
// "subscription:bucket:NAME/ID", which no topic subscription can have. A
// replay recognizes it with ParseDeadLetterSource and hands the body to
// Redeliver, which delivers it to that notification alone, unfiltered.
// Only an accepted dead letter acknowledges the event; when the dead-letter
// queue fails it is tried again later, so nothing is dropped. A function's
// own retries and dead letters belong to the asynchronous path: for a
// function target, success means the invocation was accepted.
package bucket
