// Command api takes orders over HTTP (POST /orders). It checks the JSON body,
// gives the order an id and publishes it to the topic order-events, which
// fans it out to fulfilment and audit; the caller gets 202 and the id at once.
// It is an ordinary API Gateway HTTP API handler: on AWS, lambda.Start would
// replace gureum.Start and an SNS client would replace gureum.Publish.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	gureum "github.com/gureum/gureum/sdk/go"
)

// order is what the topic carries.
type order struct {
	OrderID  string `json:"orderId"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// parseOrder reads and checks a request body: {"item": "...", "quantity": N}
// with a non-empty item and a whole quantity of at least 1.
func parseOrder(body []byte) (order, error) {
	var in struct {
		Item     *string `json:"item"`
		Quantity *int    `json:"quantity"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		return order{}, fmt.Errorf(`the body must be a JSON object {"item": "...", "quantity": N}: %v`, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return order{}, errors.New("the body must hold one JSON object and nothing after it")
	}
	switch {
	case in.Item == nil || *in.Item == "":
		return order{}, errors.New(`"item" is missing or empty`)
	case in.Quantity == nil:
		return order{}, errors.New(`"quantity" is missing`)
	case *in.Quantity < 1:
		return order{}, fmt.Errorf(`"quantity" is %d; it must be at least 1`, *in.Quantity)
	}
	return order{Item: *in.Item, Quantity: *in.Quantity}, nil
}

// newOrderID returns a random id such as ord-3f9c2a7b1e0d4c58.
func newOrderID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails
	return "ord-" + hex.EncodeToString(b)
}

func handler(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return answer(http.StatusBadRequest, map[string]string{"error": "the body is not valid base64"})
		}
	}
	o, err := parseOrder(body)
	if err != nil {
		return answer(http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	o.OrderID = newOrderID()
	msg, err := json.Marshal(o)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	// The attributes are what subscriptions' filter policies match: audit
	// subscribes to orders with quantity >= 10 only.
	if _, err := gureum.Publish(ctx, "order-events", string(msg),
		gureum.WithAttribute("kind", "created"),
		gureum.WithNumberAttribute("quantity", float64(o.Quantity))); err != nil {
		fmt.Printf("cannot publish order %s: %v\n", o.OrderID, err)
		return answer(http.StatusServiceUnavailable, map[string]string{"error": "the order could not be accepted; try again"})
	}
	fmt.Printf("accepted order %s: %d x %s\n", o.OrderID, o.Quantity, o.Item)
	return answer(http.StatusAccepted, map[string]string{"orderId": o.OrderID})
}

// answer is a JSON response.
func answer(status int, v any) (events.APIGatewayV2HTTPResponse, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(b),
	}, nil
}

func main() {
	gureum.Start(handler)
}
