package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/admin/admintest"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/registry"
)

const token = "secret-token"

// request serves one admin API request with the token.
func request(t testing.TB, h http.Handler, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, admin.Prefix+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// expect checks an answer's status and decodes its body into out (if not nil).
func expect(t testing.TB, rec *httptest.ResponseRecorder, status int, out any) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("decode %s: %v", rec.Body, err)
		}
	}
}

// expectError checks an error answer's status, code and message.
func expectError(t testing.TB, rec *httptest.ResponseRecorder, status int, code, msgPart string) {
	t.Helper()
	var eb admin.ErrorBody
	expect(t, rec, status, &eb)
	if eb.Code != code || !strings.Contains(eb.Message, msgPart) {
		t.Fatalf("error %s %q, want %s containing %q", eb.Code, eb.Message, code, msgPart)
	}
}

// functionsOnly is a node that serves no events.
type functionsOnly struct{ admin.Service }

func TestEventEndpointsNeedAnEventService(t *testing.T) {
	h := admin.NewHandler(functionsOnly{}, token)
	expectError(t, request(t, h, "GET", "/queues", ""), http.StatusNotFound, admin.CodeNotFound, "no admin endpoint")
	expectError(t, request(t, h, "POST", "/functions/fn/invocations", "{}", admin.HeaderInvocationType, "Event"),
		http.StatusBadRequest, admin.CodeInvalidRequest, "asynchronous")
}

