package gureum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type order struct {
	ID    string  `json:"id"`
	Total float64 `json:"total"`
	Note  string  `json:"note,omitempty"`
}

type receipt struct {
	OrderID string `json:"orderId"`
	HTML    string `json:"html"`
}

type notFound struct{ id string }

func (e *notFound) Error() string { return "order " + e.id + " not found" }

// rawHandler has lambda.Handler's Invoke method.
type rawHandler struct{}

func (rawHandler) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	return append([]byte("raw:"), payload...), nil
}

// TestHandlerMatchesLambda checks that the SDK's adapter answers exactly as
// aws-lambda-go's lambda.NewHandler does, for every handler form and for
// good and bad events.
func TestHandlerMatchesLambda(t *testing.T) {
	handlers := map[string]any{
		"func()":               func() {},
		"func() error":         func() error { return nil },
		"func() error failing": func() error { return errors.New("nope") },
		"func(ctx) error":      func(ctx context.Context) error { return nil },
		"func(T)":              func(o order) {},
		"func(T) error":        func(o order) error { return &notFound{o.ID} },
		"func() (U, error)":    func() (receipt, error) { return receipt{"x", "<b>&</b>"}, nil },
		"func(T) (U, error)":   func(o order) (receipt, error) { return receipt{OrderID: o.ID}, nil },
		"func(ctx, T) (U, error)": func(ctx context.Context, o order) (*receipt, error) {
			if o.ID == "" {
				return nil, &notFound{}
			}
			return &receipt{OrderID: o.ID, HTML: "<p>" + o.Note + "</p>"}, nil
		},
		"func(any) (any, error)": func(v any) (any, error) { return v, nil },
		"api gateway": func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: req.RawPath}, nil
		},
		"reader":           func() (io.Reader, error) { return strings.NewReader("plain text"), nil },
		"raw":              rawHandler{},
		"invoke error doc": func() error { return messages.InvokeResponse_Error{Message: "custom", Type: "Custom.Type"} },
		"not a function":   42,
		"three arguments":  func(context.Context, order, int) error { return nil },
		"bad first arg":    func(int, order) error { return nil },
		"bad return":       func() int { return 1 },
		"nil":              nil,
	}
	payloads := []string{
		`{"id":"o-1","total":12.5,"note":"<fragile & urgent>"}`,
		`{"rawPath":"/orders/1","requestContext":{"http":{"method":"GET"}}}`,
		`{"id":"o-2"} {"id":"o-3"}`, // trailing data
		`{"id":7}`,                  // wrong type
		`{"id":`,                    // truncated
		``,
		`null`,
	}
	ctx := context.Background()
	for name, h := range handlers {
		ours, theirs := newHandler(h), lambda.NewHandler(h)
		for _, p := range payloads {
			got, gotErr := ours.Invoke(ctx, []byte(p))
			want, wantErr := theirs.Invoke(ctx, []byte(p))
			if string(got) != string(want) {
				t.Errorf("%s on %q: response %q, lambda %q", name, p, got, want)
			}
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("%s on %q: error %v, lambda %v", name, p, gotErr, wantErr)
			} else if gotErr != nil && string(errorDocument(gotErr, gotErr.Error())) != string(errorDocument(wantErr, wantErr.Error())) {
				t.Errorf("%s on %q: error document %s, lambda %s", name, p,
					errorDocument(gotErr, gotErr.Error()), errorDocument(wantErr, wantErr.Error()))
			}
		}
	}
}

func TestErrorDocument(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{&notFound{"9"}, `{"errorMessage":"order 9 not found","errorType":"notFound"}`},
		{errors.New("plain"), `{"errorMessage":"plain","errorType":"errorString"}`},
		{fmt.Errorf("wrapped: %w", io.EOF), `{"errorMessage":"wrapped: EOF","errorType":"wrapError"}`},
		{"a panic", `{"errorMessage":"a panic","errorType":"string"}`},
		{messages.InvokeResponse_Error{Message: "m", Type: "T"}, `{"errorMessage":"m","errorType":"T"}`},
	} {
		msg := fmt.Sprint(tc.v)
		if err, ok := tc.v.(error); ok {
			msg = err.Error()
		}
		if got := string(errorDocument(tc.v, msg)); got != tc.want {
			t.Errorf("%#v: %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestInvocationContext(t *testing.T) {
	deadline := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	inv, err := parseInvocation(fmt.Sprintf("req-9\n%d\narn:aws:lambda:local:0:function:f\nRoot=1-abc", deadline.UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := inv.context()
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.AwsRequestID != "req-9" || lc.InvokedFunctionArn != "arn:aws:lambda:local:0:function:f" {
		t.Errorf("lambda context %+v", lc)
	}
	if got := ctx.Value(traceKey); got != "Root=1-abc" {
		t.Errorf("trace id %v", got)
	}
	if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
		t.Errorf("deadline %v %v, want %v", d, ok, deadline)
	}
	if ctx.Err() != nil {
		t.Errorf("err %v before the deadline", ctx.Err())
	}

	// A derived context follows it, and ending the invocation cancels both.
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case <-ctx.Done():
		t.Fatal("done before the deadline")
	default:
	}
	inv.end()
	<-child.Done()
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Errorf("after end: %v, %v", ctx.Err(), child.Err())
	}
}

func TestInvocationContextDeadline(t *testing.T) {
	// Already past: done at once, without a timer.
	inv, err := parseInvocation(fmt.Sprintf("r\n%d\n\n", time.Now().Add(-time.Second).UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inv.Err(), context.DeadlineExceeded) {
		t.Errorf("past deadline: err %v", inv.Err())
	}
	<-inv.Done()

	// Soon: Done closes when it passes.
	inv, _ = parseInvocation(fmt.Sprintf("r\n%d\n\n", time.Now().Add(20*time.Millisecond).UnixMilli()))
	<-inv.Done()
	if !errors.Is(inv.Err(), context.DeadlineExceeded) {
		t.Errorf("after the deadline: err %v", inv.Err())
	}
	inv.end()
	if !errors.Is(inv.Err(), context.DeadlineExceeded) {
		t.Errorf("end after the deadline changed err to %v", inv.Err())
	}

	// None: no deadline, done only when the invocation ends.
	inv, _ = parseInvocation("r\n0\n\n")
	if _, ok := inv.Deadline(); ok {
		t.Error("deadline reported for 0")
	}
	done := inv.Done()
	inv.end()
	<-done
	if !errors.Is(inv.Err(), context.Canceled) {
		t.Errorf("ended: err %v", inv.Err())
	}
}

func TestParseInvocationRejectsMalformed(t *testing.T) {
	for _, meta := range []string{"", "id", "id\n12", "id\nsoon\narn\n", "id\n-5\narn\n"} {
		if _, err := parseInvocation(meta); err == nil {
			t.Errorf("%q accepted", meta)
		}
	}
}

// Example shows a function that runs unchanged on gureum and on AWS Lambda.
func Example() {
	handle := func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		lc, _ := lambdacontext.FromContext(ctx)
		body, _ := json.Marshal(map[string]string{"path": req.RawPath, "request": lc.AwsRequestID})
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(body)}, nil
	}
	_ = handle // in main: gureum.Start(handle)
}
