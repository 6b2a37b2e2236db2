package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/registry"
)

// FuzzParse checks that ParseWith never panics, that it is deterministic,
// that it returns either a Project that keeps the package's rules (see
// checkProject) or an *Error, that the caller's checks only see valid JSON
// objects and zones time.LoadLocation accepts, and that every problem has a
// position (line ≥ 1; column ≥ 1 except for YAML syntax errors, whose column
// the YAML parser does not report).
func FuzzParse(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	valid, _ := filepath.Glob(filepath.Join("testdata", "valid", "*.yaml"))
	for _, in := range append(inputs, valid...) {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("app: shop\nfunctions:\n  api:\n    build: ./api\n    events:\n      - http: GET /orders/{id}\n"))
	f.Add([]byte("app: t\nx-d: &d {memory: 256}\nfunctions:\n  a: {<<: *d, build: ./a, env: {A: 1}}\n"))
	f.Add([]byte("app: t\nfunctions:\n  p: {runtime: process, handler: ./h, timeout: 90, concurrency: 2, provisioned: 1}\n"))
	f.Add([]byte("app: t\nfunctions:\n  w:\n    build: ./w\n    async: {retries: 0, maxEventAge: 1d, onFailure: \"queue:q\"}\n    permissions: {publish: [\"*\"], send: [q]}\n    events:\n      - queue: {name: q, batch: 11, window: 1s}\n      - topic: {name: t, filter: {a: [1, {prefix: x}]}}\n      - schedule: {expression: rate(1 day), timezone: UTC, input: [1]}\nqueues: {q: {dlq: d, maxMessageSize: 1MiB, retention: 1d1h}, d: }\ntopics: {t: {subscriptions: [{http: \"https://h/x\", raw: true}]}}\n"))
	f.Add([]byte("app: t\nfunctions: {a: {build: ./a, events: [{queue: x}, {topic: x}]}}\nqueues: {x: {visibility: 1}}\ntopics: {x: {subscriptions: [{queue: x, filter: {1: [.inf]}}]}}\n"))
	f.Add([]byte("app: t\nfunctions:\n  a:\n    build: ./a\n    permissions: {tables: [orders:rw, \"*:r\"], buckets: [up.loads:w], http: [API.example.com., \"*.example.com:443\", \"[::1]:8080\", \"*\"]}\n    events:\n      - bucket: up.loads\n      - bucket: {name: up.loads, on: [removed, \"s3:ObjectCreated:*\"], prefix: a/, suffix: .jpg}\ntables: {orders: {}, audit: }\nbuckets:\n  up.loads: {events: [{queue: q, on: ObjectRemoved, prefix: b/}, {topic: t, suffix: .png}]}\n  thumbs:\n"))
	f.Add([]byte("app: t\nfunctions:\n  a: {build: ./a, permissions: {kv: [x:wr, y], tables: [z:r]}, events: [{bucket: {name: b-1, on: []}}]}\n  b: {build: ./b, events: [{bucket: b-1}, {bucket: {name: b-1, prefix: \"\"}}]}\nbuckets: {b-1: {events: [{queue: x, topic: y}, {function: a}]}, 1.2.3.4: {}, Bad: 1}\ntables: {b-1: {ttl: 1}}\n"))
	f.Add([]byte("app: t\nx-s: &s {warmup: {rawPath: /, n: [1, 2.5, null]}}\nfunctions:\n  a: {build: ./a, snapshot: *s}\n  b: {build: ./b, snapshot: {<<: *s, warmpu: 1}}\n  c: {runtime: process, handler: ./c, snapshot: false}\n  d: {runtime: process, handler: ./d, snapshot: {}}\n"))
	checks := Checks{
		Schedule: func(expr, tz string) error {
			if expr == "" {
				panic("Schedule checked an empty expression")
			}
			if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
				panic(fmt.Sprintf("Schedule checked the zone %q: %v", tz, err))
			}
			return nil
		},
		FilterPolicy: func(policy []byte, scope string) error {
			if !json.Valid(policy) || len(policy) == 0 || policy[0] != '{' {
				panic(fmt.Sprintf("FilterPolicy checked %q, not a JSON object", policy))
			}
			if scope != FilterScopeAttributes && scope != FilterScopeBody {
				panic(fmt.Sprintf("FilterPolicy checked the scope %q", scope))
			}
			return nil
		},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseWith("gureum.yaml", data, checks)
		if _, again := ParseWith("gureum.yaml", data, checks); (err == nil) != (again == nil) || err != nil && err.Error() != again.Error() {
			t.Fatalf("Parse is not deterministic: %v, then %v", err, again)
		}
		if err == nil {
			if p == nil {
				t.Fatal("nil Project and nil error")
			}
			checkProject(t, p)
			return
		}
		if p != nil {
			t.Fatal("a Project with an error")
		}
		var merr *Error
		if !errors.As(err, &merr) {
			t.Fatalf("error is %T, want *Error: %v", err, err)
		}
		if len(merr.Problems) == 0 {
			t.Fatal("*Error with no problems")
		}
		for _, pr := range merr.Problems {
			if pr.Line < 1 || pr.Column < 0 || pr.Message == "" {
				t.Fatalf("problem without a position or message: %+v", pr)
			}
			if pr.Column == 0 && !isSyntaxProblem(pr) {
				t.Fatalf("problem without a column: %+v", pr)
			}
		}
	})
}

