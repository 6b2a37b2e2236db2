package topic

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus/bustest"
)

type httpRequest struct {
	path   string
	header http.Header
	body   string
}

// hookServer records POSTs on 127.0.0.1 and answers 500 to the first
// failFirst requests of each path.
type hookServer struct {
	*httptest.Server
	mu        sync.Mutex
	requests  []httpRequest
	seen      map[string]int
	failFirst int
}

func startHookServer(t *testing.T, failFirst int) *hookServer {
	t.Helper()
	h := &hookServer{seen: map[string]int{}, failFirst: failFirst}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.seen[r.URL.Path]++
		fail := h.seen[r.URL.Path] <= h.failFirst
		if !fail {
			h.requests = append(h.requests, httpRequest{path: r.URL.Path + "?" + r.URL.RawQuery, header: r.Header.Clone(), body: string(body)})
		}
		h.mu.Unlock()
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if fail {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) received(path string) []httpRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []httpRequest
	for _, r := range h.requests {
		if strings.HasPrefix(r.path, path+"?") {
			out = append(out, r)
		}
	}
	return out
}

func (h *hookServer) attempts(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[path]
}

func TestHTTPDelivery(t *testing.T) {
	hook := startHookServer(t, 1) // every endpoint fails once, then succeeds
	b := bustest.Start(t)
	s := openService(t, b, newFake(), true)
	ensure(t, s, "orders")
	sub := subscribe(t, s, Subscription{Topic: "orders", Protocol: ProtocolHTTP, Endpoint: hook.URL + "/notify?token=secret"})
	subscribe(t, s, Subscription{Topic: "orders", Protocol: ProtocolHTTP, Endpoint: hook.URL + "/raw", RawDelivery: true})

	before := time.Now().Add(-time.Second)
	id := publish(t, s, "orders", PublishInput{Subject: "Order <1>", Message: `{"id":1,"note":"a&b"}`, TraceParent: tp,
		Attributes: map[string]Attribute{"store": str("a"), "tags": list(`["x","y"]`), "bin": {DataType: "Binary", BinaryValue: []byte("hi")}}})
	waitFor(t, "both endpoints to accept", func() bool {
		return len(hook.received("/notify")) == 1 && len(hook.received("/raw")) == 1
	})
	if got := hook.attempts("/notify"); got != 2 {
		t.Errorf("%d attempts at /notify, want 2 (one 500 then 204)", got)
	}

	topicARN := "arn:aws:sns:us-east-1:000000000000:orders"
	req := hook.received("/notify")[0]
	if req.path != "/notify?token=secret" {
		t.Errorf("path %q", req.path)
	}
	wantHeaders := map[string]string{
		"Content-Type":               "text/plain; charset=UTF-8",
		"X-Amz-Sns-Message-Type":     "Notification",
		"X-Amz-Sns-Message-Id":       id,
		"X-Amz-Sns-Topic-Arn":        topicARN,
		"X-Amz-Sns-Subscription-Arn": topicARN + ":" + sub.ID,
		"Traceparent":                tp,
		"X-Amz-Sns-Rawdelivery":      "",
	}
	for k, v := range wantHeaders {
		if got := req.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	var n map[string]any
	if err := json.Unmarshal([]byte(req.body), &n); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, req.body)
	}
	for k, v := range map[string]string{
		"Type": "Notification", "MessageId": id, "TopicArn": topicARN, "Subject": "Order <1>",
		"Message": `{"id":1,"note":"a&b"}`, "SignatureVersion": "1", "Signature": "", "SigningCertURL": "", "UnsubscribeURL": "",
	} {
		if n[k] != v {
			t.Errorf("body %s = %v, want %q", k, n[k], v)
		}
	}
	if strings.Contains(req.body, `\u003c`) || strings.Contains(req.body, `\u0026`) {
		t.Errorf("body escapes HTML characters: %s", req.body)
	}
	ts, err := time.Parse("2006-01-02T15:04:05.000Z", n["Timestamp"].(string))
	if err != nil || ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("Timestamp %v (%v)", n["Timestamp"], err)
	}
	attrs, _ := n["MessageAttributes"].(map[string]any)
	wantAttrs := map[string][2]string{"store": {"String", "a"}, "tags": {"String.Array", `["x","y"]`}, "bin": {"Binary", "aGk="}}
	if len(attrs) != len(wantAttrs) {
		t.Errorf("MessageAttributes = %v", attrs)
	}
	for name, want := range wantAttrs {
		a, _ := attrs[name].(map[string]any)
		if a["Type"] != want[0] || a["Value"] != want[1] {
			t.Errorf("attribute %s = %v, want Type %s Value %s", name, a, want[0], want[1])
		}
	}

	raw := hook.received("/raw")[0]
	if raw.body != `{"id":1,"note":"a&b"}` || raw.header.Get("X-Amz-Sns-Rawdelivery") != "true" || raw.header.Get("X-Amz-Sns-Message-Id") != id {
		t.Errorf("raw delivery = %q with headers %v", raw.body, raw.header)
	}
}

func TestHTTPFailureReason(t *testing.T) {
	hook := startHookServer(t, 1000)
	b := bustest.Start(t)
	d := newFake()
	s := openService(t, b, d, true)
	ensure(t, s, "t")
	subscribe(t, s, Subscription{Topic: "t", Protocol: ProtocolHTTP, Endpoint: hook.URL + "/down?key=secret", MaxAttempts: 2})
	publish(t, s, "t", PublishInput{Message: "x"})
	waitFor(t, "the dead letter", func() bool { return len(d.deadLetters()) == 1 })
	info := d.deadLetters()[0].info
	if !strings.Contains(info.Reason, "500") || strings.Contains(info.Reason, "secret") || info.Count != 2 {
		t.Errorf("reason %q count %d: want the status, no query string, 2 attempts", info.Reason, info.Count)
	}
	if got := hook.attempts("/down"); got != 2 {
		t.Errorf("%d attempts, want 2", got)
	}
}
