package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/admin/admintest"
	"github.com/gureum/gureum/internal/registry"
)

func TestStorageEndpointsNeedAStorageService(t *testing.T) {
	h := admin.NewHandler(functionsOnly{}, token)
	for _, p := range []string{"/tables", "/tables/t/items/k", "/buckets"} {
		expectError(t, request(t, h, "GET", p, ""), http.StatusNotFound, admin.CodeNotFound, "no admin endpoint")
	}
	// A node with events but no storage serves none either.
	h = admin.NewHandler(admintest.NewEvents(), token)
	expectError(t, request(t, h, "GET", "/tables", ""), http.StatusNotFound, admin.CodeNotFound, "no admin endpoint")
}

func TestStorageEndpointsNeedTheToken(t *testing.T) {
	h := admin.NewHandler(admintest.NewStorage(), token)
	for _, p := range []string{"/tables", "/buckets"} {
		req := httptest.NewRequest("GET", admin.Prefix+p, nil)
		req.Header.Set("Authorization", "Bearer wrong")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		expectError(t, rec, http.StatusUnauthorized, admin.CodeUnauthorized, "token")
	}
}

func TestTableLifecycle(t *testing.T) {
	h := admin.NewHandler(admintest.NewStorage(), token)

	rec := request(t, h, "GET", "/tables", "")
	expect(t, rec, http.StatusOK, nil)
	if strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("no tables listed as %s", rec.Body)
	}
	var info admin.TableInfo
	expect(t, request(t, h, "PUT", "/tables/orders", ""), http.StatusCreated, &info)
	if info.Name != "orders" || info.CreatedAt.IsZero() {
		t.Fatalf("created %+v", info)
	}
	expect(t, request(t, h, "PUT", "/tables/orders", "{}"), http.StatusOK, &info)
	expect(t, request(t, h, "PUT", "/tables/orders/items/o-1", `{"value":{"total":5}}`), http.StatusOK, nil)
	expect(t, request(t, h, "GET", "/tables/orders", ""), http.StatusOK, &info)
	if info.Items != 1 || info.Bytes == 0 {
		t.Fatalf("table with one item: %+v", info)
	}
	var ts []admin.TableInfo
	expect(t, request(t, h, "GET", "/tables", ""), http.StatusOK, &ts)
	if len(ts) != 1 || ts[0].Name != "orders" || ts[0].Items != 1 {
		t.Fatalf("listed %+v", ts)
	}
	expectError(t, request(t, h, "PUT", "/tables/bad.name", ""), http.StatusBadRequest, admin.CodeInvalidRequest, "table name")

	expect(t, request(t, h, "DELETE", "/tables/orders", ""), http.StatusNoContent, nil)
	expectError(t, request(t, h, "GET", "/tables/orders", ""), http.StatusNotFound, admin.CodeTableNotFound, "orders")
	expectError(t, request(t, h, "DELETE", "/tables/orders", ""), http.StatusNotFound, admin.CodeTableNotFound, "orders")
	expectError(t, request(t, h, "GET", "/tables/orders/items/o-1", ""), http.StatusNotFound, admin.CodeTableNotFound, "orders")
}

