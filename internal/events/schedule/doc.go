// Package schedule runs scheduled function triggers with EventBridge
// semantics: rate(5 minutes), cron(0 12 * * ? *), at(2030-01-31T09:00:00)
// and plain five-field cron lines, each in an IANA time zone, firing once
// per tick across every node that shares a JetStream.
//
// # Expressions
//
// Parse accepts:
//
//   - rate(value unit): value a positive whole number, unit minute, hour or
//     day, singular with 1 and plural otherwise (rate(1 hour), rate(5
//     minutes)), as EventBridge requires, so that a manifest works on AWS
//     unchanged. Ticks are aligned to the Unix epoch in UTC, whatever the
//     time zone, so every node computes the same ticks without sharing any
//     state: rate(5 minutes) fires at :00, :05, :10, …; rate(1 hour) on the
//     hour; rate(1 day) at 00:00 UTC; rate(7 days) every seventh day counted
//     from 1970-01-01 (a Thursday).
//   - cron(minutes hours day-of-month month day-of-week year): EventBridge's
//     six fields. One of day-of-month and day-of-week must be ?. Day-of-week
//     is 1-7 with 1 = Sunday, or SUN-SAT; L (Saturday), 5L (the last
//     Thursday), 2#1 (the first Monday). Day-of-month takes L (last day), LW
//     (last weekday) and 15W (the weekday nearest the 15th). Year is
//     1970-2199. Ranges do not wrap (FRI-MON is an error; write
//     FRI-SAT,SUN-MON).
//   - at(yyyy-mm-ddThh:mm:ss): one tick, in the time zone; none once past.
//   - a plain cron line, minutes hours day-of-month month day-of-week, with
//     0-7 for day-of-week (0 and 7 = Sunday) or SUN-SAT, and cron's rule
//     that when both day fields are restricted a day matching either fires.
//     L, W, # and ? need the cron(...) form.
//
// Nothing ticks more often than once a minute. cron fields are evaluated by
// github.com/hashicorp/cronexpr on a translation that spells every list
// out in its numbering (Sunday = 0); its calendar ends in 2099, so no tick
// after 2099 is computed even though the year field accepts up to 2199.
//
// # Time zones and daylight saving time
//
// cron and at are evaluated on the wall clock of the schedule's time zone
// ("" = UTC). The policy is EventBridge Scheduler's: a wall-clock time that
// does not exist because clocks go forward is skipped (cron(30 2 * * ? *) in
// America/New_York does not fire on the day of the change); a wall-clock
// time that occurs twice because clocks go back fires once, the first time
// (so an hourly cron has one two-hour gap that night). An at() time in a
// gap is moved as Go's time.Date moves it. The zone database is Go's
// (the system's, or the one embedded in the binary through time/tzdata).
//
// # Once per tick across a cluster
//
// Every node runs every schedule. At a tick each node tries to create the
// key <schedule id>.<tick in Unix seconds> in the KV bucket
// gureum_schedule_ticks (keys expire after a day); the one that creates it
// calls Config.Fire, the others only record the tick. The lease holder
// retries a failing Fire a few times with backoff and then logs once; if
// it dies between taking the lease and firing, that tick is lost (at most
// once per tick). Nodes need synchronized clocks (NTP): a node whose clock
// runs ahead fires early.
//
// # Missed ticks
//
// Missed ticks are not fired in a burst. When a schedule starts (Start, or
// Set with a new or changed schedule) its first tick is the next one after
// now, and a node that wakes more than a minute after a tick (it was
// suspended, or stalled) skips that tick and resumes with the next future
// one. A node that was down fires nothing for the time it was down; other
// nodes fired those ticks.
//
// # Events
//
// Fire receives the EventBridge scheduled event, as aws-lambda-go's
// events.CloudWatchEvent marshals it: version "0", a random id, detail-type
// "Scheduled Event", source "aws.events", the tick as time (UTC, whole
// seconds), the configured region and account, resources
// ["arn:aws:events:REGION:ACCOUNT:rule/RULE"] with RULE = RuleName(id), and
// detail {}. A schedule with Input gets its Input bytes instead. The bytes
// stay the same across retries of one tick.
package schedule

import _ "time/tzdata" // time zones work on hosts without a zone database
