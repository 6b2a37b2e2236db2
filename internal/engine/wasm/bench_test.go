package wasm

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/engine"
)

// BenchmarkColdStart measures NewInstance of a Go reactor from a prepared
// module: instantiation, package initializers and main.
func BenchmarkColdStart(b *testing.B) {
	fn := prepare(b, newEngine(b, Config{}), "hello", artifacts.hello, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		inst, err := fn.NewInstance(ctx, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		_ = inst.Close(ctx)
	}
}

// BenchmarkWarmInvoke measures one call into a warm reactor: a handler that
// decodes a small event and returns nothing, and one that decodes an API
// Gateway request and encodes a response.
func BenchmarkWarmInvoke(b *testing.B) {
	apigw, _ := json.Marshal(events.APIGatewayV2HTTPRequest{
		RouteKey: "GET /orders/{id}", RawPath: "/orders/7",
		Headers:        map[string]string{"accept": "application/json", "user-agent": "bench"},
		PathParameters: map[string]string{"id": "7"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/orders/7"}},
	})
	for _, bc := range []struct {
		name    string
		module  artifact
		payload []byte
	}{
		{"noop", artifacts.behave, []byte(`{"action":"noop"}`)},
		{"apigateway", artifacts.hello, apigw},
	} {
		b.Run(bc.name, func(b *testing.B) {
			fn := prepare(b, newEngine(b, Config{}), bc.name, bc.module, nil)
			inst, _ := start(b, fn)
			req := &engine.Request{
				ID:          "8f5e1c2a-1d7b-4c1e-9a53-2b9f4c6d7e80",
				Payload:     bc.payload,
				Deadline:    time.Now().Add(time.Hour),
				FunctionARN: "arn:aws:lambda:local:000000000000:function:bench",
				Log:         io.Discard,
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := inst.Invoke(ctx, req)
				if err != nil || resp.FunctionError {
					b.Fatal(err, string(resp.Payload))
				}
			}
		})
	}
}
