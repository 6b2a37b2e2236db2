package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/bus/bustest"
	"github.com/nats-io/nats.go/jetstream"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newStore starts a bus in a temp dir and returns a Store on it with the
// table "t" created.
func newStore(t *testing.T, cfg Config) (*Store, context.Context) {
	t.Helper()
	ctx := testContext(t)
	s := Open(bustest.Start(t).JetStream(), cfg)
	if _, err := s.CreateTable(ctx, "t"); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return s, ctx
}

func mustPut(t *testing.T, s *Store, ctx context.Context, table, key, value string, opt PutOptions) uint64 {
	t.Helper()
	rev, err := s.Put(ctx, table, key, []byte(value), opt)
	if err != nil {
		t.Fatalf("Put %s/%s: %v", table, key, err)
	}
	return rev
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTables(t *testing.T) {
	ctx := testContext(t)
	b := bustest.Start(t)
	s := Open(b.JetStream(), Config{})

	// Other KV buckets of the node are not tables.
	if _, err := bus.EnsureKeyValue(ctx, b.JetStream(), jetstreamKV("registry")); err != nil {
		t.Fatal(err)
	}
	if ts, err := s.Tables(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("Tables on a new node = %v, %v; want none", ts, err)
	}
	for _, name := range []string{"orders", "Users", "a-1_b"} {
		created, err := s.CreateTable(ctx, name)
		if err != nil || !created {
			t.Fatalf("CreateTable(%s) = %v, %v; want created", name, created, err)
		}
	}
	created, err := s.CreateTable(ctx, "orders")
	if err != nil || created {
		t.Fatalf("second CreateTable(orders) = %v, %v; want existing", created, err)
	}
	ts, err := s.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range ts {
		names = append(names, ti.Name)
		if ti.CreatedAt.IsZero() {
			t.Errorf("table %s has no creation time", ti.Name)
		}
	}
	if want := []string{"Users", "a-1_b", "orders"}; !slices.Equal(names, want) {
		t.Fatalf("Tables = %v, want %v", names, want)
	}

	mustPut(t, s, ctx, "orders", "o1", `{"n":1}`, PutOptions{})
	mustPut(t, s, ctx, "orders", "o2", `{"n":2}`, PutOptions{})
	ti, err := s.Table(ctx, "orders")
	if err != nil || ti.Name != "orders" || ti.Items != 2 || ti.Bytes <= 0 {
		t.Fatalf("Table(orders) = %+v, %v; want 2 items", ti, err)
	}

	if err := s.DeleteTable(ctx, "orders"); err != nil {
		t.Fatalf("DeleteTable: %v", err)
	}
	if err := s.DeleteTable(ctx, "orders"); !errors.Is(err, ErrNoTable) {
		t.Fatalf("DeleteTable again = %v, want ErrNoTable", err)
	}
	if _, err := s.Table(ctx, "orders"); !errors.Is(err, ErrNoTable) {
		t.Fatalf("Table after delete = %v, want ErrNoTable", err)
	}
	// The handle cached by the puts above must not hide the deletion.
	if _, err := s.Get(ctx, "orders", "o1"); !errors.Is(err, ErrNoTable) {
		t.Fatalf("Get after delete = %v, want ErrNoTable", err)
	}
	// A second Store (another node) had cached the table; it finds out.
	other := Open(b.JetStream(), Config{})
	if _, err := other.Get(ctx, "Users", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on Users = %v, want ErrNotFound", err)
	}
	if err := s.DeleteTable(ctx, "Users"); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Get":    func() error { _, err := other.Get(ctx, "Users", "x"); return err },
		"Put":    func() error { _, err := other.Put(ctx, "Users", "x", []byte("1"), PutOptions{}); return err },
		"Delete": func() error { return other.Delete(ctx, "Users", "x", 0) },
		"List":   func() error { _, err := other.List(ctx, "Users", ListOptions{}); return err },
	} {
		if err := call(); !errors.Is(err, ErrNoTable) {
			t.Errorf("%s on a table deleted by another store = %v, want ErrNoTable", name, err)
		}
	}
	if ts, _ := s.Tables(ctx); len(ts) != 1 || ts[0].Name != "a-1_b" {
		t.Fatalf("Tables after deletes = %+v", ts)
	}
}

