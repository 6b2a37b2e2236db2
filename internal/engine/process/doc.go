// Package process runs functions as native executables (`runtime: process`)
// behind a per-instance AWS Lambda Runtime API, so a bootstrap written for
// Lambda's custom runtimes — aws-lambda-go, a Python or shell loop, any
// language — runs unchanged.
//
// # Instances
//
// Each instance is one process in its own process group with its own Runtime
// API endpoint: an HTTP server on 127.0.0.1 and a random port, handed to the
// process in AWS_LAMBDA_RUNTIME_API. The process gets only the Lambda
// variables and the function's own environment (see [Function.NewInstance]),
// the artifact's directory as working directory and no arguments. An
// instance is ready once the process asks for its first event
// (GET /2018-06-01/runtime/invocation/next); it fails initialization when the
// process exits first, posts /runtime/init/error or takes longer than
// Config.InitTimeout. AWS_LAMBDA_INITIALIZATION_TYPE is always on-demand: the
// engine cannot tell a provisioned instance from another.
//
// # Host API
//
// When Spec.HostURL is set, the process also gets GUREUM_HOST_URL (the base
// URL of the node's host API, internal/host) and GUREUM_HOST_TOKEN (the
// bearer token of this function version), through which the Go SDK's
// Publish and Send reach the node; what the token may do is decided by the
// node from the function's grants at each call. The function's own
// environment cannot set or replace these two. No other secret of the node
// is ever put in a function's environment. Request.Host is not used: the
// host API's handler binds each call to the function from the token, and
// labels it with the request id and trace header the SDK sends.
//
// # Runtime API
//
// The endpoint answers as Lambda does; the status codes and error documents
// follow AWS's runtime interface emulator, which real clients are written
// against. next blocks until an event and answers 200 with
// Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms,
// Lambda-Runtime-Invoked-Function-Arn and Lambda-Runtime-Trace-Id (X-Ray's
// form; a W3C traceparent is translated). response and error answer 202
// {"status":"OK"}; an unknown request id answers 400 InvalidRequestID; a
// second result for the same request, or an init error after init, answers
// 403 InvalidStateTransition; a result over engine.MaxResponseBytes answers
// 413 RequestEntityTooLarge and fails the invocation with
// engine.ErrResponseTooLarge; unknown paths answer 404. A next call while an
// event is in flight delivers the same event again, so a client that lost
// its connection can pick it up.
//
// Invoke returns when the result is posted. After a function error it waits
// up to 100 ms more for the runtime to ask for the next event or to exit (as
// aws-lambda-go does after a panic), so that [Instance.Done] tells the pool
// whether the instance lives on. An instance whose process exited between
// invocations fails the next Invoke with engine.ErrCrashed before the event
// is delivered, so that invocation can safely be retried elsewhere.
//
// # Output
//
// stdout and stderr are separate pipes read by two goroutines per instance.
// All reads happen under one lock, and at the end of an invocation the pipes
// are drained without blocking, so everything the process wrote before it
// posted its result lands in that request's log, whole lines at a time.
// Output written while no invocation is in progress goes to the writer given
// to NewInstance.
//
// # Memory
//
// With cgroups v2 (a writable hierarchy with the memory controller, see
// Config.Cgroup) each instance gets its own cgroup with memory.max set to the
// function's memory, swap off, memory.oom.group set and pids.max 1024, like
// Lambda's sandbox; the kernel's OOM kill is reported as a crash with
// "Runtime.OutOfMemory". This needs clone3's CLONE_INTO_CGROUP (Linux 5.7).
//
// Without cgroups the limit is RLIMIT_DATA. RLIMIT_AS is unusable: the Go
// runtime reserves hundreds of MiB of address space at start (its page
// summary), so a Go function dies before main at 128, 256 or 512 MiB alike.
// RLIMIT_DATA counts private writable mappings only, so reservations made
// with PROT_NONE are free and memory counts once it is mapped for use.
// Measured on Linux 6.x with RLIMIT_DATA at 128 MiB: a Go program keeps about
// 80 MiB live (its heap goal is twice the live heap), then dies with "fatal
// error: runtime: out of memory", which is reported as a crash with
// Runtime.OutOfMemory; Python gets MemoryError at about 119 MiB, which a
// Python runtime reports as the function's error and lives on; sh works. A
// thread stack counts too (8 MiB per pthread).
//
// The limit must be in place before the function's first instruction: a
// process can mmap any amount before a late prlimit and touch it afterwards.
// So the process is started with PTRACE_TRACEME, which stops it at its exec;
// the engine sets the limits with prlimit and detaches, and only then does
// the function run. Where ptrace is not permitted (some seccomp profiles) the
// engine falls back to prlimit right after the start, which leaves the first
// microseconds of the process unlimited. RLIMIT_CORE is 0 and RLIMIT_NOFILE
// 1024, as on Lambda.
//
// Rlimits are per process: a child the function forks gets a budget of its
// own, nothing bounds the number of processes, and a child that leaves the
// process group (setsid) outlives the instance. Only cgroups close these
// gaps. Otherwise the whole process group (and the cgroup, if any) is killed
// on timeout, crash and Close, and the process is killed if the node dies
// (PR_SET_PDEATHSIG).
package process
