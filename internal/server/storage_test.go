package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/testutil"
)

// s3Client is the AWS SDK's S3 client pointed at a node's S3 API.
func s3Client(n *testutil.Node, key, secret string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + n.Server.S3Addr()),
		Region:       n.Config.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}

// invokeJSON invokes fn with event and decodes its result; a function error
// comes back as the error's message.
func invokeJSON(t *testing.T, n *testutil.Node, fn, event string) (map[string]any, string) {
	t.Helper()
	res, err := n.Server.Invoke(context.Background(), &invoke.Request{Function: fn, Payload: []byte(event)})
	if err != nil && res == nil {
		t.Fatalf("invoke %s: %v", fn, err)
	}
	if res.FunctionError {
		return nil, string(res.Payload)
	}
	var out map[string]any
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		t.Fatalf("invoke %s %s: result %s: %v", fn, event, res.Payload, err)
	}
	return out, ""
}

func TestFunctionsUseTablesBucketsAndHTTPWithinGrants(t *testing.T) {
	n := testutil.StartServer(t, fastEvents)
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	defer target.Close()
	dir := project(t, "store", `
  api:
    build: BUILD
    permissions: {tables: [orders:rw], buckets: [files:rw], http: [127.0.0.1]}
  reader:
    build: BUILD
    permissions: {tables: [orders:r], buckets: [files:r]}
  native:
    runtime: process
    build: BUILD
    permissions: {tables: [orders:rw], buckets: [files:r]}
tables:
  orders: {}
buckets:
  files: {}
  private: {}
`)
	if r := n.Deploy(dir); r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}

	// The deploy created the tables and buckets and names itself as their app.
	if ts, err := n.Server.Tables(context.Background()); err != nil || len(ts) != 1 || ts[0].Name != "orders" || ts[0].App != "store" {
		t.Fatalf("tables after deploy: %+v, %v", ts, err)
	}
	if bs, err := n.Server.Buckets(context.Background()); err != nil || len(bs) != 2 || bs[0].App != "store" {
		t.Fatalf("buckets after deploy: %+v, %v", bs, err)
	}

	// Tables: put, get, conditional writes, list by prefix.
	out, fail := invokeJSON(t, n, "api", `{"op":"kvput","table":"orders","key":"o-1","value":{"total":12}}`)
	if fail != "" || out["revision"].(float64) == 0 {
		t.Fatalf("kvput: %v %s", out, fail)
	}
	rev := uint64(out["revision"].(float64))
	if out, fail = invokeJSON(t, n, "reader", `{"op":"kvget","table":"orders","key":"o-1"}`); fail != "" || fmt.Sprint(out["value"]) != "map[total:12]" {
		t.Fatalf("kvget by reader: %v %s", out, fail)
	}
	if _, fail = invokeJSON(t, n, "api", `{"op":"kvput","table":"orders","key":"o-1","value":1,"ifAbsent":true}`); !strings.Contains(fail, "ConditionFailed") {
		t.Fatalf("ifAbsent on an existing key: %s", fail)
	}
	if _, fail = invokeJSON(t, n, "native", fmt.Sprintf(`{"op":"kvput","table":"orders","key":"o-1","value":{"total":13},"ifRevision":%d}`, rev)); fail != "" {
		t.Fatalf("process kvput ifRevision: %s", fail)
	}
	if _, fail = invokeJSON(t, n, "api", fmt.Sprintf(`{"op":"kvput","table":"orders","key":"o-1","value":2,"ifRevision":%d}`, rev)); !strings.Contains(fail, "ConditionFailed") {
		t.Fatalf("stale ifRevision: %s", fail)
	}
	for _, k := range []string{"o-2", "o-3", "x-1"} {
		if _, fail = invokeJSON(t, n, "api", `{"op":"kvput","table":"orders","key":"`+k+`","value":true}`); fail != "" {
			t.Fatalf("kvput %s: %s", k, fail)
		}
	}
	out, fail = invokeJSON(t, n, "reader", `{"op":"kvlist","table":"orders","prefix":"o-"}`)
	if items, _ := out["items"].([]any); fail != "" || len(items) != 3 {
		t.Fatalf("kvlist o-: %v %s", out, fail)
	}
	if _, fail = invokeJSON(t, n, "api", `{"op":"kvget","table":"orders","key":"nope"}`); !strings.Contains(fail, "NotFound") {
		t.Fatalf("missing item: %s", fail)
	}
	// The CLI sees what functions wrote.
	if got := runCLI(t, n, "table", "get", "orders", "o-1"); !strings.Contains(got, `"total":13`) && !strings.Contains(got, `"total": 13`) {
		t.Fatalf("gureum table get: %s", got)
	}

	// Buckets: put, get, list; the process function reads through the host API.
	if _, fail = invokeJSON(t, n, "api", `{"op":"blobput","bucket":"files","key":"notes/a.txt","msg":"first note"}`); fail != "" {
		t.Fatalf("blobput: %s", fail)
	}
	if out, fail = invokeJSON(t, n, "native", `{"op":"blobget","bucket":"files","key":"notes/a.txt"}`); fail != "" || out["body"] != "first note" || out["contentType"] != "text/plain" {
		t.Fatalf("blobget by process: %v %s", out, fail)
	}
	if out, fail = invokeJSON(t, n, "reader", `{"op":"bloblist","bucket":"files","prefix":"notes/"}`); fail != "" || len(out["objects"].([]any)) != 1 {
		t.Fatalf("bloblist: %v %s", out, fail)
	}

	// HTTP: a granted host answers; the function's trace reaches nothing else.
	if out, fail = invokeJSON(t, n, "api", `{"op":"fetch","url":"`+target.URL+`/ping"}`); fail != "" || out["body"] != "hello from /ping" {
		t.Fatalf("fetch: %v %s", out, fail)
	}

	// Not granted: a clear error naming the missing grant, and nothing done.
	before := hits.Load()
	for _, tc := range []struct{ fn, event, want string }{
		{"reader", `{"op":"kvput","table":"orders","key":"o-9","value":1}`, "{tables: [orders:rw]}"},
		{"reader", `{"op":"kvdel","table":"orders","key":"o-1"}`, "{tables: [orders:rw]}"},
		{"api", `{"op":"kvget","table":"users","key":"u"}`, "{tables: [users:r]}"},
		{"reader", `{"op":"blobput","bucket":"files","key":"x","msg":"m"}`, "{buckets: [files:rw]}"},
		{"native", `{"op":"blobdel","bucket":"files","key":"notes/a.txt"}`, "{buckets: [files:rw]}"},
		{"api", `{"op":"blobget","bucket":"private","key":"x"}`, "{buckets: [private:r]}"},
		{"reader", `{"op":"fetch","url":"` + target.URL + `/x"}`, "{http: [127.0.0.1]}"},
		{"native", `{"op":"fetch","url":"` + target.URL + `/x"}`, "{http: [127.0.0.1]}"},
	} {
		if _, fail := invokeJSON(t, n, tc.fn, tc.event); !strings.Contains(fail, "AccessDenied") || !strings.Contains(fail, tc.want) {
			t.Errorf("%s %s: %q, want AccessDenied naming %q", tc.fn, tc.event, fail, tc.want)
		}
	}
	if hits.Load() != before {
		t.Errorf("a denied fetch reached the server")
	}
	if out, _ := invokeJSON(t, n, "api", `{"op":"kvget","table":"orders","key":"o-9"}`); out != nil {
		t.Errorf("a denied put wrote o-9: %v", out)
	}

	// A process function's AWS credentials reach its granted buckets with an
	// unchanged S3 client, read-only as granted, and no others.
	env, fail := invokeJSON(t, n, "native", `{"op":"awsenv"}`)
	if fail != "" || env["endpoint"] != "http://"+n.Server.S3Addr() || env["key"] == "" || env["region"] != n.Config.Region {
		t.Fatalf("process function's AWS environment: %v %s", env, fail)
	}
	fc := s3Client(n, env["key"].(string), env["secret"].(string))
	ctx := context.Background()
	got, err := fc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("files"), Key: aws.String("notes/a.txt")})
	if err != nil {
		t.Fatalf("function credentials: GetObject: %v", err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(body) != "first note" {
		t.Fatalf("function credentials read %q", body)
	}
	_, err = fc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("files"), Key: aws.String("y"), Body: strings.NewReader("y")})
	if code := apiCode(err); code != "AccessDenied" {
		t.Errorf("function credentials: PutObject to a read-only grant: %v", err)
	}
	_, err = fc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("x")})
	if code := apiCode(err); code != "AccessDenied" {
		t.Errorf("function credentials: GetObject from an ungranted bucket: %v", err)
	}
	bad := s3Client(n, env["key"].(string), "not-the-secret")
	_, err = bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("files"), Key: aws.String("notes/a.txt")})
	if code := apiCode(err); code != "SignatureDoesNotMatch" {
		t.Errorf("function key with a wrong secret: %v", err)
	}
}