func TestErrors(t *testing.T) {
	s, ctx := newStore(t, Config{})
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"create bad table", func() error { _, err := s.CreateTable(ctx, "bad.name"); return err }(), ErrInvalid},
		{"get missing table", func() error { _, err := s.Get(ctx, "nope", "k"); return err }(), ErrNoTable},
		{"put missing table", func() error { _, err := s.Put(ctx, "nope", "k", []byte("1"), PutOptions{}); return err }(), ErrNoTable},
		{"list missing table", func() error { _, err := s.List(ctx, "nope", ListOptions{}); return err }(), ErrNoTable},
		{"delete missing table", func() error { return s.Delete(ctx, "nope", "k", 0) }(), ErrNoTable},
		{"get missing item", func() error { _, err := s.Get(ctx, "t", "k"); return err }(), ErrNotFound},
		{"get bad table", func() error { _, err := s.Get(ctx, "-x", "k"); return err }(), ErrInvalid},
		{"empty key", func() error { _, err := s.Put(ctx, "t", "", []byte("1"), PutOptions{}); return err }(), ErrInvalid},
		{"control key", func() error { _, err := s.Put(ctx, "t", "a\x01", []byte("1"), PutOptions{}); return err }(), ErrInvalid},
		{"long key", func() error {
			_, err := s.Put(ctx, "t", strings.Repeat("k", MaxKeyBytes+1), []byte("1"), PutOptions{})
			return err
		}(), ErrInvalid},
		{"not json", func() error { _, err := s.Put(ctx, "t", "k", []byte("{nope"), PutOptions{}); return err }(), ErrInvalid},
		{"empty value", func() error { _, err := s.Put(ctx, "t", "k", nil, PutOptions{}); return err }(), ErrInvalid},
		{"too large", func() error {
			_, err := s.Put(ctx, "t", "k", []byte(`"`+strings.Repeat("x", MaxValueBytes)+`"`), PutOptions{})
			return err
		}(), ErrTooLarge},
		{"both conditions", func() error {
			_, err := s.Put(ctx, "t", "k", []byte("1"), PutOptions{IfAbsent: true, IfRevision: 3})
			return err
		}(), ErrInvalid},
		{"negative ttl", func() error { _, err := s.Put(ctx, "t", "k", []byte("1"), PutOptions{TTL: -time.Second}); return err }(), ErrInvalid},
		{"negative limit", func() error { _, err := s.List(ctx, "t", ListOptions{Limit: -1}); return err }(), ErrInvalid},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, c.err, c.want)
		}
	}
	// The largest value fits.
	big := `"` + strings.Repeat("x", MaxValueBytes-2) + `"`
	rev := mustPut(t, s, ctx, "t", "big", big, PutOptions{})
	it, err := s.Get(ctx, "t", "big")
	if err != nil || len(it.Value) != MaxValueBytes || it.Revision != rev {
		t.Fatalf("Get big = %d bytes rev %d, %v", len(it.Value), it.Revision, err)
	}
}

