package records

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBilling(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		mem  int
		ms   int64
		gbs  float64
		name string
	}{
		{time.Nanosecond, 1024, 1, 0.001, "1 ns bills 1 ms"},
		{1000100 * time.Nanosecond, 1024, 2, 0.002, "1.0001 ms bills 2 ms"},
		{5 * time.Millisecond, 128, 5, 0.000625, "exactly 5 ms bills 5 ms"},
		{time.Millisecond - 1, 128, 1, 0.000125, "just under 1 ms"},
		{time.Second, 1536, 1000, 1.5, "1 s at 1.5 GiB"},
		{0, 128, 0, 0, "nothing ran"},
		{-time.Millisecond, 128, 0, 0, "negative"},
		{3 * time.Millisecond, 0, 3, 0, "no memory"},
	} {
		ms, gbs := Billing(tc.d, tc.mem)
		if ms != tc.ms || math.Abs(gbs-tc.gbs) > 1e-15 {
			t.Errorf("%s: Billing(%v, %d) = %d ms, %g GB-s; want %d ms, %g GB-s", tc.name, tc.d, tc.mem, ms, gbs, tc.ms, tc.gbs)
		}
	}
}

func TestNormalize(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("KST", 9*3600))
	r := Record{Start: start, Duration: 2500 * time.Microsecond, MemoryMiB: 256, Outcome: OutcomeSuccess, ErrorType: strings.Repeat("é", maxField)}
	if !normalize(&r) {
		t.Fatal("normalize refused a valid record")
	}
	if r.BilledMs != 3 || r.GBSeconds != 256.0*3/1024/1000 {
		t.Errorf("billing not filled in: %d ms, %g GB-s", r.BilledMs, r.GBSeconds)
	}
	if r.Start.Location() != time.UTC || !r.Start.Equal(start) {
		t.Errorf("start = %v, want %v in UTC", r.Start, start)
	}
	if len(r.ErrorType) > maxField || !strings.HasPrefix(strings.Repeat("é", maxField), r.ErrorType) {
		t.Errorf("error type cut badly: %d bytes", len(r.ErrorType))
	}

	th := Record{Start: start, Duration: time.Second, MemoryMiB: 128, Outcome: OutcomeThrottled, BilledMs: 1000, GBSeconds: 0.125}
	normalize(&th)
	if th.BilledMs != 0 || th.GBSeconds != 0 {
		t.Errorf("throttled record bills %d ms, %g GB-s; want nothing", th.BilledMs, th.GBSeconds)
	}

	given := Record{Start: start, Duration: time.Second, MemoryMiB: 128, BilledMs: 7, GBSeconds: 0.5}
	normalize(&given)
	if given.BilledMs != 7 || given.GBSeconds != 0.5 {
		t.Errorf("caller's billing overwritten: %d ms, %g", given.BilledMs, given.GBSeconds)
	}

	if bad := (Record{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); normalize(&bad) {
		t.Error("normalize accepted a start JSON cannot hold")
	}
}

func TestFailed(t *testing.T) {
	for outcome, want := range map[string]bool{
		"": false, OutcomeSuccess: false, OutcomeError: true, OutcomeTimeout: true,
		OutcomeThrottled: true, OutcomeInitError: true,
	} {
		if got := (&Record{Outcome: outcome}).Failed(); got != want {
			t.Errorf("Failed() with outcome %q = %v, want %v", outcome, got, want)
		}
	}
}

