package gureum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/gureum/gureum/internal/host"
	"github.com/gureum/gureum/internal/host/hosttest"
)

// withHost serves the host API for function fn version 1, which may publish
// to order-events and send to orders, and points the SDK at it.
func withHost(t *testing.T, svc *hosttest.Services) {
	t.Helper()
	key := bytes.Repeat([]byte{9}, host.MinKeyBytes)
	grants := func(context.Context, string, string) (host.Grants, error) {
		return host.Grants{Publish: []string{"order-events"}, Send: []string{"orders"}}, nil
	}
	mux := http.NewServeMux()
	mux.Handle(host.PathPrefix, host.New(svc).Handler(host.TokenResolver(key, grants)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("GUREUM_HOST_URL", srv.URL+host.PathPrefix) // a final slash is fine
	t.Setenv("GUREUM_HOST_TOKEN", host.Token(key, "fn", "1"))
	t.Setenv("_X_AMZN_TRACE_ID", "")
}

func invocationContext() context.Context {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-5"})
	// aws-lambda-go keeps the trace under this plain string key.
	return context.WithValue(ctx, traceKey, "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1")
}

func TestPublishAndSend(t *testing.T) {
	svc := &hosttest.Services{}
	withHost(t, svc)
	ctx := invocationContext()

	id, err := Publish(ctx, "order-events", "order 7 paid",
		WithSubject("paid"), WithAttribute("color", "red"), WithNumberAttribute("total", 12.5),
		WithNumberAttribute("big", 1e300), WithBinaryAttribute("raw", []byte{0, 1}))
	if err != nil || id != "pub-1" {
		t.Fatalf("publish: %q %v", id, err)
	}
	want := host.PublishInput{Topic: "order-events", Subject: "paid", Message: "order 7 paid", Attributes: map[string]host.Attribute{
		"color": {DataType: "String", StringValue: "red"},
		"total": {DataType: "Number", StringValue: "12.5"},
		"big":   {DataType: "Number", StringValue: "1e+300"},
		"raw":   {DataType: "Binary", BinaryValue: []byte{0, 1}},
	}}
	if !reflect.DeepEqual(svc.Published[0], want) {
		t.Errorf("published %+v, want %+v", svc.Published[0], want)
	}
	c := svc.Callers[0]
	if c.Function != "fn" || c.Version != "1" || c.RequestID != "req-5" || c.TraceParent != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" {
		t.Errorf("caller %+v", c)
	}

	id, err = Send(context.Background(), "orders", "work", WithDelay(1500*time.Millisecond))
	if err != nil || id != "send-1" {
		t.Fatalf("send: %q %v", id, err)
	}
	if got := svc.Sent[0]; got.Queue != "orders" || got.Body != "work" || got.DelaySeconds != 2 {
		t.Errorf("sent %+v; a delay rounds up to whole seconds", got)
	}
}

func TestHostErrors(t *testing.T) {
	svc := &hosttest.Services{}
	withHost(t, svc)
	ctx := context.Background()

	_, err := Publish(ctx, "other", "m")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrNotFound) {
		t.Fatalf("denied publish: %#v", err)
	}
	if want := "AccessDenied: function fn may not publish to topic other: grant it in gureum.yaml with permissions: {publish: [other]}"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	svc.FailWith = fmt.Errorf("queue orders does not exist: %w", host.ErrNotFound)
	if _, err := Send(ctx, "orders", "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing queue: %v", err)
	}
	svc.FailWith = nil

	for name, call := range map[string]func() error{
		"delay on publish":  func() error { _, err := Publish(ctx, "order-events", "m", WithDelay(time.Second)); return err },
		"subject on send":   func() error { _, err := Send(ctx, "orders", "b", WithSubject("s")); return err },
		"negative delay":    func() error { _, err := Send(ctx, "orders", "b", WithDelay(-time.Second)); return err },
		"NaN":               func() error { _, err := Send(ctx, "orders", "b", WithNumberAttribute("n", math.NaN())); return err },
		"delay over 900 s":  func() error { _, err := Send(ctx, "orders", "b", WithDelay(16*time.Minute)); return err },
		"empty body":        func() error { _, err := Send(ctx, "orders", ""); return err },
		"bad attribute key": func() error { _, err := Send(ctx, "orders", "b", WithAttribute("a b", "v")); return err },
	} {
		if err := call(); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("%s: %v, want ErrInvalidParameter", name, err)
		}
	}
	if _, err := Send(ctx, "orders", strings.Repeat("x", 256<<10+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large body: %v", err)
	}
	if len(svc.Sent)+len(svc.Published) != 0 {
		t.Errorf("failed calls reached the node: %+v %+v", svc.Sent, svc.Published)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Send(canceled, "orders", "b"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

func TestNoHost(t *testing.T) {
	t.Setenv("GUREUM_HOST_URL", "")
	if _, err := Publish(context.Background(), "t", "m"); !errors.Is(err, ErrNoHost) {
		t.Errorf("without a host: %v", err)
	}
	// A host that is not there is Unavailable.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	t.Setenv("GUREUM_HOST_URL", url)
	if _, err := Send(context.Background(), "q", "b"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("unreachable host: %v", err)
	}
	// An answer that is not the host's is Internal, not a crash.
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	t.Setenv("GUREUM_HOST_URL", srv.URL)
	var e *Error
	if _, err := Send(context.Background(), "q", "b"); !errors.As(err, &e) || e.Code != CodeInternal || !strings.Contains(e.Message, "bad gateway") {
		t.Errorf("foreign answer: %v", err)
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", -2.5: "-2.5", 1e20: "100000000000000000000", 1e21: "1e+21", 1e-7: "1e-07", 0.000001: "0.000001"} {
		if got := formatNumber(v); got != want {
			t.Errorf("formatNumber(%g) = %q, want %q", v, got, want)
		}
	}
}
