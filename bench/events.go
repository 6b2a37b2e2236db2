package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/cli"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/events/queue"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/server"
)

// eventFunction is the function the event benchmarks deploy: it logs one
// line per record it receives.
const eventFunction = "internal/testutil/testdata/eventfn"

// benchQueueSend compares durable queue sends with raw JetStream publishes
// (each waits for the PubAck) on one embedded server, same senders, same
// message size, alternating rounds.
func benchQueueSend(ctx context.Context, e *env) ([]row, error) {
	b, err := bus.Start(ctx, bus.Config{DataDir: filepath.Join(e.work, "queue-send")})
	if err != nil {
		return nil, err
	}
	defer b.Shutdown(context.Background()) //nolint:errcheck // scratch data
	js := b.JetStream()
	qs, err := queue.Open(ctx, js, queue.Config{Region: "us-east-1", AccountID: "000000000000"})
	if err != nil {
		return nil, err
	}
	defer qs.Shutdown(context.Background()) //nolint:errcheck
	if _, err := qs.Ensure(ctx, "bench", "", queue.DefaultAttributes()); err != nil {
		return nil, err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "RAW", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy,
	}); err != nil {
		return nil, err
	}
	const senders = 16
	body := strings.Repeat("x", 256)
	payload := []byte(body)
	round := e.opts.duration / 2
	if round < time.Second {
		round = time.Second
	}
	var gureumN, rawN, batchN int64
	var gureumT, rawT, batchT time.Duration
	for i := range 2 {
		e.logf("round %d: raw JetStream publishes, %d senders", i+1, senders)
		n, d, err := runSenders(ctx, senders, round, func(ctx context.Context) (int, error) {
			_, err := js.Publish(ctx, "raw.bench", payload)
			return 1, err
		})
		if err != nil {
			return nil, fmt.Errorf("raw publish: %w", err)
		}
		rawN, rawT = rawN+n, rawT+d
		e.logf("round %d: queue sends, %d senders", i+1, senders)
		n, d, err = runSenders(ctx, senders, round, func(ctx context.Context) (int, error) {
			res, err := qs.Send(ctx, "bench", []queue.SendEntry{{Body: body}})
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			return 1, err
		})
		if err != nil {
			return nil, fmt.Errorf("queue send: %w", err)
		}
		gureumN, gureumT = gureumN+n, gureumT+d
		e.logf("round %d: queue batch sends of 10, %d senders", i+1, senders)
		batch := make([]queue.SendEntry, 10)
		for k := range batch {
			batch[k] = queue.SendEntry{Body: body}
		}
		n, d, err = runSenders(ctx, senders, round, func(ctx context.Context) (int, error) {
			res, err := qs.Send(ctx, "bench", batch)
			if err != nil {
				return 0, err
			}
			for _, r := range res {
				if r.Err != nil {
					return 0, r.Err
				}
			}
			return len(batch), nil
		})
		if err != nil {
			return nil, fmt.Errorf("queue batch send: %w", err)
		}
		batchN, batchT = batchN+n, batchT+d
		if _, err := qs.Purge(ctx, "bench"); err != nil {
			return nil, err
		}
		raw, err := js.Stream(ctx, "RAW")
		if err != nil {
			return nil, err
		}
		if err := raw.Purge(ctx); err != nil {
			return nil, err
		}
	}
	g := float64(gureumN) / gureumT.Seconds()
	r := float64(rawN) / rawT.Seconds()
	gb := float64(batchN) / batchT.Seconds()
	return []row{
		{Name: fmt.Sprintf("9. queue sends/s, durable ack, %d senders, 256 B: queue.Send vs raw JetStream publish", senders), Gureum: fmtMsgs(g), Baseline: fmtMsgs(r), Ratio: fmtRatio(g, r), Target: "≥ 70% of raw", Met: met(g >= 0.7*r)},
		{Name: fmt.Sprintf("9. queue messages/s in batches of 10, %d senders: vs raw JetStream publish of one", senders), Gureum: fmtMsgs(gb), Baseline: fmtMsgs(r), Ratio: fmtRatio(gb, r), Target: "—", Met: "—"},
	}, nil
}

func fmtMsgs(v float64) string { return fmt.Sprintf("%.0f msg/s", v) }

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// runSenders runs op from n goroutines for d and counts what it reports.
func runSenders(ctx context.Context, n int, d time.Duration, op func(context.Context) (int, error)) (int64, time.Duration, error) {
	var total atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				k, err := op(ctx)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				total.Add(int64(k))
			}
		})
	}
	wg.Wait()
	return total.Load(), time.Since(start), firstErr
}

// eventNode is a node for the end-to-end event benchmarks.
type eventNode struct {
	srv *server.Server
	dir string // project directory
}

func startEventNode(ctx context.Context, e *env, name string) (*eventNode, error) {
	cfg := config.Default()
	cfg.S3Listen = "127.0.0.1:0"
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(e.work, name)
	cfg.Env = os.Environ()
	cfg.IdleTimeout = time.Hour
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, server.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := srv.Start(sctx); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.root, "bench", "testdata", "project-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		_ = srv.Shutdown(context.Background())
		return nil, err
	}
	return &eventNode{srv: srv, dir: dir}, nil
}

