package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/admin/admintest"
	"github.com/gureum/gureum/internal/cli"
)

const token = "cli-test-token"

// result is what one run of the command line printed.
type result struct {
	code           int
	stdout, stderr string
}

// gureum runs command lines against one admin API server.
type gureum struct {
	t   *testing.T
	url string
	dir string
}

// serve starts the real admin handler over svc and returns a runner of the
// command line pointed at it.
func serve(t *testing.T, svc admin.Service) *gureum {
	t.Helper()
	srv := httptest.NewServer(admin.NewHandler(svc, token))
	t.Cleanup(srv.Close)
	return &gureum{t: t, url: srv.URL, dir: t.TempDir()}
}

func (g *gureum) run(args ...string) result {
	g.t.Helper()
	return g.runStdin("", args...)
}

func (g *gureum) runStdin(stdin string, args ...string) result {
	g.t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := cli.Run(ctx, args, cli.IO{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Env:    []string{"GUREUM_URL=" + g.url, "GUREUM_TOKEN=" + token},
		Dir:    g.dir,
	})
	return result{code, out.String(), errb.String()}
}

// ok runs a command line that must succeed and returns its stdout.
func (g *gureum) ok(args ...string) string {
	g.t.Helper()
	r := g.run(args...)
	if r.code != 0 {
		g.t.Fatalf("gureum %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command line that must fail with code and say wantErr.
func (g *gureum) fails(code int, wantErr string, args ...string) result {
	g.t.Helper()
	r := g.run(args...)
	if r.code != code || !strings.Contains(r.stderr, wantErr) {
		line := strings.Join(args, " ")
		if len(line) > 200 {
			line = line[:200] + "..."
		}
		g.t.Fatalf("gureum %s: exit %d, stderr %q; want exit %d saying %q", line, r.code, r.stderr, code, wantErr)
	}
	return r
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("%s: %q does not contain %q", what, got, w)
		}
	}
}

func TestQueueCommands(t *testing.T) {
	f := admintest.NewEvents()
	g := serve(t, f)

	contains(t, "empty ls", g.ok("queue", "ls"), "no queues; create one with 'gureum queue create NAME'")
	contains(t, "create", g.ok("queue", "create", "orders"), "created queue orders (visibility 30s, retention 96h0m0s)")
	contains(t, "update", g.ok("queue", "create", "orders", "--visibility", "1m", "--max-receives", "5", "--dlq", "orders-dlq"),
		"updated queue orders (visibility 1m0s", "dead letters to orders-dlq after 5 receives")
	// Settings not given keep their values.
	g.ok("queue", "create", "orders", "--retention", "1h")
	info, err := f.Queue(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if a := info.Attributes; a.Visibility.Std() != time.Minute || a.DLQ != "orders-dlq" || a.MaxReceives != 5 || a.Retention.Std() != time.Hour {
		t.Fatalf("attributes after a partial update: %+v", a)
	}
	var created admin.QueueInfo
	if err := json.Unmarshal([]byte(g.ok("queue", "create", "orders", "-o", "json")), &created); err != nil || created.Name != "orders" {
		t.Fatalf("create -o json: %+v %v", created, err)
	}

	// Send: an argument, standard input and a file, with attributes and delay.
	id := strings.TrimSpace(g.ok("queue", "send", "orders", `{"id":1}`, "--attr", "source=cli,web", "--number-attr", "priority=2", "--delay", "5s"))
	if id == "" || strings.Contains(id, " ") {
		t.Fatalf("send printed %q, want the message id", id)
	}
	s := f.Sends()[0].Entries[0]
	if s.Body != `{"id":1}` || s.DelaySeconds == nil || *s.DelaySeconds != 5 ||
		!reflect.DeepEqual(s.Attributes, map[string]admin.MessageAttribute{
			"source":   {DataType: "String", StringValue: "cli,web"},
			"priority": {DataType: "Number", StringValue: "2"},
		}) {
		t.Fatalf("sent %+v", s)
	}
	if r := g.runStdin("from stdin\n", "queue", "send", "orders", "-"); r.code != 0 || f.Sends()[1].Entries[0].Body != "from stdin\n" {
		t.Fatalf("send -: %+v, sent %+v", r, f.Sends()[1])
	}
	if sent := f.Sends()[1]; sent.Entries[0].DelaySeconds != nil {
		t.Fatalf("send without --delay asked for a delay: %+v", sent)
	}
	if err := os.WriteFile(filepath.Join(g.dir, "msg.txt"), []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.ok("queue", "send", "orders", "--file", "msg.txt")
	if got := f.Sends()[2].Entries[0].Body; got != "from a file" {
		t.Fatalf("send --file sent %q", got)
	}
	g.fails(1, "no message: give it as an argument", "queue", "send", "orders")
	g.fails(1, "not both", "queue", "send", "orders", "x", "--file", "msg.txt")
	g.fails(1, `"abc" is not a number`, "queue", "send", "orders", "x", "--number-attr", "n=abc")
	g.fails(1, "want NAME=VALUE", "queue", "send", "orders", "x", "--attr", "novalue")
	g.fails(1, "want whole seconds", "queue", "send", "orders", "x", "--delay", "1500ms")
	g.fails(1, "over the queue's limit (MessageTooLarge)", "queue", "send", "orders", strings.Repeat("x", 300<<10))
	if n := len(f.Sends()); n != 4 {
		t.Fatalf("refused sends reached the node: %d", n)
	}

	contains(t, "ls", g.ok("queue", "ls"), "NAME", "IN-FLIGHT", "orders", "3", "1m0s", "orders-dlq (after 5)")

	// Receive prints each message's id, receive count, attributes and body.
	out := g.ok("queue", "receive", "orders", "--wait", "0s", "--max", "2", "--visibility", "45s")
	contains(t, "receive", out, "message "+id+"  receive 1", "priority=2 source=cli,web", `{"id":1}`, "from stdin")
	if r := f.Receives()[0]; r.Max != 2 || r.WaitSeconds != 0 || r.VisibilitySeconds == nil || *r.VisibilitySeconds != 45 {
		t.Fatalf("receive request %+v", r)
	}
	// --delete deletes what it printed; -o json prints the answer as it is.
	r := g.run("queue", "receive", "orders", "--delete", "-o", "json")
	var got admin.ReceiveResponse
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || len(got.Messages) != 1 || got.Messages[0].Body != "from a file" {
		t.Fatalf("receive --delete -o json: %+v", r)
	}
	contains(t, "receive --delete", r.stderr, "deleted 1 messages")
	if q, err := f.Queue(context.Background(), "orders"); err != nil || q.InFlight != 2 || q.Visible != 0 {
		t.Fatalf("after receive --delete: %+v %v; want 2 in flight and 0 visible", q, err)
	}
	if r := f.Receives()[1]; r.Max != admin.MaxReceive || r.WaitSeconds != admin.MaxWaitSeconds || r.VisibilitySeconds != nil {
		t.Fatalf("receive defaults %+v", r)
	}
	contains(t, "empty receive", g.ok("queue", "receive", "orders", "--wait", "0s"), "no messages")
	g.fails(1, "--max 11: want 1 to 10", "queue", "receive", "orders", "--max", "11")
	g.fails(1, "--wait 30s", "queue", "receive", "orders", "--wait", "30s")

	contains(t, "purge", g.ok("queue", "purge", "orders"), "purged 2 messages from orders")
	contains(t, "rm", g.ok("queue", "rm", "orders"), "removed queue orders")
	r = g.fails(1, "see 'gureum queue ls'", "queue", "send", "orders", "x")
	contains(t, "send to a removed queue", r.stderr, "QueueNotFound")
	g.fails(1, "QueueNotFound", "queue", "rm", "orders")
	g.fails(1, "QueueNotFound", "queue", "purge", "orders")
}

func TestTopicCommands(t *testing.T) {
	f := admintest.NewEvents()
	g := serve(t, f)

	contains(t, "empty ls", g.ok("topic", "ls"), "no topics")
	contains(t, "create", g.ok("topic", "create", "order-events"), "created topic order-events")
	contains(t, "create again", g.ok("topic", "create", "order-events"), "topic order-events exists (0 subscriptions)")
	contains(t, "show empty", g.ok("topic", "show", "order-events"), "has no subscriptions")

	fnSub := strings.TrimSpace(g.ok("topic", "subscribe", "order-events", "--function", "audit"))
	qSub := strings.TrimSpace(g.ok("topic", "subscribe", "order-events", "--queue", "paid", "--filter", `{"type": ["paid"]}`,
		"--filter-scope", "body", "--raw", "--dlq", "events-dlq", "--max-attempts", "4"))
	var sub admin.Subscription
	if err := json.Unmarshal([]byte(g.ok("topic", "subscribe", "order-events", "--http", "https://hooks.example.com/x", "-o", "json")), &sub); err != nil {
		t.Fatal(err)
	}
	if sub.Protocol != "https" || sub.Endpoint != "https://hooks.example.com/x" {
		t.Fatalf("http subscription %+v", sub)
	}
	topic, err := f.Topic(context.Background(), "order-events")
	if err != nil {
		t.Fatal(err)
	}
	subs := topic.Subscriptions
	if len(subs) != 3 || subs[0].ID != fnSub || subs[0].Protocol != "function" || subs[0].Endpoint != "audit" ||
		subs[1].ID != qSub || subs[1].Protocol != "queue" || !subs[1].RawDelivery || subs[1].DLQ != "events-dlq" ||
		subs[1].MaxAttempts != 4 || subs[1].FilterScope != "body" {
		t.Fatalf("subscriptions %+v", subs)
	}
	g.fails(1, "exactly one of", "topic", "subscribe", "order-events", "--function", "a", "--queue", "b")
	g.fails(1, "exactly one of", "topic", "subscribe", "order-events")
	g.fails(1, "want an http:// or https:// URL", "topic", "subscribe", "order-events", "--http", "ftp://x")
	g.fails(1, "want a JSON object", "topic", "subscribe", "order-events", "--queue", "q", "--filter", "[1]")
	g.fails(1, `filterScope "headers"`, "topic", "subscribe", "order-events", "--queue", "q", "--filter-scope", "headers")

	contains(t, "ls", g.ok("topic", "ls"), "NAME", "SUBSCRIPTIONS", "order-events", "3")
	contains(t, "show", g.ok("topic", "show", "order-events"),
		"ID", "PROTOCOL", fnSub, "audit", qSub, `body {"type":["paid"]}`, "events-dlq", "https://hooks.example.com/x")

	id := strings.TrimSpace(g.ok("topic", "publish", "order-events", `{"order":1}`, "--subject", "paid", "--attr", "type=paid", "--number-attr", "total=9.5"))
	p := f.Published()[0]
	if id == "" || p.Message != `{"order":1}` || p.Subject != "paid" || p.Attributes["type"].StringValue != "paid" || p.Attributes["total"].DataType != "Number" {
		t.Fatalf("publish printed %q, sent %+v", id, p)
	}
	if r := g.runStdin("piped", "topic", "publish", "order-events", "-"); r.code != 0 || f.Published()[1].Message != "piped" {
		t.Fatalf("publish -: %+v", r)
	}
	g.fails(1, "the message is empty", "topic", "publish", "order-events", "")
	g.fails(1, "see 'gureum topic ls'", "topic", "publish", "nope", "x")

	contains(t, "unsubscribe", g.ok("topic", "unsubscribe", "order-events", fnSub), "removed subscription "+fnSub+" from order-events")
	g.fails(1, "see 'gureum topic show order-events'", "topic", "unsubscribe", "order-events", fnSub)
	g.fails(1, "TopicNotFound", "topic", "unsubscribe", "nope", fnSub)
	contains(t, "rm", g.ok("topic", "rm", "order-events"), "removed topic order-events")
	g.fails(1, "TopicNotFound", "topic", "show", "order-events")
}

func TestScheduleLs(t *testing.T) {
	f := admintest.NewEvents()
	g := serve(t, f)
	contains(t, "empty", g.ok("schedule", "ls"), "no schedules")

	now := time.Now()
	f.SetSchedules([]admin.ScheduleInfo{
		{ID: "report-0", Function: "report", Expression: "cron(0 12 * * ? *)", Timezone: "Europe/Paris",
			Next: now.Add(4*time.Minute + 30*time.Second), Last: now.Add(-10*time.Minute - 5*time.Second), LastError: "function failed:\nboom"},
		{ID: "tick-0", Function: "tick", Expression: "rate(5 minutes)", Next: now.Add(3*24*time.Hour + time.Hour)},
	})
	out := g.ok("schedule", "ls")
	contains(t, "ls", out, "FUNCTION", "LAST-ERROR", "report", "cron(0 12 * * ? *)", "Europe/Paris", "(in 4m)", "(10m ago)",
		"function failed: boom", "tick", "rate(5 minutes)", "UTC", "(in 3d)")
	if !regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in 4m\)`).MatchString(out) {
		t.Fatalf("next time not printed as a local date and time: %s", out)
	}
	var ss []admin.ScheduleInfo
	if err := json.Unmarshal([]byte(g.ok("schedule", "ls", "-o", "json")), &ss); err != nil || len(ss) != 2 {
		t.Fatalf("ls -o json: %v %+v", err, ss)
	}
}

func TestDLQCommands(t *testing.T) {
	f := admintest.NewEvents()
	g := serve(t, f)
	contains(t, "empty ls", g.ok("dlq", "ls"), "no dead-letter queues")
	if err := f.AddDeadLetters(context.Background()); err != nil {
		t.Fatal(err)
	}

	contains(t, "ls", g.ok("dlq", "ls"), "QUEUE", "SOURCES", "orders-dlq", "2", "queue:orders, function:resize")
	out := g.ok("dlq", "show", "orders-dlq")
	contains(t, "show", out, "message d-1", "source  queue:orders", "count   5", "reason  handler failed", "(1m ago)", `body    {"order":1}`,
		"message d-2", "source  function:resize", "reason  timeout")
	if n := f.PeekMax(); n != admin.DefaultPeek {
		t.Fatalf("show asked for %d messages, want %d", n, admin.DefaultPeek)
	}
	g.ok("dlq", "show", "orders-dlq", "--max", "1")
	if n := f.PeekMax(); n != 1 {
		t.Fatalf("show --max 1 asked for %d", n)
	}
	g.fails(1, "--max 101", "dlq", "show", "orders-dlq", "--max", "101")
	var ms []admin.Message
	if err := json.Unmarshal([]byte(g.ok("dlq", "show", "orders-dlq", "-o", "json")), &ms); err != nil || len(ms) != 2 || ms[1].DeadLetter.Count != 3 {
		t.Fatalf("show -o json: %v %+v", err, ms)
	}

	// One message goes back to its queue, one cannot: exit code 1.
	r := g.run("dlq", "replay", "orders-dlq")
	if r.code != 1 || r.stdout != "replayed 1, failed 1\n" {
		t.Fatalf("replay: %+v", r)
	}
	contains(t, "replay stderr", r.stderr, "d-2: no queue to replay to", "1 messages could not be replayed and stay in orders-dlq", "gureum dlq show orders-dlq")
	if q, err := f.Queue(context.Background(), "orders"); err != nil || q.Visible != 1 {
		t.Fatalf("replay did not send the message back to orders: %+v %v", q, err)
	}
	contains(t, "purge", g.ok("dlq", "purge", "orders-dlq"), "purged 1 messages from orders-dlq")
	if r := g.run("dlq", "replay", "orders-dlq", "--max", "5"); r.code != 0 || r.stdout != "replayed 0, failed 0\n" {
		t.Fatalf("replay of an empty queue: %+v", r)
	}
	contains(t, "show empty", g.ok("dlq", "show", "orders-dlq"), "orders-dlq is empty")
	g.fails(1, "QueueNotFound", "dlq", "replay", "nope")
}

func TestInvokeAsync(t *testing.T) {
	f := admintest.NewEvents()
	g := serve(t, f)
	if out := g.ok("invoke", "resize", "--async", "-d", `{"key":"a.png"}`, "-q", "live"); out != "req-1\n" {
		t.Fatalf("invoke --async printed %q, want the request id", out)
	}
	if c := f.AsyncCalls(); len(c) != 1 || c[0].Function != "resize" || c[0].Qualifier != "live" || c[0].Payload != `{"key":"a.png"}` {
		t.Fatalf("async calls %+v", c)
	}
	g.fails(1, "function not found", "invoke", "missing", "--async")
	g.fails(1, "need a synchronous invocation", "invoke", "resize", "--async", "--log")
}

// functionsOnly is a node that serves no events (an older node).
type functionsOnly struct{ admin.Service }

func TestCommandsAgainstANodeWithoutEvents(t *testing.T) {
	g := serve(t, functionsOnly{})
	for _, args := range [][]string{{"queue", "ls"}, {"topic", "ls"}, {"schedule", "ls"}, {"dlq", "ls"}} {
		g.fails(1, "is it an older gureum?", args...)
	}
	g.fails(1, "does not serve asynchronous invocations", "invoke", "fn", "--async")
}