func TestRoundTrip(t *testing.T) {
	s, ctx := newStore(t, Config{})
	keys := []string{
		"plain", "a.b.c", "a..b", ".", "..", "*", ">", "a b", "=", "=41", "x=2E",
		"한국어/키", "émoji 🙂", "path/to/file.json", "$KV.x.y", strings.Repeat("é", MaxKeyBytes/2),
	}
	before := time.Now().Add(-time.Minute)
	for i, k := range keys {
		v := fmt.Sprintf(`{"i":%d,"key":%q}`, i, k)
		rev := mustPut(t, s, ctx, "t", k, v, PutOptions{})
		it, err := s.Get(ctx, "t", k)
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		if it.Key != k || string(it.Value) != v || it.Revision != rev || !it.Expires.IsZero() || it.Modified.Before(before) {
			t.Fatalf("Get(%q) = %+v; want value %s rev %d", k, it, v, rev)
		}
	}
	// Listing gives every key back, decoded and in byte order.
	p, err := s.List(ctx, "t", ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range p.Items {
		got = append(got, it.Key)
	}
	want := slices.Clone(keys)
	sort.Strings(want)
	if !slices.Equal(got, want) || p.Next != "" {
		t.Fatalf("List keys = %q (next %q), want %q", got, p.Next, want)
	}

	// Overwrite, then delete.
	r1 := mustPut(t, s, ctx, "t", "plain", `[1,2]`, PutOptions{})
	r2 := mustPut(t, s, ctx, "t", "plain", `[3]`, PutOptions{})
	if r2 <= r1 {
		t.Fatalf("revisions %d then %d do not grow", r1, r2)
	}
	if it, _ := s.Get(ctx, "t", "plain"); string(it.Value) != `[3]` || it.Revision != r2 {
		t.Fatalf("after overwrite Get = %+v", it)
	}
	if err := s.Delete(ctx, "t", "plain", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "t", "plain"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "t", "never-there", 0); err != nil {
		t.Fatalf("Delete of a missing key = %v, want nil", err)
	}
	if err := s.Delete(ctx, "t", "never-there", 7); !errors.Is(err, ErrConflict) {
		t.Fatalf("Delete of a missing key with a revision = %v, want ErrConflict", err)
	}
	p, err = s.List(ctx, "t", ListOptions{Prefix: "plain"})
	if err != nil || len(p.Items) != 0 {
		t.Fatalf("List of a deleted key = %+v, %v", p, err)
	}
}

func TestListPaging(t *testing.T) {
	s, ctx := newStore(t, Config{})
	var want []string
	for i := range 250 {
		k := fmt.Sprintf("user/%03d", i)
		if i%10 == 0 {
			k += ".json" // an escaped byte, so encoded order differs
		}
		mustPut(t, s, ctx, "t", k, fmt.Sprintf(`{"i":%d}`, i), PutOptions{})
		want = append(want, k)
	}
	for i := range 40 {
		mustPut(t, s, ctx, "t", fmt.Sprintf("order/%d", i), `1`, PutOptions{})
	}
	mustPut(t, s, ctx, "t", "user", `"no slash"`, PutOptions{}) // not under "user/"
	mustPut(t, s, ctx, "t", "user/999", `"gone"`, PutOptions{})
	if err := s.Delete(ctx, "t", "user/999", 0); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)

	for _, keysOnly := range []bool{false, true} {
		var got []string
		next, pages := "", 0
		for {
			p, err := s.List(ctx, "t", ListOptions{Prefix: "user/", StartAfter: next, Limit: 32, KeysOnly: keysOnly})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(p.Items) > 32 {
				t.Fatalf("page of %d items over the limit", len(p.Items))
			}
			for _, it := range p.Items {
				got = append(got, it.Key)
				if keysOnly != (it.Value == nil) {
					t.Fatalf("keysOnly %v: item %q value %s", keysOnly, it.Key, it.Value)
				}
				if it.Revision == 0 || it.Modified.IsZero() {
					t.Fatalf("item %+v lacks revision or time", it)
				}
				if !keysOnly {
					var v struct{ I int }
					if err := json.Unmarshal(it.Value, &v); err != nil || fmt.Sprintf("%03d", v.I) != it.Key[5:8] {
						t.Fatalf("item %q has value %s", it.Key, it.Value)
					}
				}
			}
			if p.Next == "" {
				break
			}
			if p.Next != p.Items[len(p.Items)-1].Key {
				t.Fatalf("Next %q is not the page's last key", p.Next)
			}
			next = p.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("keysOnly %v: paged keys (%d) = %q\nwant (%d) %q", keysOnly, len(got), got, len(want), want)
		}
		if pages != 8 { // 250 keys in pages of 32
			t.Fatalf("keysOnly %v: %d pages, want 8", keysOnly, pages)
		}
	}

	// Default limit, and a limit over the maximum is the maximum.
	p, err := s.List(ctx, "t", ListOptions{})
	if err != nil || len(p.Items) != DefaultListLimit || p.Next == "" {
		t.Fatalf("default List = %d items next %q, %v", len(p.Items), p.Next, err)
	}
	p, err = s.List(ctx, "t", ListOptions{Limit: 5000, KeysOnly: true})
	if err != nil || len(p.Items) != 250+40+1 || p.Next != "" {
		t.Fatalf("List limit 5000 = %d items next %q, %v", len(p.Items), p.Next, err)
	}
	// A limit that ends exactly at the last key gives no Next.
	p, err = s.List(ctx, "t", ListOptions{Prefix: "order/", Limit: 40, KeysOnly: true})
	if err != nil || len(p.Items) != 40 || p.Next != "" {
		t.Fatalf("List exact = %d items next %q, %v", len(p.Items), p.Next, err)
	}
	p, err = s.List(ctx, "t", ListOptions{Prefix: "nothing"})
	if err != nil || len(p.Items) != 0 || p.Items == nil || p.Next != "" {
		t.Fatalf("List of no match = %+v, %v", p, err)
	}
	// An empty table lists quickly as empty.
	if _, err := s.CreateTable(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	p, err = s.List(ctx, "empty", ListOptions{})
	if err != nil || len(p.Items) != 0 || p.Next != "" {
		t.Fatalf("List of an empty table = %+v, %v", p, err)
	}
}

func TestConditions(t *testing.T) {
	s, ctx := newStore(t, Config{})
	r1, err := s.Put(ctx, "t", "k", []byte(`1`), PutOptions{IfAbsent: true})
	if err != nil {
		t.Fatalf("IfAbsent on a new key: %v", err)
	}
	if _, err := s.Put(ctx, "t", "k", []byte(`2`), PutOptions{IfAbsent: true}); !errors.Is(err, ErrConflict) {
		t.Fatalf("IfAbsent on an existing key = %v, want ErrConflict", err)
	}
	r2, err := s.Put(ctx, "t", "k", []byte(`2`), PutOptions{IfRevision: r1})
	if err != nil {
		t.Fatalf("IfRevision with the current revision: %v", err)
	}
	if _, err := s.Put(ctx, "t", "k", []byte(`3`), PutOptions{IfRevision: r1}); !errors.Is(err, ErrConflict) {
		t.Fatalf("IfRevision with an old revision = %v, want ErrConflict", err)
	}
	// A revision of another key does not do.
	other := mustPut(t, s, ctx, "t", "other", `0`, PutOptions{})
	if _, err := s.Put(ctx, "t", "k", []byte(`3`), PutOptions{IfRevision: other}); !errors.Is(err, ErrConflict) {
		t.Fatalf("IfRevision with another key's revision = %v, want ErrConflict", err)
	}
	if _, err := s.Put(ctx, "t", "k", []byte(`3`), PutOptions{IfRevision: 1 << 40}); !errors.Is(err, ErrConflict) {
		t.Fatalf("IfRevision with an unknown revision = %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, "t", "k", r1); !errors.Is(err, ErrConflict) {
		t.Fatalf("Delete with an old revision = %v, want ErrConflict", err)
	}
	if it, _ := s.Get(ctx, "t", "k"); string(it.Value) != `2` {
		t.Fatalf("failed conditions changed the item: %s", it.Value)
	}
	if err := s.Delete(ctx, "t", "k", r2); err != nil {
		t.Fatalf("Delete with the current revision: %v", err)
	}
	// After a delete the key is absent: IfRevision fails, IfAbsent works.
	if _, err := s.Put(ctx, "t", "k", []byte(`4`), PutOptions{IfRevision: r2}); !errors.Is(err, ErrConflict) {
		t.Fatalf("IfRevision after delete = %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, "t", "k", r2); !errors.Is(err, ErrConflict) {
		t.Fatalf("Delete with a revision after delete = %v, want ErrConflict", err)
	}
	r5, err := s.Put(ctx, "t", "k", []byte(`5`), PutOptions{IfAbsent: true})
	if err != nil {
		t.Fatalf("IfAbsent after delete: %v", err)
	}
	if it, _ := s.Get(ctx, "t", "k"); string(it.Value) != `5` || it.Revision != r5 {
		t.Fatalf("after IfAbsent Get = %+v", it)
	}
}

func TestConcurrentConditions(t *testing.T) {
	s, ctx := newStore(t, Config{})
	const racers = 20
	race := func(put func(i int) error) (wins int) {
		var wg sync.WaitGroup
		errs := make([]error, racers)
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = put(i)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ErrConflict):
				t.Fatalf("racer %d: %v", i, err)
			}
		}
		return wins
	}

	for round := range 5 {
		key := fmt.Sprintf("lock-%d", round)
		if round%2 == 1 { // a deleted key is absent too
			mustPut(t, s, ctx, "t", key, `"old"`, PutOptions{})
			if err := s.Delete(ctx, "t", key, 0); err != nil {
				t.Fatal(err)
			}
		}
		wins := race(func(i int) error {
			_, err := s.Put(ctx, "t", key, []byte(fmt.Sprint(i)), PutOptions{IfAbsent: true, TTL: time.Hour})
			return err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d IfAbsent puts won, want 1", round, wins)
		}
	}

	rev := mustPut(t, s, ctx, "t", "counter", `0`, PutOptions{})
	for round := range 5 {
		var mu sync.Mutex
		var newRev uint64
		wins := race(func(i int) error {
			r, err := s.Put(ctx, "t", "counter", []byte(fmt.Sprint(round+1)), PutOptions{IfRevision: rev})
			if err == nil {
				mu.Lock()
				newRev = r
				mu.Unlock()
			}
			return err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d IfRevision puts won, want 1", round, wins)
		}
		rev = newRev
	}
	if it, _ := s.Get(ctx, "t", "counter"); string(it.Value) != "5" || it.Revision != rev {
		t.Fatalf("counter = %+v, want 5 at revision %d", it, rev)
	}
}

func TestTTL(t *testing.T) {
	s, ctx := newStore(t, Config{})
	start := time.Now()
	rev := mustPut(t, s, ctx, "t", "short", `"bye"`, PutOptions{TTL: time.Second})
	mustPut(t, s, ctx, "t", "long", `"stay"`, PutOptions{TTL: time.Hour})
	mustPut(t, s, ctx, "t", "forever", `"stay"`, PutOptions{})
	if _, err := s.Put(ctx, "t", "lease", []byte(`"a"`), PutOptions{IfAbsent: true, TTL: 1500 * time.Millisecond}); err != nil {
		t.Fatalf("IfAbsent with TTL: %v", err)
	}
	it, err := s.Get(ctx, "t", "short")
	if err != nil {
		// The item may only be gone if its second has passed.
		if time.Since(start) < time.Second {
			t.Fatalf("Get right after put: %v", err)
		}
	} else if it.Revision != rev || it.Expires.Before(start.Add(time.Second)) || it.Expires.After(time.Now().Add(time.Second)) {
		t.Fatalf("Get = %+v; want expiry about a second away", it)
	}
	// The lease is held: a second IfAbsent fails until it expires.
	if time.Since(start) < time.Second {
		if _, err := s.Put(ctx, "t", "lease", []byte(`"b"`), PutOptions{IfAbsent: true, TTL: time.Minute}); !errors.Is(err, ErrConflict) {
			t.Fatalf("IfAbsent on a held lease = %v, want ErrConflict", err)
		}
	}
	eventually(t, "short to expire", func() bool {
		_, err := s.Get(ctx, "t", "short")
		return errors.Is(err, ErrNotFound)
	})
	eventually(t, "the lease to be free", func() bool {
		_, err := s.Put(ctx, "t", "lease", []byte(`"b"`), PutOptions{IfAbsent: true, TTL: time.Minute})
		return err == nil
	})
	if it, err := s.Get(ctx, "t", "lease"); err != nil || string(it.Value) != `"b"` {
		t.Fatalf("lease after takeover = %+v, %v", it, err)
	}
	p, err := s.List(ctx, "t", ListOptions{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range p.Items {
		keys = append(keys, it.Key)
		if it.Key == "long" && it.Expires.IsZero() {
			t.Errorf("listed item %q lost its expiry", it.Key)
		}
	}
	if want := []string{"forever", "lease", "long"}; !slices.Equal(keys, want) {
		t.Fatalf("List after expiry = %v, want %v", keys, want)
	}
	// The server drops the expired item too (not only hidden by the expiry
	// check): its last message becomes a marker or goes.
	st, err := s.stream(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the server to drop the expired item", func() bool {
		m, err := st.GetLastMsgForSubject(ctx, subjectPrefix("t")+"short")
		return errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && !parseState(m.Header, time.Time{}).live
	})
	// A put without TTL makes an item permanent.
	mustPut(t, s, ctx, "t", "long", `"now forever"`, PutOptions{})
	if it, _ := s.Get(ctx, "t", "long"); !it.Expires.IsZero() {
		t.Fatalf("overwritten item kept its expiry %v", it.Expires)
	}
}

// TestExpiryClock checks that an item past its expiry is absent before the
// server removes it, using a clock that runs ahead.
func TestExpiryClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s, ctx := newStore(t, Config{Now: clock})

	rev := mustPut(t, s, ctx, "t", "k", `1`, PutOptions{TTL: time.Hour})
	mustPut(t, s, ctx, "t", "keep", `1`, PutOptions{})
	if it, err := s.Get(ctx, "t", "k"); err != nil || !it.Expires.Equal(clock().Add(time.Hour)) {
		t.Fatalf("Get = %+v, %v", it, err)
	}
	advance(time.Hour)
	if _, err := s.Get(ctx, "t", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get past expiry = %v, want ErrNotFound", err)
	}
	if p, _ := s.List(ctx, "t", ListOptions{}); len(p.Items) != 1 || p.Items[0].Key != "keep" {
		t.Fatalf("List past expiry = %+v", p.Items)
	}
	if p, _ := s.List(ctx, "t", ListOptions{KeysOnly: true}); len(p.Items) != 1 || p.Items[0].Key != "keep" {
		t.Fatalf("keys-only List past expiry = %+v", p.Items)
	}
	if _, err := s.Put(ctx, "t", "k", []byte(`2`), PutOptions{IfRevision: rev}); !errors.Is(err, ErrConflict) {
		t.Fatalf("IfRevision on an expired item = %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, "t", "k", rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("Delete with the revision of an expired item = %v, want ErrConflict", err)
	}
	r2, err := s.Put(ctx, "t", "k", []byte(`2`), PutOptions{IfAbsent: true, TTL: time.Hour})
	if err != nil {
		t.Fatalf("IfAbsent on an expired item: %v", err)
	}
	// Renewing a lease: IfRevision with a TTL moves the expiry.
	advance(30 * time.Minute)
	r3, err := s.Put(ctx, "t", "k", []byte(`3`), PutOptions{IfRevision: r2, TTL: time.Hour})
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	it, err := s.Get(ctx, "t", "k")
	if err != nil || it.Revision != r3 || !it.Expires.Equal(clock().Add(time.Hour)) {
		t.Fatalf("after renew Get = %+v, %v", it, err)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)
	b, err := bus.Start(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := Open(b.JetStream(), Config{})
	if _, err := s.CreateTable(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	rev := mustPut(t, s, ctx, "keep", "a.b", `{"x":1}`, PutOptions{})
	mustPut(t, s, ctx, "keep", "ttl", `2`, PutOptions{TTL: time.Hour})
	mustPut(t, s, ctx, "keep", "gone", `3`, PutOptions{})
	if err := s.Delete(ctx, "keep", "gone", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	b2 := bustest.StartIn(t, dir)
	s2 := Open(b2.JetStream(), Config{})
	ts, err := s2.Tables(ctx)
	if err != nil || len(ts) != 1 || ts[0].Name != "keep" {
		t.Fatalf("Tables after restart = %+v, %v", ts, err)
	}
	it, err := s2.Get(ctx, "keep", "a.b")
	if err != nil || string(it.Value) != `{"x":1}` || it.Revision != rev {
		t.Fatalf("Get after restart = %+v, %v", it, err)
	}
	if it, err := s2.Get(ctx, "keep", "ttl"); err != nil || it.Expires.IsZero() {
		t.Fatalf("TTL item after restart = %+v, %v", it, err)
	}
	if _, err := s2.Get(ctx, "keep", "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted item after restart = %v", err)
	}
	if _, err := s2.Put(ctx, "keep", "a.b", []byte(`5`), PutOptions{IfRevision: rev}); err != nil {
		t.Fatalf("IfRevision after restart: %v", err)
	}
	if created, err := s2.CreateTable(ctx, "keep"); err != nil || created {
		t.Fatalf("CreateTable after restart = %v, %v", created, err)
	}
}

func jetstreamKV(bucket string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: bucket}
}
