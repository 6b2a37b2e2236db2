// Command hello answers HTTP requests routed through the gateway. It is an
// ordinary AWS Lambda handler for API Gateway HTTP APIs: the same source runs on
// AWS when gureum.Start is replaced by lambda.Start.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	gureum "github.com/gureum/gureum/sdk/go"
)

func handler(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	name := req.PathParameters["name"]
	if name == "" {
		name = req.QueryStringParameters["name"]
	}
	if name == "" {
		name = "world"
	}
	requestID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		requestID = lc.AwsRequestID
	}
	fmt.Printf("greeting %s\n", name)
	body, err := json.Marshal(map[string]string{
		"message":   "hello, " + name,
		"requestId": requestID,
	})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}, nil
}

func main() {
	gureum.Start(handler)
}
