package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/admin/admintest"
	"github.com/gureum/gureum/internal/apiclient"
)

func TestTableCommands(t *testing.T) {
	f := admintest.NewStorage()
	g := serve(t, f)

	contains(t, "empty ls", g.ok("table", "ls"), "no tables; create one with 'gureum table create NAME'")
	contains(t, "create", g.ok("table", "create", "orders"), "created table orders")
	contains(t, "create again", g.ok("table", "create", "orders"), "table orders exists (0 items)")
	var info admin.TableInfo
	if err := json.Unmarshal([]byte(g.ok("table", "create", "orders", "-o", "json")), &info); err != nil || info.Name != "orders" {
		t.Fatalf("create -o json: %+v %v", info, err)
	}
	g.fails(1, "table name", "table", "create", "no.dots")
	g.fails(1, `-o "yaml": want text or json`, "table", "create", "orders", "-o", "yaml")

	// Put: the value as an argument, from standard input, from a file; the
	// new revision is printed.
	rev1 := strings.TrimSpace(g.ok("table", "put", "orders", "o-1", `{"total": 5, "state": "paid"}`))
	if rev1 != "1" {
		t.Fatalf("first put printed %q, want revision 1", rev1)
	}
	if p := f.Puts()[0]; p.Key != "o-1" || string(p.Request.Value) != `{"total":5,"state":"paid"}` || p.Request.IfAbsent || p.Request.IfRevision != 0 || p.Request.TTLSeconds != 0 {
		t.Fatalf("service got put %+v (value %s)", p, p.Request.Value)
	}
	if r := g.runStdin("[1, 2, 3]\n", "table", "put", "orders", "2025/03/o-2", "-"); r.code != 0 || strings.TrimSpace(r.stdout) != "2" {
		t.Fatalf("put -: %+v", r)
	}
	if err := os.WriteFile(filepath.Join(g.dir, "v.json"), []byte(`"from a file"`), 0o644); err != nil {
		t.Fatal(err)
	}
	var pr admin.PutItemResponse
	if err := json.Unmarshal([]byte(g.ok("table", "put", "orders", "o-3", "--file", "v.json", "--ttl", "1h", "--if-absent", "-o", "json")), &pr); err != nil || pr.Revision != 3 {
		t.Fatalf("put --file -o json: %+v %v", pr, err)
	}
	if p := f.Puts()[2].Request; string(p.Value) != `"from a file"` || p.TTLSeconds != 3600 || !p.IfAbsent {
		t.Fatalf("service got put %+v", p)
	}
	n := len(f.Puts())
	g.fails(1, "the value is not JSON", "table", "put", "orders", "o-4", "plain text")
	g.fails(1, "no value: give it as an argument", "table", "put", "orders", "o-4")
	g.fails(1, "not both", "table", "put", "orders", "o-4", "1", "--file", "v.json")
	g.fails(1, "not both", "table", "put", "orders", "o-4", "1", "--if-absent", "--if-revision", "2")
	g.fails(1, "--if-revision 0", "table", "put", "orders", "o-4", "1", "--if-revision", "0")
	g.fails(1, "--ttl 1.5s: want whole seconds", "table", "put", "orders", "o-4", "1", "--ttl", "1500ms")
	g.fails(1, "no such file", "table", "put", "orders", "o-4", "--file", "missing.json")
	if len(f.Puts()) != n {
		t.Fatalf("refused puts reached the node: %+v", f.Puts()[n:])
	}

	// Conditions that fail say how to see the item's revision.
	r := g.fails(1, "ConditionFailed", "table", "put", "orders", "o-1", "2", "--if-absent")
	contains(t, "put --if-absent on an existing key", r.stderr, "exists", "'gureum table get orders o-1 -o json'")
	g.fails(1, "ConditionFailed", "table", "put", "orders", "o-1", "2", "--if-revision", "9")
	contains(t, "put --if-revision", g.ok("table", "put", "orders", "o-1", `{"total": 6}`, "--if-revision", "1"), "4")
	g.fails(1, "ItemTooLarge", "table", "put", "orders", "big", `"`+strings.Repeat("x", admintest.MaxValueBytes)+`"`)

	// Get prints the value; -o json the item.
	if got := g.ok("table", "get", "orders", "o-1"); got != "{\"total\":6}\n" {
		t.Fatalf("get printed %q", got)
	}
	if got := g.ok("table", "get", "orders", "2025/03/o-2"); got != "[1,2,3]\n" {
		t.Fatalf("get of a key with '/' printed %q", got)
	}
	var it admin.Item
	if err := json.Unmarshal([]byte(g.ok("table", "get", "orders", "o-3", "-o", "json")), &it); err != nil ||
		it.Key != "o-3" || it.Revision != 3 || it.Expires == nil || string(it.Value) != `"from a file"` {
		t.Fatalf("get -o json: %+v %v", it, err)
	}
	r = g.fails(1, "ItemNotFound", "table", "get", "orders", "o-404")
	contains(t, "get of a missing key", r.stderr, `get "o-404" from orders`, "'gureum table scan orders --keys'")
	r = g.fails(1, "TableNotFound", "table", "get", "nope", "o-1")
	contains(t, "get from a missing table", r.stderr, "see 'gureum table ls'")

	// ls shows counts, sizes and the owning app.
	f.AddTable(admin.TableInfo{Name: "carts", App: "shop", CreatedAt: time.Now().Add(-time.Hour)})
	out := g.ok("table", "ls")
	contains(t, "ls", out, "NAME", "ITEMS", "BYTES", "APP", "CREATED", "(1h ago)")
	if !regexp.MustCompile(`(?m)^carts\s+0\s+0\s+shop\s`).MatchString(out) || !regexp.MustCompile(`(?m)^orders\s+3\s+\d+\s+-\s`).MatchString(out) {
		t.Fatalf("ls rows:\n%s", out)
	}
	var ts []admin.TableInfo
	if err := json.Unmarshal([]byte(g.ok("table", "ls", "-o", "json")), &ts); err != nil || len(ts) != 2 || ts[1].Items != 3 {
		t.Fatalf("ls -o json: %+v %v", ts, err)
	}

	// Delete, conditional or not.
	g.fails(1, "ConditionFailed", "table", "delete", "orders", "o-1", "--if-revision", "1")
	contains(t, "delete", g.ok("table", "delete", "orders", "o-1", "--if-revision", "4"), "deleted o-1 from orders")
	contains(t, "delete", g.ok("table", "delete", "orders", "2025/03/o-2"), "deleted 2025/03/o-2 from orders")
	if d := f.ItemDeletes(); len(d) != 3 || d[1] != (admintest.ItemDelete{Table: "orders", Key: "o-1", IfRevision: 4}) || d[2].IfRevision != 0 {
		t.Fatalf("service got deletes %+v", d)
	}
	g.fails(1, "ItemNotFound", "table", "delete", "orders", "o-1")
	g.fails(1, "--if-revision 0", "table", "delete", "orders", "o-3", "--if-revision", "0")

	contains(t, "rm", g.ok("table", "rm", "orders", "carts"), "removed table orders", "removed table carts")
	r = g.fails(1, "TableNotFound", "table", "rm", "orders")
	contains(t, "rm of a missing table", r.stderr, "remove table orders", "see 'gureum table ls'")
	g.fails(1, "accepts 2 arg(s)", "table", "get", "orders")
}

