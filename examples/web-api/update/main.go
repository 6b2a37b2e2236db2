// Command update changes and deletes orders: PUT /orders/{id}/status and
// DELETE /orders/{id}. Both read the order first, so its manifest grants it
// orders:rw.
//
// A status change is optimistic: the caller sends the revision of the order
// it read, and the write succeeds only if the order is still at that
// revision; otherwise the answer is 409 and the caller reads the order
// again. On AWS, the same is a DynamoDB UpdateItem with a condition on a
// version attribute.
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
	id := req.PathParameters["id"]
	switch req.RequestContext.HTTP.Method {
	case http.MethodPut:
		return changeStatus(ctx, id, req)
	case http.MethodDelete:
		return remove(ctx, id)
	}
	return order.Error(http.StatusMethodNotAllowed, "%s is not served here", req.RequestContext.HTTP.Method)
}

// changeStatus answers PUT /orders/{id}/status with the changed order.
func changeStatus(ctx context.Context, id string, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	body, err := order.Body(req)
	if err != nil {
		return order.BadRequest(err)
	}
	change, err := order.ParseStatusChange(body)
	if err != nil {
		return order.BadRequest(err)
	}
	if !order.ValidID(id) {
		return order.NotFound(id)
	}
	orders := gureum.Table(table)
	var o order.Order
	rev, err := orders.GetJSON(ctx, order.Key(id), &o)
	switch {
	case errors.Is(err, gureum.ErrNotFound):
		return order.NotFound(id)
	case err != nil:
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("read order %s: %w", id, err)
	}
	if rev != change.Revision {
		return stale(id, change.Revision)
	}
	o.Status = change.Status
	o.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	o.Revision = 0 // the table keeps the revision; the value does not
	// Another request may have changed the order since the read above;
	// IfRevision makes this write fail then rather than undo that change.
	newRev, err := orders.PutJSON(ctx, order.Key(id), o, gureum.IfRevision(rev))
	switch {
	case errors.Is(err, gureum.ErrConditionFailed):
		return stale(id, change.Revision)
	case err != nil:
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("write order %s: %w", id, err)
	}
	o.Revision = newRev
	fmt.Printf("order %s is %s (revision %d)\n", id, o.Status, newRev)
	return order.Response(http.StatusOK, o)
}

// stale answers 409: the order is no longer at the revision the caller
// read.
func stale(id string, rev uint64) (events.APIGatewayV2HTTPResponse, error) {
	return order.Error(http.StatusConflict, "order %s changed since revision %d; read it again and retry", id, rev)
}

// remove answers DELETE /orders/{id}: 204, or 404 when there is no such
// order.
func remove(ctx context.Context, id string) (events.APIGatewayV2HTTPResponse, error) {
	if !order.ValidID(id) {
		return order.NotFound(id)
	}
	orders := gureum.Table(table)
	it, err := orders.Get(ctx, order.Key(id))
	switch {
	case errors.Is(err, gureum.ErrNotFound):
		return order.NotFound(id)
	case err != nil:
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("read order %s: %w", id, err)
	}
	err = orders.Delete(ctx, order.Key(id), gureum.IfRevision(it.Revision))
	switch {
	case errors.Is(err, gureum.ErrConditionFailed):
		return order.Error(http.StatusConflict, "order %s changed while it was being deleted; try again", id)
	case err != nil:
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("delete order %s: %w", id, err)
	}
	fmt.Printf("deleted order %s\n", id)
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent}, nil
}

func main() {
	gureum.Start(handler)
}
