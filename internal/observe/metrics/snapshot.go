package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SnapshotTimeout bounds each Snapshot call made during a scrape.
const SnapshotTimeout = 2 * time.Second

// Snapshot is what the node reports at scrape time: state it already holds
// and that the metrics read rather than track. Queues and AsyncPending get
// a context whose deadline is SnapshotTimeout away.
type Snapshot interface {
	Instances() []InstanceStat
	Queues(ctx context.Context) []QueueStat
	AsyncPending(ctx context.Context) map[string]int // function -> events waiting; may be nil
}

// InstanceStat is one function's instances on this node.
type InstanceStat struct {
	Function    string
	Idle, Busy  int
	Provisioned int // instances kept warm by configuration
}

// QueueStat is one queue's messages.
type QueueStat struct {
	Name                       string
	Visible, InFlight, Delayed int
	OldestAge                  time.Duration // age of the oldest message; 0 when empty
	DeadLetter                 bool          // the queue is a dead-letter queue
}

// SetSource sets what scrapes read the scrape-time metrics from; nil
// leaves them out.
func (m *Metrics) SetSource(s Snapshot) {
	if s == nil {
		m.src.p.Store(nil)
		return
	}
	m.src.p.Store(&sourceBox{s})
}

type sourceHolder struct{ p atomic.Pointer[sourceBox] }

type sourceBox struct{ s Snapshot }

func (h *sourceHolder) load() Snapshot {
	if b := h.p.Load(); b != nil {
		return b.s
	}
	return nil
}

// snapshotCollector emits constant metrics read from the source at scrape
// time. The registry runs each collector in its own goroutine and awaits
// it, so the three collectors below read the source concurrently.
type snapshotCollector struct {
	src     *sourceHolder
	descs   []*prometheus.Desc
	collect func(ctx context.Context, s Snapshot, ch chan<- prometheus.Metric)
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.load()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), SnapshotTimeout)
	defer cancel()
	c.collect(ctx, s, ch)
}

func (m *Metrics) registerSnapshot() {
	instances := prometheus.NewDesc("gureum_instances",
		"Instances of a function on this node, by state (idle, busy).",
		[]string{"function", "state"}, nil)
	provisioned := prometheus.NewDesc("gureum_provisioned_instances",
		"Instances of a function kept warm by configuration on this node.",
		[]string{"function"}, nil)
	queueMessages := prometheus.NewDesc("gureum_queue_messages",
		"Messages in a queue, by state (visible, inflight, delayed).",
		[]string{"queue", "state"}, nil)
	oldestAge := prometheus.NewDesc("gureum_queue_oldest_message_age_seconds",
		"Age of the oldest message in a queue; 0 when it is empty.",
		[]string{"queue"}, nil)
	dlqMessages := prometheus.NewDesc("gureum_dlq_messages",
		"Messages in a dead-letter queue, whatever their state.",
		[]string{"queue"}, nil)
	asyncPending := prometheus.NewDesc("gureum_async_pending_events",
		"Asynchronous invocations accepted and not yet finished, by function.",
		[]string{"function"}, nil)

	gauge := func(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, lvs ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lvs...)
	}
	m.reg.MustRegister(
		&snapshotCollector{
			src:   &m.src,
			descs: []*prometheus.Desc{instances, provisioned},
			collect: func(_ context.Context, s Snapshot, ch chan<- prometheus.Metric) {
				seen := make(map[string]bool)
				for _, st := range s.Instances() {
					fn := labelValue(st.Function)
					if seen[fn] {
						continue // a series may appear once per scrape
					}
					seen[fn] = true
					gauge(ch, instances, float64(st.Idle), fn, "idle")
					gauge(ch, instances, float64(st.Busy), fn, "busy")
					gauge(ch, provisioned, float64(st.Provisioned), fn)
				}
			},
		},
		&snapshotCollector{
			src:   &m.src,
			descs: []*prometheus.Desc{queueMessages, oldestAge, dlqMessages},
			collect: func(ctx context.Context, s Snapshot, ch chan<- prometheus.Metric) {
				seen := make(map[string]bool)
				for _, q := range s.Queues(ctx) {
					name := labelValue(q.Name)
					if seen[name] {
						continue
					}
					seen[name] = true
					gauge(ch, queueMessages, float64(q.Visible), name, "visible")
					gauge(ch, queueMessages, float64(q.InFlight), name, "inflight")
					gauge(ch, queueMessages, float64(q.Delayed), name, "delayed")
					gauge(ch, oldestAge, q.OldestAge.Seconds(), name)
					if q.DeadLetter {
						gauge(ch, dlqMessages, float64(q.Visible+q.InFlight+q.Delayed), name)
					}
				}
			},
		},
		&snapshotCollector{
			src:   &m.src,
			descs: []*prometheus.Desc{asyncPending},
			collect: func(ctx context.Context, s Snapshot, ch chan<- prometheus.Metric) {
				seen := make(map[string]bool)
				for fn, n := range s.AsyncPending(ctx) {
					fn = labelValue(fn)
					if seen[fn] {
						continue // two invalid names may map to one label value
					}
					seen[fn] = true
					gauge(ch, asyncPending, float64(n), fn)
				}
			},
		},
	)
}