func TestTableScan(t *testing.T) {
	f := admintest.NewStorage()
	g := serve(t, f)
	ctx := context.Background()
	g.ok("table", "create", "events")
	contains(t, "empty scan", g.ok("table", "scan", "events"), "no items in events")
	const total = 2500
	for i := range total {
		if _, err := f.PutItem(ctx, "events", fmt.Sprintf("e/%04d", i), admin.PutItemRequest{Value: json.RawMessage(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.PutItem(ctx, "events", "z", admin.PutItemRequest{Value: json.RawMessage(`{"note": "last"}`)}); err != nil {
		t.Fatal(err)
	}
	scans := f.Scans
	seen := len(scans())

	// The default is the first 100 items, with a note on stderr that more follow.
	r := g.run("table", "scan", "events")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 101 || !strings.HasPrefix(lines[0], "KEY") || !regexp.MustCompile(`^e/0000\s+1\s+\S.*\s0$`).MatchString(lines[1]) {
		t.Fatalf("scan: exit %d, %d lines, first %q", r.code, len(lines), lines[:2])
	}
	contains(t, "scan stderr", r.stderr, "the first 100 items", "--all")
	if s := scans()[seen:]; len(s) != 1 || s[0].Limit != 100 || s[0].KeysOnly {
		t.Fatalf("scan asked for %+v", s)
	}

	// --all follows the pages to the end.
	seen = len(scans())
	r = g.run("table", "scan", "events", "--all", "--keys")
	keys := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(keys) != total+1 || keys[0] != "e/0000" || keys[total] != "z" || r.stderr != "" {
		t.Fatalf("scan --all --keys: exit %d, %d keys, stderr %q", r.code, len(keys), r.stderr)
	}
	s := scans()[seen:]
	if len(s) != 3 || s[0].StartAfter != "" || s[1].StartAfter != "e/0999" || s[2].StartAfter != "e/1999" || !s[0].KeysOnly || s[2].Limit != admin.MaxScanLimit {
		t.Fatalf("scan --all asked for %+v", s)
	}

	// --limit over a page: two requests, and -o json says where to go on.
	seen = len(scans())
	var page admin.ItemPage
	r = g.run("table", "scan", "events", "--prefix", "e/", "--limit", "1500", "-o", "json")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &page) != nil || len(page.Items) != 1500 || page.Next != "e/1499" || page.Items[1499].Key != "e/1499" {
		t.Fatalf("scan --limit 1500 -o json: exit %d, %d items, next %q", r.code, len(page.Items), page.Next)
	}
	if s := scans()[seen:]; len(s) != 2 || s[0].Limit != 1000 || s[1].Limit != 500 || s[1].StartAfter != "e/0999" || s[1].Prefix != "e/" {
		t.Fatalf("scan --limit 1500 asked for %+v", s)
	}
	page = admin.ItemPage{}
	if err := json.Unmarshal([]byte(g.ok("table", "scan", "events", "--prefix", "z", "-o", "json")), &page); err != nil ||
		len(page.Items) != 1 || page.Next != "" || string(page.Items[0].Value) == "" {
		t.Fatalf("scan --prefix z -o json: %+v %v", page, err)
	}
	contains(t, "scan --prefix z", g.ok("table", "scan", "events", "--prefix", "z"), `{"note":"last"}`)
	contains(t, "scan of an empty prefix", g.ok("table", "scan", "events", "--prefix", "nothing/"), `no items in events with prefix "nothing/"`)

	seen = len(scans())
	g.fails(1, "--limit 0", "table", "scan", "events", "--limit", "0")
	g.fails(1, "--limit or --all, not both", "table", "scan", "events", "--limit", "5", "--all")
	g.fails(1, `-o "wide"`, "table", "scan", "events", "-o", "wide")
	if len(scans()) != seen {
		t.Fatal("refused scans reached the node")
	}
	g.fails(1, "TableNotFound", "table", "scan", "nope")
}

func TestBucketCommands(t *testing.T) {
	f := admintest.NewStorage()
	g := serve(t, f)

	contains(t, "empty ls", g.ok("bucket", "ls"), "no buckets; create one with 'gureum bucket create NAME'")
	contains(t, "create", g.ok("bucket", "create", "uploads"), "created bucket uploads")
	contains(t, "create again", g.ok("bucket", "create", "uploads"), "bucket uploads exists (0 objects)")
	var info admin.BucketInfo
	if err := json.Unmarshal([]byte(g.ok("bucket", "create", "uploads", "-o", "json")), &info); err != nil || info.Name != "uploads" {
		t.Fatalf("create -o json: %+v %v", info, err)
	}
	g.fails(1, "InvalidRequest", "bucket", "create", "Bad_Name")

	f.AddBucket(admin.BucketInfo{Name: "photos", App: "shop", Objects: 3, Bytes: 4096, CreatedAt: time.Now().Add(-48 * time.Hour)})
	out := g.ok("bucket", "ls")
	contains(t, "ls", out, "NAME", "OBJECTS", "BYTES", "APP", "CREATED", "(2d ago)")
	if !regexp.MustCompile(`(?m)^photos\s+3\s+4096\s+shop\s`).MatchString(out) || !regexp.MustCompile(`(?m)^uploads\s+0\s+0\s+-\s`).MatchString(out) {
		t.Fatalf("ls rows:\n%s", out)
	}
	var bs []admin.BucketInfo
	if err := json.Unmarshal([]byte(g.ok("bucket", "ls", "-o", "json")), &bs); err != nil || len(bs) != 2 || bs[0].Objects != 3 {
		t.Fatalf("ls -o json: %+v %v", bs, err)
	}

	r := g.fails(1, "BucketNotEmpty", "bucket", "rm", "photos")
	contains(t, "rm of a bucket with objects", r.stderr, "pass --force")
	contains(t, "rm --force", g.ok("bucket", "rm", "photos", "uploads", "--force"), "removed bucket photos", "removed bucket uploads")
	want := []admintest.BucketDelete{{Bucket: "photos"}, {Bucket: "photos", Force: true}, {Bucket: "uploads", Force: true}}
	if got := f.BucketDeletes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("service got deletes %+v, want %+v", got, want)
	}
	r = g.fails(1, "BucketNotFound", "bucket", "rm", "photos")
	contains(t, "rm of a missing bucket", r.stderr, "see 'gureum bucket ls'")
}

// TestStorageCommandErrors: a node's failures and a node without the
// storage endpoints end a command with exit code 1 and the node's message.
func TestStorageCommandErrors(t *testing.T) {
	f := admintest.NewStorage()
	g := serve(t, f)
	f.SetErr(errors.New("stream unavailable"))
	for _, args := range [][]string{
		{"table", "ls"}, {"table", "create", "t"}, {"table", "get", "t", "k"}, {"table", "put", "t", "k", "1"},
		{"table", "delete", "t", "k"}, {"table", "scan", "t"}, {"table", "rm", "t"},
		{"bucket", "ls"}, {"bucket", "create", "b"}, {"bucket", "rm", "b"},
	} {
		r := g.fails(1, "stream unavailable (Internal)", args...)
		if r.stdout != "" {
			t.Fatalf("gureum %s failed but printed %q", strings.Join(args, " "), r.stdout)
		}
	}

	old := serve(t, admintest.NewEvents())
	old.fails(1, "the node does not serve tables and buckets yet", "table", "ls")
	old.fails(1, "the node does not serve tables and buckets yet", "bucket", "rm", "b")
}

// FuzzItemKeyRoundTrip: whatever an item key holds, the client's path
// brings it to the node unchanged, or the node refuses it as invalid.
func FuzzItemKeyRoundTrip(f *testing.F) {
	for _, k := range []string{"o-1", "a/b", "a//b", "/lead", "trail/", ".", "..", "./x", "a/../b", "%2F", "sp ace", "?q=1#f", "한/글", "a\x00b", ""} {
		f.Add(k)
	}
	node := admintest.NewStorage()
	if _, err := node.PutTable(context.Background(), "t"); err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(admin.NewHandler(node, token))
	f.Cleanup(srv.Close)
	c := apiclient.New(srv.URL, token)
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		_, err := c.PutItem(ctx, "t", key, admin.PutItemRequest{Value: json.RawMessage(`1`)})
		if admin.CheckItemKey(key) != nil {
			if !apiclient.HasCode(err, admin.CodeInvalidRequest) {
				t.Fatalf("put of invalid key %q: %v, want InvalidRequest", key, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
		it, err := c.GetItem(ctx, "t", key)
		if err != nil || it.Key != key {
			t.Fatalf("get %q: %+v %v", key, it, err)
		}
		page, err := c.ScanItems(ctx, "t", admin.ScanRequest{Prefix: key, Limit: 1, KeysOnly: true})
		if err != nil || len(page.Items) != 1 || page.Items[0].Key != key {
			t.Fatalf("scan prefix %q: %+v %v", key, page, err)
		}
		if err := c.DeleteItem(ctx, "t", key, it.Revision); err != nil {
			t.Fatalf("delete %q: %v", key, err)
		}
	})
}
