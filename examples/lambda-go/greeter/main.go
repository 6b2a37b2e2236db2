// Command greeter is an AWS Lambda function for API Gateway HTTP APIs. Nothing
// in it knows about gureum: it builds and runs on AWS Lambda as it is.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type greeting struct {
	Message   string `json:"message"`
	Function  string `json:"function"`
	RequestID string `json:"requestId"`
}

func handler(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	name := req.PathParameters["name"]
	if name == "fail" {
		return events.APIGatewayV2HTTPResponse{}, errors.New("refusing to greet fail")
	}
	lc, _ := lambdacontext.FromContext(ctx)
	log.Printf("greeting %s", name)
	body, err := json.Marshal(greeting{
		Message:   os.Getenv("GREETING") + ", " + name,
		Function:  lambdacontext.FunctionName,
		RequestID: lc.AwsRequestID,
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
	lambda.Start(handler)
}
