// Command hello is a reactor that echoes an API Gateway request and counts
// the invocations its instance has served.
package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	gureum "github.com/gureum/gureum/sdk/go"
)

var count int

func handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	count++
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers: map[string]string{
			"x-count":      fmt.Sprint(count),
			"x-request-id": lc.AwsRequestID,
			"x-arn":        lc.InvokedFunctionArn,
			"x-deadline":   fmt.Sprint(deadline.UnixMilli()),
		},
		Body: "hello " + req.RawPath,
	}, nil
}

func main() {
	gureum.Start(handle)
}