// TestAppendRecordMatchesMarshal holds the hand-written encoder to what
// json.Marshal writes, and the decoder to a round trip.
func TestAppendRecordMatchesMarshal(t *testing.T) {
	now := time.Date(2026, 11, 24, 11, 10, 33, 120000000, time.UTC)
	for _, r := range []Record{
		{RequestID: "8f5e1c2a-0000-4000-8000-000000000000", Function: "hello", Version: "3", Trigger: TriggerHTTP,
			Source: "GET /orders/{id}", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Start: now, Cold: true,
			InitDuration: 2800 * time.Microsecond, Duration: 512 * time.Microsecond, MemoryMiB: 128,
			Outcome: OutcomeSuccess, BilledMs: 1, GBSeconds: 0.000125, Node: "node-1"},
		{Function: "f", Start: now.Add(time.Nanosecond), Outcome: OutcomeError, ErrorType: "Runtime.<Panic>&\u2028\xff"},
		{Function: "f", Start: now, GBSeconds: 1e-7},
		{Function: "f", Start: now, GBSeconds: 1.5e21, MemoryMiB: -1, Duration: -5},
		{Function: "f", Start: now, GBSeconds: 123456.789},
		{},
	} {
		checkRecord(t, r)
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add("rid", "fn", "1", "http", "GET /", "abc", int64(0), true, int64(1), int64(2), 128, "success", "", int64(1), 0.000125, "n")
	f.Add("<&>", "\u2028", "", "", "", "", int64(1795518633123456789), false, int64(-1), int64(1<<62), -3, "\xff", "\"\\\n", int64(-9), 1e-9, "")
	f.Fuzz(func(t *testing.T, rid, fn, version, trigger, source, traceID string, startNs int64, cold bool,
		initNs, durNs int64, mem int, outcome, errType string, billed int64, gbs float64, node string) {
		if math.IsNaN(gbs) || math.IsInf(gbs, 0) {
			gbs = 0
		}
		checkRecord(t, Record{
			RequestID: rid, Function: fn, Version: version, Trigger: trigger, Source: source, TraceID: traceID,
			Start: time.Unix(0, startNs).UTC(), Cold: cold, InitDuration: time.Duration(initNs), Duration: time.Duration(durNs),
			MemoryMiB: mem, Outcome: outcome, ErrorType: errType, BilledMs: billed, GBSeconds: gbs, Node: node,
		})
	})
}

func checkRecord(t *testing.T, r Record) {
	t.Helper()
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got := appendRecord(nil, &r)
	if string(got) != string(want) {
		t.Fatalf("appendRecord:\n got %s\nwant %s", got, want)
	}
	var back []Record
	if err := decodeBatch(append(append(got, '\n'), got...), func(d *Record) error { back = append(back, *d); return nil }); err != nil {
		t.Fatal(err)
	}
	var viaJSON Record
	if err := json.Unmarshal(want, &viaJSON); err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || !reflect.DeepEqual(back[0], viaJSON) || !reflect.DeepEqual(back[1], viaJSON) {
		t.Fatalf("decodeBatch round trip = %+v, want twice %+v", back, viaJSON)
	}
}

// FuzzDecodeBatch feeds the batch decoder arbitrary bytes: it must not
// panic, and whatever it returns must store and read back the same.
func FuzzDecodeBatch(f *testing.F) {
	r := Record{RequestID: "a", Function: "f", Start: time.Unix(1, 0).UTC(), Outcome: OutcomeSuccess}
	line := appendRecord(nil, &r)
	f.Add(line)
	f.Add(append(append(append([]byte("garbage\n"), line...), "\n\n{}\n"...), line[:10]...))
	f.Add([]byte(`{"start":"2026-01-01T00:00:00+09:00","gbSeconds":1e400}`))
	f.Add([]byte(`{"durationNs":1.5}` + "\n" + `[1,2]` + "\n" + `{"requestId":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = decodeBatch(data, func(d *Record) error {
			if !normalize(d) {
				return nil
			}
			enc := appendRecord(nil, d)
			var again []Record
			_ = decodeBatch(enc, func(a *Record) error { again = append(again, *a); return nil })
			if len(again) != 1 {
				t.Fatalf("re-encoded record %s decodes to %d records", enc, len(again))
			}
			if a := again[0]; !a.Start.Equal(d.Start) || a.RequestID != d.RequestID || a.GBSeconds != d.GBSeconds ||
				a.Duration != d.Duration || a.Outcome != d.Outcome {
				t.Fatalf("round trip changed %+v into %+v", *d, a)
			}
			return nil
		})
	})
}

func TestToken(t *testing.T) {
	long := strings.Repeat("a", maxToken+1)
	for in, want := range map[string]string{
		"hello":                                "hello",
		"my_fn-2":                              "my_fn-2",
		"8f5e1c2a-0000-4000-8000-000000000000": "8f5e1c2a-0000-4000-8000-000000000000",
		"":                                     "=",
	} {
		if got := token(in); got != want {
			t.Errorf("token(%q) = %q, want %q", in, got, want)
		}
	}
	seen := map[string]string{}
	for _, in := range []string{"a.b", "a b", "a*", "a>", "dev/fn", "é", long, long + "b", "=", "=x"} {
		tok := token(in)
		if !strings.HasPrefix(tok, "=") || len(tok) != 25 || strings.ContainsAny(tok, ".*> \t\r\n") {
			t.Errorf("token(%q) = %q, want = and 24 hex digits", in, tok)
		}
		if prev, dup := seen[tok]; dup {
			t.Errorf("token(%q) = token(%q) = %q", in, prev, tok)
		}
		seen[tok] = in
	}
}
