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
//
// # Topics and queues
//
// [Publish] sends a message to a topic, which fans it out to every
// subscription, and [Send] puts one on a queue. A function may use only the
// topics and queues its manifest grants:
//
//	functions:
//	  checkout:
//	    permissions: {publish: [order-events], send: [emails]}
//
// and calls them with the handler's context, which carries the invocation's
// trace to whoever receives the message:
//
//	func handle(ctx context.Context, o Order) error {
//		_, err := gureum.Publish(ctx, "order-events", o.JSON(),
//			gureum.WithAttribute("status", "paid"),
//			gureum.WithNumberAttribute("total", o.Total))
//		if errors.Is(err, gureum.ErrAccessDenied) {
//			return err // the message names the grant to add
//		}
//		if err != nil {
//			return err
//		}
//		_, err = gureum.Send(ctx, "emails", o.Receipt(), gureum.WithDelay(time.Minute))
//		return err
//	}
//
// # Tables, buckets and HTTP
//
// [Table] reads and writes JSON items of a table, with conditional writes
// ([IfAbsent], [IfRevision]) and TTLs ([WithTTL]); [Bucket] reads and writes
// objects of a bucket (the same buckets the node's S3-compatible API serves,
// whose changes trigger bucket events); [HTTPClient] reaches HTTP hosts. Each
// needs its grant:
//
//	permissions: {tables: [orders:rw], buckets: [uploads:r, thumbs:w], http: [api.example.com]}
//
//	var o Order
//	rev, err := gureum.Table("orders").GetJSON(ctx, id, &o)
//	o.Status = "paid"
//	_, err = gureum.Table("orders").PutJSON(ctx, id, o, gureum.IfRevision(rev))
//	if errors.Is(err, gureum.ErrConditionFailed) { ... } // someone else wrote first
//	img, err := gureum.Bucket("uploads").Get(ctx, key)
//	_, err = gureum.Bucket("thumbs").Put(ctx, "t/"+key, small, gureum.WithContentType("image/png"))
//
// Failures are [*Error] values with a stable code; match them with
// errors.Is and [ErrAccessDenied], [ErrNotFound], [ErrConditionFailed], [ErrInvalidParameter],
// [ErrTooLarge] or [ErrUnavailable]. In a wasm function the calls go to the
// host through the gureum module's imports; in a process function they are
// HTTP requests to the node at GUREUM_HOST_URL with GUREUM_HOST_TOKEN, which
// gureum's process runtime sets. Where neither exists (on AWS Lambda, say)
// they return [ErrNoHost].
package gureum
