package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/pool"
	"github.com/gureum/gureum/internal/testutil"
)

// Two nodes on one JetStream: the second joins the first's embedded NATS.
// Queue work spreads over both, nothing is processed twice in normal
// operation, and a schedule tick fires once, not once per node.
func TestTwoNodesShareEvents(t *testing.T) {
	a := testutil.StartServer(t, fastEvents, func(c *config.Config) { c.NATSListen = "127.0.0.1:0" })
	b := testutil.StartServer(t, fastEvents, func(c *config.Config) { c.NATSURL = a.Server.NATSURL() })
	at := time.Now().UTC().Add(5 * time.Second).Format("2006-01-02T15:04:05")
	a.Deploy(project(t, "cluster", `
  worker:
    build: EVENTFN
    events:
      - queue: {name: jobs, batch: 5}
      - schedule: "at(`+at+`)"
queues:
  jobs: {}
`))
	// The second node sees the deploy through the shared registry.
	testutil.Eventually(t, 30*time.Second, "the second node serves the function", func() bool {
		_, err := b.Server.Function(context.Background(), "worker")
		return err == nil
	})
	const n = 300
	for i := 0; i < n; i += 10 {
		req := admin.SendRequest{}
		for k := i; k < i+10; k++ {
			req.Entries = append(req.Entries, admin.SendEntry{Body: fmt.Sprintf("m-%d", k)})
		}
		node := a
		if i%20 == 10 {
			node = b // either node accepts sends
		}
		if _, err := node.Server.SendMessages(context.Background(), "jobs", req); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	testutil.Eventually(t, 60*time.Second, "every message processed", func() bool {
		lines = logLines(t, a, "worker", "sqs ")
		seen := map[string]bool{}
		for _, l := range lines {
			seen[l] = true
		}
		return len(seen) == n
	})
	if len(lines) != n {
		t.Errorf("%d deliveries for %d messages: some were processed twice", len(lines), n)
	}
	invocations := func(node *testutil.Node) uint64 {
		st, _ := node.Server.Pools().StatsOf(pool.Key{Function: "worker", Version: "1"})
		return st.ColdStarts + st.WarmStarts
	}
	ia, ib := invocations(a), invocations(b)
	t.Logf("batches: node a %d, node b %d", ia, ib)
	if ia == 0 || ib == 0 {
		t.Errorf("work did not spread: node a ran %d batches, node b %d", ia, ib)
	}
	testutil.Eventually(t, 60*time.Second, "the schedule fired", func() bool {
		return len(logLines(t, a, "worker", "schedule ")) >= 1
	})
	time.Sleep(2 * time.Second) // a second firing would land within this
	if got := logLines(t, a, "worker", "schedule "); len(got) != 1 {
		t.Fatalf("the schedule fired %d times across two nodes, want once: %q", len(got), got)
	}
	if s := strings.Join(logLines(t, b, "worker", "schedule "), ""); s == "" {
		t.Fatal("the second node does not see the shared logs")
	}
}