// apiCode is the S3 error code of err, or "" when it is not an API error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestBucketEventsReachFunctionsAndQueues(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.S3Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.DrainTimeout = 10 * time.Second
	cfg.Env = os.Environ()
	fastEvents(&cfg)
	n := testutil.StartWithConfig(t, cfg)
	dir := project(t, "pics", `
  onupload:
    build: EVENTFN
    events:
      - bucket: {name: uploads, on: [created, removed], prefix: images/, suffix: .png}
queues:
  removals: {}
buckets:
  uploads:
    events:
      - queue: removals
        on: [removed]
        prefix: docs/
`)
	if r := n.Deploy(dir); r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	c := s3Client(n, "any-key", "any-secret") // the embedded default accepts any key
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
	}
	put("images/a cat.png", "png bytes")
	put("images/notes.txt", "filtered out by suffix")
	put("docs/b.png", "filtered out by prefix")
	testutil.Eventually(t, 30*time.Second, "the created event", func() bool {
		return count(logLines(t, n, "onupload", "s3 "), "ObjectCreated:Put images/a cat.png") == 1
	})
	for _, key := range []string{"images/a cat.png", "docs/b.png"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("uploads"), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 30*time.Second, "the removed event", func() bool {
		return count(logLines(t, n, "onupload", "s3 "), "ObjectRemoved:Delete images/a cat.png") == 1
	})
	// The queue notification gets the S3 event JSON of the removal under docs/.
	var ev events.S3Event
	testutil.Eventually(t, 30*time.Second, "the removal in the queue", func() bool {
		msgs, err := n.Server.PeekMessages(ctx, "removals", 10)
		if err != nil || len(msgs) != 1 {
			return false
		}
		return json.Unmarshal([]byte(msgs[0].Body), &ev) == nil
	})
	if len(ev.Records) != 1 || ev.Records[0].EventName != "ObjectRemoved:Delete" || ev.Records[0].S3.Bucket.Name != "uploads" || ev.Records[0].S3.Object.Key != "docs/b.png" {
		t.Fatalf("queue holds %+v", ev)
	}

	// An upload that succeeded produces its event even when the node stops
	// right after answering it.
	put("images/restart.png", "late")
	n.Stop()
	n2 := testutil.StartWithConfig(t, cfg)
	testutil.Eventually(t, 60*time.Second, "the event of the upload before the restart", func() bool {
		return count(logLines(t, n2, "onupload", "s3 "), "ObjectCreated:Put images/restart.png") >= 1
	})
	for _, line := range logLines(t, n2, "onupload", "s3 ") {
		if strings.Contains(line, "notes.txt") || strings.Contains(line, "docs/") {
			t.Errorf("a filtered key produced an event: %s", line)
		}
	}
	// The invocation records name the trigger and the bucket.
	recs := recordsOf(t, n2, "onupload")
	if len(recs) == 0 || recs[0].Trigger != "bucket" || recs[0].Source != "arn:aws:s3:::uploads" {
		t.Errorf("records %+v", recs)
	}
}

// TestConcurrentConditionalWritesHaveOneWinner races functions putting the
// same new key with IfAbsent: exactly one succeeds.
func TestConcurrentConditionalWritesHaveOneWinner(t *testing.T) {
	n := testutil.StartServer(t)
	dir := project(t, "race", `
  writer:
    build: BUILD
    concurrency: 8
    permissions: {tables: [locks:rw]}
tables:
  locks: {}
`)
	if r := n.Deploy(dir); r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	for round := 0; round < 3; round++ {
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := fmt.Sprintf(`{"op":"kvput","table":"locks","key":"lock-%d","value":%d,"ifAbsent":true}`, round, i)
				res, err := n.Server.Invoke(context.Background(), &invoke.Request{Function: "writer", Payload: []byte(ev)})
				switch {
				case err == nil && !res.FunctionError:
					wins.Add(1)
				case res != nil && bytes.Contains(res.Payload, []byte("ConditionFailed")):
					conflicts.Add(1)
				default:
					t.Errorf("round %d writer %d: %v %+v", round, i, err, res)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("round %d: %d winners and %d conflicts, want 1 and 7", round, wins.Load(), conflicts.Load())
		}
	}
}
