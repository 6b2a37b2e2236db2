// Command golambda is a function written with aws-lambda-go, as it would be
// deployed to Lambda; the process engine's tests run it unchanged. The event
// chooses what it does.
package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string `json:"action"`
	Ms     int    `json:"ms"`
	MiB    int    `json:"mib"`
	Bytes  int    `json:"bytes"`
	Say    string `json:"say"`
}

type result struct {
	Say       string            `json:"say,omitempty"`
	RequestID string            `json:"requestId,omitempty"`
	ARN       string            `json:"arn,omitempty"`
	Deadline  int64             `json:"deadline,omitempty"`
	Trace     string            `json:"trace,omitempty"`
	PID       int               `json:"pid"`
	Env       []string          `json:"env,omitempty"`
	Dir       string            `json:"dir,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Data      string            `json:"data,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
}

// ValidationError is a handler error; aws-lambda-go reports its type name.
type ValidationError struct{ msg string }

func (e ValidationError) Error() string { return e.msg }

var initEnv = os.Environ() // captured before the client library runs

func main() {
	switch os.Getenv("MODE") {
	case "initfail":
		fmt.Fprintln(os.Stderr, "init: cannot load configuration: TABLE is not set")
		os.Exit(3)
	case "initerror":
		doc := `{"errorMessage":"database unreachable","errorType":"InitError.Database"}`
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(doc))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "InitError.Database")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			fmt.Println("init error posted:", resp.StatusCode)
		}
		time.Sleep(time.Hour)
	case "slowinit":
		time.Sleep(time.Hour)
	}
	fmt.Println("init done")
	lambda.Start(handle)
}

func handle(ctx context.Context, ev event) (*result, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	r := &result{PID: os.Getpid(), RequestID: lc.AwsRequestID, ARN: lc.InvokedFunctionArn, Deadline: deadline.UnixMilli(), Trace: os.Getenv("_X_AMZN_TRACE_ID")}
	switch ev.Action {
	case "ping":
		return &result{}, nil
	case "echo":
		fmt.Printf("stdout line for %s\n", lc.AwsRequestID)
		fmt.Fprintf(os.Stderr, "stderr line for %s\n", lc.AwsRequestID)
		r.Say = ev.Say
	case "partial":
		fmt.Print("no newline at the end")
	case "env":
		env := append([]string(nil), initEnv...)
		sort.Strings(env)
		wd, _ := os.Getwd()
		r.Env, r.Dir, r.Args = env, wd, os.Args
	case "error":
		return nil, ValidationError{msg: "invalid order: " + ev.Say}
	case "panic":
		panic("kaboom: " + ev.Say)
	case "exit":
		fmt.Println("exiting mid-invocation")
		os.Exit(7)
	case "sleep":
		child := exec.Command("sleep", "300")
		if err := child.Start(); err != nil {
			return nil, err
		}
		fmt.Printf("child=%d\n", child.Process.Pid)
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
	case "alloc":
		var keep [][]byte
		for i := 0; i < ev.MiB; i++ {
			b := bytes.Repeat([]byte{byte(i)}, 1<<20)
			keep = append(keep, b)
		}
		r.Say = fmt.Sprintf("allocated %d MiB", len(keep))
	case "big":
		r.Data = strings.Repeat("x", ev.Bytes)
	default:
		return nil, fmt.Errorf("unknown action %q", ev.Action)
	}
	return r, nil
}
