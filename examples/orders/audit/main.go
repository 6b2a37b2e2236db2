// Command audit subscribes to the topic order-events with a filter policy on
// the message attribute quantity, so it sees large orders only. It is an
// ordinary SNS handler; the topic invokes it asynchronously, so a failure is
// retried and finally kept in the function's dead-letter queue.
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

func handler(ctx context.Context, ev events.SNSEvent) error {
	for _, r := range ev.Records {
		var o order
		if err := json.Unmarshal([]byte(r.SNS.Message), &o); err != nil {
			return fmt.Errorf("message %s is not an order: %w", r.SNS.MessageID, err)
		}
		fmt.Printf("large order %s (%d x %s)\n", o.OrderID, o.Quantity, o.Item)
	}
	return nil
}

func main() {
	gureum.Start(handler)
}
