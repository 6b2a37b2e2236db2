package lambdaapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/gureum/gureum/internal/pool"
	"github.com/gureum/gureum/internal/testutil"
)

// TestProcessFunctionWithTheAWSSDK runs the test function as a native process:
// built for linux, gureum.Start is aws-lambda-go's lambda.Start, so this is an
// unmodified aws-lambda-go program behind the Runtime API, called with the
// AWS SDK's Lambda client.
func TestProcessFunctionWithTheAWSSDK(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy(project(t, `
  native:
    runtime: process
    build: BUILD
    timeout: 2s
    env: {GREETING: native}
  single:
    runtime: process
    build: BUILD
    concurrency: 1
    timeout: 10s
  broken:
    runtime: process
    build: BUILD
    env: {FAIL_INIT: "1"}
`))
	c := client(n, "any", "thing")
	ctx := context.Background()
	call := func(t *testing.T, fn, payload string, tail bool) (*lambda.InvokeOutput, lambdaError) {
		t.Helper()
		in := &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(payload)}
		if tail {
			in.LogType = types.LogTypeTail
		}
		out, err := c.Invoke(ctx, in)
		if err != nil {
			t.Fatalf("invoke %s: %v", fn, err)
		}
		var e lambdaError
		if out.FunctionError != nil {
			if err := json.Unmarshal(out.Payload, &e); err != nil {
				t.Fatalf("error payload %s: %v", out.Payload, err)
			}
		}
		return out, e
	}

	t.Run("success", func(t *testing.T) {
		out, _ := call(t, "native", `{"op":"echo","msg":"proc"}`, false)
		var got echoed
		if err := json.Unmarshal(out.Payload, &got); err != nil || got.Msg != "proc" || got.Env != "native" || out.FunctionError != nil {
			t.Fatalf("payload %s, function error %q", out.Payload, aws.ToString(out.FunctionError))
		}
	})
	t.Run("returned error", func(t *testing.T) {
		out, e := call(t, "native", `{"op":"fail","msg":"proc"}`, false)
		if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(e.ErrorMessage, "failed on purpose: proc") {
			t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("panic, then a new process", func(t *testing.T) {
		out, e := call(t, "native", `{"op":"panic"}`, false)
		if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(e.ErrorMessage, "panicked on purpose") {
			t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
		}
		if out, _ := call(t, "native", `{"op":"echo","msg":"again"}`, false); !strings.Contains(string(out.Payload), "again") {
			t.Fatalf("after a panic: %s", out.Payload)
		}
	})
	t.Run("timeout kills the process", func(t *testing.T) {
		out, e := call(t, "native", `{"op":"sleep","ms":10000}`, false)
		if aws.ToString(out.FunctionError) != "Unhandled" || e.ErrorType != "Sandbox.Timedout" {
			t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
		}
		if out, _ := call(t, "native", `{"op":"count"}`, false); !strings.Contains(string(out.Payload), `"count":1`) {
			t.Fatalf("after a timeout the function should run in a fresh process: %s", out.Payload)
		}
	})
	t.Run("init failure shows the process's output", func(t *testing.T) {
		out, e := call(t, "broken", `{}`, false)
		if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(e.ErrorMessage, "missing configuration") {
			t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("tail log", func(t *testing.T) {
		out, _ := call(t, "native", `{"op":"echo","msg":"tail-proc"}`, true)
		log, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if err != nil || !strings.Contains(string(log), "echo tail-proc") || !strings.Contains(string(log), "REPORT RequestId: ") {
			t.Fatalf("log %q (%v)", log, err)
		}
	})
	t.Run("throttling", func(t *testing.T) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			call(t, "single", `{"op":"sleep","ms":1500}`, false)
		}()
		testutil.Eventually(t, 20*time.Second, "the first invocation to run", func() bool {
			st, _ := n.Server.Pools().StatsOf(pool.Key{Function: "single", Version: "1"})
			return st.Busy == 1
		})
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("single"), Payload: []byte(`{}`)})
		var tooMany *types.TooManyRequestsException
		if !errors.As(err, &tooMany) {
			t.Fatalf("second invocation: %v", err)
		}
		wg.Wait()
	})
}
