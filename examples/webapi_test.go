package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/examples/web-api/order"
	"github.com/gureum/gureum/internal/lint"
	"github.com/gureum/gureum/internal/manifest"
	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/testutil"
)

// TestWebAPI runs the REST API backend end to end: every route over HTTP,
// validation, pagination, optimistic concurrency, and the least-privilege
// grants of its three functions.
func TestWebAPI(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy("web-api")
	ctx := context.Background()

	call := func(method, path, body string) (int, http.Header, []byte) {
		t.Helper()
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		resp, data := n.Do(method, path, b, http.Header{"Content-Type": {"application/json"}})
		return resp.StatusCode, resp.Header, data
	}
	// wantError checks a JSON error answer.
	wantError := func(what string, code, want int, data []byte) {
		t.Helper()
		var e struct{ Error string }
		if code != want || json.Unmarshal(data, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s, want %d with a JSON error", what, code, data, want)
		}
	}
	decode := func(what string, data []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v: %s", what, err, data)
		}
	}

	// Bad bodies are refused with the reason.
	for _, body := range []string{
		`not json`,
		`{"items": [{"sku": "tea", "qty": 1, "price": 2}]}`,
		`{"customer": "ada", "items": []}`,
		`{"customer": "ada", "items": [{"sku": "tea", "qty": 0, "price": 2}]}`,
		`{"customer": "ada", "items": [{"sku": "tea", "qty": 1, "price": 2.345}]}`,
		`{"customer": "ada", "items": [{"sku": "tea", "qty": 1, "price": 2}], "discount": 5}`,
	} {
		code, _, data := call(http.MethodPost, "/orders", body)
		wantError("POST /orders "+body, code, http.StatusBadRequest, data)
	}

	// Create seven orders.
	start := time.Now()
	created := make(map[string]order.Order)
	var ids []string
	for i := range 7 {
		body := fmt.Sprintf(`{"customer": "customer-%d", "items": [{"sku": "tea-1kg", "qty": %d, "price": 12.5}, {"sku": "cup", "qty": 3, "price": 0.1}]}`, i, i+1)
		code, hdr, data := call(http.MethodPost, "/orders", body)
		if code != http.StatusCreated {
			t.Fatalf("POST /orders %s: %d %s", body, code, data)
		}
		var o order.Order
		decode("POST /orders", data, &o)
		wantTotal := float64(i+1)*12.5 + 0.3
		if !order.ValidID(o.ID) || o.Customer != fmt.Sprintf("customer-%d", i) || len(o.Items) != 2 ||
			fmt.Sprintf("%.2f", o.Total) != fmt.Sprintf("%.2f", wantTotal) || o.Status != order.StatusNew || o.Revision == 0 {
			t.Fatalf("created order %+v, want customer-%d with total %.2f, status new and a revision", o, i, wantTotal)
		}
		if o.CreatedAt.Before(start.Add(-time.Minute)) || o.CreatedAt.After(time.Now().Add(time.Minute)) {
			t.Fatalf("order created at %v; the test started at %v", o.CreatedAt, start)
		}
		if loc := hdr.Get("Location"); loc != "/orders/"+o.ID {
			t.Fatalf("Location %q, want /orders/%s", loc, o.ID)
		}
		if _, dup := created[o.ID]; dup {
			t.Fatalf("order id %s given twice", o.ID)
		}
		created[o.ID] = o
		ids = append(ids, o.ID)
	}
	slices.Sort(ids)

	// Each reads back as created.
	for id, want := range created {
		code, _, data := call(http.MethodGet, "/orders/"+id, "")
		var got order.Order
		if code != http.StatusOK {
			t.Fatalf("GET /orders/%s: %d %s", id, code, data)
		}
		decode("GET /orders/"+id, data, &got)
		if got.ID != want.ID || got.Customer != want.Customer || got.Total != want.Total || !slices.Equal(got.Items, want.Items) ||
			got.Revision != want.Revision || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("GET /orders/%s = %+v, want %+v", id, got, want)
		}
	}
	// The table holds what the API wrote, under order/ID.
	if out := n.CLI("table", "get", "orders", order.Key(ids[0])); out.Code != 0 || !strings.Contains(out.Stdout, created[ids[0]].Customer) {
		t.Fatalf("table get orders %s: %+v", order.Key(ids[0]), out)
	}
	for _, id := range []string{"ord-0000000000000000000000", "nonsense"} {
		code, _, data := call(http.MethodGet, "/orders/"+id, "")
		wantError("GET /orders/"+id, code, http.StatusNotFound, data)
	}

	// list reads every page of GET /orders?limit=N and checks the pages.
	list := func(limit int) []string {
		t.Helper()
		var got []string
		next := ""
		for page := 0; ; page++ {
			if page > len(ids)+1 {
				t.Fatalf("limit %d: more pages than orders: %q so far", limit, got)
			}
			path := fmt.Sprintf("/orders?limit=%d", limit)
			if next != "" {
				path += "&next=" + next
			}
			code, _, data := call(http.MethodGet, path, "")
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, code, data)
			}
			var p order.Page
			decode("GET "+path, data, &p)
			if len(p.Orders) > limit {
				t.Fatalf("GET %s: %d orders, over the limit", path, len(p.Orders))
			}
			for _, o := range p.Orders {
				if o.Revision == 0 || o.Customer == "" {
					t.Fatalf("GET %s: order %+v without its revision or customer", path, o)
				}
				got = append(got, o.ID)
			}
			if p.Next == "" {
				return got
			}
			if len(p.Orders) == 0 {
				t.Fatalf("GET %s: an empty page with a next token %q", path, p.Next)
			}
			next = p.Next
		}
	}
	for _, limit := range []int{3, 7, 100} {
		if got := list(limit); !slices.Equal(got, ids) {
			t.Fatalf("listing with limit %d gave %q, want every order once in id order %q", limit, got, ids)
		}
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=ten", "next=order/x", "cursor=1"} {
		code, _, data := call(http.MethodGet, "/orders?"+q, "")
		wantError("GET /orders?"+q, code, http.StatusBadRequest, data)
	}

	// A status change names the revision it read: the first of several
	// concurrent changes from one revision wins, the others get 409.
	id := ids[2]
	rev := created[id].Revision
	statusBody := func(status string, rev uint64) string {
		return fmt.Sprintf(`{"status": %q, "revision": %d}`, status, rev)
	}
	codes := make([]int, 4)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPut, n.URL+"/orders/"+id+"/status", strings.NewReader(statusBody(order.StatusPaid, rev)))
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	slices.Sort(codes)
	if !slices.Equal(codes, []int{http.StatusOK, http.StatusConflict, http.StatusConflict, http.StatusConflict}) {
		t.Fatalf("4 concurrent status changes from revision %d: %v, want one 200 and three 409", rev, codes)
	}
	code, _, data := call(http.MethodGet, "/orders/"+id, "")
	var paid order.Order
	if decode("GET /orders/"+id, data, &paid); code != http.StatusOK || paid.Status != order.StatusPaid || paid.Revision <= rev || paid.UpdatedAt.IsZero() {
		t.Fatalf("after the change, GET /orders/%s: %d %+v, want paid at a newer revision", id, code, paid)
	}
	code, _, data = call(http.MethodPut, "/orders/"+id+"/status", statusBody(order.StatusShipped, rev))
	wantError("a status change from a stale revision", code, http.StatusConflict, data)
	code, _, data = call(http.MethodPut, "/orders/"+id+"/status", statusBody(order.StatusShipped, paid.Revision))
	var shipped order.Order
	if decode("PUT status", data, &shipped); code != http.StatusOK || shipped.Status != order.StatusShipped || shipped.Revision <= paid.Revision {
		t.Fatalf("a status change from the current revision: %d %s", code, data)
	}
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/orders/" + id + "/status", `{"status": "lost", "revision": 1}`, http.StatusBadRequest},
		{"/orders/" + id + "/status", `{"status": "paid"}`, http.StatusBadRequest},
		{"/orders/ord-0000000000000000000000/status", statusBody(order.StatusPaid, 1), http.StatusNotFound},
	} {
		code, _, data := call(http.MethodPut, c.path, c.body)
		wantError("PUT "+c.path+" "+c.body, code, c.want, data)
	}

	// DELETE removes an order once.
	gone := ids[0]
	if code, _, data := call(http.MethodDelete, "/orders/"+gone, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /orders/%s: %d %s", gone, code, data)
	}
	code, _, data = call(http.MethodGet, "/orders/"+gone, "")
	wantError("GET of a deleted order", code, http.StatusNotFound, data)
	code, _, data = call(http.MethodDelete, "/orders/"+gone, "")
	wantError("DELETE of a deleted order", code, http.StatusNotFound, data)
	if got := list(2); !slices.Equal(got, ids[1:]) {
		t.Fatalf("after the delete, the list is %q, want %q", got, ids[1:])
	}
	if resp, data := n.Do(http.MethodPatch, "/orders/"+id, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("PATCH /orders/%s: %d %s, want 404 (not routed)", id, resp.StatusCode, data)
	}

	// Least privilege: each function's deployed grants are what the
	// manifest declares, and each grant is exactly what its code does.
	proj, err := manifest.Load(filepath.Join("web-api", "gureum.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wantGrants := map[string][]string{"create": {"orders:w"}, "read": {"orders:r"}, "update": {"orders:rw"}}
	for _, f := range proj.Functions {
		vs, err := n.Client.Versions(ctx, f.Name)
		if err != nil || len(vs) == 0 {
			t.Fatalf("versions of %s: %v, %v", f.Name, vs, err)
		}
		got := vs[len(vs)-1].Config.Permissions
		if want := (&registry.Permissions{Tables: wantGrants[f.Name]}); !permissionsEqual(got, want) {
			t.Errorf("function %s is deployed with %+v, want %+v", f.Name, got, want)
		}
		src, err := lint.GoSource{}.Source(f)
		if err != nil {
			t.Fatalf("read the source of %s: %v", f.Name, err)
		}
		var access lint.Access
		for _, u := range src.Uses {
			if u.Kind != lint.Table || !slices.Equal(u.Names, []string{"orders"}) {
				t.Errorf("function %s uses %s %v at %s; it should use table orders only", f.Name, u.Kind, u.Names, u.Pos)
			}
			access |= u.Access
		}
		want := map[string]lint.Access{"create": lint.Write, "read": lint.Read, "update": lint.Read | lint.Write}[f.Name]
		if access != want {
			t.Errorf("function %s's code has access %b to orders, want %b as its grant says", f.Name, access, want)
		}
	}
	// gureum lint finds nothing to say: each grant is what the code uses.
	if r := n.CLI("lint", "web-api"); r.Code != 0 || strings.Contains(r.Stdout, "gureum.yaml:") || !strings.Contains(r.Stderr, "no grant broader than their code needs") {
		t.Errorf("gureum lint web-api: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}

	// The reader's grant, orders:r, reads but cannot write: a probe
	// function deployed with the same grant is refused every write.
	t.Cleanup(func() { _ = os.Remove("testdata") }) // only if Project left it empty
	probe := testutil.Project(t, "web-api-probe", `  probe:
    build: BUILD
    timeout: 10s
    permissions:
      tables: [orders:r]
`)
	n.Deploy(probe)
	if r := n.CLI("invoke", "probe", "--data", fmt.Sprintf(`{"op": "kvget", "table": "orders", "key": %q}`, order.Key(ids[1]))); r.Code != 0 || !strings.Contains(r.Stdout, ids[1]) {
		t.Fatalf("a function granted orders:r reading an order: %+v", r)
	}
	for _, ev := range []string{
		fmt.Sprintf(`{"op": "kvput", "table": "orders", "key": %q, "value": {"customer": "mallory"}}`, order.Key(ids[1])),
		`{"op": "kvput", "table": "orders", "key": "order/ord-ffffffffffffffffffffff", "value": {}, "ifAbsent": true}`,
		fmt.Sprintf(`{"op": "kvdel", "table": "orders", "key": %q}`, order.Key(ids[1])),
	} {
		if r := n.CLI("invoke", "probe", "--data", ev); r.Code != 1 || !strings.Contains(r.Stdout, "AccessDenied") {
			t.Errorf("a function granted orders:r writing %s: exit %d, %s%s; want AccessDenied", ev, r.Code, r.Stdout, r.Stderr)
		}
	}
	if code, _, data := call(http.MethodGet, "/orders/"+ids[1], ""); code != http.StatusOK || !bytes.Contains(data, []byte(created[ids[1]].Customer)) {
		t.Fatalf("GET /orders/%s after the refused writes: %d %s", ids[1], code, data)
	}
}

// permissionsEqual compares grants, treating nil and empty lists alike.
func permissionsEqual(a, b *registry.Permissions) bool {
	if a == nil {
		a = &registry.Permissions{}
	}
	if b == nil {
		b = &registry.Permissions{}
	}
	return slices.Equal(a.Publish, b.Publish) && slices.Equal(a.Send, b.Send) && slices.Equal(a.Tables, b.Tables) &&
		slices.Equal(a.Buckets, b.Buckets) && slices.Equal(a.HTTP, b.HTTP)
}
