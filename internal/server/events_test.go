package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/testutil"
)

// fastEvents makes retries quick enough for tests.
func fastEvents(c *config.Config) {
	c.AsyncRetryBase = 100 * time.Millisecond
	c.EventRetryBase = 100 * time.Millisecond
}

// logLines returns the messages a function printed that start with prefix.
func logLines(t *testing.T, n *testutil.Node, fn, prefix string) []string {
	t.Helper()
	var out []string
	err := n.Client.Logs(context.Background(), fn, apiclient.LogQuery{Limit: 10000}, func(e observe.Entry) error {
		if m := strings.TrimSpace(e.Message); strings.HasPrefix(m, prefix) {
			out = append(out, strings.TrimSpace(strings.TrimPrefix(m, prefix)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("logs of %s: %v", fn, err)
	}
	return out
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}

func runCLI(t *testing.T, n *testutil.Node, args ...string) string {
	t.Helper()
	r := n.CLI(args...)
	if r.Code != 0 {
		t.Fatalf("gureum %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

func TestQueueTriggerPartialBatchFailureAndDeadLetter(t *testing.T) {
	n := testutil.StartServer(t, fastEvents)
	dir := project(t, "shop", `
  worker:
    build: EVENTFN
    timeout: 2s
    events:
      - queue: {name: orders, batch: 10, window: 500ms}
queues:
  orders: {visibility: 2s, maxReceives: 2, dlq: orders-dlq}
  orders-dlq: {}
`)
	if r := n.Deploy(dir); r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	for _, body := range []string{"ok-1", "ok-2", "fail-3", "ok-4"} {
		runCLI(t, n, "queue", "send", "orders", body)
	}
	// The failing message is received twice (maxReceives 2), then moved to
	// the dead-letter queue with its count and reason; the others are
	// processed once and deleted.
	var dl []admin.Message
	testutil.Eventually(t, 30*time.Second, "fail-3 in orders-dlq", func() bool {
		msgs, err := n.Server.PeekMessages(context.Background(), "orders-dlq", 10)
		dl = msgs
		return err == nil && len(msgs) == 1
	})
	m := dl[0]
	if m.Body != "fail-3" || m.DeadLetter == nil || m.DeadLetter.Source != "queue:orders" || m.DeadLetter.Count < 2 {
		t.Fatalf("dead-lettered message: %+v (info %+v)", m, m.DeadLetter)
	}
	// Log lines reach the log stream in batches; wait for the last ones.
	var lines []string
	testutil.Eventually(t, 10*time.Second, "both receives of fail-3 logged", func() bool {
		lines = logLines(t, n, "worker", "sqs ")
		return count(lines, "fail-3") >= 2
	})
	for _, ok := range []string{"ok-1", "ok-2", "ok-4"} {
		if c := count(lines, ok); c != 1 {
			t.Errorf("%s processed %d times, want once (partial batch failure retries only failed items): %q", ok, c, lines)
		}
	}
	if c := count(lines, "fail-3"); c != 2 {
		t.Errorf("fail-3 processed %d times, want 2 (maxReceives): %q", c, lines)
	}
	q, err := n.Server.Queue(context.Background(), "orders")
	if err != nil || q.Visible != 0 || q.InFlight != 0 {
		t.Fatalf("orders after processing: %+v, %v", q, err)
	}

	// dlq ls lists it; replay sends it back to orders, where it fails again
	// and returns to the dead-letter queue.
	if out := runCLI(t, n, "dlq", "ls"); !strings.Contains(out, "orders-dlq") || !strings.Contains(out, "queue:orders") {
		t.Fatalf("dlq ls: %s", out)
	}
	if out := runCLI(t, n, "dlq", "show", "orders-dlq"); !strings.Contains(out, "fail-3") {
		t.Fatalf("dlq show: %s", out)
	}
	if out := runCLI(t, n, "dlq", "replay", "orders-dlq"); !strings.Contains(out, "replayed 1") {
		t.Fatalf("dlq replay: %s", out)
	}
	testutil.Eventually(t, 30*time.Second, "fail-3 back in orders-dlq after replay", func() bool {
		return count(logLines(t, n, "worker", "sqs "), "fail-3") == 4
	})
	testutil.Eventually(t, 30*time.Second, "fail-3 dead-lettered again", func() bool {
		msgs, err := n.Server.PeekMessages(context.Background(), "orders-dlq", 10)
		return err == nil && len(msgs) == 1
	})
	if out := runCLI(t, n, "dlq", "purge", "orders-dlq"); !strings.Contains(out, "1") {
		t.Fatalf("dlq purge: %s", out)
	}
}

func TestQueueCLIRoundTrip(t *testing.T) {
	n := testutil.StartServer(t)
	runCLI(t, n, "queue", "create", "jobs", "--visibility", "1s")
	if out := runCLI(t, n, "queue", "ls"); !strings.Contains(out, "jobs") {
		t.Fatalf("queue ls: %s", out)
	}
	id := strings.TrimSpace(runCLI(t, n, "queue", "send", "jobs", "hello", "--attr", "kind=greeting"))
	if id == "" {
		t.Fatal("queue send printed no message id")
	}
	out := runCLI(t, n, "queue", "receive", "jobs", "--wait", "2s", "-o", "json")
	var got []admin.Message
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		var rr admin.ReceiveResponse
		if err2 := json.Unmarshal([]byte(out), &rr); err2 != nil {
			t.Fatalf("receive -o json: %v / %v: %s", err, err2, out)
		}
		got = rr.Messages
	}
	if len(got) != 1 || got[0].Body != "hello" || got[0].MessageID != id || got[0].Attributes["kind"].StringValue != "greeting" {
		t.Fatalf("received %+v, want hello with id %s", got, id)
	}
	// Not deleted: visible again after the 1 s visibility timeout, with a
	// higher receive count.
	testutil.Eventually(t, 10*time.Second, "redelivery", func() bool {
		res, err := n.Server.ReceiveMessages(context.Background(), "jobs", admin.ReceiveRequest{Max: 1, WaitSeconds: 1})
		if err != nil || len(res.Messages) != 1 {
			return false
		}
		if res.Messages[0].ReceiveCount < 2 {
			t.Fatalf("receive count %d after redelivery", res.Messages[0].ReceiveCount)
		}
		del, err := n.Server.DeleteMessages(context.Background(), "jobs", []string{res.Messages[0].ReceiptHandle})
		if err != nil || del.Errors[0] != nil {
			t.Fatalf("delete: %+v %v", del, err)
		}
		return true
	})
	// Errors a user can act on.
	if r := n.CLI("queue", "send", "nope", "x"); r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "nope") {
		t.Fatalf("send to unknown queue: %+v", r)
	}
	big := strings.Repeat("x", 300<<10)
	if r := n.CLI("queue", "send", "jobs", big); r.Code == 0 {
		t.Fatalf("oversized message accepted: %+v", r.Stdout)
	}
	runCLI(t, n, "queue", "rm", "jobs")
	if r := n.CLI("queue", "receive", "jobs"); r.Code == 0 {
		t.Fatalf("receive from removed queue: %+v", r)
	}
}

func TestTopicFanOutFilterAndFailingSubscriber(t *testing.T) {
	n := testutil.StartServer(t, fastEvents)
	dir := project(t, "shop", `
  all:
    build: EVENTFN
    events:
      - topic: order-events
  big:
    build: EVENTFN
    events:
      - topic: {name: order-events, filter: {size: [{numeric: [">=", 100]}]}}
  broken:
    build: EVENTFN
    async: {retries: 0}
    events:
      - topic: order-events
topics:
  order-events:
    subscriptions:
      - queue: audit
        raw: true
queues:
  audit: {}
`)
	if r := n.Deploy(dir); r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	runCLI(t, n, "topic", "publish", "order-events", "small order", "--number-attr", "size=5")
	runCLI(t, n, "topic", "publish", "order-events", "big order", "--number-attr", "size=500")
	runCLI(t, n, "topic", "publish", "order-events", "fail now", "--number-attr", "size=1")

	testutil.Eventually(t, 30*time.Second, "fan-out to every subscriber", func() bool {
		all := logLines(t, n, "all", "sns ")
		return count(all, "small order") == 1 && count(all, "big order") == 1 && count(all, "fail now") >= 1 &&
			len(logLines(t, n, "big", "sns ")) == 1
	})
	if got := logLines(t, n, "big", "sns "); got[0] != "big order" {
		t.Fatalf("filtered subscriber got %q", got)
	}
	var raw []string
	testutil.Eventually(t, 10*time.Second, "raw copies in the audit queue", func() bool {
		msgs, err := n.Server.PeekMessages(context.Background(), "audit", 10)
		raw = raw[:0]
		for _, m := range msgs {
			raw = append(raw, m.Body)
		}
		return err == nil && len(msgs) == 3
	})
	slices.Sort(raw)
	if want := []string{"big order", "fail now", "small order"}; !slices.Equal(raw, want) {
		t.Fatalf("audit queue: %q, want %q (raw delivery keeps the message as published)", raw, want)
	}
	// "broken" fails on "fail now" and has no retries: the failed
	// notification is dead-lettered with its source, and the other
	// subscribers were not held up by it.
	testutil.Eventually(t, 30*time.Second, "failed notification dead-lettered", func() bool {
		msgs, err := n.Server.PeekMessages(context.Background(), "fn-broken-dlq", 10)
		return err == nil && len(msgs) == 1 && msgs[0].DeadLetter != nil && msgs[0].DeadLetter.Source == "function:broken"
	})
	if out := runCLI(t, n, "topic", "ls"); !strings.Contains(out, "order-events") {
		t.Fatalf("topic ls: %s", out)
	}
	// Bad filter policies are refused with a clear error.
	if r := n.CLI("topic", "subscribe", "order-events", "--queue", "audit", "--filter", `{"size":[{"numeric":[">>",1]}]}`); r.Code == 0 {
		t.Fatalf("malformed filter policy accepted: %+v", r)
	}
}

func TestAsyncInvocationRetriesDestinationsAndReplay(t *testing.T) {
	n := testutil.StartServer(t, fastEvents)
	dir := project(t, "jobs", `
  job:
    build: EVENTFN
    async: {retries: 2, onSuccess: "queue:done"}
queues:
  done: {}
`)
	if r := n.Deploy(dir); r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	id := strings.TrimSpace(runCLI(t, n, "invoke", "job", "--async", "--data", `{"msg":"works"}`))
	if id == "" {
		t.Fatal("invoke --async printed no request id")
	}
	var rec struct {
		RequestContext struct {
			RequestID string `json:"requestId"`
			Condition string `json:"condition"`
		} `json:"requestContext"`
		ResponsePayload struct {
			Msg string `json:"msg"`
		} `json:"responsePayload"`
	}
	testutil.Eventually(t, 30*time.Second, "success record in done", func() bool {
		msgs, err := n.Server.PeekMessages(context.Background(), "done", 10)
		if err != nil || len(msgs) != 1 {
			return false
		}
		return json.Unmarshal([]byte(msgs[0].Body), &rec) == nil
	})
	if rec.RequestContext.RequestID != id || rec.RequestContext.Condition != "Success" || rec.ResponsePayload.Msg != "works" {
		t.Fatalf("success record: %+v, want request %s", rec, id)
	}

	// A failing event runs 1 + 2 retries, then lands in the function's
	// automatic dead-letter queue with the attempts recorded.
	runCLI(t, n, "invoke", "job", "--async", "--data", `{"msg":"breaks","fail":true}`)
	var dl []admin.Message
	testutil.Eventually(t, 30*time.Second, "failed event dead-lettered", func() bool {
		msgs, err := n.Server.PeekMessages(context.Background(), "fn-job-dlq", 10)
		dl = msgs
		return err == nil && len(msgs) == 1
	})
	if d := dl[0].DeadLetter; d == nil || d.Source != "function:job" || d.Count != 3 || !strings.Contains(d.Reason, "failed on purpose") {
		t.Fatalf("dead letter: %+v", dl[0].DeadLetter)
	}
	testutil.Eventually(t, 10*time.Second, "three attempts logged", func() bool {
		return count(logLines(t, n, "job", "event "), "breaks") == 3
	})
	// Replay runs it again (and it fails again: 3 more attempts).
	if out := runCLI(t, n, "dlq", "replay", "fn-job-dlq"); !strings.Contains(out, "replayed 1") {
		t.Fatalf("replay: %s", out)
	}
	testutil.Eventually(t, 30*time.Second, "replayed event runs again", func() bool {
		return count(logLines(t, n, "job", "event "), "breaks") == 6
	})

	// The Lambda Invoke API with InvocationType Event: 202, then it runs.
	client := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(n.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}, nil
		}),
	})
	out, err := client.Invoke(context.Background(), &lambda.InvokeInput{
		FunctionName:   aws.String("job"),
		InvocationType: types.InvocationTypeEvent,
		Payload:        []byte(`{"msg":"from the sdk"}`),
	})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Invoke Event: %+v, %v", out, err)
	}
	testutil.Eventually(t, 30*time.Second, "SDK event ran", func() bool {
		return count(logLines(t, n, "job", "event "), "from the sdk") == 1
	})
	// Unknown functions are refused before anything is accepted.
	if _, err := client.Invoke(context.Background(), &lambda.InvokeInput{
		FunctionName: aws.String("nope"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`),
	}); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Fatalf("Invoke Event of unknown function: %v", err)
	}
}

func TestScheduleList(t *testing.T) {
	n := testutil.StartServer(t)
	dir := project(t, "cron", `
  nightly:
    build: EVENTFN
    events:
      - schedule: {expression: "cron(0 3 * * ? *)", timezone: Europe/Paris}
      - schedule: rate(5 minutes)
`)
	if r := n.Deploy(dir); r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	var infos []admin.ScheduleInfo
	testutil.Eventually(t, 10*time.Second, "schedules listed", func() bool {
		var err error
		infos, err = n.Server.Schedules(context.Background())
		if err != nil || len(infos) != 2 {
			return false
		}
		for _, s := range infos {
			if s.Next.IsZero() {
				return false // the schedule's timer is being set up
			}
		}
		return true
	})
	now := time.Now()
	for _, s := range infos {
		if s.Function != "nightly" || !s.Next.After(now) {
			t.Fatalf("schedule %+v: want a next fire time after %s", s, now)
		}
		if s.Expression == "rate(5 minutes)" && s.Next.Sub(now) > 5*time.Minute {
			t.Fatalf("rate(5 minutes) next fire %s is more than 5 minutes away", s.Next)
		}
	}
	if out := runCLI(t, n, "schedule", "ls"); !strings.Contains(out, "cron(0 3 * * ? *)") || !strings.Contains(out, "Europe/Paris") {
		t.Fatalf("schedule ls: %s", out)
	}
	// A bad cron expression is refused at deploy with the reason.
	bad := project(t, "cron", `
  nightly:
    build: EVENTFN
    events:
      - schedule: cron(0 3 * * * *)
`)
	if r := n.CLI("deploy", bad); r.Code == 0 || !strings.Contains(r.Stderr, "must be ?") || !strings.Contains(r.Stderr, "gureum.yaml:7:") {
		t.Fatalf("deploy with a bad cron: %+v", r)
	}
}

func TestPublishAndSendFromFunctionsNeedGrants(t *testing.T) {
	n := testutil.StartServer(t, fastEvents)
	dir := project(t, "grants", `
  producer:
    build: BUILD
    permissions: {publish: [news], send: [jobs]}
  native:
    runtime: process
    build: BUILD
    permissions: {send: [jobs]}
  nogrants:
    build: BUILD
  reader:
    build: EVENTFN
    events:
      - topic: news
queues:
  jobs: {}
  other: {}
topics:
  news: {}
`)
	if r := n.Deploy(dir); r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	trace := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	call := func(fn, event string) string {
		t.Helper()
		res, err := n.Server.Invoke(context.Background(), &invoke.Request{Function: fn, Payload: []byte(event), TraceID: trace})
		if err != nil && res == nil {
			t.Fatalf("invoke %s: %v", fn, err)
		}
		return string(res.Payload)
	}
	// Granted: a wasm function sends and publishes; a process function sends
	// through the host API with its token.
	if out := call("producer", `{"op":"send","to":"jobs","msg":"from wasm","attrs":{"k":"v"}}`); !strings.Contains(out, "messageId") {
		t.Fatalf("wasm send: %s", out)
	}
	if out := call("native", `{"op":"send","to":"jobs","msg":"from a process"}`); !strings.Contains(out, "messageId") {
		t.Fatalf("process send: %s", out)
	}
	if out := call("producer", `{"op":"publish","to":"news","msg":"extra, extra"}`); !strings.Contains(out, "messageId") {
		t.Fatalf("publish: %s", out)
	}
	msgs, err := n.Server.PeekMessages(context.Background(), "jobs", 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("jobs: %+v, %v", msgs, err)
	}
	bodies := []string{msgs[0].Body, msgs[1].Body}
	slices.Sort(bodies)
	if !slices.Equal(bodies, []string{"from a process", "from wasm"}) {
		t.Fatalf("jobs holds %q", bodies)
	}
	for _, m := range msgs {
		// The invocation's trace context travels with the message.
		if !strings.Contains(m.TraceParent, "0af7651916cd43dd8448eb211c80319c") {
			t.Errorf("message %q carries traceparent %q, want the invocation's trace", m.Body, m.TraceParent)
		}
	}
	testutil.Eventually(t, 30*time.Second, "published message delivered", func() bool {
		return count(logLines(t, n, "reader", "sns "), "extra, extra") == 1
	})

	// Not granted: a clear error naming the missing grant, and nothing sent.
	for _, tc := range []struct{ fn, event, want string }{
		{"nogrants", `{"op":"send","to":"jobs","msg":"x"}`, "permissions: {send: [jobs]}"},
		{"producer", `{"op":"send","to":"other","msg":"x"}`, "permissions: {send: [other]}"},
		{"native", `{"op":"publish","to":"news","msg":"x"}`, "permissions: {publish: [news]}"},
	} {
		out := call(tc.fn, tc.event)
		if !strings.Contains(out, "AccessDenied") || !strings.Contains(out, tc.want) {
			t.Errorf("%s %s: %s, want AccessDenied naming %q", tc.fn, tc.event, out, tc.want)
		}
	}
	if q, err := n.Server.Queue(context.Background(), "other"); err != nil || q.Visible != 0 {
		t.Fatalf("other after a denied send: %+v, %v", q, err)
	}
}
