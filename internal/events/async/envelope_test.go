package async

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func sampleEnvelope() *envelope {
	at := time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC)
	return &envelope{
		Event: Event{
			RequestID:   "3f1c2a9e-0000-4000-8000-000000000001",
			Function:    "resize",
			Qualifier:   "live",
			Payload:     json.RawMessage(`{"key":"a.png"}`),
			Trigger:     "topic",
			Source:      "arn:aws:sns:local:000000000000:uploads",
			TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			AcceptedAt:  at,
			Attempts: []Attempt{
				{At: at.Add(time.Second), Error: "line one\nline \"two\"", ErrorType: "Boom", Duration: 1500 * time.Millisecond, Version: "4"},
			},
		},
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	in := sampleEnvelope()
	out, err := decode(roundTripHeaders(t, encode(in, SubjectPrefix+"resize")))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}

	in.outcome, in.reason, in.response, in.deferrals = ConditionRetriesExhausted, "Boom: bad", []byte(`{"errorMessage":"bad"}`), 3
	m := encode(in, DelayedPrefix+"resize.x")
	if got := m.Header.Get(HeaderResponseBytes); got != "22" {
		t.Errorf("%s = %q", HeaderResponseBytes, got)
	}
	out, err = decode(roundTripHeaders(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip with outcome:\n got %+v\nwant %+v", out, in)
	}
}

// roundTripHeaders passes m's headers through their wire form.
func roundTripHeaders(t *testing.T, m *nats.Msg) (nats.Header, []byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString("NATS/1.0\r\n")
	for k, vs := range m.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	h, err := nats.DecodeHeadersMsg([]byte(b.String()))
	if err != nil {
		t.Fatalf("headers %q: %v", b.String(), err)
	}
	return h, m.Data
}

func TestDecodeRejects(t *testing.T) {
	good := encode(sampleEnvelope(), "s")
	for _, tc := range []struct {
		name   string
		change func(h nats.Header)
	}{
		{"no request id", func(h nats.Header) { h.Del(HeaderRequestID) }},
		{"bad function", func(h nats.Header) { h.Set(HeaderFunction, "a.b") }},
		{"bad time", func(h nats.Header) { h.Set(HeaderAcceptedAt, "yesterday") }},
		{"bad attempts", func(h nats.Header) { h.Set(HeaderAttempts, "[{") }},
		{"too many attempts", func(h nats.Header) { h.Set(HeaderAttempts, "["+strings.Repeat("{},", 16)+"{}]") }},
		{"bad outcome", func(h nats.Header) { h.Set(HeaderOutcome, "Maybe") }},
		{"response longer than body", func(h nats.Header) {
			h.Set(HeaderOutcome, ConditionSuccess)
			h.Set(HeaderResponseBytes, "999")
		}},
		{"negative deferrals", func(h nats.Header) {
			h.Set(HeaderOutcome, ConditionSuccess)
			h.Set(HeaderDeferrals, "-1")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := nats.Header{}
			for k, v := range good.Header {
				h[k] = append([]string(nil), v...)
			}
			tc.change(h)
			if _, err := decode(h, good.Data); !errors.Is(err, ErrInvalid) {
				t.Errorf("decode: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine(" a\r\nb\x00c\xff "); got != "a  b c\uFFFD" {
		t.Errorf("oneLine = %q", got)
	}
	long := oneLine(strings.Repeat("é", 1000))
	if len(long) > maxErrorBytes || !strings.HasPrefix(long, "éé") || strings.ContainsRune(long, '\uFFFD') {
		t.Errorf("oneLine of a long text: %d bytes", len(long))
	}
}

// FuzzDecode feeds arbitrary headers and bodies to decode: it must not
// panic, and what it accepts must survive encode and decode unchanged.
func FuzzDecode(f *testing.F) {
	good := encode(sampleEnvelope(), "s")
	f.Add(good.Header.Get(HeaderRequestID), "resize", good.Header.Get(HeaderAcceptedAt), good.Header.Get(HeaderAttempts), "", "", "", []byte(`{}`))
	f.Add("id", "f", "2026-01-02T03:04:05Z", "", ConditionSuccess, "2", "1", []byte(`{}{}`))
	f.Add("id", "f", "2026-01-02T03:04:05.1+09:00", `[{"at":"2026-01-02T03:04:05Z","duration":-5}]`, ConditionEventAgeExceeded, "0", "x", []byte(``))
	f.Fuzz(func(t *testing.T, rid, fn, at, attempts, outcome, respBytes, deferrals string, body []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{
			HeaderRequestID: rid, HeaderFunction: fn, HeaderAcceptedAt: at, HeaderAttempts: attempts,
			HeaderOutcome: outcome, HeaderResponseBytes: respBytes, HeaderDeferrals: deferrals,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		env, err := decode(h, body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if len(env.Payload)+len(env.response) != len(body) {
			t.Fatalf("payload %d + response %d bytes from a body of %d", len(env.Payload), len(env.response), len(body))
		}
		m := encode(env, "s")
		again, err := decode(m.Header, m.Data)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		normalize := func(e *envelope) {
			if len(e.Payload) == 0 {
				e.Payload = nil
			}
			if len(e.response) == 0 {
				e.response = nil
			}
			e.reason = oneLine(e.reason)
			for i := range e.Attempts {
				e.Attempts[i].At = e.Attempts[i].At.UTC()
			}
		}
		normalize(env)
		normalize(again)
		if !reflect.DeepEqual(env, again) {
			t.Fatalf("not stable:\n%+v\n%+v", env, again)
		}
	})
}