func isSyntaxProblem(p Problem) bool {
	return strings.HasPrefix(p.Message, "YAML syntax error:")
}

// checkProject checks the rules a valid Project keeps.
func checkProject(t *testing.T, p *Project) {
	t.Helper()
	consumer := make(map[string]string) // queue → function
	type note struct {
		on             []string
		prefix, suffix string
	}
	notes := make(map[string][]note) // bucket → its notifications
	for _, fn := range p.Functions {
		if a := fn.Async; a != nil && (a.Retries < 0 || a.Retries > maxRetries || a.MaxEventAge < minMaxEventAge || a.MaxEventAge > maxMaxEventAge || a.OnFailure != "" && a.DLQ != "") {
			t.Fatalf("function %s: async %+v", fn.Name, *a)
		}
		checkPermissions(t, fn)
		if fn.Runtime == RuntimeProcess && fn.Snapshot {
			t.Fatalf("process function %s takes snapshots", fn.Name)
		}
		if w := fn.SnapshotWarmup; w != nil && (!fn.Snapshot || !json.Valid(w) || len(w) > registry.MaxSnapshotWarmup) {
			t.Fatalf("function %s: snapshot %t with warm-up %q", fn.Name, fn.Snapshot, w)
		}
		for _, ev := range fn.Events {
			kinds := 0
			for _, set := range []bool{ev.HTTP != nil, ev.Queue != nil, ev.Topic != nil, ev.Schedule != nil, ev.Bucket != nil} {
				if set {
					kinds++
				}
			}
			if kinds != 1 {
				t.Fatalf("function %s has an event with %d kinds", fn.Name, kinds)
			}
			switch {
			case ev.HTTP != nil:
				if _, err := ParseRoutePath(ev.HTTP.Path); err != nil {
					t.Fatalf("accepted route %q: %v", ev.HTTP.Path, err)
				}
			case ev.Queue != nil:
				q := ev.Queue
				if !validName(q.Name, maxQueueName) || q.Batch < 1 || q.Batch > maxBatch || q.Batch > maxBatchNoWindow && q.Window == 0 ||
					q.Window < 0 || q.Window > maxWindow || q.Concurrency != 0 && (q.Concurrency < minEventConcurrency || q.Concurrency > maxEventConcurrency) {
					t.Fatalf("function %s: queue event %+v", fn.Name, *q)
				}
				if other, dup := consumer[q.Name]; dup {
					t.Fatalf("queue %s consumed by %s and %s", q.Name, other, fn.Name)
				}
				consumer[q.Name] = fn.Name
				if dq := p.Queue(q.Name); dq != nil && dq.Visibility < fn.Timeout {
					t.Fatalf("queue %s's visibility %v < function %s's timeout %v", q.Name, dq.Visibility, fn.Name, fn.Timeout)
				}
			case ev.Topic != nil:
				tp := ev.Topic
				if !validName(tp.Name, maxTopicName) || tp.FilterScope != FilterScopeAttributes && tp.FilterScope != FilterScopeBody || tp.Filter != nil && !json.Valid(tp.Filter) {
					t.Fatalf("function %s: topic event %+v", fn.Name, *tp)
				}
			case ev.Schedule != nil:
				s := ev.Schedule
				if s.Expression == "" || s.Input != nil && (!json.Valid(s.Input) || len(s.Input) > maxScheduleInput) {
					t.Fatalf("function %s: schedule event %+v", fn.Name, *s)
				}
			case ev.Bucket != nil:
				b := ev.Bucket
				if !validBucketName(b.Name) || !validOn(b.On) || len(b.Prefix) > maxKeyFilter || len(b.Suffix) > maxKeyFilter {
					t.Fatalf("function %s: bucket event %+v", fn.Name, *b)
				}
				notes[b.Name] = append(notes[b.Name], note{b.On, b.Prefix, b.Suffix})
			}
		}
	}
	for _, q := range p.Queues {
		if !validName(q.Name, maxQueueName) || q.DLQ == q.Name || (q.DLQ == "") != (q.MaxReceives == 0) || q.MaxReceives > maxReceives ||
			q.Visibility < 0 || q.Visibility > maxVisibility || q.Retention < minRetention || q.Retention > maxRetention ||
			q.Delay < 0 || q.Delay > maxDelay || q.MaxMessageBytes < minMessageSize || q.MaxMessageBytes > maxMessageSize {
			t.Fatalf("queue %+v", *q)
		}
	}
	for _, tp := range p.Topics {
		for _, s := range tp.Subscriptions {
			if (s.Queue == "") == (s.HTTP == "") || s.Filter != nil && !json.Valid(s.Filter) || s.DLQ != "" && s.DLQ == s.Queue {
				t.Fatalf("topic %s: subscription %+v", tp.Name, *s)
			}
		}
	}
	for _, tb := range p.Tables {
		if !validTableName(tb.Name) {
			t.Fatalf("table %q", tb.Name)
		}
	}
	for _, b := range p.Buckets {
		if !validBucketName(b.Name) {
			t.Fatalf("bucket %q", b.Name)
		}
		for _, n := range b.Notifications {
			if (n.Queue == "") == (n.Topic == "") || !validOn(n.On) || len(n.Prefix) > maxKeyFilter || len(n.Suffix) > maxKeyFilter {
				t.Fatalf("bucket %s: notification %+v", b.Name, *n)
			}
			notes[b.Name] = append(notes[b.Name], note{n.On, n.Prefix, n.Suffix})
		}
	}
	for bucket, ns := range notes {
		for i, a := range ns {
			for _, b := range ns[:i] {
				if _, shared := sharedKind(a.on, b.on); shared && nested(a.prefix, b.prefix, strings.HasPrefix) && nested(a.suffix, b.suffix, strings.HasSuffix) {
					t.Fatalf("bucket %s: overlapping notifications %+v and %+v", bucket, a, b)
				}
			}
		}
	}
}