func TestItems(t *testing.T) {
	f := admintest.NewStorage()
	h := admin.NewHandler(f, token)
	expect(t, request(t, h, "PUT", "/tables/orders", ""), http.StatusCreated, nil)

	var put admin.PutItemResponse
	expect(t, request(t, h, "PUT", "/tables/orders/items/o-1", `{"value": {"total": 5, "items": ["a", "b"]}}`), http.StatusOK, &put)
	if put.Revision == 0 {
		t.Fatalf("put answered %+v", put)
	}
	var it admin.Item
	expect(t, request(t, h, "GET", "/tables/orders/items/o-1", ""), http.StatusOK, &it)
	var value bytes.Buffer
	_ = json.Compact(&value, it.Value)
	if it.Key != "o-1" || value.String() != `{"total":5,"items":["a","b"]}` || it.Revision != put.Revision || it.Modified.IsZero() || it.Expires != nil {
		t.Fatalf("got %+v (value %s)", it, value.String())
	}
	expectError(t, request(t, h, "GET", "/tables/orders/items/o-2", ""), http.StatusNotFound, admin.CodeItemNotFound, "o-2")

	// The key is the rest of the path, unescaped: it may hold '/', and an
	// escaped '/' or dot segment is part of it.
	for path, key := range map[string]string{
		"/tables/orders/items/2025/03/o-9":    "2025/03/o-9",
		"/tables/orders/items/a%2F%2Fb":       "a//b",
		"/tables/orders/items/%2E%2E":         "..",
		"/tables/orders/items/sp%20ace%25":    "sp ace%",
		"/tables/orders/items/" + "%ED%95%9C": "한",
	} {
		expect(t, request(t, h, "PUT", path, `{"value":1}`), http.StatusOK, nil)
		if got := f.Puts()[len(f.Puts())-1].Key; got != key {
			t.Fatalf("PUT %s reached the service as key %q, want %q", path, got, key)
		}
		expect(t, request(t, h, "GET", path, ""), http.StatusOK, &it)
		if it.Key != key {
			t.Fatalf("GET %s read key %q, want %q", path, it.Key, key)
		}
	}

	// Conditions.
	expectError(t, request(t, h, "PUT", "/tables/orders/items/o-1", `{"value":1,"ifAbsent":true}`),
		http.StatusConflict, admin.CodeConditionFailed, "exists")
	expectError(t, request(t, h, "PUT", "/tables/orders/items/o-1", fmt.Sprintf(`{"value":1,"ifRevision":%d}`, put.Revision+100)),
		http.StatusConflict, admin.CodeConditionFailed, "revision")
	var put2 admin.PutItemResponse
	expect(t, request(t, h, "PUT", "/tables/orders/items/o-1", fmt.Sprintf(`{"value":2,"ifRevision":%d}`, put.Revision)), http.StatusOK, &put2)
	if put2.Revision <= put.Revision {
		t.Fatalf("revision went from %d to %d", put.Revision, put2.Revision)
	}
	expect(t, request(t, h, "PUT", "/tables/orders/items/new", `{"value":"x","ifAbsent":true,"ttlSeconds":3600}`), http.StatusOK, nil)
	expect(t, request(t, h, "GET", "/tables/orders/items/new", ""), http.StatusOK, &it)
	if it.Expires == nil || it.Expires.Sub(it.Modified) != time.Hour {
		t.Fatalf("item with a TTL of 1h: %+v", it)
	}
	if last := f.Puts()[len(f.Puts())-1].Request; !last.IfAbsent || last.TTLSeconds != 3600 || string(last.Value) != `"x"` {
		t.Fatalf("service got put %+v", last)
	}

	// Sizes: the service's limit on values, the API's limit on bodies.
	expectError(t, request(t, h, "PUT", "/tables/orders/items/big", fmt.Sprintf(`{"value":%q}`, strings.Repeat("x", 450<<10))),
		http.StatusRequestEntityTooLarge, admin.CodeItemTooLarge, "over the limit")
	n := len(f.Puts())
	expectError(t, request(t, h, "PUT", "/tables/orders/items/big", fmt.Sprintf(`{"value":%q}`, strings.Repeat("x", admin.MaxItemRequestBytes))),
		http.StatusRequestEntityTooLarge, admin.CodeTooLarge, "byte limit")
	if len(f.Puts()) != n {
		t.Fatal("a body over the limit reached the service")
	}

	// Deletes, conditional or not.
	expectError(t, request(t, h, "DELETE", "/tables/orders/items/o-1?ifRevision=1", ""), http.StatusConflict, admin.CodeConditionFailed, "revision")
	expect(t, request(t, h, "DELETE", fmt.Sprintf("/tables/orders/items/o-1?ifRevision=%d", put2.Revision), ""), http.StatusNoContent, nil)
	expectError(t, request(t, h, "GET", "/tables/orders/items/o-1", ""), http.StatusNotFound, admin.CodeItemNotFound, "o-1")
	expect(t, request(t, h, "DELETE", "/tables/orders/items/2025/03/o-9", ""), http.StatusNoContent, nil)
	dels := f.ItemDeletes()
	if len(dels) != 3 || dels[1] != (admintest.ItemDelete{Table: "orders", Key: "o-1", IfRevision: put2.Revision}) ||
		dels[2] != (admintest.ItemDelete{Table: "orders", Key: "2025/03/o-9"}) {
		t.Fatalf("service got deletes %+v", dels)
	}
	expectError(t, request(t, h, "DELETE", "/tables/orders/items/o-1", ""), http.StatusNotFound, admin.CodeItemNotFound, "o-1")
}

