package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/wasm"
)

// floorEvent is an API Gateway HTTP API event of GET /floor with a body of
// bodyLen bytes.
func floorEvent(t *testing.T, bodyLen int) []byte {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "GET " + floorPath,
		RawPath:        floorPath,
		RawQueryString: "",
		Headers:        map[string]string{"accept": "*/*", "host": "127.0.0.1", "user-agent": "Go-http-client/1.1"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "0190a8e2-4c1b-7000-8000-000000000000",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: floorPath, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1"},
		},
		Body: strings.Repeat("x", bodyLen),
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prepareFloor prepares the floor reactor in a real wasm engine.
func prepareFloor(t *testing.T, memMiB int, snapshot bool) engine.Function {
	t.Helper()
	dir := t.TempDir()
	if err := writeFloorProject(dir); err != nil {
		t.Fatal(err)
	}
	eng, err := wasm.New(wasm.Config{CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	fn, err := eng.Prepare(context.Background(), engine.Spec{
		Function:     floorFunction,
		Version:      "1",
		Runtime:      "wasm",
		ArtifactPath: filepath.Join(dir, floorArtifact),
		MemoryMiB:    memMiB,
		Timeout:      5 * time.Second,
		Snapshot:     snapshot,
	})
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	t.Cleanup(func() { _ = fn.Close(context.Background()) })
	return fn
}

func invokeFloor(inst engine.Instance, payload []byte) (*engine.Response, error) {
	return inst.Invoke(context.Background(), &engine.Request{
		ID:          "0190a8e2-4c1b-7000-8000-000000000000",
		Payload:     payload,
		Deadline:    time.Now().Add(5 * time.Second),
		FunctionARN: "arn:aws:lambda:local:000000000000:function:floor",
		TraceID:     "Root=1-5759e988-bd862e3fe1be46a994272793",
	})
}

// The assembled reactor is accepted by the engine and answers every event,
// small or larger than its first buffer, with its constant document, with
// snapshots off (as deployed) or asked for (which it cannot take).
func TestFloorModuleAnswers(t *testing.T) {
	var doc events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal([]byte(floorResponse), &doc); err != nil {
		t.Fatalf("floorResponse is not a response document: %v", err)
	}
	if doc.StatusCode != 200 || doc.Headers["Content-Type"] != "application/json" || !json.Valid([]byte(doc.Body)) {
		t.Fatalf("floorResponse = %+v", doc)
	}
	for _, snapshot := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%t", snapshot), func(t *testing.T) {
			fn := prepareFloor(t, 128, snapshot)
			var log bytes.Buffer
			inst, err := fn.NewInstance(context.Background(), &log)
			if err != nil {
				t.Fatalf("new instance: %v\n%s", err, log.String())
			}
			defer inst.Close(context.Background())
			// 3 MiB outgrows the two pages the module starts with.
			for _, bodyLen := range []int{0, 3 << 20, 100} {
				resp, err := invokeFloor(inst, floorEvent(t, bodyLen))
				if err != nil {
					t.Fatalf("invoke with a %d-byte body: %v", bodyLen, err)
				}
				if resp.FunctionError || string(resp.Payload) != floorResponse {
					t.Fatalf("invoke with a %d-byte body: function error %t, payload %s", bodyLen, resp.FunctionError, resp.Payload)
				}
			}
		})
	}
}

// A request larger than the memory cap lets gureum_buffer's grow fail, and
// the module traps instead of handing back a buffer it does not have.
func TestFloorModuleTrapsPastTheCap(t *testing.T) {
	fn := prepareFloor(t, 1, false)
	inst, err := fn.NewInstance(context.Background(), os.Stderr)
	if err != nil {
		t.Fatalf("new instance: %v", err)
	}
	defer inst.Close(context.Background())
	_, err = invokeFloor(inst, floorEvent(t, 2<<20))
	if !errors.Is(err, engine.ErrCrashed) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("invoke past the 1 MiB cap: %v, want %v by unreachable", err, engine.ErrCrashed)
	}
}
