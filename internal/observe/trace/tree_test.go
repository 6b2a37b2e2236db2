package trace

import (
	"strings"
	"testing"
	"time"
)

func TestWriteTree(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	const tid = "0af7651916cd43dd8448eb211c80319c"
	spans := []Span{
		// Given out of order: WriteTree orders by start.
		{TraceID: tid, SpanID: "c3", ParentID: "b2", Name: "publish order-events", Start: t0.Add(ms(1)), Duration: ms(0.4), Node: "gw-1"},
		{TraceID: tid, SpanID: "a1", Name: "GET /orders/{id}", Kind: "server", Start: t0, Duration: ms(12.3), Node: "gw-1"},
		{TraceID: tid, SpanID: "d4", ParentID: "b2", Name: "kv get orders", Start: t0.Add(ms(0.5)), Duration: 45 * time.Microsecond, Node: "gw-1"},
		{TraceID: tid, SpanID: "b2", ParentID: "a1", Name: "invoke api v3 (cold)", Start: t0.Add(ms(0.2)), Duration: ms(11.9), Node: "gw-1"},
		{TraceID: tid, SpanID: "e5", ParentID: "b2", Name: "http api.example.com", Start: t0.Add(ms(2)), Duration: 1500 * time.Millisecond, Node: "gw-1", Status: "error", StatusMessage: "connection\nrefused"},
		{TraceID: tid, SpanID: "g7", ParentID: "f6", Name: "invoke mailer 1", Start: t0.Add(ms(6)), Duration: ms(2.1), Node: "worker-2"},
		// Its parent is on a node that has not stored it yet.
		{TraceID: tid, SpanID: "f6", ParentID: "zz", Name: "queue orders", Kind: "consumer", Start: t0.Add(ms(5)), Duration: ms(2.5), Node: "worker-2"},
		{TraceID: tid, SpanID: "h8", ParentID: "f6", Name: "send receipts", Start: t0.Add(ms(7)), Duration: ms(0.3), Node: "worker-3"},
	}
	want := strings.Join([]string{
		"GET /orders/{id}            12.3 ms  [gw-1]",
		"└─ invoke api v3 (cold)     11.9 ms",
		"   ├─ kv get orders           45 µs",
		"   ├─ publish order-events   0.4 ms",
		"   └─ http api.example.com   1.50 s  error: connection refused",
		"queue orders                 2.5 ms  [worker-2]",
		"├─ invoke mailer 1           2.1 ms",
		"└─ send receipts             0.3 ms  [worker-3]",
		"",
	}, "\n")
	var b strings.Builder
	if err := WriteTree(&b, spans); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("WriteTree:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteTreeCycle(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	spans := []Span{
		{SpanID: "a", ParentID: "b", Name: "a", Start: t0, Duration: time.Millisecond},
		{SpanID: "b", ParentID: "a", Name: "b", Start: t0.Add(time.Millisecond), Duration: time.Millisecond},
		{SpanID: "c", ParentID: "c", Name: "c", Start: t0.Add(2 * time.Millisecond), Duration: time.Millisecond},
	}
	want := "c     1.0 ms\n" + "a     1.0 ms\n" + "└─ b  1.0 ms\n"
	var b strings.Builder
	if err := WriteTree(&b, spans); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("WriteTree:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0 µs",
		-time.Millisecond:                     "0 µs",
		99 * time.Microsecond:                 "99 µs",
		100 * time.Microsecond:                "0.1 ms",
		12345 * time.Microsecond:              "12.3 ms",
		999 * time.Millisecond:                "999.0 ms",
		time.Second + 234*time.Millisecond:    "1.23 s",
		90*time.Second + 500*time.Millisecond: "90.50 s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
