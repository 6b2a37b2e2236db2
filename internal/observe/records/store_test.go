package records

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
)

func startBus(t testing.TB, dir string) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Start(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	})
	return b
}

func open(t testing.TB, b *bus.Bus, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), b.Conn(), b.JetStream(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func query(t *testing.T, s *Store, q Query) []Record {
	t.Helper()
	recs, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	return recs
}

func ids(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.RequestID
	}
	return out
}

func wantIDs(t *testing.T, what string, recs []Record, want ...string) {
	t.Helper()
	got := ids(recs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestAppendQuery(t *testing.T) {
	b := startBus(t, t.TempDir())
	s := open(t, b, Config{Node: "n1"})
	// Start times are recent: a record is stored soon after it starts, and
	// a Query with Until relies on that (storeLag).
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	at := func(k int) time.Time { return base.Add(time.Duration(k) * time.Second) }
	// Appended out of Start order, as invocations finish out of order.
	in := []Record{
		{RequestID: "a3", Function: "api", Trigger: TriggerHTTP, Start: at(3), Duration: 2 * time.Millisecond, MemoryMiB: 128, Outcome: OutcomeSuccess},
		{RequestID: "a1", Function: "api", Trigger: TriggerHTTP, Start: at(1), Duration: time.Millisecond, MemoryMiB: 128, Outcome: OutcomeSuccess, Cold: true, InitDuration: 3 * time.Millisecond},
		{RequestID: "a2", Function: "api", Trigger: TriggerQueue, Source: "arn:aws:sqs:local:000000000000:orders", Start: at(2), Duration: 10 * time.Millisecond, MemoryMiB: 128, Outcome: OutcomeError, ErrorType: "Runtime.Panic"},
		{RequestID: "a4", Function: "api", Trigger: TriggerHTTP, Start: at(4), MemoryMiB: 128, Outcome: OutcomeThrottled},
		{RequestID: "a5", Function: "api", Trigger: TriggerSchedule, Start: at(5), Duration: time.Second, MemoryMiB: 128, Outcome: OutcomeTimeout},
		{RequestID: "w1", Function: "worker", Trigger: TriggerQueue, Start: at(2), Duration: 4 * time.Millisecond, MemoryMiB: 512, Outcome: OutcomeSuccess, Node: "n2"},
		{RequestID: "old", Function: "api", Trigger: TriggerHTTP, Start: base.Add(-2 * time.Hour), Duration: time.Millisecond, MemoryMiB: 128, Outcome: OutcomeSuccess},
	}
	for _, r := range in {
		s.Append(r)
	}
	s.Flush()
	if st := s.Stats(); st.Appended != uint64(len(in)) || st.Stored != uint64(len(in)) || st.Dropped != 0 {
		t.Fatalf("stats = %+v, want %d appended and stored", st, len(in))
	}

	wantIDs(t, "api, all", query(t, s, Query{Function: "api"}), "old", "a1", "a2", "a3", "a4", "a5")
	wantIDs(t, "every function", query(t, s, Query{}), "old", "a1", "a2", "w1", "a3", "a4", "a5")
	wantIDs(t, "api since", query(t, s, Query{Function: "api", Since: at(2)}), "a2", "a3", "a4", "a5")
	wantIDs(t, "api until (exclusive)", query(t, s, Query{Function: "api", Since: at(1), Until: at(3)}), "a1", "a2")
	wantIDs(t, "api errors", query(t, s, Query{Function: "api", ErrorsOnly: true}), "a2", "a4", "a5")
	wantIDs(t, "all errors since", query(t, s, Query{ErrorsOnly: true, Since: at(3)}), "a4", "a5")
	wantIDs(t, "queue trigger", query(t, s, Query{Trigger: TriggerQueue}), "a2", "w1")
	wantIDs(t, "queue errors", query(t, s, Query{Trigger: TriggerQueue, ErrorsOnly: true}), "a2")
	wantIDs(t, "newest 2", query(t, s, Query{Function: "api", Limit: 2}), "a4", "a5")
	wantIDs(t, "no such function", query(t, s, Query{Function: "nope"}))
	wantIDs(t, "function name is exact", query(t, s, Query{Function: "ap"}))

	got := query(t, s, Query{Function: "api", Since: at(1), Until: at(2)})
	if len(got) != 1 {
		t.Fatalf("got %d records, want a1", len(got))
	}
	a1 := got[0]
	want := in[1]
	want.Start = want.Start.UTC()
	want.BilledMs, want.GBSeconds = 1, 0.000125
	want.Node = "n1"
	if a1 != want {
		t.Errorf("stored record:\n got %+v\nwant %+v", a1, want)
	}
	w1 := query(t, s, Query{Function: "worker"})
	if len(w1) != 1 || w1[0].Node != "n2" || w1[0].BilledMs != 4 || w1[0].GBSeconds != 0.002 {
		t.Errorf("worker record = %+v, want node n2, 4 ms, 0.002 GB-s", w1)
	}
	a4 := query(t, s, Query{Function: "api", Since: at(4), Until: at(5)})
	if len(a4) != 1 || a4[0].BilledMs != 0 || a4[0].GBSeconds != 0 {
		t.Errorf("throttled record = %+v, want nothing billed", a4)
	}

	for _, bad := range []Query{{Limit: -1}, {Since: at(2), Until: at(1)}} {
		if _, err := s.Query(context.Background(), bad); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("Query(%+v) error = %v, want ErrInvalidQuery", bad, err)
		}
	}
}

// TestQueryNewest reads more records than it keeps: the newest Limit by
// Start come back, oldest first, whatever order they were stored in.
func TestQueryNewest(t *testing.T) {
	b := startBus(t, t.TempDir())
	s := open(t, b, Config{})
	base := time.Now().Add(-time.Minute)
	const n = 3000
	for i := range n {
		j := (i * 7) % n // stored out of Start order
		s.Append(Record{RequestID: strconv.Itoa(j), Function: "api", Start: base.Add(time.Duration(j) * time.Millisecond), Outcome: OutcomeSuccess})
	}
	s.Flush()
	var want []string
	for j := n - 10; j < n; j++ {
		want = append(want, strconv.Itoa(j))
	}
	wantIDs(t, "newest 10 of 3000", query(t, s, Query{Function: "api", Limit: 10}), want...)
}

func TestQueryOddNames(t *testing.T) {
	b := startBus(t, t.TempDir())
	s := open(t, b, Config{})
	names := []string{"dev.api", "a b", "", "dev*", "x>"}
	for i, fn := range names {
		s.Append(Record{RequestID: "r" + strconv.Itoa(i), Function: fn, Outcome: OutcomeSuccess})
	}
	s.Flush()
	for i, fn := range names {
		got := query(t, s, Query{Function: fn})
		if fn == "" {
			continue // "" means every function
		}
		wantIDs(t, fmt.Sprintf("function %q", fn), got, "r"+strconv.Itoa(i))
	}
	if got := query(t, s, Query{}); len(got) != len(names) {
		t.Errorf("all functions: %d records, want %d", len(got), len(names))
	}
}

func TestGet(t *testing.T) {
	t.Run("index", func(t *testing.T) { testGet(t, Config{}) })
	t.Run("scan", func(t *testing.T) { testGet(t, Config{NoIndex: true}) })
}

func testGet(t *testing.T, cfg Config) {
	b := startBus(t, t.TempDir())
	s := open(t, b, cfg)
	ctx := context.Background()
	start := time.Now().Truncate(time.Millisecond)
	s.Append(Record{RequestID: "r1", Function: "api", Start: start, Duration: time.Millisecond, Outcome: OutcomeSuccess})
	s.Append(Record{RequestID: "r2", Function: "worker", Start: start, Outcome: OutcomeError, ErrorType: "Boom"})
	s.Append(Record{RequestID: "id with spaces/and.dots", Function: "api", Start: start, Outcome: OutcomeSuccess})
	s.Append(Record{RequestID: "retry", Function: "api", Start: start, Outcome: OutcomeError, Trigger: TriggerAsync})
	s.Flush()
	s.Append(Record{RequestID: "retry", Function: "api", Start: start.Add(time.Second), Outcome: OutcomeSuccess, Trigger: TriggerAsync})
	s.Flush()

	for rid, fn := range map[string]string{"r1": "api", "r2": "worker", "id with spaces/and.dots": "api"} {
		r, err := s.Get(ctx, rid)
		if err != nil {
			t.Fatalf("Get(%q): %v", rid, err)
		}
		if r.RequestID != rid || r.Function != fn || !r.Start.Equal(start) {
			t.Errorf("Get(%q) = %+v", rid, r)
		}
	}
	if r, err := s.Get(ctx, "r2"); err != nil || r.ErrorType != "Boom" || r.Outcome != OutcomeError {
		t.Errorf("Get(r2) = %+v, %v", r, err)
	}
	if r, err := s.Get(ctx, "retry"); err != nil || r.Outcome != OutcomeSuccess {
		t.Errorf("Get(retry) = %+v, %v; want the last record stored", r, err)
	}
	if _, err := b.JetStream().Stream(ctx, IndexStream); cfg.NoIndex != errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("index stream lookup: %v, with NoIndex %v", err, cfg.NoIndex)
	}
	for _, rid := range []string{"nope", "", "r"} {
		if _, err := s.Get(ctx, rid); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", rid, err)
		}
	}
}

