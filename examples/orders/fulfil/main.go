// Command fulfil works through the queue orders, which receives every order
// published to order-events (raw delivery: each message body is the order's
// JSON). It is an ordinary SQS handler with partial batch responses: a
// message it cannot handle is reported in batchItemFailures, so only that
// message is retried, and after the queue's maxReceives it moves to the
// dead-letter queue orders-dlq.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	gureum "github.com/gureum/gureum/sdk/go"
)

type order struct {
	OrderID  string `json:"orderId"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

func handler(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		if err := fulfil(r); err != nil {
			fmt.Printf("cannot fulfil message %s (receive %s): %v\n", r.MessageId, r.Attributes["ApproximateReceiveCount"], err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return resp, nil
}

// fulfil handles one order. The item "broken" stands for an order that
// cannot be fulfilled, however often it is tried.
func fulfil(r events.SQSMessage) error {
	var o order
	if err := json.Unmarshal([]byte(r.Body), &o); err != nil {
		return fmt.Errorf("not an order: %v", err)
	}
	if o.Item == "broken" {
		return fmt.Errorf("order %s: item %q is out of stock", o.OrderID, o.Item)
	}
	fmt.Printf("fulfilled %s (%d x %s)\n", o.OrderID, o.Quantity, o.Item)
	return nil
}

func main() {
	gureum.Start(handler)
}
