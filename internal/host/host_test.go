package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// services is a Services that records what reaches the node and fails
// with failWith when set.
type services struct {
	mu       sync.Mutex
	publish  []PublishInput
	send     []SendInput
	callers  []Caller
	failWith error
}

func (s *services) Publish(_ context.Context, c Caller, in PublishInput) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return "", s.failWith
	}
	s.publish = append(s.publish, in)
	s.callers = append(s.callers, c)
	return fmt.Sprintf("pub-%d", len(s.publish)), nil
}

func (s *services) Send(_ context.Context, c Caller, in SendInput) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return "", s.failWith
	}
	s.send = append(s.send, in)
	s.callers = append(s.callers, c)
	return fmt.Sprintf("send-%d", len(s.send)), nil
}

func (s *services) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.publish) + len(s.send)
}

// callErr makes one call and returns its *Error (nil on success) and answer.
func callErr(t *testing.T, h *Host, c Caller, op, req string) (*Error, string) {
	t.Helper()
	resp, err := h.Bind(c).Call(context.Background(), op, []byte(req))
	if err == nil {
		return nil, string(resp)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s %s: error %T %v is not a *host.Error", op, req, err, err)
	}
	return e, ""
}

func TestGrants(t *testing.T) {
	svc := &services{}
	h := New(svc)
	resize := Caller{Function: "resize", Version: "3", RequestID: "r-1", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Grants: Grants{Publish: []string{"order-events"}, Send: []string{"orders", "audit"}}}
	star := Caller{Function: "router", Grants: Grants{Publish: []string{"*"}, Send: []string{"*"}}}
	none := Caller{Function: "lonely"}

	for _, tc := range []struct {
		caller  Caller
		op, req string
		denied  string // the AccessDenied message; empty: allowed
	}{
		{resize, OpPublish, `{"topic":"order-events","message":"m"}`, ""},
		{resize, OpSend, `{"queue":"orders","body":"b"}`, ""},
		{resize, OpSend, `{"queue":"audit","body":"b"}`, ""},
		{resize, OpPublish, `{"topic":"order-events-2","message":"m"}`,
			"function resize may not publish to topic order-events-2: grant it in gureum.yaml with permissions: {publish: [order-events-2]}"},
		{resize, OpPublish, `{"topic":"orders","message":"m"}`, // a queue grant is no topic grant
			"function resize may not publish to topic orders: grant it in gureum.yaml with permissions: {publish: [orders]}"},
		{resize, OpSend, `{"queue":"order-events","body":"b"}`,
			"function resize may not send to queue order-events: grant it in gureum.yaml with permissions: {send: [order-events]}"},
		{star, OpPublish, `{"topic":"anything","message":"m"}`, ""},
		{star, OpSend, `{"queue":"whatever","body":"b"}`, ""},
		{none, OpPublish, `{"topic":"order-events","message":"m"}`,
			"function lonely may not publish to topic order-events: grant it in gureum.yaml with permissions: {publish: [order-events]}"},
		{none, OpSend, `{"queue":"*","body":"b"}`, // "*" as a name is no grant
			"function lonely may not send to queue *: grant it in gureum.yaml with permissions: {send: [*]}"},
	} {
		before := svc.calls()
		e, resp := callErr(t, h, tc.caller, tc.op, tc.req)
		switch {
		case tc.denied == "" && e != nil:
			t.Errorf("%s %s %s: %v", tc.caller.Function, tc.op, tc.req, e)
		case tc.denied == "" && !strings.HasPrefix(resp, `{"messageId":"`):
			t.Errorf("%s %s %s: answer %s", tc.caller.Function, tc.op, tc.req, resp)
		case tc.denied != "" && (e == nil || e.Code != CodeAccessDenied || e.Message != tc.denied):
			t.Errorf("%s %s %s: %v, want AccessDenied %q", tc.caller.Function, tc.op, tc.req, e, tc.denied)
		case tc.denied != "" && svc.calls() != before:
			t.Errorf("%s %s %s: a denied call reached the node", tc.caller.Function, tc.op, tc.req)
		case tc.denied != "" && !errors.Is(e, ErrAccessDenied):
			t.Errorf("%v does not match ErrAccessDenied", e)
		}
	}
	if !reflect.DeepEqual(svc.callers[0], resize) {
		t.Errorf("caller %+v, want %+v", svc.callers[0], resize)
	}
}

