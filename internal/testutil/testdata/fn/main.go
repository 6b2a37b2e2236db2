// Command fn is the function the end-to-end tests deploy: one handler
// whose behaviour the event picks.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	// Tables and buckets: kvget, kvput, kvdel, kvlist, blobget, blobput,
	// blobdel, bloblist; fetch reaches URL through the HTTP capability.
	Table    string          `json:"table"`
	Bucket   string          `json:"bucket"`
	Key      string          `json:"key"`
	Prefix   string          `json:"prefix"`
	Value    json.RawMessage `json:"value"`
	IfAbsent bool            `json:"ifAbsent"`
	IfRev    uint64          `json:"ifRevision"`
	TTLS     int             `json:"ttlS"`
	URL      string          `json:"url"`
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
	case "awsenv":
		return map[string]string{
			"endpoint": os.Getenv("AWS_ENDPOINT_URL_S3"), "key": os.Getenv("AWS_ACCESS_KEY_ID"),
			"secret": os.Getenv("AWS_SECRET_ACCESS_KEY"), "region": os.Getenv("AWS_REGION"),
		}, nil
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
	if out, ok, err := storageOp(ctx, ev); ok {
		return out, err
	}
	return nil, fmt.Errorf("unknown op %q", ev.Op)
}

// storageOp serves the table, bucket and fetch operations; ok is false for
// any other operation.
func storageOp(ctx context.Context, ev event) (out any, ok bool, err error) {
	t, b := gureum.Table(ev.Table), gureum.Bucket(ev.Bucket)
	switch ev.Op {
	case "kvget":
		out, err = t.Get(ctx, ev.Key)
	case "kvput":
		var opts []gureum.WriteOption
		if ev.IfAbsent {
			opts = append(opts, gureum.IfAbsent())
		}
		if ev.IfRev != 0 {
			opts = append(opts, gureum.IfRevision(ev.IfRev))
		}
		if ev.TTLS != 0 {
			opts = append(opts, gureum.WithTTL(time.Duration(ev.TTLS)*time.Second))
		}
		var rev uint64
		rev, err = t.Put(ctx, ev.Key, ev.Value, opts...)
		out = map[string]uint64{"revision": rev}
	case "kvdel":
		err = t.Delete(ctx, ev.Key, gureum.IfRevision(ev.IfRev))
		out = map[string]bool{"deleted": err == nil}
	case "kvlist":
		out, err = t.List(ctx, gureum.ListOptions{Prefix: ev.Prefix})
	case "blobget":
		var o gureum.Object
		o, err = b.Get(ctx, ev.Key)
		out = map[string]any{"body": string(o.Body), "etag": o.ETag, "contentType": o.ContentType, "size": o.Size}
	case "blobput":
		var etag string
		etag, err = b.Put(ctx, ev.Key, []byte(ev.Msg), gureum.WithContentType("text/plain"))
		out = map[string]string{"etag": etag}
	case "blobdel":
		err = b.Delete(ctx, ev.Key)
		out = map[string]bool{"deleted": err == nil}
	case "bloblist":
		out, err = b.List(ctx, gureum.ObjectListOptions{Prefix: ev.Prefix})
	case "fetch":
		var req *http.Request
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, ev.URL, nil); err != nil {
			return nil, true, err
		}
		var resp *http.Response
		if resp, err = gureum.HTTPClient().Do(req); err != nil {
			return nil, true, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		out = map[string]any{"status": resp.StatusCode, "body": string(body)}
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	return out, true, nil
}

func main() {
	if os.Getenv("FAIL_INIT") != "" {
		fmt.Println("cannot start: missing configuration")
		os.Exit(3)
	}
	gureum.Start(handler)
}