func TestScan(t *testing.T) {
	f := admintest.NewStorage()
	h := admin.NewHandler(f, token)
	expect(t, request(t, h, "PUT", "/tables/t", ""), http.StatusCreated, nil)

	var page admin.ItemPage
	rec := request(t, h, "GET", "/tables/t/items", "")
	expect(t, rec, http.StatusOK, &page)
	if !strings.Contains(rec.Body.String(), `"items": []`) || page.Next != "" {
		t.Fatalf("empty scan: %s", rec.Body)
	}
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "c"} {
		expect(t, request(t, h, "PUT", "/tables/t/items/"+k, fmt.Sprintf(`{"value":%q}`, k)), http.StatusOK, nil)
	}

	expect(t, request(t, h, "GET", "/tables/t/items", ""), http.StatusOK, &page)
	if len(page.Items) != 5 || page.Next != "" || page.Items[0].Key != "a/1" || string(page.Items[4].Value) != `"c"` {
		t.Fatalf("whole scan %+v", page)
	}
	if s := f.Scans()[len(f.Scans())-1]; s != (admin.ScanRequest{}) {
		t.Fatalf("scan without parameters reached the service as %+v", s)
	}

	// Pages follow one another through next.
	var keys []string
	after := ""
	for range 10 {
		page = admin.ItemPage{}
		expect(t, request(t, h, "GET", "/tables/t/items?prefix=a%2F&limit=2&startAfter="+url.QueryEscape(after), ""), http.StatusOK, &page)
		for _, it := range page.Items {
			keys = append(keys, it.Key)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if strings.Join(keys, " ") != "a/1 a/2 a/3" {
		t.Fatalf("paged scan of prefix a/ read %q", keys)
	}
	if s := f.Scans()[len(f.Scans())-1]; s.Prefix != "a/" || s.Limit != 2 || s.StartAfter != "a/2" {
		t.Fatalf("last page asked for %+v", s)
	}

	rec = request(t, h, "GET", "/tables/t/items?keysOnly=true&startAfter=a%2F3", "")
	page = admin.ItemPage{}
	expect(t, rec, http.StatusOK, &page)
	if len(page.Items) != 2 || page.Items[0].Key != "b/1" || page.Items[0].Value != nil || strings.Contains(rec.Body.String(), `"value"`) {
		t.Fatalf("keys-only scan: %s", rec.Body)
	}
	expectError(t, request(t, h, "GET", "/tables/nope/items", ""), http.StatusNotFound, admin.CodeTableNotFound, "nope")
}

func TestBuckets(t *testing.T) {
	f := admintest.NewStorage()
	h := admin.NewHandler(f, token)

	rec := request(t, h, "GET", "/buckets", "")
	expect(t, rec, http.StatusOK, nil)
	if strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("no buckets listed as %s", rec.Body)
	}
	var info admin.BucketInfo
	expect(t, request(t, h, "PUT", "/buckets/uploads", ""), http.StatusCreated, &info)
	if info.Name != "uploads" || info.CreatedAt.IsZero() {
		t.Fatalf("created %+v", info)
	}
	expect(t, request(t, h, "PUT", "/buckets/uploads", "{}"), http.StatusOK, &info)
	expectError(t, request(t, h, "PUT", "/buckets/Uploads", ""), http.StatusBadRequest, admin.CodeInvalidRequest, "bucket name")

	f.AddBucket(admin.BucketInfo{Name: "photos", App: "shop", Objects: 3, Bytes: 300, CreatedAt: time.Now(),
		Notifications: []admin.BucketNotification{{ID: "n-1", Target: "function:resize", On: []string{registry.BucketCreated}}}})
	expect(t, request(t, h, "GET", "/buckets/photos", ""), http.StatusOK, &info)
	if info.Objects != 3 || info.App != "shop" || len(info.Notifications) != 1 || info.Notifications[0].Target != "function:resize" {
		t.Fatalf("got %+v", info)
	}
	var bs []admin.BucketInfo
	expect(t, request(t, h, "GET", "/buckets", ""), http.StatusOK, &bs)
	if len(bs) != 2 || bs[0].Name != "photos" || bs[1].Name != "uploads" {
		t.Fatalf("listed %+v", bs)
	}

	expectError(t, request(t, h, "DELETE", "/buckets/photos", ""), http.StatusConflict, admin.CodeBucketNotEmpty, "3 objects")
	expectError(t, request(t, h, "DELETE", "/buckets/photos?force=false", ""), http.StatusConflict, admin.CodeBucketNotEmpty, "3 objects")
	expect(t, request(t, h, "DELETE", "/buckets/photos?force=true", ""), http.StatusNoContent, nil)
	expect(t, request(t, h, "DELETE", "/buckets/uploads", ""), http.StatusNoContent, nil)
	want := []admintest.BucketDelete{{Bucket: "photos"}, {Bucket: "photos"}, {Bucket: "photos", Force: true}, {Bucket: "uploads"}}
	if got := f.BucketDeletes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("service got deletes %+v, want %+v", got, want)
	}
	expectError(t, request(t, h, "GET", "/buckets/photos", ""), http.StatusNotFound, admin.CodeBucketNotFound, "photos")
	expectError(t, request(t, h, "DELETE", "/buckets/photos", ""), http.StatusNotFound, admin.CodeBucketNotFound, "photos")
}

