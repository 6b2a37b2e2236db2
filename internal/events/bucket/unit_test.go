package bucket

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/storage/blob"
)

func TestEncodeKey(t *testing.T) {
	for key, want := range map[string]string{
		"plain.txt":             "plain.txt",
		"a b/c d.jpg":           "a+b/c+d.jpg",
		"x+y=z&q?":              "x%2By%3Dz%26q%3F",
		"ünï":                   "%C3%BCn%C3%AF",
		"~tilde*star(1)":        "%7Etilde*star%281%29",
		"dir/sub/under_score-1": "dir/sub/under_score-1",
		"%41":                   "%2541",
	} {
		if got := encodeKey(key); got != want {
			t.Errorf("encodeKey(%q) = %q, want %q", key, got, want)
		}
		if back, err := url.QueryUnescape(want); err != nil || back != key {
			t.Errorf("QueryUnescape(%q) = %q, %v", want, back, err)
		}
	}
}

// The JSON decodes, with aws-lambda-go, to exactly Record's value.
func TestRecordRoundTrip(t *testing.T) {
	n := Notification{ID: "cfg-1", Bucket: "b", Target: "queue:q", On: []string{registry.BucketCreated}}
	for _, ev := range []blob.Event{put("b", "a b+c"), del("b", "x/y z")} {
		rec := Record("ap-northeast-2", n, ev)
		body := eventJSON(rec)
		var got events.S3Event
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if len(got.Records) != 1 {
			t.Fatalf("%d records", len(got.Records))
		}
		g := got.Records[0]
		if !g.EventTime.Equal(rec.EventTime) {
			t.Errorf("eventTime %v, want %v", g.EventTime, rec.EventTime)
		}
		g.EventTime = rec.EventTime
		if !reflect.DeepEqual(g, rec) {
			t.Errorf("decoded\n%+v\nwant\n%+v", g, rec)
		}
	}
	rec := Record("r", n, del("b", "k"))
	if rec.S3.Object.Size != 0 || rec.S3.Object.ETag != "" {
		t.Errorf("removal record has size %d, eTag %q", rec.S3.Object.Size, rec.S3.Object.ETag)
	}
	// An empty object still states its size.
	ev := put("b", "empty")
	ev.Size = 0
	if body := string(eventJSON(Record("r", n, ev))); !strings.Contains(body, `"size":0`) {
		t.Errorf("created empty object without size: %s", body)
	}
}

func TestParseTarget(t *testing.T) {
	for target, want := range map[string][2]string{
		"function:resize":         {TargetFunction, "resize"},
		"function:resize:live":    {TargetFunction, "resize:live"},
		"function:resize:$LATEST": {TargetFunction, "resize:$LATEST"},
		"queue:jobs_1":            {TargetQueue, "jobs_1"},
		"topic:order-events":      {TargetTopic, "order-events"},
	} {
		kind, name, err := ParseTarget(target)
		if err != nil || kind != want[0] || name != want[1] {
			t.Errorf("ParseTarget(%q) = %q, %q, %v", target, kind, name, err)
		}
	}
	for _, bad := range []string{"", "queue", "queue:", "queue:a:b", "topic:a.b", "lambda:f", "function:", "function:f:", "function:f:a b", "queue:" + strings.Repeat("q", 81)} {
		if _, _, err := ParseTarget(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTarget(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestDeadLetterNames(t *testing.T) {
	for bucket, want := range map[string]string{
		"uploads":                "bucket-uploads-dlq",
		"my.bucket":              "bucket-my-bucket-dlq",
		strings.Repeat("x", 255): "bucket-" + strings.Repeat("x", 69) + "-dlq",
	} {
		got := DeadLetterQueue(bucket)
		if got != want || len(got) > 80 {
			t.Errorf("DeadLetterQueue(%q) = %q, want %q", bucket, got, want)
		}
	}
	src := DeadLetterSource("my.bucket", "n-1")
	if s := src.String(); s != "subscription:bucket:my.bucket/n-1" {
		t.Errorf("source %q", s)
	}
	if _, _, ok := ParseDeadLetterSource(deadletter.Source{Kind: deadletter.KindSubscription, Name: "orders", Sub: "x"}); ok {
		t.Error("a topic subscription taken for a bucket notification")
	}
	if _, _, ok := ParseDeadLetterSource(deadletter.Source{Kind: deadletter.KindQueue, Name: "bucket:x"}); ok {
		t.Error("a queue source taken for a bucket notification")
	}
}

func TestToken(t *testing.T) {
	for bucket, want := range map[string]string{
		"plain-1":   "plain-1",
		"my.bucket": "my_2ebucket",
		"a_b":       "a_5fb",
		"Ünï":       "_c3_9cn_c3_af",
	} {
		if got := token(bucket); got != want {
			t.Errorf("token(%q) = %q, want %q", bucket, got, want)
		}
	}
}

func TestMatches(t *testing.T) {
	n := Notification{On: []string{registry.BucketRemoved}, Prefix: "a/", Suffix: ".x"}
	for _, c := range []struct {
		name, key string
		want      bool
	}{
		{blob.EventDelete, "a/b.x", true},
		{blob.EventPut, "a/b.x", false},
		{blob.EventDelete, "b/b.x", false},
		{blob.EventDelete, "a/b.y", false},
		{"ObjectRestore:Post", "a/b.x", false},
	} {
		if got := n.Matches(c.name, c.key); got != c.want {
			t.Errorf("Matches(%s, %s) = %v", c.name, c.key, got)
		}
	}
}

func TestStoredEventRoundTrip(t *testing.T) {
	ev := put("b", "k")
	data, err := encodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEvent(data, ev.TraceParent)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(ev.Time) {
		t.Errorf("time %v, want %v", got.Time, ev.Time)
	}
	got.Time = ev.Time
	if got != ev {
		t.Errorf("decoded %+v, want %+v", got, ev)
	}
	ev.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := encodeEvent(ev); !errors.Is(err, ErrInvalid) {
		t.Errorf("year 10000: %v, want ErrInvalid", err)
	}
}
