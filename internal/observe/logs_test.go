package observe

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAppendEntryMatchesMarshal holds the hand-written log line to what
// json.Marshal writes for the same Entry.
func TestAppendEntryMatchesMarshal(t *testing.T) {
	now := time.Date(2026, 11, 24, 11, 10, 33, 120000000, time.UTC)
	for _, e := range []Entry{
		{Time: now, Function: "hello", Message: "greeting world"},
		{Time: now.Add(time.Nanosecond).In(time.FixedZone("x", 3600)), Function: "f", Version: "3", RequestID: "8f5e1c2a", Message: "REPORT RequestId: 8f5e1c2a Duration: 0.52 ms"},
		{Time: now, Function: "<&>", Version: "\u2028", RequestID: "\"\\", Message: "\x00\x1f\x7f\b\f\n\r\t é 😀 \xff\xc3 \u2029 <b>&amp;</b>"},
		{Time: now, Function: "f", Message: strings.Repeat("é", maxLine)},
		{Time: now, Function: "f", Message: strings.Repeat("x", maxLine+1)},
	} {
		checkEntry(t, e)
	}
}

func FuzzAppendEntry(f *testing.F) {
	f.Add(int64(0), "fn", "1", "rid", "message")
	f.Add(int64(1795518633123456789), "<fn>", "", "", "\xff\u2028&\"\\\n")
	f.Fuzz(func(t *testing.T, ns int64, fn, version, rid, msg string) {
		checkEntry(t, Entry{Time: time.Unix(0, ns).UTC(), Function: fn, Version: version, RequestID: rid, Message: msg})
	})
}

func checkEntry(t *testing.T, e Entry) {
	t.Helper()
	want := e
	if len(want.Message) > maxLine {
		want.Message = want.Message[:maxLine] + truncated
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendEntry(nil, e.Time, e.Function, e.Version, e.RequestID, e.Message); string(got) != string(wantJSON) {
		t.Errorf("string message:\n got %s\nwant %s", got, wantJSON)
	}
	if got := appendEntry(nil, e.Time, e.Function, e.Version, e.RequestID, []byte(e.Message)); string(got) != string(wantJSON) {
		t.Errorf("[]byte message:\n got %s\nwant %s", got, wantJSON)
	}
}