func TestCallDecodesAndValidates(t *testing.T) {
	svc := &services{}
	h := New(svc)
	c := Caller{Function: "f", Grants: Grants{Publish: []string{"*"}, Send: []string{"*"}}}

	// Everything a message may carry arrives as sent.
	_, resp := callErr(t, h, c, OpPublish, `{"topic":"t","subject":"Hello","message":"m","attributes":{
		"s":{"dataType":"String","stringValue":"v"},
		"n":{"dataType":"Number.cents","stringValue":"-1.5e3"},
		"b":{"dataType":"Binary","binaryValue":"AAEC"}}}`)
	if resp != `{"messageId":"pub-1"}` {
		t.Fatalf("publish answer %q", resp)
	}
	want := PublishInput{Topic: "t", Subject: "Hello", Message: "m", Attributes: map[string]Attribute{
		"s": {DataType: "String", StringValue: "v"},
		"n": {DataType: "Number.cents", StringValue: "-1.5e3"},
		"b": {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
	}}
	if !reflect.DeepEqual(svc.publish[0], want) {
		t.Errorf("published %+v, want %+v", svc.publish[0], want)
	}
	if _, resp := callErr(t, h, c, OpSend, `{"queue":"q","body":"b","delaySeconds":900}`); resp != `{"messageId":"send-1"}` || svc.send[0].DelaySeconds != 900 {
		t.Errorf("send answer %q, input %+v", resp, svc.send)
	}

	big := strings.Repeat("x", MaxMessageBytes)
	// A message of exactly the limit passes.
	if e, _ := callErr(t, h, c, OpSend, `{"queue":"q","body":"`+big+`"}`); e != nil {
		t.Errorf("a message of %d bytes: %v", MaxMessageBytes, e)
	}
	for _, tc := range []struct {
		op, req, code, contains string
	}{
		{OpPublish, `{"topic":"t","message":"m","extra":1}`, CodeInvalidParameter, "unknown field"},
		{OpPublish, `{"topic":"t","message":"m"}{}`, CodeInvalidParameter, "after the JSON"},
		{OpPublish, `not json`, CodeInvalidParameter, "malformed"},
		{OpPublish, `{"topic":5}`, CodeInvalidParameter, "malformed"},
		{OpPublish, `{"message":"m"}`, CodeInvalidParameter, "no topic"},
		{OpPublish, `{"topic":"t"}`, CodeInvalidParameter, "empty message"},
		{OpPublish, `{"topic":"t","message":"m","subject":"` + strings.Repeat("é", 101) + `"}`, CodeInvalidParameter, "101 characters"},
		{OpPublish, `{"topic":"t","message":"m","subject":"a\nb"}`, CodeInvalidParameter, "control character"},
		{OpSend, `{"body":"b"}`, CodeInvalidParameter, "no queue"},
		{OpSend, `{"queue":"q"}`, CodeInvalidParameter, "empty body"},
		{OpSend, `{"queue":"q","body":"b","delaySeconds":901}`, CodeInvalidParameter, "outside 0..900"},
		{OpSend, `{"queue":"q","body":"b","delaySeconds":-1}`, CodeInvalidParameter, "outside 0..900"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"a":{"dataType":"Number","stringValue":"NaN"}}}`, CodeInvalidParameter, "not a finite number"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"a":{"dataType":"Number","stringValue":"1e999"}}}`, CodeInvalidParameter, "not a finite number"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"a":{"dataType":"Text","stringValue":"x"}}}`, CodeInvalidParameter, "not String, Number or Binary"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"a":{"dataType":"String."}}}`, CodeInvalidParameter, "malformed data type"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"a":{"dataType":"String"}}}`, CodeInvalidParameter, "stringValue"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"a":{"dataType":"Binary","stringValue":"x"}}}`, CodeInvalidParameter, "binaryValue"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"a b":{"dataType":"String","stringValue":"x"}}}`, CodeInvalidParameter, "A-Z"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"a..b":{"dataType":"String","stringValue":"x"}}}`, CodeInvalidParameter, "period"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"AWS.x":{"dataType":"String","stringValue":"x"}}}`, CodeInvalidParameter, "reserved"},
		{OpSend, `{"queue":"q","body":"b","attributes":{"":{"dataType":"String","stringValue":"x"}}}`, CodeInvalidParameter, "1 to 256"},
		{OpSend, `{"queue":"q","body":"b","attributes":{` + manyAttrs(11) + `}}`, CodeInvalidParameter, "11 attributes"},
		{OpSend, `{"queue":"q","body":"` + big + `x"}`, CodeTooLarge, "message of 262145 bytes for queue q is over the limit of 262144"},
		{OpPublish, `{"topic":"t","message":"` + big[10:] + `","attributes":{"abcdefgh":{"dataType":"String","stringValue":"xx"}}}`, CodeTooLarge, "for topic t"},
		{OpPublish, `"` + strings.Repeat("x", MaxRequestBytes) + `"`, CodeTooLarge, "request of"},
		{"subscribe", `{}`, CodeNotFound, `unknown host operation "subscribe"`},
	} {
		e, _ := callErr(t, h, c, tc.op, tc.req)
		if e == nil || e.Code != tc.code || !strings.Contains(e.Message, tc.contains) {
			t.Errorf("%s %.80s: %v, want %s containing %q", tc.op, tc.req, e, tc.code, tc.contains)
		}
	}
	if n := svc.calls(); n != 3 {
		t.Errorf("%d calls reached the node, want the 3 valid ones", n)
	}
}

func manyAttrs(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"a%d":{"dataType":"String","stringValue":"v"}`, i)
	}
	return strings.Join(parts, ",")
}