func (n *eventNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
	_ = os.RemoveAll(n.dir)
}

// deploy writes manifest (with FN standing for the event function's
// relative path) and deploys it with the CLI.
func (n *eventNode) deploy(ctx context.Context, e *env, manifest string) error {
	rel, err := filepath.Rel(n.dir, filepath.Join(e.root, eventFunction))
	if err != nil {
		return err
	}
	body := strings.ReplaceAll(manifest, "FN", filepath.ToSlash(rel))
	if err := os.WriteFile(filepath.Join(n.dir, "gureum.yaml"), []byte(body), 0o644); err != nil {
		return err
	}
	var out bytes.Buffer
	code := cli.Run(ctx, []string{"deploy", n.dir}, cli.IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
		Env: append(os.Environ(), "GUREUM_URL=http://"+n.srv.AdminAddr(), "GUREUM_TOKEN="+n.srv.Token()),
	})
	if code != 0 {
		return fmt.Errorf("deploy: exit %d\n%s", code, out.String())
	}
	return nil
}

// benchQueueFunction measures queue → function delivery with batches of 10:
// N messages are queued first, then the trigger is switched on and the
// clock runs until the queue is empty. The baseline invokes the same
// function directly with the same 10-record events at the same concurrency.
func benchQueueFunction(ctx context.Context, e *env) ([]row, error) {
	n, err := startEventNode(ctx, e, "queue-fn")
	if err != nil {
		return nil, err
	}
	defer n.stop()
	const (
		total       = 20000
		concurrency = 4
	)
	base := `app: bench
functions:
  worker:
    build: FN
    concurrency: 8
%s
queues:
  work: {visibility: 60s}
`
	if err := n.deploy(ctx, e, fmt.Sprintf(base, "")); err != nil {
		return nil, err
	}
	e.logf("queueing %d messages", total)
	body := strings.Repeat("y", 100)
	if _, _, err := runCount(ctx, 8, total/10, func(ctx context.Context) error {
		entries := make([]admin.SendEntry, 10)
		for k := range entries {
			entries[k] = admin.SendEntry{Body: body}
		}
		res, err := n.srv.SendMessages(ctx, "work", admin.SendRequest{Entries: entries})
		if err != nil {
			return err
		}
		for _, r := range res.Results {
			if r.Error != nil {
				return fmt.Errorf("%s", r.Error.Message)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}

	// Baseline first: the same function invoked directly with 10-record
	// SQS events, total/10 times, at the trigger's concurrency.
	msgs := make([]queue.Message, 10)
	for i := range msgs {
		msgs[i] = queue.Message{Queue: "work", MessageID: fmt.Sprintf("m-%d", i), Body: body, SentAt: time.Now(), ReceiveCount: 1}
	}
	event, err := json.Marshal(queue.SQSEvent(msgs, "us-east-1", "000000000000"))
	if err != nil {
		return nil, err
	}
	e.logf("baseline: %d direct invocations with 10-record events", total/10)
	_, direct, err := runCount(ctx, concurrency, total/10, func(ctx context.Context) error {
		res, err := n.srv.Invoke(ctx, &invoke.Request{Function: "worker", Payload: event, Trigger: "direct"})
		if err == nil && res.FunctionError {
			err = fmt.Errorf("function error: %s", res.Payload)
		}
		return err
	})
	if err != nil {
		return nil, err
	}

	e.logf("switching the queue trigger on")
	if err := n.deploy(ctx, e, fmt.Sprintf(base, fmt.Sprintf("    events:\n      - queue: {name: work, batch: 10, concurrency: %d}", concurrency))); err != nil {
		return nil, err
	}
	// The clock starts when the first batch leaves the queue (the deploy
	// itself is not part of the figure) and stops when the queue is empty.
	var start time.Time
	for deadline := time.Now().Add(5 * time.Minute); ; {
		q, err := n.srv.Queue(ctx, "work")
		if err != nil {
			return nil, err
		}
		if start.IsZero() && q.Visible < total {
			start = time.Now()
		}
		if q.Visible == 0 && q.InFlight == 0 && q.Delayed == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("queue not drained after 5 minutes: %+v", q)
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	g := total / elapsed.Seconds()
	b := total / direct.Seconds()
	return []row{{
		Name:   fmt.Sprintf("10. queue → function events/s, batch 10, concurrency %d, %d messages: trigger vs direct invocations of the same batches", concurrency, total),
		Gureum: fmtMsgs(g), Baseline: fmtMsgs(b),
		Ratio: fmtRatio(g, b), Target: "—", Met: "—",
	}}, nil
}

// runCount runs op count times from n goroutines.
func runCount(ctx context.Context, n, count int, op func(context.Context) error) (int64, time.Duration, error) {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			for next.Add(1) <= int64(count) && ctx.Err() == nil {
				if err := op(ctx); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return int64(count), time.Since(start), firstErr
}

// benchTopicFanout measures publish-to-delivery latency of a topic with 10
// function subscribers: the time from Publish to each function's log line.
// The baseline is raw JetStream fan-out to 10 consumers in the same run.
func benchTopicFanout(ctx context.Context, e *env) ([]row, error) {
	n, err := startEventNode(ctx, e, "topic-fanout")
	if err != nil {
		return nil, err
	}
	defer n.stop()
	const subscribers, messages = 10, 200
	var m strings.Builder
	m.WriteString("app: bench\nfunctions:\n")
	for i := range subscribers {
		fmt.Fprintf(&m, "  sub%d:\n    build: FN\n    events:\n      - topic: fan\n", i)
	}
	m.WriteString("topics:\n  fan: {}\n")
	if err := n.deploy(ctx, e, m.String()); err != nil {
		return nil, err
	}
	// Warm every subscriber once.
	if _, err := n.srv.Publish(ctx, "fan", admin.PublishRequest{Message: "warm"}); err != nil {
		return nil, err
	}
	if err := waitLogs(ctx, n.srv, subscribers, "sns warm", 1); err != nil {
		return nil, err
	}
	e.logf("publishing %d messages to %d function subscribers", messages, subscribers)
	sentAt := make(map[string]time.Time, messages)
	for i := range messages {
		msg := fmt.Sprintf("p-%d", i)
		sentAt[msg] = time.Now()
		if _, err := n.srv.Publish(ctx, "fan", admin.PublishRequest{Message: msg}); err != nil {
			return nil, err
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := waitLogs(ctx, n.srv, subscribers, "sns p-", messages); err != nil {
		return nil, err
	}
	var lat []time.Duration
	for i := range subscribers {
		entries, err := n.srv.ReadLogs(ctx, fmt.Sprintf("sub%d", i), observe.Query{Limit: 100000})
		if err != nil {
			return nil, err
		}
		for _, en := range entries {
			msg, ok := strings.CutPrefix(strings.TrimSpace(en.Message), "sns ")
			if t0, sent := sentAt[msg]; ok && sent {
				lat = append(lat, en.Time.Sub(t0))
			}
		}
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("no deliveries measured")
	}
	base, err := rawFanout(ctx, e, subscribers, messages)
	if err != nil {
		return nil, err
	}
	g, b := summarize(lat), summarize(base)
	return []row{
		{Name: fmt.Sprintf("11. topic publish → function delivery p50, %d function subscribers, %d messages: vs raw JetStream fan-out to %d consumers", subscribers, messages, subscribers), Gureum: fmtDur(g.p50), Baseline: fmtDur(b.p50), Ratio: fmtRatio(float64(g.p50), float64(b.p50)), Target: "—", Met: "—"},
		{Name: "11. topic publish → function delivery p99", Gureum: fmtDur(g.p99), Baseline: fmtDur(b.p99), Ratio: fmtRatio(float64(g.p99), float64(b.p99)), Target: "—", Met: "—"},
	}, nil
}

// waitLogs waits until every subscriber function has logged want lines
// starting with prefix.
func waitLogs(ctx context.Context, srv *server.Server, subscribers int, prefix string, want int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok := true
		for i := range subscribers {
			entries, err := srv.ReadLogs(ctx, fmt.Sprintf("sub%d", i), observe.Query{Limit: 100000})
			if err != nil {
				return err
			}
			got := 0
			for _, en := range entries {
				if strings.HasPrefix(strings.TrimSpace(en.Message), prefix) {
					got++
				}
			}
			if got < want {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("subscribers did not log %d lines %q within 2 minutes", want, prefix)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawFanout publishes messages to a JetStream stream read by subscribers
// consumers and returns every publish-to-receive latency.
func rawFanout(ctx context.Context, e *env, subscribers, messages int) ([]time.Duration, error) {
	b, err := bus.Start(ctx, bus.Config{DataDir: filepath.Join(e.work, "raw-fanout")})
	if err != nil {
		return nil, err
	}
	defer b.Shutdown(context.Background()) //nolint:errcheck
	js := b.JetStream()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FAN", Subjects: []string{"fan"}, Storage: jetstream.FileStorage, Retention: jetstream.InterestPolicy})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var lat []time.Duration
	sentAt := make(map[string]time.Time, messages)
	var got atomic.Int64
	for i := range subscribers {
		c, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: fmt.Sprintf("c%d", i), AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			return nil, err
		}
		cc, err := c.Consume(func(m jetstream.Msg) {
			now := time.Now()
			mu.Lock()
			if t0, ok := sentAt[string(m.Data())]; ok {
				lat = append(lat, now.Sub(t0))
			}
			mu.Unlock()
			_ = m.Ack()
			got.Add(1)
		})
		if err != nil {
			return nil, err
		}
		defer cc.Stop()
	}
	for i := range messages {
		msg := fmt.Sprintf("p-%d", i)
		mu.Lock()
		sentAt[msg] = time.Now()
		mu.Unlock()
		if _, err := js.Publish(ctx, "fan", []byte(msg)); err != nil {
			return nil, err
		}
		time.Sleep(10 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < int64(subscribers*messages) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return lat, nil
}
