package queue

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkSend compares Send (validation, headers, PubAck on a file
// stream) with a bare js.Publish to a plain file stream.
func BenchmarkSend(b *testing.B) {
	bs := startBus(b, b.TempDir(), "")
	s := openService(b, bs)
	ctx := testContext(b)
	mustEnsure(b, s, "bench", DefaultAttributes())
	body := strings.Repeat("x", 256)
	attrs := map[string]MessageAttribute{"kind": {DataType: "String", StringValue: "order"}}

	b.Run("queue.Send", func(b *testing.B) {
		for b.Loop() {
			res, err := s.Send(ctx, "bench", []SendEntry{{Body: body, Attributes: attrs}})
			if err != nil || res[0].Err != nil {
				b.Fatal(err, res[0].Err)
			}
		}
	})
	b.Run("queue.Send/batch10", func(b *testing.B) {
		entries := make([]SendEntry, 10)
		for i := range entries {
			entries[i] = SendEntry{Body: body, Attributes: attrs}
		}
		for b.Loop() {
			if _, err := s.Send(ctx, "bench", entries); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "msgs/s")
	})
	js := bs.JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	b.Run("js.Publish", func(b *testing.B) {
		data := []byte(body)
		for b.Loop() {
			if _, err := js.Publish(ctx, "plain", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
