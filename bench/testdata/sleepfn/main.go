// Command sleepfn is the function of the scale-from-zero benchmark (bench
// row 18): an HTTP handler that holds its instance, as a function waiting
// on a slow backend does, and answers. With the query parameter release, a
// URL the function's manifest grants, it GETs that URL through the node
// (gureum.HTTPClient) and answers with what it got once it gets a 200:
// the benchmark answers when every request it sent has reached an
// instance, so that the requests need as many instances as there are of
// them. Otherwise it sleeps 300 ms, or the milliseconds of the query
// parameter ms (at most a minute), and answers "slept".
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	gureum "github.com/gureum/gureum/sdk/go"
)

const (
	defaultSleep = 300 * time.Millisecond
	maxSleep     = time.Minute
)

func handler(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if u := req.QueryStringParameters["release"]; u != "" {
		body, err := waitRelease(ctx, u)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return text(body), nil
	}
	d := defaultSleep
	if v := req.QueryStringParameters["ms"]; v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxSleep {
			return events.APIGatewayV2HTTPResponse{StatusCode: 400, Body: "ms: want milliseconds from 0 to 60000"}, nil
		}
		d = time.Duration(ms) * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return events.APIGatewayV2HTTPResponse{}, ctx.Err()
	}
	return text("slept"), nil
}

// waitRelease GETs url, which answers once the caller is to go on, and
// returns the answer's body.
func waitRelease(ctx context.Context, url string) (string, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("release URL: %w", err)
	}
	resp, err := gureum.HTTPClient().Do(r)
	if err != nil {
		return "", fmt.Errorf("wait for the release: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read the release: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("release: status %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}

func text(body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "text/plain"},
		Body:       body,
	}
}

func main() {
	gureum.Start(handler)
}