func TestConfig(t *testing.T) {
	b := startBus(t, t.TempDir())
	ctx := context.Background()
	js := b.JetStream()
	maxAge := func(name string) time.Duration {
		t.Helper()
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config.MaxAge
	}
	for _, tc := range []struct {
		cfg            Config
		retention, ttl time.Duration
	}{
		{Config{}, 7 * 24 * time.Hour, time.Hour},
		{Config{Retention: 2 * time.Hour}, 2 * time.Hour, time.Hour},
		{Config{Retention: 2 * time.Hour, IndexTTL: 5 * time.Hour}, 2 * time.Hour, 2 * time.Hour},
		{Config{Retention: 48 * time.Hour, IndexTTL: 24 * time.Hour}, 48 * time.Hour, 24 * time.Hour},
	} {
		s, err := Open(ctx, b.Conn(), js, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := maxAge(Stream); got != tc.retention {
			t.Errorf("%+v: records kept %v, want %v", tc.cfg, got, tc.retention)
		}
		if got := maxAge(IndexStream); got != tc.ttl {
			t.Errorf("%+v: index kept %v, want %v", tc.cfg, got, tc.ttl)
		}
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []Config{{Replicas: -1}, {Retention: -time.Second}, {IndexTTL: -1}, {Buffer: -1}} {
		if _, err := Open(ctx, b.Conn(), js, bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Open(%+v) error = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

// TestRetentionExpires stores records with a one-second retention and
// waits for the server to remove them.
func TestRetentionExpires(t *testing.T) {
	b := startBus(t, t.TempDir())
	s := open(t, b, Config{Retention: time.Second})
	s.Append(Record{RequestID: "short", Function: "api", Outcome: OutcomeSuccess})
	s.Flush()
	if got := query(t, s, Query{Function: "api"}); len(got) != 1 {
		t.Fatalf("stored %d records, want 1", len(got))
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(query(t, s, Query{Function: "api"})) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("record still stored well after its retention")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := s.Get(context.Background(), "short"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after expiry error = %v, want ErrNotFound", err)
	}
}

func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b1, err := bus.Start(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := Open(ctx, b1.Conn(), b1.JetStream(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		s1.Append(Record{RequestID: "r" + strconv.Itoa(i), Function: "api", Outcome: OutcomeSuccess})
	}
	// No Flush: Shutdown stores what is buffered.
	if err := s1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	b2 := startBus(t, dir)
	s2 := open(t, b2, Config{})
	if got := query(t, s2, Query{Function: "api"}); len(got) != 10 {
		t.Errorf("after restart: %d records, want 10", len(got))
	}
	if r, err := s2.Get(ctx, "r7"); err != nil || r.RequestID != "r7" {
		t.Errorf("Get(r7) after restart = %+v, %v", r, err)
	}
}

// TestAppendNeverBlocks holds the flusher off, fills the buffer and appends
// past it: Append must return, dropping and counting what does not fit.
func TestAppendNeverBlocks(t *testing.T) {
	b := startBus(t, t.TempDir())
	s := open(t, b, Config{Buffer: 2000})
	s.flushMu.Lock() // no flush can take the buffer
	for i := range 2500 {
		s.Append(Record{RequestID: strconv.Itoa(i), Function: "api", Outcome: OutcomeSuccess})
	}
	st := s.Stats()
	s.flushMu.Unlock()
	if st.Appended != 2000 || st.Dropped != 500 {
		t.Fatalf("stats = %+v, want 2000 appended, 500 dropped", st)
	}
	s.Flush()
	if st := s.Stats(); st.Stored != 2000 {
		t.Errorf("stats = %+v, want 2000 stored", st)
	}
	if got := query(t, s, Query{Function: "api", Limit: 5000}); len(got) != 2000 {
		t.Errorf("stored %d records, want 2000", len(got))
	}

	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Append(Record{Function: "api"})
	if st := s.Stats(); st.Dropped != 501 {
		t.Errorf("append after shutdown: dropped = %d, want 501", st.Dropped)
	}
}

// TestBurst appends 100k records as fast as it can, with the flusher
// running: each is either stored or counted as dropped, and the stored ones
// are all there.
func TestBurst(t *testing.T) {
	b := startBus(t, t.TempDir())
	s := open(t, b, Config{})
	const n = 100_000
	start := time.Now()
	for i := range n {
		s.Append(Record{
			RequestID: strconv.Itoa(i), Function: "burst", Trigger: TriggerQueue,
			Start: start, Duration: time.Millisecond, MemoryMiB: 128, Outcome: OutcomeSuccess,
		})
	}
	s.Flush()
	st := s.Stats()
	t.Logf("burst of %d: %+v", n, st)
	if st.Appended+st.Dropped != n || st.Stored != st.Appended {
		t.Fatalf("stats = %+v: every record must be stored or dropped", st)
	}
	got := query(t, s, Query{Function: "burst", Limit: n})
	if uint64(len(got)) != st.Stored {
		t.Errorf("query found %d records, %d were stored", len(got), st.Stored)
	}
	seen := make(map[string]bool, len(got))
	for _, r := range got {
		if seen[r.RequestID] {
			t.Fatalf("record %s stored twice", r.RequestID)
		}
		seen[r.RequestID] = true
	}
	if r, err := s.Get(context.Background(), got[len(got)/2].RequestID); err != nil || r.Function != "burst" {
		t.Errorf("Get in the burst = %+v, %v", r, err)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	b := startBus(t, t.TempDir())
	s, err := Open(context.Background(), b.Conn(), b.JetStream(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	s.Append(Record{RequestID: "x", Function: "api"})
	ctx := context.Background()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Stored != 1 {
		t.Errorf("stats after shutdown = %+v, want the buffered record stored", st)
	}
	// Reads keep working.
	if r, err := s.Get(ctx, "x"); err != nil || r.Function != "api" {
		t.Errorf("Get after shutdown = %+v, %v", r, err)
	}
}

// BenchmarkAppend measures what an invocation pays: "accept" with the
// flusher held off (the buffer emptied between rounds, off the clock), and
// "sustained" with the flusher running, reporting the share dropped when
// appends outpace it.
func BenchmarkAppend(b *testing.B) {
	bs := startBus(b, b.TempDir())
	s := open(b, bs, Config{})
	r := Record{
		RequestID: "8f5e1c2a-0000-4000-8000-000000000000", Function: "api", Version: "3", Trigger: TriggerHTTP,
		Source: "GET /orders/{id}", Start: time.Now(), Duration: 512 * time.Microsecond, MemoryMiB: 128,
		Outcome: OutcomeSuccess,
	}
	b.Run("accept", func(b *testing.B) {
		b.ReportAllocs()
		s.flushMu.Lock()
		defer s.flushMu.Unlock()
		i := 0
		for b.Loop() {
			if i++; i == 4096 {
				b.StopTimer()
				s.mu.Lock()
				s.pending = s.pending[:0]
				s.mu.Unlock()
				i = 0
				b.StartTimer()
			}
			s.Append(r)
		}
	})
	for _, par := range []bool{false, true} {
		name := "sustained"
		if par {
			name = "sustained-parallel"
		}
		b.Run(name, func(b *testing.B) {
			s.Flush()
			before := s.Stats()
			b.ReportAllocs()
			if par {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						s.Append(r)
					}
				})
			} else {
				for b.Loop() {
					s.Append(r)
				}
			}
			after := s.Stats()
			b.ReportMetric(float64(after.Dropped-before.Dropped)/float64(b.N)*100, "%dropped")
		})
	}
}

// BenchmarkFlush measures the flusher: encoding and storing a flush of 1024
// records, index included.
func BenchmarkFlush(b *testing.B) {
	bs := startBus(b, b.TempDir())
	s := open(b, bs, Config{})
	r := Record{
		Function: "api", Version: "3", Trigger: TriggerHTTP,
		Source: "GET /orders/{id}", Start: time.Now(), Duration: 512 * time.Microsecond, MemoryMiB: 128,
		Outcome: OutcomeSuccess,
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		for range 1024 {
			i++
			r.RequestID = strconv.Itoa(i)
			s.Append(r)
		}
		b.StartTimer()
		s.Flush()
	}
	b.ReportMetric(float64(b.N*1024)/b.Elapsed().Seconds(), "records/s")
}
