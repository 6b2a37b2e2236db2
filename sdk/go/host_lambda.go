//go:build !wasip1

package gureum

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Environment of a process function that may make host calls.
const (
	envHostURL   = "GUREUM_HOST_URL"   // base URL of the node's host API
	envHostToken = "GUREUM_HOST_TOKEN" // bearer token of this function version
	envTraceID   = "_X_AMZN_TRACE_ID"
)

// maxAnswerBytes bounds what the SDK reads of a host's answer.
const maxAnswerBytes = 8 << 20

// hostClient talks to the node's host API. It never uses a proxy: the
// token is for the node alone, and the node is on this machine's network.
// The client is made once per process, so its connections are reused.
var hostClient = sync.OnceValue(func() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
		Timeout: time.Minute, // a backstop when ctx has no deadline
	}
})

// hostCall posts req to GUREUM_HOST_URL/op with GUREUM_HOST_TOKEN and the
// invocation's request id and trace header.
func hostCall(ctx context.Context, op string, req []byte) ([]byte, error) {
	base := os.Getenv(envHostURL)
	if base == "" {
		return nil, ErrNoHost
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/"+op, bytes.NewReader(req))
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: op + ": " + envHostURL + " is not a usable URL: " + err.Error()}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+os.Getenv(envHostToken))
	if trace := traceHeader(ctx); trace != "" {
		hreq.Header.Set("X-Amzn-Trace-Id", trace)
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		hreq.Header.Set("Gureum-Request-Id", lc.AwsRequestID)
	}
	resp, err := hostClient().Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Code: CodeUnavailable, Message: op + ": cannot reach the gureum host: " + err.Error()}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: op + ": read the host's answer: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, hostError(op, answer)
	}
	return answer, nil
}

// traceHeader is the invocation's trace header, where aws-lambda-go puts it:
// on the context, else in the environment.
func traceHeader(ctx context.Context) string {
	if v, ok := ctx.Value(traceKey).(string); ok && v != "" {
		return v
	}
	return os.Getenv(envTraceID)
}
