// Command sleepfn is the function of the scale-from-zero benchmark (bench
// row 18): an HTTP handler that sleeps, as a function waiting on a slow
// backend does, and answers "slept". It sleeps 300 ms, or the milliseconds
// of the query parameter ms (at most a minute), so each request holds its
// instance that long and concurrent requests need as many instances.
package main

import (
	"context"
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
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "text/plain"},
		Body:       "slept",
	}, nil
}

func main() {
	gureum.Start(handler)
}
