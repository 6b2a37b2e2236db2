// Package records keeps one record per invocation — HTTP, direct, Lambda
// API, async, queue, topic, schedule, replay, destination or bucket — with
// its trigger, cold/warm flag, durations, memory, outcome and billing, in
// JetStream, for the CLI, the console and the cost report.
//
// # Writing
//
// Append costs the invocation a copy into an in-memory buffer under a mutex
// (tens of nanoseconds; see BenchmarkAppend). A flusher goroutine takes the
// buffer every FlushInterval (50 ms), or as soon as 1024 records wait,
// encodes the records as JSON lines and publishes them in batch messages,
// one or more per function and outcome class, up to 128 KiB each, then
// waits for JetStream's acknowledgements. The buffer is bounded
// (Config.Buffer, 65536 records by default): when it is full, Append drops
// the record rather than block, and Stats counts it, as it counts batches
// JetStream did not acknowledge. A node that dies loses at most what it had
// not flushed. Records are best effort by design, as logs are; events never
// are.
//
// The store fills in what the caller left out: a zero Start becomes the
// time of Append, an empty Node becomes Config.Node, BilledMs and GBSeconds
// come from Billing when both are zero, and a throttled record bills
// nothing. Start is stored in UTC, and each string is cut at 1 KiB.
//
// # Layout
//
//	stream GUREUM_RECORDS      subjects gureum.rec.<function>.ok
//	                                    gureum.rec.<function>.err
//	  MaxAge = Config.Retention (7 days by default); file storage
//	  message = records of one function, JSON lines; .err holds the records
//	  whose outcome is not success (error, timeout, init_error, throttled)
//
//	stream GUREUM_RECORD_IDS   subjects gureum.recid.<request id>
//	  MaxAge = Config.IndexTTL (1 hour by default, at most the retention)
//	  one message per subject; data = the decimal stream sequence of the
//	  GUREUM_RECORDS message holding the record
//
// <function> and <request id> are subject tokens: the name itself when it
// is 1 to 128 letters, digits, '-' and '_' (every function name and every
// request id gureum generates), "=" for an empty name, otherwise "=" and 24
// hex digits of its SHA-256.
//
// # Reading
//
// Query reads with an ordered consumer filtered to one function's subjects
// (or .err alone for ErrorsOnly), starting at the batches stored at
// Query.Since, so the last hour of one function reads that hour of that
// function and nothing else. Records come back oldest first.
//
// Get finds a record by request id without knowing its function: a direct
// get of the last message on gureum.recid.<id> gives the batch's sequence,
// a direct get of that batch gives the record. Two lookups, no scan. The
// index is written after the batches are acknowledged, so Get finds a
// record once its flush has completed; after IndexTTL the index entry is
// gone and Get reports ErrNotFound, while Query still finds the record
// until the retention ends. The index is kept short because the server
// holds every live subject in memory: one entry per invocation in the last
// IndexTTL.
//
// The index is the costly part of storing records: one stored message per
// invocation, where a batch holds hundreds (measured on 2 cores: about
// 2.5 µs of flusher time per record without the index, 7 µs with it, all
// off the invocation's path; BenchmarkFlush). Config.NoIndex drops it; Get
// then reads every record stored in the last IndexTTL, which suits a node
// with many invocations and few lookups by id. The nodes sharing a stream
// should agree on NoIndex.
package records
