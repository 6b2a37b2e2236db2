// Package gureum is the Go SDK for functions that run on gureum.
//
// A function is an ordinary aws-lambda-go program whose main calls
// [Start] instead of lambda.Start:
//
//	package main
//
//	import (
//		"context"
//
//		"github.com/aws/aws-lambda-go/events"
//		gureum "github.com/gureum/gureum/sdk/go"
//	)
//
//	func handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
//		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "hello " + req.RawPath}, nil
//	}
//
//	func main() {
//		gureum.Start(handle)
//	}
//
// Built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared (gureum's build
// does this), the program is a WebAssembly reactor for gureum's wasm
// runtime: Start registers the handler and returns, and the host calls it
// once per invocation through the ABI described in
// internal/engine/wasm/ABI.md. Built for any other target, Start is
// lambda.Start, so the same source runs on AWS Lambda and on gureum's
// process runtime.
//
// Handlers take the forms lambda.Start accepts, and their events, results
// and errors are encoded as lambda.Start encodes them. The context carries
// the invocation deadline and a [lambdacontext.LambdaContext].
package gureum