// TestStorageBadRequests: every malformed request is refused with 400 (or
// 413) and a sentence saying what is wrong, before the service sees it.
func TestStorageBadRequests(t *testing.T) {
	f := admintest.NewStorage()
	h := admin.NewHandler(f, token)
	ctx := context.Background()
	if _, err := f.PutTable(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	f.AddBucket(admin.BucketInfo{Name: "b-1"})
	longKey := strings.Repeat("k", admin.MaxItemKeyBytes+1)
	for _, c := range []struct {
		method, path, body string
		status             int
		code, msg          string
	}{
		{"PUT", "/tables/t", `{"ttl":1}`, 400, admin.CodeInvalidRequest, `unknown field "ttl"`},
		{"PUT", "/tables/t", `[]`, 400, admin.CodeInvalidRequest, "table"},
		{"PUT", "/tables/" + strings.Repeat("t", 300), ``, 400, admin.CodeInvalidRequest, "longer than"},
		{"PUT", "/tables/a%2Fb", ``, 400, admin.CodeInvalidRequest, "must not contain '/'"},
		{"PUT", "/buckets/b-1", `{"versioning":true}`, 400, admin.CodeInvalidRequest, `unknown field "versioning"`},
		{"PUT", "/buckets/b-1", `{} x`, 400, admin.CodeInvalidRequest, "after the JSON object"},
		{"PUT", "/tables/t/items/k", ``, 400, admin.CodeInvalidRequest, "body is empty"},
		{"PUT", "/tables/t/items/k", `{value: 1}`, 400, admin.CodeInvalidRequest, "put item request"},
		{"PUT", "/tables/t/items/k", `{"value":1`, 400, admin.CodeInvalidRequest, "put item request"},
		{"PUT", "/tables/t/items/k", `{"value":[1,}`, 400, admin.CodeInvalidRequest, "put item request"},
		{"PUT", "/tables/t/items/k", `{}`, 400, admin.CodeInvalidRequest, "value is missing"},
		{"PUT", "/tables/t/items/k", `{"value":1,"extra":2}`, 400, admin.CodeInvalidRequest, `unknown field "extra"`},
		{"PUT", "/tables/t/items/k", `{"value":1,"ifAbsent":true,"ifRevision":3}`, 400, admin.CodeInvalidRequest, "not both"},
		{"PUT", "/tables/t/items/k", `{"value":1,"ifRevision":-1}`, 400, admin.CodeInvalidRequest, "put item request"},
		{"PUT", "/tables/t/items/k", `{"value":1,"ttlSeconds":-5}`, 400, admin.CodeInvalidRequest, "ttlSeconds -5"},
		{"PUT", "/tables/t/items/k", `{"value":1,"ttlSeconds":999999999999}`, 400, admin.CodeInvalidRequest, "ttlSeconds 999999999999"},
		{"PUT", "/tables/t/items/k", `{"value":"` + strings.Repeat("x", admin.MaxItemRequestBytes) + `"}`, 413, admin.CodeTooLarge, "byte limit"},
		{"PUT", "/tables/t/items/", `{"value":1}`, 400, admin.CodeInvalidRequest, "item key: must not be empty"},
		{"PUT", "/tables/t/items/" + longKey, `{"value":1}`, 400, admin.CodeInvalidRequest, "over the limit of 1024"},
		{"PUT", "/tables/t/items/a%09b", `{"value":1}`, 400, admin.CodeInvalidRequest, "control characters"},
		{"PUT", "/tables/t/items/%FF", `{"value":1}`, 400, admin.CodeInvalidRequest, "UTF-8"},
		{"GET", "/tables/t/items/", ``, 400, admin.CodeInvalidRequest, "must not be empty"},
		{"DELETE", "/tables/t/items/k?ifRevision=0", ``, 400, admin.CodeInvalidRequest, `ifRevision "0"`},
		{"DELETE", "/tables/t/items/k?ifRevision=-1", ``, 400, admin.CodeInvalidRequest, `ifRevision "-1"`},
		{"DELETE", "/tables/t/items/k?ifRevision=x", ``, 400, admin.CodeInvalidRequest, `ifRevision "x"`},
		{"DELETE", "/tables/t/items/k?ifRev=1", ``, 400, admin.CodeInvalidRequest, `unknown query parameter "ifRev"`},
		{"DELETE", "/tables/t/items/k?ifRevision=1&ifRevision=2", ``, 400, admin.CodeInvalidRequest, "given 2 times"},
		{"GET", "/tables/t/items?limit=0", ``, 400, admin.CodeInvalidRequest, "from 1 to 1000"},
		{"GET", "/tables/t/items?limit=1001", ``, 400, admin.CodeInvalidRequest, "from 1 to 1000"},
		{"GET", "/tables/t/items?limit=ten", ``, 400, admin.CodeInvalidRequest, `limit "ten"`},
		{"GET", "/tables/t/items?limit=-3", ``, 400, admin.CodeInvalidRequest, `limit "-3"`},
		{"GET", "/tables/t/items?keysOnly=maybe", ``, 400, admin.CodeInvalidRequest, `keysOnly "maybe"`},
		{"GET", "/tables/t/items?prefix=" + longKey, ``, 400, admin.CodeInvalidRequest, "longer than a key"},
		{"GET", "/tables/t/items?startAfter=%FF", ``, 400, admin.CodeInvalidRequest, "UTF-8"},
		{"GET", "/tables/t/items?after=x", ``, 400, admin.CodeInvalidRequest, `unknown query parameter "after"`},
		{"GET", "/tables/t/items?limit=%zz", ``, 400, admin.CodeInvalidRequest, "malformed query"},
		{"DELETE", "/buckets/b-1?force=yes", ``, 400, admin.CodeInvalidRequest, `force "yes"`},
		{"DELETE", "/buckets/b-1?recursive=true", ``, 400, admin.CodeInvalidRequest, `unknown query parameter "recursive"`},
	} {
		t.Run(c.method+" "+c.path[:min(len(c.path), 40)], func(t *testing.T) {
			expectError(t, request(t, h, c.method, c.path, c.body), c.status, c.code, c.msg)
		})
	}
	if len(f.Puts())+len(f.Scans())+len(f.ItemDeletes())+len(f.BucketDeletes()) != 0 {
		t.Fatalf("refused requests reached the service: puts %+v, scans %+v, deletes %+v, bucket deletes %+v",
			f.Puts(), f.Scans(), f.ItemDeletes(), f.BucketDeletes())
	}
}

// TestStorageErrorMapping: the service's sentinels reach the client as
// their status and code, whatever wraps them, on every route.
func TestStorageErrorMapping(t *testing.T) {
	f := admintest.NewStorage()
	h := admin.NewHandler(f, token)
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{admin.ErrTableNotFound, 404, admin.CodeTableNotFound},
		{admin.ErrItemNotFound, 404, admin.CodeItemNotFound},
		{admin.ErrBucketNotFound, 404, admin.CodeBucketNotFound},
		{admin.ErrBucketNotEmpty, 409, admin.CodeBucketNotEmpty},
		{admin.ErrCondition, 409, admin.CodeConditionFailed},
		{admin.ErrItemTooLarge, 413, admin.CodeItemTooLarge},
		{admin.ErrInvalid, 400, admin.CodeInvalidRequest},
		{errors.New("stream unavailable"), 500, admin.CodeInternal},
	} {
		f.SetErr(fmt.Errorf("doing it: %w", c.err))
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/tables", ""},
			{"GET", "/tables/t", ""},
			{"PUT", "/tables/t", ""},
			{"DELETE", "/tables/t", ""},
			{"GET", "/tables/t/items", ""},
			{"GET", "/tables/t/items/a/b", ""},
			{"PUT", "/tables/t/items/a/b", `{"value":1}`},
			{"DELETE", "/tables/t/items/a/b?ifRevision=3", ""},
			{"GET", "/buckets", ""},
			{"GET", "/buckets/b", ""},
			{"PUT", "/buckets/b", ""},
			{"DELETE", "/buckets/b?force=true", ""},
		} {
			rec := request(t, h, r.method, r.path, r.body)
			var eb admin.ErrorBody
			if rec.Code != c.status || json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Code != c.code || !strings.Contains(eb.Message, "doing it") {
				t.Errorf("%v: %s %s answered %d %s, want %d %s", c.err, r.method, r.path, rec.Code, rec.Body, c.status, c.code)
			}
		}
	}
}

