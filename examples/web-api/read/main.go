// Command read answers GET /orders/{id} with one order and GET /orders with
// a page of them, oldest first. Its manifest grants it orders:r: it can
// read the table and nothing else.
//
// It is an ordinary API Gateway HTTP API handler; on AWS, lambda.Start
// would replace gureum.Start and DynamoDB's GetItem and Query would replace
// the table's Get and List.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/examples/web-api/order"
	gureum "github.com/gureum/gureum/sdk/go"
)

// table holds the orders.
const table = "orders"

func handler(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if id, ok := req.PathParameters["id"]; ok {
		return get(ctx, id)
	}
	return list(ctx, req.QueryStringParameters)
}

// get answers GET /orders/{id}.
func get(ctx context.Context, id string) (events.APIGatewayV2HTTPResponse, error) {
	if !order.ValidID(id) {
		return order.NotFound(id) // no order can have this id
	}
	var o order.Order
	rev, err := gureum.Table(table).GetJSON(ctx, order.Key(id), &o)
	switch {
	case errors.Is(err, gureum.ErrNotFound):
		return order.NotFound(id)
	case err != nil:
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("read order %s: %w", id, err)
	}
	o.Revision = rev
	return order.Response(http.StatusOK, o)
}

// list answers GET /orders?limit=N&next=TOKEN. The token is the id of the
// last order of the previous page; the table lists keys in order, and ids
// sort by creation time.
func list(ctx context.Context, query map[string]string) (events.APIGatewayV2HTTPResponse, error) {
	pr, err := order.ParsePageRequest(query)
	if err != nil {
		return order.BadRequest(err)
	}
	opts := gureum.ListOptions{Prefix: order.KeyPrefix, Limit: pr.Limit}
	if pr.After != "" {
		opts.StartAfter = order.Key(pr.After)
	}
	p, err := gureum.Table(table).List(ctx, opts)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("list orders: %w", err)
	}
	page := order.Page{Orders: make([]order.Order, 0, len(p.Items))}
	for _, it := range p.Items {
		var o order.Order
		if err := json.Unmarshal(it.Value, &o); err != nil {
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("item %s of table %s: %w", it.Key, table, err)
		}
		o.Revision = it.Revision
		page.Orders = append(page.Orders, o)
	}
	if p.Next != "" && len(p.Items) > 0 {
		page.Next = strings.TrimPrefix(p.Items[len(p.Items)-1].Key, order.KeyPrefix)
	}
	return order.Response(http.StatusOK, page)
}

func main() {
	gureum.Start(handler)
}
