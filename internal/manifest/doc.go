// Package manifest parses and validates gureum.yaml, the file that describes
// a project: its app name, its functions and their events, its queues and
// topics, and its tables and buckets.
//
// Parse checks a manifest's text alone; Load also checks the files it names.
// Either returns a complete, valid [Project] or an [*Error] that lists every
// problem found, each with its file, line and column, the dotted path of the
// setting (functions.api.memory) and a message that says what is wrong and how
// to fix it. A broken manifest never yields a partial Project.
//
// # Rules
//
// The defaults and limits follow AWS Lambda unless a rule says otherwise.
//
//   - app: required; 1–63 lowercase letters, digits and '-', starting and
//     ending with a letter or digit (it ends up in names and URLs).
//   - functions: required, at least one; names are 1–64 letters, digits, '-'
//     and '_' (Lambda's rule).
//   - runtime: wasm (default) or process. A wasm function has exactly one of
//     build (a Go package directory) or artifact (a .wasm module); a process
//     function has exactly one of build (built natively) or handler (an
//     executable inside the project). Paths are relative to the manifest's
//     directory; absolute paths are refused so that a manifest works on every
//     machine it is checked out on.
//   - memory: whole MiB, 128–10240, default 128; wasm at most 4096, because a
//     wasm32 memory cannot grow beyond 4 GiB.
//   - timeout: a Go duration (10s, 1m30s, 1500ms) or whole seconds; 1s–15m,
//     in whole milliseconds; default 3s.
//   - concurrency ≥ 0 (0 = the node's default); provisioned ≥ 0 and at most
//     concurrency when concurrency is set.
//   - snapshot: true, false or {warmup: EVENT}; default [DefaultWasmSnapshot]
//     for wasm, false for process, resolved at parse time so that the
//     deployed configuration is explicit. A wasm function starts its
//     instances from a snapshot of one that has initialized (see
//     docs/snapshots.md). The map form turns snapshots on; warmup, its only
//     key, is an event (any value, converted to JSON; at most 256 KiB, not
//     empty) that the instance whose snapshot is taken serves once before
//     the snapshot, its host calls refused and its result discarded; if it
//     fails, no snapshot is taken. A process function may write only
//     snapshot: false.
//   - env: names match [A-Za-z_][A-Za-z0-9_]*, none starting with AWS_ or
//     taken by the Lambda runtime (_HANDLER, LAMBDA_TASK_ROOT, ...); values
//     are scalars kept as their YAML text; at most 4 KB in total.
//   - events: a list of single-key maps. http takes {method, path, auth} or
//     the shorthand "METHOD /path" (or "/path" for ANY). See [ParseRoutePath]
//     for paths. Two routes with the same method and shape are a conflict.
//     queue takes a name or {name, batch, window, concurrency}; a queue has
//     one consumer function, and a queue the manifest declares must have a
//     visibility at least the function's timeout. topic takes a name or
//     {name, filter, filterScope}, once per topic and function. schedule
//     takes an expression or {expression, timezone, input}. bucket takes a
//     name or {name, on, prefix, suffix}: on lists created and/or removed
//     (default [created]; S3's s3:ObjectCreated:* and s3:ObjectRemoved:*
//     are read as these, narrower S3 kinds are refused), prefix and suffix
//     filter the keys (at most 1024 bytes, no control characters).
//   - async: retries 0–2 (default 2), maxEventAge 1m–6h (default 6h),
//     onSuccess and onFailure destinations (queue:NAME, topic:NAME or
//     function:NAME, not the function itself) and dlq, a queue; onFailure and
//     dlq exclude each other.
//   - permissions: publish (topics) and send (queues), lists of names or
//     "*"; tables (or kv, its design name; not both) and buckets, lists of
//     NAME:MODE with MODE r, w or rw, always written, and NAME a name or
//     "*"; http, hosts a function may reach: a host name or IP address
//     (IPv6 in brackets), optionally led by "*." (every subdomain) and
//     followed by :PORT (1-65535), or "*"; hosts are lower-cased. Every
//     grant is listed once.
//   - queues: names are 1–80 letters, digits, '-' and '_'; visibility
//     0s–12h (30s), retention 1m–14d (4d), delay 0s–15m (0s), maxReceives
//     1–1000 and dlq (another queue) go together, a dlq alone receiving
//     maxReceives 5; maxMessageSize 1KiB–1MiB (256KiB). Durations take a
//     day suffix too (4d, 1d12h).
//   - topics: names are 1–64 letters, digits, '-' and '_'; subscriptions
//     deliver to a queue or an http(s) URL, each target once, with an
//     optional filter, raw delivery and dlq.
//   - tables: names are 1–64 letters, digits, '-' and '_', starting with a
//     letter or digit; a table has no settings yet ({} or nothing).
//   - buckets: names follow S3's rule: 3–63 lower-case letters, digits, '-'
//     and '.', starting and ending with a letter or digit, no "..", not an
//     IPv4 address. events lists notifications to a queue or a topic (one
//     of them) with on, prefix and suffix as in a bucket event.
//   - Notifications of one bucket, its own and the functions' bucket
//     events together, may not overlap, as S3 refuses: two overlap when
//     they share an event kind, one prefix starts the other and one suffix
//     ends the other. At most 100 per bucket.
//
// A queue, topic, table or bucket named by a setting need not be declared:
// it may exist on the node, which checks at deploy. A name declared only as
// another kind (a queue setting naming a topic, a table grant naming a
// bucket) is a problem. Filter policies, schedule inputs and snapshot
// warm-up events are YAML converted to JSON: numbers stay numbers, strings
// strings, and what JSON cannot hold (keys that are not strings, .inf, .nan,
// binary) is a problem. Schedule expressions and filter policies are checked
// by the functions the caller passes in [Checks] ([ParseWith], [LoadWith]);
// time zones are checked here with time.LoadLocation.
//
// Settings the design describes but this version does not implement
// (workflows; stream events; the env and secrets permissions; apikey and
// jwt auth) are recognised and refused with a problem, never ignored: a
// route that silently lost its auth would be public. Unknown keys are
// problems too, with a suggestion when a known key, or the AWS name of one,
// is close. Top-level keys starting with "x-" are free for YAML anchors and
// are not read, as in Compose files.
//
// Anchors, aliases and merge keys (<<) work as in YAML. Merged keys come after
// a map's own keys, which win.
package manifest