// FuzzStorageRequests: whatever the body, query and key of a tables or
// buckets request, the handler answers (never panics), refuses with a 4xx
// error body, or hands the service a request within the documented limits.
func FuzzStorageRequests(f *testing.F) {
	endpoints := []struct{ method, path string }{
		{"PUT", "/tables/t/items/"},
		{"GET", "/tables/t/items/"},
		{"DELETE", "/tables/t/items/"},
		{"GET", "/tables/t/items"},
		{"PUT", "/tables/t"},
		{"PUT", "/buckets/b-1"},
		{"DELETE", "/buckets/b-1"},
	}
	for i, s := range []struct{ key, query, body string }{
		{"o-1", "", `{"value":{"a":1},"ifRevision":2,"ttlSeconds":60}`},
		{"a/b", "", ``},
		{"a%2Fb", "ifRevision=3", ``},
		{"", "prefix=a%2F&startAfter=a%2F1&limit=10&keysOnly=true", ``},
		{"", "", `{}`},
		{"", "", ``},
		{"", "force=true", ``},
	} {
		f.Add(uint8(i), s.key, s.query, []byte(s.body))
	}
	f.Add(uint8(0), "k", "", []byte(`{"value":null,"ifAbsent":true}`))
	f.Add(uint8(0), "%2E%2E", "", []byte(`{"value":1,"ttlSeconds":1e30}`))
	f.Add(uint8(3), "", "limit=1e3&limit=2", []byte(nil))
	f.Fuzz(func(t *testing.T, which uint8, key, query string, body []byte) {
		node := admintest.NewStorage()
		ctx := context.Background()
		_, _ = node.PutTable(ctx, "t")
		node.AddBucket(admin.BucketInfo{Name: "b-1", Objects: 1})
		h := admin.NewHandler(node, token)
		ep := endpoints[int(which)%len(endpoints)]
		target := admin.Prefix + ep.path
		if strings.HasSuffix(ep.path, "/") {
			target += key
		}
		if query != "" {
			target += "?" + query
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Path == "" || strings.ContainsAny(target, " \t\r\n#") {
			return // not a request line a client could send
		}
		req := httptest.NewRequest(ep.method, target, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %s: %d %s", ep.method, target, rec.Code, rec.Body)
		case rec.Code >= 400:
			var eb admin.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Code == "" || eb.Message == "" {
				t.Fatalf("%s %s: error %d without an error body: %s", ep.method, target, rec.Code, rec.Body)
			}
		}
		for _, p := range node.Puts() {
			r := p.Request
			if admin.CheckItemKey(p.Key) != nil || len(r.Value) == 0 || !json.Valid(r.Value) || r.IfAbsent && r.IfRevision != 0 ||
				r.TTLSeconds < 0 || r.TTLSeconds > admin.MaxItemTTLSeconds {
				t.Fatalf("put out of bounds reached the service: %q %+v", p.Key, r)
			}
		}
		for _, d := range node.ItemDeletes() {
			if admin.CheckItemKey(d.Key) != nil {
				t.Fatalf("delete of key %q reached the service", d.Key)
			}
		}
		for _, s := range node.Scans() {
			if s.Limit < 0 || s.Limit > admin.MaxScanLimit || len(s.Prefix) > admin.MaxItemKeyBytes || len(s.StartAfter) > admin.MaxItemKeyBytes {
				t.Fatalf("scan out of bounds reached the service: %+v", s)
			}
		}
	})
}
