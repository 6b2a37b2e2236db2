// Command behave is a reactor whose handler does what the event asks: fail,
// panic, crash, spin, sleep, allocate, write output, read its environment,
// the clock or random numbers. INIT=panic or INIT=loop in its environment
// makes its main fail or hang. The engine's tests drive it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	gureum "github.com/gureum/gureum/sdk/go"
)

type event struct {
	Action string `json:"action"`
	Key    string `json:"key,omitempty"`
	MiB    int    `json:"mib,omitempty"`
}

type result struct {
	Count     int      `json:"count,omitempty"`
	Value     string   `json:"value,omitempty"`
	Env       []string `json:"env,omitempty"`
	UnixNano  int64    `json:"unixNano,omitempty"`
	Year      int      `json:"year,omitempty"`
	RequestID string   `json:"requestId,omitempty"`
	ARN       string   `json:"arn,omitempty"`
	Deadline  int64    `json:"deadline,omitempty"`
	Trace     string   `json:"trace,omitempty"`
}

type customError struct{ msg string }

func (e *customError) Error() string { return e.msg }

var (
	count int
	keep  [][]byte
)

func init() {
	fmt.Println("init says hello")
}

func handle(ctx context.Context, ev event) (result, error) {
	count++
	switch ev.Action {
	case "noop":
		return result{}, nil
	case "count":
		return result{Count: count}, nil
	case "error":
		return result{}, &customError{"something went wrong"}
	case "errorString":
		return result{}, errors.New("plain error")
	case "panic":
		panic("handler panic")
	case "crash":
		go func() { panic("escaped the handler") }()
		time.Sleep(time.Hour)
	case "exit":
		os.Exit(3)
	case "loop":
		for {
		}
	case "sleep":
		time.Sleep(time.Hour)
	case "alloc":
		b := make([]byte, ev.MiB<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
		return result{Value: fmt.Sprint(len(b))}, nil
	case "big":
		return result{Value: strings.Repeat("x", 7<<20)}, nil
	case "log":
		fmt.Println("to stdout")
		fmt.Fprintln(os.Stderr, "to stderr")
		log.Print("through log")
		return result{}, nil
	case "env":
		return result{Value: os.Getenv(ev.Key), Env: os.Environ()}, nil
	case "time":
		now := time.Now()
		return result{UnixNano: now.UnixNano(), Year: now.Year()}, nil
	case "rand":
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return result{}, err
		}
		return result{Value: hex.EncodeToString(b)}, nil
	case "context":
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		trace, _ := ctx.Value("x-amzn-trace-id").(string)
		return result{RequestID: lc.AwsRequestID, ARN: lc.InvokedFunctionArn, Deadline: deadline.UnixMilli(), Trace: trace}, nil
	}
	return result{}, fmt.Errorf("unknown action %q", ev.Action)
}

func main() {
	switch os.Getenv("INIT") {
	case "panic":
		panic("main failed")
	case "loop":
		for {
		}
	}
	gureum.Start(handle)
}
