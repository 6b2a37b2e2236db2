// Package async is gureum's one durable path for asynchronous invocations
// (AWS Lambda's "Event" invocation type). `gureum invoke --async`, the Lambda
// Invoke API with X-Amz-Invocation-Type: Event, topic subscriptions to
// functions, schedules and function destinations all submit here.
//
// # The path
//
// Submit stores an event in the JetStream stream GUREUM_ASYNC (file storage,
// work-queue retention) on the subject gureum.async.FUNCTION and returns only
// after the server's acknowledgement, so a 202 given to a caller means the
// event is durable. The payload is at most MaxPayloadBytes (1 MiB), and the
// whole event must fit the NATS server's max_payload with room for retries
// (ErrTooLarge otherwise).
//
// Every node runs workers: one per deployed function (Sync), all nodes
// sharing one durable pull consumer per function ("async-FUNCTION",
// explicit ack), so work spreads over nodes and survives the loss of any of
// them. A worker fetches only as many events as it has free slots
// (Settings.Concurrency per function and node). While an event is handled
// the worker renews its ack deadline (AckWait/3), so AckWait bounds how long
// a lost node's events wait, whatever the function's timeout.
//
// # The envelope
//
// An event's message body is its payload, untouched. Everything else is in
// headers: Gureum-Request-Id, Gureum-Function, Gureum-Qualifier,
// Gureum-Trigger, Gureum-Source, traceparent, Gureum-Accepted-At (RFC 3339,
// nanoseconds, UTC) and Gureum-Attempts, a JSON array of the attempts so far
// ({at, error, errorType, duration, version}). The record of each attempt
// travels with the event. An event whose outcome is decided but whose
// delivery failed also carries Gureum-Outcome (the record's condition),
// Gureum-Reason, Gureum-Deferrals and, when kept, the function's response
// appended to the body (Gureum-Response-Bytes long).
//
// # The retry policy
//
// An invocation that fails (function error, timeout, failed initialization)
// is an attempt. Up to Settings.Retries (0..2, default 2) more attempts
// follow, after RetryBase (1 minute) and then twice that. A retry is a new
// message carrying the updated attempt list, published as a NATS message
// schedule ("Nats-Schedule: @at TIME", "Nats-Schedule-Target:
// gureum.async.FUNCTION") on a subject of its own,
// gureum.asyncd.FUNCTION.ID; only once the server has stored it is the old
// message acknowledged. At TIME the server republishes it, headers and
// body intact (it adds Nats-Scheduler and Nats-Schedule-Next), to the
// function's subject and deletes the schedule. Schedules are stored with
// the stream, so they survive restarts; one due while the server was down
// fires when it is back. The server checks schedules at most every 250 ms.
//
// Throttling (invoke.ErrThrottled), a node shutting down and failures of the
// node itself (not of the function) are not attempts: the event is offered
// again after DeferBase (1 second), doubling up to MaxDefer (5 minutes).
// invoke.ErrFunctionNotFound ends the event at once.
//
// An event older than Settings.MaxEventAge (60s..6h, default 6h) is not run
// again. AWS drops such events and events whose retries are exhausted;
// gureum never drops an event it accepted. When it succeeds and OnSuccess is
// set, or when it fails for good and OnFailure is set, the destination gets
// an invocation record in AWS's shape (Record); a failed event without
// OnFailure goes to its dead-letter queue (Settings.DLQ or
// deadletter.AutoQueue) with the payload, qualifier, traceparent and
// attempts, which is all a replay (a new Submit) needs. A delivery that
// fails is tried again later, with the outcome kept in the message, so the
// function does not run again for it. Records over MaxRecordBytes lose their
// response payload, then their request payload.
//
// Delivery is at least once: a node lost mid-invocation, or an ack lost on
// the way, runs an event again.
package async
