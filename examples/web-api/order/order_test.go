package order

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseNew(t *testing.T) {
	o, err := ParseNew([]byte(`{"customer": "ada", "items": [
		{"sku": "tea-1kg", "qty": 2, "price": 12.5},
		{"sku": "cup", "qty": 3, "price": 0.1},
		{"sku": "pot", "qty": 1, "price": 0.2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{{"tea-1kg", 2, 12.5}, {"cup", 3, 0.1}, {"pot", 1, 0.2}}
	if o.Customer != "ada" || !slices.Equal(o.Items, want) {
		t.Fatalf("parsed %+v", o)
	}
	// Cents add up exactly: 25 + 0.3 + 0.2, not 25.500000000000004.
	if o.Total != 25.5 {
		t.Fatalf("total %v, want 25.5", o.Total)
	}
	if o.ID != "" || o.Status != "" || !o.CreatedAt.IsZero() {
		t.Fatalf("ParseNew should leave id, status and time to the caller: %+v", o)
	}
}

func TestParseNewRefuses(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{``, "JSON object"},
		{`not json`, "JSON object"},
		{`[]`, "JSON object"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": 1}]} {}`, "nothing after it"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": 1}], "extra": 1}`, `unknown field "extra"`},
		{`{"items": [{"sku": "a", "qty": 1, "price": 1}]}`, `"customer" is missing`},
		{`{"customer": " ", "items": [{"sku": "a", "qty": 1, "price": 1}]}`, `"customer" is missing or empty`},
		{`{"customer": "a\u0000b", "items": [{"sku": "a", "qty": 1, "price": 1}]}`, "control character"},
		{`{"customer": "` + strings.Repeat("x", MaxCustomer+1) + `", "items": [{"sku": "a", "qty": 1, "price": 1}]}`, "at most 200"},
		{`{"customer": "ada"}`, `"items" is missing`},
		{`{"customer": "ada", "items": []}`, `"items" is missing`},
		{`{"customer": "ada", "items": [{"qty": 1, "price": 1}]}`, `"items[0].sku" is missing`},
		{`{"customer": "ada", "items": [{"sku": "a", "price": 1}]}`, `"items[0].qty" is missing`},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 0, "price": 1}]}`, "from 1 to"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1.5, "price": 1}]}`, "whole number"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": "1", "price": 1}]}`, "must be a number"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": null, "price": 1}]}`, `"items[0].qty" is missing`},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": "1"}]}`, "must be a number"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": [1]}]}`, "must be a number"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1}]}`, `"items[0].price" is missing`},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": 0}]}`, "more than 0"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": -3}]}`, "more than 0"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": 1e300}]}`, "at most"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": 1.005}]}`, "two decimals"},
		{`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": 1}, {"sku": "b", "qty": 1, "price": 1e-9}]}`, `"items[1].price"`},
	} {
		_, err := ParseNew([]byte(c.body))
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseNew(%.80s): %v, want a bad request saying %q", c.body, err, c.want)
		}
	}
	many := `{"customer": "ada", "items": [` + strings.Repeat(`{"sku": "a", "qty": 1, "price": 1},`, MaxItems) + `{"sku": "a", "qty": 1, "price": 1}]}`
	if _, err := ParseNew([]byte(many)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("%d items: %v, want a bad request", MaxItems+1, err)
	}
}

func TestParseStatusChange(t *testing.T) {
	c, err := ParseStatusChange([]byte(`{"status": "paid", "revision": 7}`))
	if err != nil || c != (StatusChange{Status: StatusPaid, Revision: 7}) {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, body := range []string{
		`{"status": "paid"}`,
		`{"revision": 7}`,
		`{"status": "lost", "revision": 7}`,
		`{"status": "paid", "revision": 0}`,
		`{"status": "paid", "revision": -1}`,
		`{"status": "paid", "revision": 1.5}`,
		`{"status": "paid", "revision": 7, "by": "me"}`,
		`{"status": "paid", "revision": 7}x`,
	} {
		if _, err := ParseStatusChange([]byte(body)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParseStatusChange(%s): %v, want a bad request", body, err)
		}
	}
}

func TestParsePageRequest(t *testing.T) {
	id := NewID(time.Now())
	for _, c := range []struct {
		query map[string]string
		want  PageRequest
	}{
		{nil, PageRequest{Limit: DefaultLimit}},
		{map[string]string{"limit": "5"}, PageRequest{Limit: 5}},
		{map[string]string{"limit": "100", "next": id}, PageRequest{Limit: 100, After: id}},
	} {
		got, err := ParsePageRequest(c.query)
		if err != nil || got != c.want {
			t.Errorf("ParsePageRequest(%v) = %+v, %v; want %+v", c.query, got, err, c.want)
		}
	}
	for _, q := range []map[string]string{
		{"limit": "0"},
		{"limit": "101"},
		{"limit": "ten"},
		{"next": "order/" + id},
		{"next": strings.ToUpper(id)},
		{"cursor": id},
	} {
		if _, err := ParsePageRequest(q); !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParsePageRequest(%v): %v, want a bad request", q, err)
		}
	}
}

