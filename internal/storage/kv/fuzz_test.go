package kv

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// kvKeyByte reports whether b may appear in a JetStream KV key.
func kvKeyByte(b byte) bool {
	return literal(b) || b == '=' || b == '.'
}

func FuzzKeyEncoding(f *testing.F) {
	f.Add("a", "ab")
	f.Add("user/1", "user/10")
	f.Add("é", "éa")
	f.Add("a.b", "a.b.c")
	f.Add("=", "==")
	f.Add("x", "y")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, k := range []string{a, b} {
			if validKey(k) != nil {
				return
			}
			enc := encodeKey(k)
			if enc == "" || strings.ContainsAny(enc, ".*> ") {
				t.Fatalf("encodeKey(%q) = %q is not one plain subject token", k, enc)
			}
			for i := 0; i < len(enc); i++ {
				if !kvKeyByte(enc[i]) {
					t.Fatalf("encodeKey(%q) = %q holds byte %q", k, enc, enc[i])
				}
			}
			dec, err := decodeKey(enc)
			if err != nil || dec != k {
				t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", k, dec, err)
			}
		}
		ea, eb := encodeKey(a), encodeKey(b)
		if strings.HasPrefix(b, a) != strings.HasPrefix(eb, ea) {
			t.Fatalf("prefix not kept: %q/%q encode to %q/%q", a, b, ea, eb)
		}
		if (a == b) != (ea == eb) {
			t.Fatalf("encoding not one to one: %q/%q encode to %q/%q", a, b, ea, eb)
		}
	})
}

func FuzzDecodeKey(f *testing.F) {
	for _, s := range []string{"a", "a=2Eb", "=C3=A9", "=", "=4", "=41", "a.b", "=ZZ", "=FF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, enc string) {
		key, err := decodeKey(enc)
		if err != nil {
			return
		}
		if validKey(key) != nil {
			t.Fatalf("decodeKey(%q) = invalid key %q", enc, key)
		}
		if again := encodeKey(key); again != enc {
			t.Fatalf("decodeKey(%q) = %q, which encodes to %q", enc, key, again)
		}
	})
}

func FuzzParseState(f *testing.F) {
	f.Add("", "", "2030-01-02T03:04:05.123456789Z", int64(0))
	f.Add("DEL", "", "", int64(0))
	f.Add("", "MaxAge", "", int64(0))
	f.Add("", "", "not a time", int64(1))
	f.Add("PUT", "", "2000-01-01T00:00:00+09:00", int64(-5))
	f.Fuzz(func(t *testing.T, op, reason, expires string, nowNanos int64) {
		h := nats.Header{}
		if op != "" {
			h.Set(hdrOperation, op)
		}
		if reason != "" {
			h.Set(hdrMarkerReason, reason)
		}
		if expires != "" {
			h.Set(hdrExpires, expires)
		}
		now := time.Unix(0, nowNanos)
		st := parseState(h, now)
		marker := op == opDelete || op == opPurge || reason != ""
		if marker && st.live {
			t.Fatalf("marker (op %q, reason %q) read as a live item", op, reason)
		}
		if exp, ok := parseExpires(expires); ok && !marker {
			if !st.expires.Equal(exp) || st.live != now.Before(exp) {
				t.Fatalf("expiry %q at %v read as %+v", expires, now, st)
			}
		}
	})
}

func FuzzExpiresRoundTrip(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(1_700_000_000_123_456_789))
	f.Add(int64(-1))
	f.Fuzz(func(t *testing.T, nanos int64) {
		want := time.Unix(0, nanos)
		got, ok := parseExpires(formatExpires(want))
		if !ok || !got.Equal(want) {
			t.Fatalf("expiry %v read back as %v, %v", want, got, ok)
		}
	})
}
