package async

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseDestination(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Destination
	}{
		{"queue:orders", Destination{KindQueue, "orders"}},
		{"topic:order-events", Destination{KindTopic, "order-events"}},
		{"function:audit_log", Destination{KindFunction, "audit_log"}},
		{"queue:jobs.fifo", Destination{KindQueue, "jobs.fifo"}},
		{"arn:aws:sqs:us-east-1:123456789012:failed", Destination{KindQueue, "failed"}},
		{"arn:aws:sns:local:000000000000:done", Destination{KindTopic, "done"}},
		{"arn:aws:lambda:local:000000000000:function:audit", Destination{KindFunction, "audit"}},
		{"arn:aws:lambda:local:000000000000:function:audit:$LATEST", Destination{KindFunction, "audit"}},
	} {
		got, err := ParseDestination(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDestination(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "orders", "queue:", "bucket:b", "function:a.b", "queue:a b", "topic:" + strings.Repeat("t", 257),
		"arn:aws:s3:::bucket", "arn:aws:lambda:local:0:layer:x", "arn:aws:sqs", "Queue:orders",
	} {
		if d, err := ParseDestination(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseDestination(%q) = %+v, %v; want ErrInvalid", in, d, err)
		}
	}
}

func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{"queue:orders", "topic:t", "function:f", "arn:aws:sqs:r:a:q", "arn:aws:lambda:r:a:function:f:1", "x:y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDestination(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		again, err := ParseDestination(d.String())
		if err != nil || again != d {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, d, d.String(), again, err)
		}
	})
}

func TestRecordDropsPayloadsOverLimit(t *testing.T) {
	s := &Service{cfg: Config{Region: "local", AccountID: "000000000000"}}
	big := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n) + `"`) }
	env := sampleEnvelope()
	env.outcome = ConditionSuccess
	env.Attempts[0].Error = ""
	for _, tc := range []struct {
		name         string
		req, resp    []byte
		wantReq      bool
		wantResponse bool
	}{
		{"small", []byte(`{"a":1}`), []byte(`{"b":2}`), true, true},
		{"response too large", []byte(`{"a":1}`), big(MaxRecordBytes), true, false},
		{"request too large", big(MaxRecordBytes), []byte(`{"b":2}`), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.Payload, env.response = tc.req, tc.resp
			b := s.record(env, env.AcceptedAt)
			if len(b) > MaxRecordBytes {
				t.Fatalf("record of %d bytes", len(b))
			}
			var r Record
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			if (r.RequestPayload != nil) != tc.wantReq || (r.ResponsePayload != nil) != tc.wantResponse {
				t.Errorf("record %s", b)
			}
			if r.RequestContext.FunctionARN != "arn:aws:lambda:local:000000000000:function:resize:live" {
				t.Errorf("function ARN %q", r.RequestContext.FunctionARN)
			}
		})
	}
}

func TestRecordNonJSONResponse(t *testing.T) {
	s := &Service{cfg: Config{Region: "local", AccountID: "000000000000"}}
	env := sampleEnvelope()
	env.outcome, env.response = ConditionSuccess, []byte("plain text")
	var r Record
	if err := json.Unmarshal(s.record(env, env.AcceptedAt), &r); err != nil {
		t.Fatal(err)
	}
	if string(r.ResponsePayload) != `"plain text"` {
		t.Errorf("response payload %s", r.ResponsePayload)
	}
}