func TestNewID(t *testing.T) {
	t0 := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	a, b := NewID(t0), NewID(t0.Add(time.Millisecond))
	if !ValidID(a) || !ValidID(b) {
		t.Fatalf("ids %q and %q are not valid", a, b)
	}
	if a >= b {
		t.Fatalf("an id made later should sort later: %q, %q", a, b)
	}
	if c := NewID(t0); c == a {
		t.Fatalf("two ids of the same millisecond are equal: %q", c)
	}
	for _, bad := range []string{"", "ord-", "ord-0123", "ORD-" + a[4:], a + "0", a[:len(a)-1] + "g"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestResponses(t *testing.T) {
	r, err := BadRequest(badf(`"items" is missing`))
	if err != nil || r.StatusCode != 400 || r.Body != `{"error":"\"items\" is missing"}` || r.Headers["Content-Type"] != "application/json" {
		t.Fatalf("BadRequest: %+v, %v", r, err)
	}
	r, err = Response(201, map[string]int{"n": 1}, "Location", "/orders/x")
	if err != nil || r.StatusCode != 201 || r.Body != `{"n":1}` || r.Headers["Location"] != "/orders/x" {
		t.Fatalf("Response: %+v, %v", r, err)
	}
}

// FuzzParseNew checks that any body either parses into an order that keeps
// every limit, with a total that is the sum of its lines, or is refused
// with a bad request.
func FuzzParseNew(f *testing.F) {
	f.Add([]byte(`{"customer": "ada", "items": [{"sku": "tea-1kg", "qty": 2, "price": 12.5}]}`))
	f.Add([]byte(`{"customer": "b", "items": [{"sku": "a", "qty": 10000, "price": 1000000}, {"sku": "b", "qty": 1, "price": 0.01}]}`))
	f.Add([]byte(`{"customer": "ada", "items": [{"sku": "a", "qty": 1.0, "price": 1e2}]}`))
	f.Add([]byte(`{"customer": "ada", "items": [{"sku": "a", "qty": 1, "price": 0.1}]} `))
	f.Add([]byte(`{"customer": null, "items": null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := ParseNew(body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not match ErrBadRequest", err)
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("an error of %d bytes: %.100s…", len(err.Error()), err)
			}
			return
		}
		if strings.TrimSpace(o.Customer) == "" || len(o.Customer) > MaxCustomer || len(o.Items) == 0 || len(o.Items) > MaxItems {
			t.Fatalf("accepted an order out of limits: %+v", o)
		}
		var cents int64
		for _, l := range o.Items {
			if l.SKU == "" || len(l.SKU) > MaxSKU || l.Qty < 1 || l.Qty > MaxQuantity || l.Price <= 0 || l.Price > MaxPrice {
				t.Fatalf("accepted a line out of limits: %+v", l)
			}
			c := math.Round(l.Price * 100)
			if math.Abs(l.Price*100-c) > 1e-6 {
				t.Fatalf("price %v has more than two decimals", l.Price)
			}
			cents += int64(l.Qty) * int64(c)
		}
		if math.Round(o.Total*100) != float64(cents) {
			t.Fatalf("total %v, want %d cents", o.Total, cents)
		}
		// What the table stores reads back as the same order.
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var back Order
		if err := json.Unmarshal(b, &back); err != nil || back.Total != o.Total || !slices.Equal(back.Items, o.Items) || back.Customer != o.Customer {
			t.Fatalf("order %+v reads back as %+v (%v)", o, back, err)
		}
	})
}

// FuzzParseStatusChange checks that a body is either a known status with a
// revision of at least 1, or a bad request.
func FuzzParseStatusChange(f *testing.F) {
	f.Add([]byte(`{"status": "paid", "revision": 7}`))
	f.Add([]byte(`{"status": "cancelled", "revision": 18446744073709551615}`))
	f.Add([]byte(`{"status": "paid", "revision": 18446744073709551616}`))
	f.Add([]byte(`{"revision": 1e3, "status": "new"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseStatusChange(body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not match ErrBadRequest", err)
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("an error of %d bytes: %.100s…", len(err.Error()), err)
			}
			return
		}
		if !ValidStatus(c.Status) || c.Revision == 0 {
			t.Fatalf("accepted %+v", c)
		}
	})
}

// FuzzParsePageRequest checks that a query is either a page within the
// limits, starting after a valid id, or a bad request whose message stays
// short and valid UTF-8 whatever the query held.
func FuzzParsePageRequest(f *testing.F) {
	f.Add("limit", "5", "next", "ord-0195564a2c00a1b2c3d4e5")
	f.Add("limit", "-1", "", "")
	f.Add("next", strings.Repeat("é", 40), "limit", "1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		q := map[string]string{k1: v1}
		if k2 != "" {
			q[k2] = v2
		}
		p, err := ParsePageRequest(q)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not match ErrBadRequest", err)
			}
			if len(err.Error()) > 400 || utf8.ValidString(k1+v1+k2+v2) && !utf8.ValidString(err.Error()) {
				t.Fatalf("error message %q", err)
			}
			return
		}
		if p.Limit < 1 || p.Limit > MaxLimit || p.After != "" && !ValidID(p.After) {
			t.Fatalf("accepted %+v from %v", p, q)
		}
	})
}
