//go:build linux

package process

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// BenchmarkWarmInvoke measures an invocation round trip through a warm
// instance of the aws-lambda-go function.
func BenchmarkWarmInvoke(b *testing.B) {
	for _, c := range []struct{ name, payload string }{
		{"quiet", `{"action":"ping"}`},
		{"logging", `{"action":"echo","say":"hi"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEngine(b, Default())
			in := startInstance(b, prepare(b, e, spec("warm", goBootstrap)), io.Discard)
			req := &engine.Request{ID: "bench", Payload: []byte(c.payload), Log: io.Discard}
			ctx := context.Background()
			for b.Loop() {
				req.Deadline = time.Now().Add(time.Minute)
				resp, err := in.Invoke(ctx, req)
				if err != nil || resp.FunctionError {
					b.Fatal(err, resp)
				}
			}
		})
	}
}

// BenchmarkColdStart measures starting an instance of the aws-lambda-go
// function until its first response, and closing it.
func BenchmarkColdStart(b *testing.B) {
	e := newEngine(b, Default())
	fn := prepare(b, e, spec("cold", goBootstrap))
	req := &engine.Request{ID: "bench", Payload: []byte(`{"action":"ping"}`), Log: io.Discard}
	ctx := context.Background()
	for b.Loop() {
		in, err := fn.NewInstance(ctx, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		req.Deadline = time.Now().Add(time.Minute)
		if _, err := in.Invoke(ctx, req); err != nil {
			b.Fatal(err)
		}
		if err := in.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
