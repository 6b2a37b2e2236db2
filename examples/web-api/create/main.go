// Command create takes new orders: POST /orders. It checks the body, gives
// the order an id, its total and its creation time, and writes it to the
// table orders only if no order has that id yet. Its manifest grants it
// orders:w and nothing else: it never reads the table.
//
// It is an ordinary API Gateway HTTP API handler; on AWS, lambda.Start
// would replace gureum.Start and a DynamoDB PutItem with
// attribute_not_exists(id) would replace the put.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/examples/web-api/order"
	gureum "github.com/gureum/gureum/sdk/go"
)

// table holds the orders.
const table = "orders"

func handler(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	body, err := order.Body(req)
	if err != nil {
		return order.BadRequest(err)
	}
	o, err := order.ParseNew(body)
	if err != nil {
		return order.BadRequest(err)
	}
	o.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	o.Status = order.StatusNew
	orders := gureum.Table(table)
	// An id is random past its millisecond; IfAbsent makes sure a clash
	// can never overwrite an order, and a retry takes a fresh id.
	for range 3 {
		o.ID = order.NewID(o.CreatedAt)
		rev, err := orders.PutJSON(ctx, order.Key(o.ID), o, gureum.IfAbsent())
		switch {
		case errors.Is(err, gureum.ErrConditionFailed):
			continue
		case err != nil:
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("store order %s: %w", o.ID, err)
		}
		o.Revision = rev
		fmt.Printf("created order %s for %s: %d items, total %.2f\n", o.ID, o.Customer, len(o.Items), o.Total)
		return order.Response(http.StatusCreated, o, "Location", "/orders/"+o.ID)
	}
	return order.Error(http.StatusServiceUnavailable, "could not find a free order id; try again")
}

func main() {
	gureum.Start(handler)
}