// validOn reports whether on is a non-empty list of distinct object events.
func validOn(on []string) bool {
	if len(on) == 0 || len(on) > 2 {
		return false
	}
	for i, k := range on {
		if k != BucketCreated && k != BucketRemoved || i > 0 && on[0] == k {
			return false
		}
	}
	return true
}

// checkPermissions checks the rules a function's grants keep.
func checkPermissions(t *testing.T, fn *Function) {
	t.Helper()
	ps := fn.Permissions
	if ps == nil {
		return
	}
	if ps.Empty() {
		t.Fatalf("function %s: empty permissions are not nil", fn.Name)
	}
	lists := []struct {
		kind   string
		grants []Grant
	}{{kindTopic, ps.Publish}, {kindQueue, ps.Send}, {kindTable, ps.Tables}, {kindBucket, ps.Buckets}, {"host", ps.HTTP}}
	for _, l := range lists {
		seen := make(map[string]bool)
		for _, g := range l.grants {
			if seen[g.Name] || g.Line < 1 {
				t.Fatalf("function %s: %s grant %+v twice or without a line", fn.Name, l.kind, g)
			}
			seen[g.Name] = true
			switch l.kind {
			case kindTable, kindBucket:
				if g.Mode != ModeRead && g.Mode != ModeWrite && g.Mode != ModeReadWrite || g.Name != "*" && !validKindName(l.kind, g.Name) {
					t.Fatalf("function %s: %s grant %+v", fn.Name, l.kind, g)
				}
			case "host":
				if c, err := ParseHostGrant(g.Name); err != nil || c != g.Name || g.Mode != "" {
					t.Fatalf("function %s: host grant %+v is not canonical: %q, %v", fn.Name, g, c, err)
				}
			default:
				if g.Mode != "" || g.Name != "*" && !validKindName(l.kind, g.Name) {
					t.Fatalf("function %s: %s grant %+v", fn.Name, l.kind, g)
				}
			}
		}
	}
}

// FuzzParseHostGrant checks that ParseHostGrant never panics, that what it
// accepts is canonical (parsing it again gives it back) and lower-case, and
// that it refuses with a message.
func FuzzParseHostGrant(f *testing.F) {
	for _, s := range []string{"*", "api.example.com", "API.example.com.", "*.example.com:443", "[2001:db8::1]:8443", "10.0.0.1:80", "https://x/y", "a:0", "[::1", "*:1", "a..b", "[::ffff:1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseHostGrant(s)
		if err != nil {
			if got != "" || err.Error() == "" {
				t.Fatalf("ParseHostGrant(%q) = %q, %v", s, got, err)
			}
			return
		}
		if got != strings.ToLower(got) || got == "" {
			t.Fatalf("ParseHostGrant(%q) = %q, not lower-case", s, got)
		}
		again, err := ParseHostGrant(got)
		if err != nil || again != got {
			t.Fatalf("ParseHostGrant(%q) = %q, which parses as %q, %v", s, got, again, err)
		}
	})
}
