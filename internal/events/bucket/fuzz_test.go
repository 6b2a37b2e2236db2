package bucket

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/storage/blob"
)

// FuzzEncodeKey: every key survives S3 encoding and the decoding that
// aws-lambda-go applies, and the encoded form is plain ASCII without
// spaces.
func FuzzEncodeKey(f *testing.F) {
	for _, k := range []string{"", "a b", "x+y", "%zz", "ü/ñ", "a\x00b", "~*()'!"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		enc := encodeKey(key)
		if strings.ContainsFunc(enc, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			t.Fatalf("encodeKey(%q) = %q holds a space, control or non-ASCII character", key, enc)
		}
		back, err := url.QueryUnescape(enc)
		if err != nil || back != key {
			t.Fatalf("QueryUnescape(encodeKey(%q)) = %q, %v", key, back, err)
		}
		if !utf8.ValidString(key) {
			return // JSON would replace the bad bytes
		}
		ev := blob.Event{Name: blob.EventPut, Bucket: "b", Key: key}
		var got events.S3Event
		if err := json.Unmarshal(eventJSON(Record("r", Notification{ID: "n"}, ev)), &got); err != nil {
			t.Fatalf("the event of key %q does not decode: %v", key, err)
		}
		if got.Records[0].S3.Object.URLDecodedKey != key {
			t.Fatalf("decoded key %q, want %q", got.Records[0].S3.Object.URLDecodedKey, key)
		}
	})
}

// FuzzParseTarget: what parses splits back into the same target and holds
// only name characters.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"function:f", "function:f:live", "queue:q", "topic:t", "topic:", ":", "queue:a:b", "function:f:$LATEST"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		kind, name, err := ParseTarget(target)
		if err != nil {
			return
		}
		if kind+":"+name != target {
			t.Fatalf("ParseTarget(%q) = %q, %q", target, kind, name)
		}
		if kind != TargetFunction && strings.Contains(name, ":") {
			t.Fatalf("%s name %q holds ':'", kind, name)
		}
		if strings.ContainsFunc(name, func(r rune) bool { return r != ':' && r != '$' && (r > 0x7f || !nameByte(byte(r))) }) {
			t.Fatalf("name %q holds a character a queue, topic or function name may not", name)
		}
	})
}

// FuzzToken: tokens are valid subject tokens and KV key parts, and distinct
// bucket names never share one.
func FuzzToken(f *testing.F) {
	f.Add("my.bucket", "my_2ebucket")
	f.Add("a_b", "a-b")
	f.Add("", "_")
	f.Fuzz(func(t *testing.T, a, b string) {
		ta, tb := token(a), token(b)
		if a != b && ta == tb {
			t.Fatalf("token(%q) == token(%q) == %q", a, b, ta)
		}
		if strings.ContainsFunc(ta, func(r rune) bool { return r > 0x7f || !nameByte(byte(r)) }) {
			t.Fatalf("token(%q) = %q is not a plain subject token", a, ta)
		}
		if q := DeadLetterQueue(a); len(q) > maxNameLen || !validName(q) {
			t.Fatalf("DeadLetterQueue(%q) = %q is not a queue name", a, q)
		}
	})
}

// FuzzDecodeEvent: the stream's event form never panics when read, and what
// reads back encodes to the same event.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range []blob.Event{put("b", "k"), del("b.c", "x y")} {
		data, _ := encodeEvent(ev)
		f.Add(data)
	}
	f.Add([]byte(`{"name":"ObjectCreated:Put","bucket":"b","time":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"name":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := decodeEvent(data, "tp")
		if err != nil {
			return
		}
		again, err := encodeEvent(ev)
		if err != nil {
			return // a time JSON cannot write back
		}
		ev2, err := decodeEvent(again, "tp")
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, again)
		}
		if !ev2.Time.Equal(ev.Time) {
			t.Fatalf("time changed: %v -> %v", ev.Time, ev2.Time)
		}
		ev2.Time = ev.Time
		if ev2 != ev {
			t.Fatalf("changed on a round trip: %+v -> %+v", ev, ev2)
		}
		_ = eventJSON(Record("r", Notification{ID: "n"}, ev))
	})
}
