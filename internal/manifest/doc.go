// Package manifest parses and validates gureum.yaml, the file that describes
// a project: its app name and its functions.
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
//   - snapshot: true or false, default false. Experimental: a wasm function
//     starts its instances from a snapshot of one that has initialized
//     (see internal/engine/wasm/ABI.md); ignored for runtime: process.
//   - env: names match [A-Za-z_][A-Za-z0-9_]*, none starting with AWS_ or
//     taken by the Lambda runtime (_HANDLER, LAMBDA_TASK_ROOT, ...); values
//     are scalars kept as their YAML text; at most 4 KB in total.
//   - events: a list of single-key maps. http takes {method, path, auth} or
//     the shorthand "METHOD /path" (or "/path" for ANY). See [ParseRoutePath]
//     for paths. Two routes with the same method and shape are a conflict.
//
// Settings the design describes but this version does not implement (queues,
// topics, buckets, tables and workflows; queue, schedule, bucket, topic and
// stream events; permissions; apikey and jwt auth) are recognised and refused
// with a problem, never ignored: a route that silently lost its auth would be
// public. Unknown keys are problems too, with a suggestion when a known key is
// close. Top-level keys starting with "x-" are free for YAML anchors and are
// not read, as in Compose files.
//
// Anchors, aliases and merge keys (<<) work as in YAML. Merged keys come after
// a map's own keys, which win.
package manifest
