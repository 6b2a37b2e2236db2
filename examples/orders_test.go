package examples

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/testutil"
)

// TestOrders runs the order pipeline end to end: HTTP API → topic → raw
// queue subscription → queue trigger with partial batch failures → dead-letter
// queue, a filtered function subscription, and an hourly schedule.
func TestOrders(t *testing.T) {
	n := testutil.StartServer(t, func(c *config.Config) {
		c.AsyncRetryBase = 100 * time.Millisecond
		c.EventRetryBase = 100 * time.Millisecond
	})
	n.Deploy("orders")
	ctx := context.Background()

	cli := func(args ...string) string {
		t.Helper()
		r := n.CLI(args...)
		if r.Code != 0 {
			t.Fatalf("gureum %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
		return r.Stdout
	}
	// logged returns the first word after prefix of each line fn logged
	// that starts with prefix (the order ids), sorted. Lines reach the log
	// store in batches, so callers poll.
	logged := func(fn, prefix string) ([]string, error) {
		var ids []string
		err := n.Client.Logs(ctx, fn, apiclient.LogQuery{Limit: 10000}, func(e observe.Entry) error {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(e.Message), prefix); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					ids = append(ids, f[0])
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("logs of %s: %w", fn, err)
		}
		slices.Sort(ids)
		return ids, nil
	}
	mustLogged := func(fn, prefix string) []string {
		t.Helper()
		var ids []string
		var err error
		for range 50 { // a read can fail on a busy machine; try again
			if ids, err = logged(fn, prefix); err == nil {
				return ids
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatal(err)
		return nil
	}
	post := func(body string) (int, map[string]string) {
		t.Helper()
		resp, data := n.Do(http.MethodPost, "/orders", []byte(body), http.Header{"Content-Type": {"application/json"}})
		var got map[string]string
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("POST /orders %s: %d, not a JSON object: %v: %s", body, resp.StatusCode, err, data)
		}
		return resp.StatusCode, got
	}

	// Bad bodies are refused by the API with the reason.
	for _, body := range []string{
		`not json`,
		`{"item": "tea"}`,
		`{"item": "", "quantity": 1}`,
		`{"item": "tea", "quantity": 0}`,
		`{"item": "tea", "quantity": 1.5}`,
		`{"item": "tea", "quantity": 1} {"item": "tea", "quantity": 1}`,
	} {
		if code, got := post(body); code != http.StatusBadRequest || got["error"] == "" {
			t.Errorf("POST /orders %s: %d %v, want 400 with an error", body, code, got)
		}
	}

	// Compile the queue and topic consumers before the orders arrive. A
	// node compiles a module on its first instance, and on a busy machine
	// that can outlast the 5 s visibility timeout of orders: the batch would
	// then be received again (delivery is at least once) and fulfilled twice.
	for _, fn := range []string{"fulfil", "audit"} {
		cli("invoke", fn, "--data", `{"Records": []}`)
	}

	accept := func(body string) string {
		t.Helper()
		code, got := post(body)
		if code != http.StatusAccepted || !strings.HasPrefix(got["orderId"], "ord-") {
			t.Fatalf("POST /orders %s: %d %v, want 202 with an orderId", body, code, got)
		}
		return got["orderId"]
	}
	small := []string{
		accept(`{"item": "tea", "quantity": 2}`),
		accept(`{"item": "cups", "quantity": 1}`),
		accept(`{"item": "kettle", "quantity": 9}`),
	}
	large := accept(`{"item": "chairs", "quantity": 12}`)
	broken := accept(`{"item": "broken", "quantity": 1}`)
	good := append(slices.Clone(small), large)
	slices.Sort(good)

	// fulfil handles each good order once; the broken one fails twice
	// (maxReceives 2) and moves to orders-dlq, reported from queue:orders.
	// audit sees only the order with quantity >= 10.
	var dead []admin.Message
	var state string // what the last poll saw, shown if the wait times out
	t.Cleanup(func() {
		if t.Failed() {
			r := n.CLI("logs", "fulfil")
			t.Logf("last seen: %s\nfulfil's log:\n%s%s", state, r.Stdout, r.Stderr)
		}
	})
	testutil.Eventually(t, 60*time.Second, "orders fulfilled, audited and dead-lettered", func() bool {
		var err error
		dead, err = n.Server.PeekMessages(ctx, "orders-dlq", 10)
		fulfilled, ferr := logged("fulfil", "fulfilled ")
		audited, aerr := logged("audit", "large order ")
		state = fmt.Sprintf("orders-dlq %d messages (%v); fulfilled %q (%v); audited %q (%v)", len(dead), err, fulfilled, ferr, audited, aerr)
		return err == nil && ferr == nil && aerr == nil && len(dead) == 1 && slices.Equal(fulfilled, good) && len(audited) > 0
	})
	if got := mustLogged("audit", "large order "); !slices.Equal(got, []string{large}) {
		t.Errorf("audit logged %q, want only the large order %s", got, large)
	}
	m := dead[0]
	if !strings.Contains(m.Body, broken) || m.DeadLetter == nil || m.DeadLetter.Source != "queue:orders" || m.DeadLetter.Count != 2 {
		t.Fatalf("orders-dlq holds %s (dead letter %+v), want order %s from queue:orders after 2 receives", m.Body, m.DeadLetter, broken)
	}
	if out := cli("dlq", "show", "orders-dlq"); !strings.Contains(out, broken) || !strings.Contains(out, "queue:orders") {
		t.Fatalf("dlq show orders-dlq:\n%s", out)
	}
	if q, err := n.Server.Queue(ctx, "orders"); err != nil || q.Visible != 0 || q.InFlight != 0 {
		t.Fatalf("orders after the pipeline ran: %+v, %v; want it empty", q, err)
	}
	if got := mustLogged("fulfil", "fulfilled "); !slices.Equal(got, good) {
		t.Fatalf("fulfil logged %q, want each good order once: %q", got, good)
	}
	if out := cli("queue", "ls"); !strings.Contains(out, "orders-dlq (after 2)") {
		t.Fatalf("queue ls:\n%s", out)
	}

	// Replay sends the broken order back to orders, where it fails twice
	// more and returns to the dead-letter queue.
	if out := cli("dlq", "replay", "orders-dlq"); !strings.Contains(out, "replayed 1") {
		t.Fatalf("dlq replay orders-dlq: %s", out)
	}
	testutil.Eventually(t, 30*time.Second, "the replayed order tried twice more and dead-lettered again", func() bool {
		msgs, err := n.Server.PeekMessages(ctx, "orders-dlq", 10)
		failures, ferr := logged("fulfil", "cannot fulfil ")
		return err == nil && ferr == nil && len(msgs) == 1 && strings.Contains(msgs[0].Body, broken) && len(failures) == 4
	})

	// The hourly report is scheduled, with its next run within the hour.
	var scheds []admin.ScheduleInfo
	if err := json.Unmarshal([]byte(cli("schedule", "ls", "-o", "json")), &scheds); err != nil {
		t.Fatalf("schedule ls -o json: %v", err)
	}
	now := time.Now()
	if len(scheds) != 1 || scheds[0].Function != "report" || scheds[0].Expression != "rate(1 hour)" ||
		!scheds[0].Next.After(now) || scheds[0].Next.After(now.Add(time.Hour)) {
		t.Fatalf("schedules %+v, want report at rate(1 hour) with its next run within the hour", scheds)
	}
	if out := cli("schedule", "ls"); !strings.Contains(out, "report") || !strings.Contains(out, "rate(1 hour)") {
		t.Fatalf("schedule ls:\n%s", out)
	}
	// It handles the EventBridge scheduled event it will receive, and
	// nothing else.
	tick := `{"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
		"source": "aws.events", "account": "000000000000", "time": "2025-03-02T10:00:00Z", "region": "local",
		"resources": ["arn:aws:events:local:000000000000:rule/report"], "detail": {}}`
	if out := cli("invoke", "report", "--data", tick); !strings.Contains(out, `"2025-03-02T09:00:00Z/2025-03-02T10:00:00Z"`) {
		t.Fatalf("invoke report with a scheduled event: %s", out)
	}
	testutil.Eventually(t, 10*time.Second, "report's log line", func() bool {
		periods, err := logged("report", "hourly report for ")
		return err == nil && slices.Contains(periods, "2025-03-02T09:00:00Z/2025-03-02T10:00:00Z")
	})
	if r := n.CLI("invoke", "report", "--data", `{"item": "tea"}`); r.Code != 1 || !strings.Contains(r.Stdout, "runs on a schedule") {
		t.Fatalf("invoke report with another event: %+v", r)
	}
}