func TestEventEndpointsNeedTheToken(t *testing.T) {
	h := admin.NewHandler(admintest.NewEvents(), token)
	req := httptest.NewRequest("GET", admin.Prefix+"/queues", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	expectError(t, rec, http.StatusUnauthorized, admin.CodeUnauthorized, "token")
}

func TestInvokeAsync(t *testing.T) {
	f := admintest.NewEvents()
	h := admin.NewHandler(f, token)

	rec := request(t, h, "POST", "/functions/resize/invocations?qualifier=live", `{"key":"a.png"}`,
		admin.HeaderInvocationType, "Event", "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	var acc admin.AsyncAccepted
	expect(t, rec, http.StatusAccepted, &acc)
	if acc.RequestID == "" || rec.Header().Get(admin.HeaderRequestID) != acc.RequestID {
		t.Fatalf("request id %q, header %q", acc.RequestID, rec.Header().Get(admin.HeaderRequestID))
	}
	want := admintest.AsyncCall{Function: "resize", Qualifier: "live", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", Payload: `{"key":"a.png"}`}
	if len(f.AsyncCalls()) != 1 || f.AsyncCalls()[0] != want {
		t.Fatalf("async calls %+v, want %+v", f.AsyncCalls(), want)
	}

	// No body is the empty event, as for a synchronous invocation.
	expect(t, request(t, h, "POST", "/functions/resize/invocations", "", admin.HeaderInvocationType, "Event"), http.StatusAccepted, nil)
	if got := f.AsyncCalls()[1].Payload; got != "{}" {
		t.Fatalf("empty body queued as %q", got)
	}

	expectError(t, request(t, h, "POST", "/functions/resize/invocations", "{", admin.HeaderInvocationType, "Event"),
		http.StatusBadRequest, admin.CodeInvalidRequest, "not valid JSON")
	expectError(t, request(t, h, "POST", "/functions/missing/invocations", "{}", admin.HeaderInvocationType, "Event"),
		http.StatusNotFound, admin.CodeNotFound, "missing")
	expectError(t, request(t, h, "POST", "/functions/resize/invocations", "{}", admin.HeaderInvocationType, "DryRun"),
		http.StatusBadRequest, admin.CodeInvalidRequest, `"DryRun"`)
	if len(f.AsyncCalls()) != 2 {
		t.Fatalf("refused invocations reached the service: %+v", f.AsyncCalls())
	}

	// RequestResponse (or no header) is a synchronous invocation.
	rec = request(t, h, "POST", "/functions/resize/invocations", `{"sync":true}`, admin.HeaderInvocationType, "RequestResponse")
	expect(t, rec, http.StatusOK, nil)
	if rec.Body.String() != `{"sync":true}` || rec.Header().Get(admin.HeaderRequestID) != "sync-1" {
		t.Fatalf("sync invocation: %s %v", rec.Body, rec.Header())
	}
}

func TestQueueLifecycle(t *testing.T) {
	h := admin.NewHandler(admintest.NewEvents(), token)

	var qs []admin.QueueInfo
	expect(t, request(t, h, "GET", "/queues", ""), http.StatusOK, &qs)
	if qs == nil || len(qs) != 0 {
		t.Fatalf("no queues listed as %v (want [])", qs)
	}

	var info admin.QueueInfo
	expect(t, request(t, h, "PUT", "/queues/orders", ""), http.StatusCreated, &info)
	if info.Name != "orders" || info.Attributes.Visibility != registry.Duration(30*time.Second) {
		t.Fatalf("created %+v", info)
	}
	expect(t, request(t, h, "PUT", "/queues/orders", `{"visibility":"1m","maxReceives":5,"dlq":"orders-dlq"}`), http.StatusOK, &info)
	if a := info.Attributes; a.Visibility != registry.Duration(time.Minute) || a.MaxReceives != 5 || a.DLQ != "orders-dlq" {
		t.Fatalf("updated %+v", a)
	}
	expect(t, request(t, h, "GET", "/queues/orders", ""), http.StatusOK, &info)
	if info.Attributes.MaxReceives != 5 {
		t.Fatalf("got %+v", info)
	}
	expect(t, request(t, h, "GET", "/queues", ""), http.StatusOK, &qs)
	if len(qs) != 1 || qs[0].Name != "orders" {
		t.Fatalf("listed %+v", qs)
	}
	expectError(t, request(t, h, "PUT", "/queues/orders", `{"visibility":"-1s"}`), http.StatusBadRequest, admin.CodeInvalidRequest, "negative")

	expect(t, request(t, h, "DELETE", "/queues/orders", ""), http.StatusNoContent, nil)
	expectError(t, request(t, h, "GET", "/queues/orders", ""), http.StatusNotFound, admin.CodeQueueNotFound, "orders")
	expectError(t, request(t, h, "DELETE", "/queues/orders", ""), http.StatusNotFound, admin.CodeQueueNotFound, "orders")
}

func TestQueueMessages(t *testing.T) {
	f := admintest.NewEvents()
	h := admin.NewHandler(f, token)
	expect(t, request(t, h, "PUT", "/queues/orders", `{"maxMessageBytes":16}`), http.StatusCreated, nil)

	// A batch with a failing entry succeeds as a whole; the entry says why.
	var sent admin.SendResponse
	expect(t, request(t, h, "POST", "/queues/orders/messages",
		`{"entries":[{"id":"a","body":"hello","attributes":{"n":{"dataType":"Number","stringValue":"3"}}},{"id":"b","body":"far too long for this queue"}]}`),
		http.StatusOK, &sent)
	if len(sent.Results) != 2 || sent.Results[0].ID != "a" || sent.Results[0].MessageID == "" ||
		sent.Results[1].Error == nil || sent.Results[1].Error.Code != admin.CodeMessageTooLarge {
		t.Fatalf("send results %+v", sent.Results)
	}

	var got admin.ReceiveResponse
	expect(t, request(t, h, "POST", "/queues/orders/receive", `{"max":10,"waitSeconds":0,"visibilitySeconds":60}`), http.StatusOK, &got)
	if len(got.Messages) != 1 || got.Messages[0].Body != "hello" || got.Messages[0].Attributes["n"].StringValue != "3" {
		t.Fatalf("received %+v", got)
	}
	if r := f.Receives()[0]; r.Max != 10 || r.VisibilitySeconds == nil || *r.VisibilitySeconds != 60 {
		t.Fatalf("service got receive %+v", r)
	}
	// An empty queue answers an empty list, not null.
	rec := request(t, h, "POST", "/queues/orders/receive", "")
	expect(t, rec, http.StatusOK, nil)
	if !strings.Contains(rec.Body.String(), `"messages": []`) {
		t.Fatalf("empty receive: %s", rec.Body)
	}

	rh := got.Messages[0].ReceiptHandle
	expectError(t, request(t, h, "POST", "/queues/orders/visibility", `{"receiptHandle":"bogus","seconds":10}`),
		http.StatusBadRequest, admin.CodeReceiptInvalid, "receipt handle")
	expect(t, request(t, h, "POST", "/queues/orders/visibility", fmt.Sprintf(`{"receiptHandle":%q,"seconds":0}`, rh)), http.StatusNoContent, nil)
	expect(t, request(t, h, "POST", "/queues/orders/receive", `{}`), http.StatusOK, &got)
	if len(got.Messages) != 1 || got.Messages[0].ReceiveCount != 2 {
		t.Fatalf("after visibility 0: %+v", got)
	}

	var del admin.DeleteMessagesResponse
	expect(t, request(t, h, "POST", "/queues/orders/delete",
		fmt.Sprintf(`{"receiptHandles":[%q,"bogus"]}`, got.Messages[0].ReceiptHandle)), http.StatusOK, &del)
	if len(del.Errors) != 2 || del.Errors[0] != nil || del.Errors[1] == nil || del.Errors[1].Code != admin.CodeReceiptInvalid {
		t.Fatalf("delete errors %+v", del.Errors)
	}

	expect(t, request(t, h, "POST", "/queues/orders/messages", `{"entries":[{"body":"1"},{"body":"2"}]}`), http.StatusOK, nil)
	var count admin.CountResponse
	expect(t, request(t, h, "POST", "/queues/orders/purge", ""), http.StatusOK, &count)
	if count.Count != 2 {
		t.Fatalf("purged %d, want 2", count.Count)
	}

	expectError(t, request(t, h, "POST", "/queues/nope/messages", `{"entries":[{"body":"x"}]}`),
		http.StatusNotFound, admin.CodeQueueNotFound, "nope")
}

func TestTopics(t *testing.T) {
	f := admintest.NewEvents()
	h := admin.NewHandler(f, token)

	var info admin.TopicInfo
	expect(t, request(t, h, "PUT", "/topics/order-events", ""), http.StatusCreated, &info)
	expect(t, request(t, h, "PUT", "/topics/order-events", "{}"), http.StatusOK, &info)
	if info.Name != "order-events" {
		t.Fatalf("topic %+v", info)
	}

	var sub admin.Subscription
	expect(t, request(t, h, "POST", "/topics/order-events/subscriptions",
		`{"protocol":"queue","endpoint":"paid","filterPolicy":{"type":["paid"]},"rawDelivery":true}`), http.StatusCreated, &sub)
	var filter bytes.Buffer
	_ = json.Compact(&filter, sub.FilterPolicy)
	if sub.ID == "" || sub.Topic != "order-events" || sub.Endpoint != "paid" || !sub.RawDelivery || filter.String() != `{"type":["paid"]}` {
		t.Fatalf("subscription %+v", sub)
	}
	expect(t, request(t, h, "GET", "/topics/order-events", ""), http.StatusOK, &info)
	if len(info.Subscriptions) != 1 || info.Subscriptions[0].ID != sub.ID {
		t.Fatalf("topic after subscribe %+v", info)
	}
	var ts []admin.TopicInfo
	expect(t, request(t, h, "GET", "/topics", ""), http.StatusOK, &ts)
	if len(ts) != 1 || len(ts[0].Subscriptions) != 1 {
		t.Fatalf("topics %+v", ts)
	}

	var pub admin.PublishResponse
	expect(t, request(t, h, "POST", "/topics/order-events/messages",
		`{"subject":"paid","message":"{\"order\":1}","attributes":{"type":{"dataType":"String","stringValue":"paid"}}}`), http.StatusOK, &pub)
	if pub.MessageID == "" || len(f.Published()) != 1 || f.Published()[0].Attributes["type"].StringValue != "paid" || f.Published()[0].Subject != "paid" {
		t.Fatalf("published %+v, service got %+v", pub, f.Published())
	}
	expectError(t, request(t, h, "POST", "/topics/order-events/messages", fmt.Sprintf(`{"message":%q}`, strings.Repeat("x", 300<<10))),
		http.StatusRequestEntityTooLarge, admin.CodeMessageTooLarge, "too large")
	expectError(t, request(t, h, "POST", "/topics/nope/messages", `{"message":"x"}`), http.StatusNotFound, admin.CodeTopicNotFound, "nope")

	expect(t, request(t, h, "DELETE", "/topics/order-events/subscriptions/"+sub.ID, ""), http.StatusNoContent, nil)
	expectError(t, request(t, h, "DELETE", "/topics/order-events/subscriptions/"+sub.ID, ""), http.StatusNotFound, admin.CodeNotFound, sub.ID)
	expect(t, request(t, h, "DELETE", "/topics/order-events", ""), http.StatusNoContent, nil)
	expectError(t, request(t, h, "GET", "/topics/order-events", ""), http.StatusNotFound, admin.CodeTopicNotFound, "order-events")
}

func TestSchedules(t *testing.T) {
	f := admintest.NewEvents()
	h := admin.NewHandler(f, token)
	rec := request(t, h, "GET", "/schedules", "")
	expect(t, rec, http.StatusOK, nil)
	if strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("no schedules listed as %s", rec.Body)
	}
	next := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	f.SetSchedules([]admin.ScheduleInfo{{ID: "report-0", Function: "report", Expression: "cron(0 12 * * ? *)", Timezone: "Europe/Paris", Next: next}})
	var ss []admin.ScheduleInfo
	expect(t, request(t, h, "GET", "/schedules", ""), http.StatusOK, &ss)
	if len(ss) != 1 || ss[0].Function != "report" || !ss[0].Next.Equal(next) || !ss[0].Last.IsZero() {
		t.Fatalf("schedules %+v", ss)
	}
}

func TestDeadLetterQueues(t *testing.T) {
	f := admintest.NewEvents()
	if err := f.AddDeadLetters(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := admin.NewHandler(f, token)

	var qs []admin.QueueInfo
	expect(t, request(t, h, "GET", "/dlqs", ""), http.StatusOK, &qs)
	if len(qs) != 1 || qs[0].Name != "orders-dlq" || qs[0].Visible != 2 || len(qs[0].DeadLetterFor) != 2 {
		t.Fatalf("dlqs %+v", qs)
	}

	var ms []admin.Message
	expect(t, request(t, h, "GET", "/dlqs/orders-dlq/messages", ""), http.StatusOK, &ms)
	if f.PeekMax() != admin.DefaultPeek || len(ms) != 2 || ms[0].DeadLetter == nil || ms[0].DeadLetter.Source != "queue:orders" {
		t.Fatalf("peek (max %d) %+v", f.PeekMax(), ms)
	}
	expect(t, request(t, h, "GET", "/dlqs/orders-dlq/messages?max=1", ""), http.StatusOK, &ms)
	if f.PeekMax() != 1 || len(ms) != 1 {
		t.Fatalf("peek max=1 (max %d): %+v", f.PeekMax(), ms)
	}

	var rr admin.ReplayResponse
	expect(t, request(t, h, "POST", "/dlqs/orders-dlq/replay", ""), http.StatusOK, &rr)
	if rr.Replayed != 1 || rr.Failed != 1 || len(rr.Errors) != 1 {
		t.Fatalf("replay %+v", rr)
	}
	var orders admin.QueueInfo
	expect(t, request(t, h, "GET", "/queues/orders", ""), http.StatusOK, &orders)
	if orders.Visible != 1 {
		t.Fatalf("orders after replay: %+v", orders)
	}

	var count admin.CountResponse
	expect(t, request(t, h, "POST", "/dlqs/orders-dlq/purge", ""), http.StatusOK, &count)
	if count.Count != 1 {
		t.Fatalf("purged %d, want the 1 message replay left", count.Count)
	}
	expectError(t, request(t, h, "GET", "/dlqs/nope/messages", ""), http.StatusNotFound, admin.CodeQueueNotFound, "nope")
}

// TestBadRequests: every malformed request is refused with 400 (or 413) and a
// sentence saying what is wrong, before the service sees it.
func TestBadRequests(t *testing.T) {
	f := admintest.NewEvents()
	if err := f.AddDeadLetters(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := admin.NewHandler(f, token)
	if _, err := f.PutTopic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	eleven := `{"entries":[` + strings.TrimSuffix(strings.Repeat(`{"body":"x"},`, 11), ",") + `]}`
	for _, c := range []struct {
		method, path, body string
		status             int
		code, msg          string
	}{
		{"PUT", "/queues/orders", `{"visibilty":"1m"}`, 400, admin.CodeInvalidRequest, `unknown field "visibilty"`},
		{"PUT", "/queues/orders", `{"visibility":"soon"}`, 400, admin.CodeInvalidRequest, "queue attributes"},
		{"PUT", "/queues/orders", `{} {}`, 400, admin.CodeInvalidRequest, "after the JSON object"},
		{"PUT", "/queues/orders", `[]`, 400, admin.CodeInvalidRequest, "queue attributes"},
		{"PUT", "/queues/" + strings.Repeat("q", 300), ``, 400, admin.CodeInvalidRequest, "longer than"},
		{"PUT", "/queues/a%2Fb", ``, 400, admin.CodeInvalidRequest, "must not contain '/'"},
		{"POST", "/queues/orders/messages", ``, 400, admin.CodeInvalidRequest, "body is empty"},
		{"POST", "/queues/orders/messages", `{"entries":[]}`, 400, admin.CodeInvalidRequest, "has 0 entries"},
		{"POST", "/queues/orders/messages", eleven, 400, admin.CodeInvalidRequest, "has 11 entries"},
		{"POST", "/queues/orders/messages", `{"entries":[{"body":1}]}`, 400, admin.CodeInvalidRequest, "send request"},
		{"POST", "/queues/orders/messages", `{"entries":[{"body":"` + strings.Repeat("x", admin.MaxMessageRequestBytes) + `"}]}`,
			413, admin.CodeTooLarge, "byte limit"},
		{"POST", "/queues/orders/receive", `{"max":11}`, 400, admin.CodeInvalidRequest, "max 11"},
		{"POST", "/queues/orders/receive", `{"max":-1}`, 400, admin.CodeInvalidRequest, "max -1"},
		{"POST", "/queues/orders/receive", `{"waitSeconds":21}`, 400, admin.CodeInvalidRequest, "waitSeconds 21"},
		{"POST", "/queues/orders/receive", `{"visibilitySeconds":-1}`, 400, admin.CodeInvalidRequest, "visibilitySeconds -1"},
		{"POST", "/queues/orders/receive", `{"visibilitySeconds":43201}`, 400, admin.CodeInvalidRequest, "visibilitySeconds 43201"},
		{"POST", "/queues/orders/delete", `{"receiptHandles":[]}`, 400, admin.CodeInvalidRequest, "0 receipt handles"},
		{"POST", "/queues/orders/delete", `{}`, 400, admin.CodeInvalidRequest, "0 receipt handles"},
		{"POST", "/queues/orders/visibility", `{"seconds":5}`, 400, admin.CodeInvalidRequest, "receiptHandle is missing"},
		{"POST", "/queues/orders/visibility", `{"receiptHandle":"r","seconds":99999}`, 400, admin.CodeInvalidRequest, "seconds 99999"},
		{"PUT", "/topics/t", `{"fifo":true}`, 400, admin.CodeInvalidRequest, `unknown field "fifo"`},
		{"POST", "/topics/t/messages", `{"subject":"s"}`, 400, admin.CodeInvalidRequest, "message is empty"},
		{"POST", "/topics/t/messages", `{"message":"m","extra":1}`, 400, admin.CodeInvalidRequest, `unknown field "extra"`},
		{"POST", "/topics/t/subscriptions", `{"protocol":"email","endpoint":"a@b"}`, 400, admin.CodeInvalidRequest, `protocol "email"`},
		{"POST", "/topics/t/subscriptions", `{"protocol":"function"}`, 400, admin.CodeInvalidRequest, "endpoint is missing"},
		{"POST", "/topics/t/subscriptions", `{"protocol":"queue","endpoint":"q","filterPolicy":["a"]}`, 400, admin.CodeInvalidRequest, "JSON object"},
		{"POST", "/topics/t/subscriptions", `{"protocol":"queue","endpoint":"q","filterScope":"headers"}`, 400, admin.CodeInvalidRequest, `filterScope "headers"`},
		{"POST", "/topics/t/subscriptions", `{"protocol":"queue","endpoint":"q","maxAttempts":-2}`, 400, admin.CodeInvalidRequest, "maxAttempts -2"},
		{"GET", "/dlqs/orders-dlq/messages?max=0", ``, 400, admin.CodeInvalidRequest, "from 1 to 100"},
		{"GET", "/dlqs/orders-dlq/messages?max=101", ``, 400, admin.CodeInvalidRequest, "from 1 to 100"},
		{"GET", "/dlqs/orders-dlq/messages?max=ten", ``, 400, admin.CodeInvalidRequest, `"ten"`},
		{"POST", "/dlqs/orders-dlq/replay", `{"max":-1}`, 400, admin.CodeInvalidRequest, "max -1"},
		{"POST", "/dlqs/orders-dlq/replay", `{"max":"all"}`, 400, admin.CodeInvalidRequest, "replay request"},
	} {
		t.Run(c.method+" "+c.path[:min(len(c.path), 40)], func(t *testing.T) {
			expectError(t, request(t, h, c.method, c.path, c.body), c.status, c.code, c.msg)
		})
	}
	if len(f.Receives()) != 0 {
		t.Fatalf("refused receives reached the service: %+v", f.Receives())
	}
}

// TestErrorMapping: the service's sentinels reach the client as their status
// and code, whatever wraps them.
func TestErrorMapping(t *testing.T) {
	f := admintest.NewEvents()
	h := admin.NewHandler(f, token)
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{admin.ErrQueueNotFound, 404, admin.CodeQueueNotFound},
		{admin.ErrTopicNotFound, 404, admin.CodeTopicNotFound},
		{admin.ErrReceiptInvalid, 400, admin.CodeReceiptInvalid},
		{admin.ErrMessageTooLarge, 413, admin.CodeMessageTooLarge},
		{admin.ErrInvalid, 400, admin.CodeInvalidRequest},
		{registry.ErrNotFound, 404, admin.CodeNotFound},
		{registry.ErrConflict, 409, admin.CodeConflict},
		{invoke.ErrThrottled, 429, admin.CodeThrottled},
		{invoke.ErrShuttingDown, 503, admin.CodeShuttingDown},
		{errors.New("stream unavailable"), 500, admin.CodeInternal},
	} {
		f.SetErr(fmt.Errorf("doing it: %w", c.err))
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/queues", ""},
			{"PUT", "/queues/q", "{}"},
			{"POST", "/queues/q/messages", `{"entries":[{"body":"x"}]}`},
			{"POST", "/queues/q/receive", ""},
			{"POST", "/queues/q/delete", `{"receiptHandles":["r"]}`},
			{"POST", "/queues/q/visibility", `{"receiptHandle":"r","seconds":1}`},
			{"POST", "/queues/q/purge", ""},
			{"DELETE", "/queues/q", ""},
			{"GET", "/topics", ""},
			{"GET", "/topics/t", ""},
			{"PUT", "/topics/t", ""},
			{"DELETE", "/topics/t", ""},
			{"POST", "/topics/t/messages", `{"message":"m"}`},
			{"POST", "/topics/t/subscriptions", `{"protocol":"function","endpoint":"fn"}`},
			{"DELETE", "/topics/t/subscriptions/s", ""},
			{"GET", "/schedules", ""},
			{"GET", "/dlqs", ""},
			{"GET", "/dlqs/q/messages", ""},
			{"POST", "/dlqs/q/replay", ""},
			{"POST", "/dlqs/q/purge", ""},
			{"POST", "/functions/fn/invocations", "{}"},
		} {
			rec := request(t, h, r.method, r.path, r.body, admin.HeaderInvocationType, "Event")
			var eb admin.ErrorBody
			if rec.Code != c.status || json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Code != c.code || !strings.Contains(eb.Message, "doing it") {
				t.Errorf("%v: %s %s answered %d %s, want %d %s", c.err, r.method, r.path, rec.Code, rec.Body, c.status, c.code)
			}
		}
	}
}

// FuzzRequestBodies: whatever the body of an events endpoint, the handler
// answers (never panics), refuses with a 4xx error body, or hands the
// service a request that decoded within the documented limits.
func FuzzRequestBodies(f *testing.F) {
	endpoints := []struct{ method, path string }{
		{"POST", "/queues/q/messages"},
		{"POST", "/queues/q/receive"},
		{"POST", "/queues/q/delete"},
		{"POST", "/queues/q/visibility"},
		{"PUT", "/queues/q"},
		{"PUT", "/topics/t"},
		{"POST", "/topics/t/messages"},
		{"POST", "/topics/t/subscriptions"},
		{"POST", "/dlqs/q/replay"},
		{"POST", "/functions/fn/invocations"},
	}
	for i, s := range []string{
		`{"entries":[{"id":"a","body":"hello","delaySeconds":5,"attributes":{"n":{"dataType":"Number","stringValue":"1"}}}]}`,
		`{"max":10,"waitSeconds":0,"visibilitySeconds":30}`,
		`{"receiptHandles":["rh-m-1-1"]}`,
		`{"receiptHandle":"rh-m-1-1","seconds":0}`,
		`{"visibility":"30s","retention":"96h","maxReceives":3,"dlq":"d","maxMessageBytes":1024}`,
		`{}`,
		`{"subject":"s","message":"m","attributes":{"a":{"dataType":"Binary","binaryValue":"AAEC"}},"traceparent":"x"}`,
		`{"protocol":"https","endpoint":"https://x","filterPolicy":{"a":[{"prefix":"b"}]},"filterScope":"body","maxAttempts":3}`,
		`{"max":2}`,
		`{"key":"value"}`,
	} {
		f.Add(uint8(i), []byte(s))
	}
	f.Add(uint8(0), []byte(`{"entries":null}`))
	f.Add(uint8(1), []byte(`{"max":1e400}`))
	f.Add(uint8(4), []byte(`{"visibility":9223372036854775807}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		node := admintest.NewEvents()
		ctx := context.Background()
		_, _ = node.PutQueue(ctx, "q", admin.QueueAttributes{})
		_, _ = node.PutTopic(ctx, "t")
		h := admin.NewHandler(node, token)
		ep := endpoints[int(which)%len(endpoints)]
		req := httptest.NewRequest(ep.method, admin.Prefix+ep.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(admin.HeaderInvocationType, admin.InvocationEvent)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %s: %d %s", ep.method, ep.path, rec.Code, rec.Body)
		case rec.Code >= 400:
			var eb admin.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Code == "" || eb.Message == "" {
				t.Fatalf("%s %s: error %d without an error body: %s", ep.method, ep.path, rec.Code, rec.Body)
			}
		}
		if rec.Code >= 300 {
			return
		}
		for _, r := range node.Receives() {
			if r.Max < 0 || r.Max > admin.MaxReceive || r.WaitSeconds < 0 || r.WaitSeconds > admin.MaxWaitSeconds {
				t.Fatalf("receive out of range reached the service: %+v", r)
			}
		}
		if ep.path == "/queues/q/messages" {
			var req admin.SendRequest
			_ = json.Unmarshal(body, &req)
			var res admin.SendResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Results) != len(req.Entries) ||
				len(req.Entries) == 0 || len(req.Entries) > admin.MaxBatchEntries {
				t.Fatalf("send of %d entries answered %s", len(req.Entries), rec.Body)
			}
		}
	})
}
