// Package order is the model of the web-api example: what an order is, how
// a request describes one, and how the functions answer. It touches no
// table; each function does that itself, with the grant its manifest gives
// it.
package order

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// KeyPrefix starts the key of every order in the table orders: order/ID.
// (Each function names the table itself, where gureum lint can see it.)
const KeyPrefix = "order/"

// Limits of an order and of a page.
const (
	MaxCustomer  = 200
	MaxSKU       = 64
	MaxItems     = 100
	MaxQuantity  = 10000
	MaxPrice     = 1_000_000 // per unit
	DefaultLimit = 20
	MaxLimit     = 100
)

// Statuses an order can have; a new order is StatusNew.
const (
	StatusNew       = "new"
	StatusPaid      = "paid"
	StatusShipped   = "shipped"
	StatusDelivered = "delivered"
	StatusCancelled = "cancelled"
)

// Statuses lists every status, in the order an order usually goes through
// them.
var Statuses = []string{StatusNew, StatusPaid, StatusShipped, StatusDelivered, StatusCancelled}

// ErrBadRequest marks a request the API refuses with 400.
var ErrBadRequest = errors.New("bad request")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

// Line is one line of an order.
type Line struct {
	SKU   string  `json:"sku"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"` // per unit, at most two decimals
}

// Order is what the table holds under order/ID, and what the API answers
// with its revision added.
type Order struct {
	ID        string    `json:"id"`
	Customer  string    `json:"customer"`
	Items     []Line    `json:"items"`
	Total     float64   `json:"total"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// Revision is the table's revision of the item: the value to send
	// back with a status change. It is not stored in the value.
	Revision uint64 `json:"revision,omitempty"`
}

// Key is the table key of the order with id.
func Key(id string) string { return KeyPrefix + id }

// idHexLen is the length of an id after "ord-": 12 hex digits of the
// creation time in milliseconds, then 10 random ones.
const idHexLen = 22

// NewID returns a new order id, ord-TTTTTTTTTTTTRRRRRRRRRR: the creation
// time in milliseconds then random digits, so that ids sort by creation
// time and listing the table lists the oldest orders first.
func NewID(now time.Time) string {
	var r [5]byte
	_, _ = rand.Read(r[:]) // never fails
	ms := uint64(now.UnixMilli()) & (1<<48 - 1)
	return fmt.Sprintf("ord-%012x%s", ms, hex.EncodeToString(r[:]))
}

// ValidID reports whether s has the form of an order id.
func ValidID(s string) bool {
	rest, ok := strings.CutPrefix(s, "ord-")
	if !ok || len(rest) != idHexLen {
		return false
	}
	for _, c := range []byte(rest) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Body returns a request's body, decoding base64 when the gateway encoded
// it.
func Body(req events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if !req.IsBase64Encoded {
		return []byte(req.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, badf("the body is not valid base64")
	}
	return b, nil
}

// decodeOne decodes exactly one JSON object into v, refusing unknown fields
// and anything after it.
func decodeOne(body []byte, v any, shape string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badf("the body must be a JSON object %s: %s", shape, shorten(err.Error(), 200))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badf("the body must hold one JSON object and nothing after it")
	}
	return nil
}

// ParseNew reads the body of POST /orders:
//
//	{"customer": "ada", "items": [{"sku": "tea-1kg", "qty": 2, "price": 12.5}]}
//
// and returns the order it describes, with its total, but no id, status or
// time yet. Errors match ErrBadRequest and say what is wrong.
func ParseNew(body []byte) (Order, error) {
	const shape = `{"customer": "...", "items": [{"sku": "...", "qty": N, "price": N.NN}]}`
	var in struct {
		Customer *string `json:"customer"`
		Items    []struct {
			SKU   *string         `json:"sku"`
			Qty   json.RawMessage `json:"qty"`
			Price json.RawMessage `json:"price"`
		} `json:"items"`
	}
	if err := decodeOne(body, &in, shape); err != nil {
		return Order{}, err
	}
	if err := checkText("customer", in.Customer, MaxCustomer); err != nil {
		return Order{}, err
	}
	switch {
	case len(in.Items) == 0:
		return Order{}, badf(`"items" is missing or empty; an order has at least one item`)
	case len(in.Items) > MaxItems:
		return Order{}, badf(`%d items is more than an order can hold (%d)`, len(in.Items), MaxItems)
	}
	o := Order{Customer: *in.Customer, Items: make([]Line, 0, len(in.Items))}
	var cents int64
	for i, it := range in.Items {
		name := fmt.Sprintf("items[%d]", i)
		if err := checkText(name+".sku", it.SKU, MaxSKU); err != nil {
			return Order{}, err
		}
		qty, err := quantity(name+".qty", it.Qty)
		if err != nil {
			return Order{}, err
		}
		price, err := priceCents(name+".price", it.Price)
		if err != nil {
			return Order{}, err
		}
		cents += int64(qty) * price // at most 100 × 10⁴ × 10⁸: no overflow
		o.Items = append(o.Items, Line{SKU: *it.SKU, Qty: qty, Price: float64(price) / 100})
	}
	o.Total = float64(cents) / 100
	return o, nil
}

// checkText checks a required string field.
func checkText(name string, s *string, max int) error {
	switch {
	case s == nil || strings.TrimSpace(*s) == "":
		return badf("%q is missing or empty", name)
	case len(*s) > max:
		return badf("%q is %d bytes long; at most %d", name, len(*s), max)
	case strings.ContainsFunc(*s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return badf("%q holds a control character", name)
	}
	return nil
}

// number returns the text of a JSON number field, refusing a missing
// field, null and every other kind of value (json.Number alone would take
// "12" written as a string).
func number(name string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", badf("%q is missing", name)
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return "", badf("%q is %s; it must be a number", name, truncate(string(raw)))
	}
	return string(raw), nil
}

func quantity(name string, raw json.RawMessage) (int, error) {
	n, err := number(name, raw)
	if err != nil {
		return 0, err
	}
	q, err := strconv.Atoi(n)
	if err != nil {
		return 0, badf("%q is %s; it must be a whole number", name, truncate(n))
	}
	if q < 1 || q > MaxQuantity {
		return 0, badf("%q is %d; it must be from 1 to %d", name, q, MaxQuantity)
	}
	return q, nil
}

// priceCents reads a price of at most two decimals as cents, so that
// totals add up exactly.
func priceCents(name string, raw json.RawMessage) (int64, error) {
	n, err := number(name, raw)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, badf("%q is %s; it must be a number", name, truncate(n))
	}
	if f <= 0 || f > MaxPrice {
		return 0, badf("%q is %s; it must be more than 0 and at most %d", name, n, MaxPrice)
	}
	c := math.Round(f * 100)
	switch {
	case c < 1:
		return 0, badf("%q is %s; it must be at least 0.01", name, truncate(n))
	case math.Abs(f*100-c) > 1e-6:
		return 0, badf("%q is %s; a price has at most two decimals", name, truncate(n))
	}
	return int64(c), nil
}

// StatusChange is the body of PUT /orders/{id}/status: the new status and
// the revision of the order it changes, as the last read returned it.
type StatusChange struct {
	Status   string `json:"status"`
	Revision uint64 `json:"revision"`
}

// ParseStatusChange reads the body of PUT /orders/{id}/status:
// {"status": "paid", "revision": 3}. Errors match ErrBadRequest.
func ParseStatusChange(body []byte) (StatusChange, error) {
	const shape = `{"status": "paid", "revision": N}`
	var in struct {
		Status   *string      `json:"status"`
		Revision *json.Number `json:"revision"`
	}
	if err := decodeOne(body, &in, shape); err != nil {
		return StatusChange{}, err
	}
	if in.Status == nil || !ValidStatus(*in.Status) {
		got := "missing"
		if in.Status != nil {
			got = strconv.Quote(truncate(*in.Status))
		}
		return StatusChange{}, badf(`"status" is %s; it must be one of %s`, got, strings.Join(Statuses, ", "))
	}
	if in.Revision == nil {
		return StatusChange{}, badf(`"revision" is missing; send the revision of the order as GET /orders/{id} returned it`)
	}
	rev, err := strconv.ParseUint(in.Revision.String(), 10, 64)
	if err != nil || rev == 0 {
		return StatusChange{}, badf(`"revision" is %s; it must be a whole number of at least 1`, truncate(in.Revision.String()))
	}
	return StatusChange{Status: *in.Status, Revision: rev}, nil
}

// ValidStatus reports whether s is one of Statuses.
func ValidStatus(s string) bool {
	for _, st := range Statuses {
		if s == st {
			return true
		}
	}
	return false
}

// PageRequest is what GET /orders asks for.
type PageRequest struct {
	Limit int
	After string // the id the page starts after; "" for the first page
}

// ParsePageRequest reads the query of GET /orders: limit (1 to MaxLimit,
// DefaultLimit when absent) and next (the token of the previous page).
// Errors match ErrBadRequest.
func ParsePageRequest(query map[string]string) (PageRequest, error) {
	p := PageRequest{Limit: DefaultLimit}
	for name, v := range query {
		switch name {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxLimit {
				return PageRequest{}, badf("limit is %q; it must be a whole number from 1 to %d", truncate(v), MaxLimit)
			}
			p.Limit = n
		case "next":
			if !ValidID(v) {
				return PageRequest{}, badf("next is %q, which is not a token this API returned; pass the next of the previous page as it is", truncate(v))
			}
			p.After = v
		default:
			return PageRequest{}, badf("unknown query parameter %q; GET /orders takes limit and next", truncate(name))
		}
	}
	return p, nil
}

// truncate shortens what a caller sent for an error message.
func truncate(s string) string { return shorten(s, 64) }

// shorten cuts s to at most max bytes and a "…", at a rune boundary.
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

// Page is the answer of GET /orders.
type Page struct {
	Orders []Order `json:"orders"`
	// Next is the token of the next page, for ?next=; absent on the last
	// page.
	Next string `json:"next,omitempty"`
}

// Response is a JSON answer with status, and headers if given in pairs
// (name, value).
func Response(status int, v any, headers ...string) (events.APIGatewayV2HTTPResponse, error) {
	h := map[string]string{"Content-Type": "application/json"}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	if v == nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("encode the answer: %w", err)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h, Body: string(b)}, nil
}

// Error is a JSON error answer: {"error": "..."}.
func Error(status int, format string, args ...any) (events.APIGatewayV2HTTPResponse, error) {
	return Response(status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// BadRequest answers 400 with err's message (without the sentinel's).
func BadRequest(err error) (events.APIGatewayV2HTTPResponse, error) {
	msg := strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": ")
	return Error(http.StatusBadRequest, "%s", msg)
}

// NotFound answers 404 for the order with id.
func NotFound(id string) (events.APIGatewayV2HTTPResponse, error) {
	return Error(http.StatusNotFound, "no order %s", truncate(id))
}