func TestServicesErrorsKeepTheirCode(t *testing.T) {
	svc := &services{}
	h := New(svc)
	c := Caller{Function: "f", Grants: Grants{Publish: []string{"*"}}}
	for _, tc := range []struct {
		err  error
		code string
		msg  string
	}{
		{fmt.Errorf("topic t does not exist: %w", ErrNotFound), CodeNotFound, "topic t does not exist: not found"},
		{fmt.Errorf("topic t: %w", ErrInvalid), CodeInvalidParameter, "topic t: invalid parameter"},
		{fmt.Errorf("message for t: %w", ErrTooLarge), CodeTooLarge, "message for t: too large"},
		{fmt.Errorf("jetstream: %w", ErrUnavailable), CodeUnavailable, "jetstream: unavailable"},
		{&Error{Code: CodeAccessDenied, Message: "closed"}, CodeAccessDenied, "closed"},
		{fmt.Errorf("publish: %w", context.DeadlineExceeded), CodeUnavailable, "the invocation ended: publish: context deadline exceeded"},
		{errors.New("disk on fire"), CodeInternal, "disk on fire"},
	} {
		svc.failWith = tc.err
		e, _ := callErr(t, h, c, OpPublish, `{"topic":"t","message":"m"}`)
		if e == nil || e.Code != tc.code || e.Message != tc.msg {
			t.Errorf("%v: %+v, want %s %q", tc.err, e, tc.code, tc.msg)
		}
	}
}

func TestErrorMatchesItsSentinel(t *testing.T) {
	for _, c := range codes {
		e := &Error{Code: c.code, Message: "x"}
		if !errors.Is(e, c.err) {
			t.Errorf("%s does not match %v", c.code, c.err)
		}
		if errors.Is(e, ErrTooLarge) != (c.code == CodeTooLarge) {
			t.Errorf("%s matches ErrTooLarge", c.code)
		}
		b, _ := json.Marshal(e)
		if want := `{"code":"` + c.code + `","message":"x"}`; string(b) != want {
			t.Errorf("JSON %s, want %s", b, want)
		}
	}
	if ErrorOf(nil) != nil {
		t.Error("ErrorOf(nil) is not nil")
	}
}
