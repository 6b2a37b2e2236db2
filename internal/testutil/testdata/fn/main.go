// Command fn is the function the end-to-end tests deploy: one handler
// whose behaviour the event picks.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	gureum "github.com/gureum/gureum/sdk/go"
)

type event struct {
	Op  string `json:"op"`
	MB  int    `json:"mb"`
	Ms  int    `json:"ms"`
	Msg string `json:"msg"`
	// Set when the event comes through an HTTP route: the request body
	// carries the operation.
	RouteKey string `json:"routeKey"`
	Body     string `json:"body"`
	// publish and send: the topic or queue, and what to add to the message
	// (Msg is the message).
	To      string             `json:"to"`
	Subject string             `json:"subject"`
	Attrs   map[string]string  `json:"attrs"`
	Nums    map[string]float64 `json:"nums"`
	DelayS  int                `json:"delayS"`
}

var count int

// hold keeps allocations reachable so the collector cannot free them.
var hold [][]byte

func handler(ctx context.Context, ev event) (any, error) {
	count++
	if ev.RouteKey != "" && ev.Body != "" {
		if err := json.Unmarshal([]byte(ev.Body), &ev); err != nil {
			return nil, err
		}
	}
	switch ev.Op {
	case "echo", "":
		fmt.Println("echo", ev.Msg)
		return map[string]any{"msg": ev.Msg, "env": os.Getenv("GREETING")}, nil
	case "trace":
		return map[string]string{"traceparent": gureum.TraceParent(ctx)}, nil
	case "count":
		return map[string]int{"count": count}, nil
	case "fail":
		return nil, errors.New("failed on purpose: " + ev.Msg)
	case "panic":
		panic("panicked on purpose")
	case "loop":
		for {
			count++
		}
	case "sleep":
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
		return map[string]int{"slept": ev.Ms}, nil
	case "hog":
		for i := 0; i < ev.MB; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			hold = append(hold, b)
		}
		return map[string]int{"held": len(hold)}, nil
	case "files":
		_, err := os.ReadDir("/")
		return map[string]string{"err": fmt.Sprint(err)}, nil
	case "publish", "send":
		var opts []gureum.MessageOption
		if ev.Subject != "" {
			opts = append(opts, gureum.WithSubject(ev.Subject))
		}
		if ev.DelayS != 0 {
			opts = append(opts, gureum.WithDelay(time.Duration(ev.DelayS)*time.Second))
		}
		for k, v := range ev.Attrs {
			opts = append(opts, gureum.WithAttribute(k, v))
		}
		for k, v := range ev.Nums {
			opts = append(opts, gureum.WithNumberAttribute(k, v))
		}
		send := gureum.Publish
		if ev.Op == "send" {
			send = gureum.Send
		}
		// A failure is the function's error, whose message the caller sees.
		id, err := send(ctx, ev.To, ev.Msg, opts...)
		if err != nil {
			return nil, err
		}
		return map[string]string{"messageId": id}, nil
	}
	return nil, fmt.Errorf("unknown op %q", ev.Op)
}

func main() {
	if os.Getenv("FAIL_INIT") != "" {
		fmt.Println("cannot start: missing configuration")
		os.Exit(3)
	}
	gureum.Start(handler)
}
