package kv

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEncodeKey(t *testing.T) {
	cases := []struct{ key, enc string }{
		{"plain", "plain"},
		{"user/42_x-y", "user/42_x-y"},
		{"a.b", "a=2Eb"},
		{"a=b", "a=3Db"},
		{"*", "=2A"},
		{">", "=3E"},
		{"with space", "with=20space"},
		{"é", "=C3=A9"},
		{"키", "=ED=82=A4"},
		{"..", "=2E=2E"},
	}
	for _, c := range cases {
		if got := encodeKey(c.key); got != c.enc {
			t.Errorf("encodeKey(%q) = %q, want %q", c.key, got, c.enc)
		}
		dec, err := decodeKey(c.enc)
		if err != nil || dec != c.key {
			t.Errorf("decodeKey(%q) = %q, %v; want %q", c.enc, dec, err, c.key)
		}
	}
}

func TestDecodeKeyRejects(t *testing.T) {
	for _, enc := range []string{
		"",         // empty key
		"a.b",      // '.' is never literal
		"=2e",      // lower-case hex
		"=41",      // 'A' escaped needlessly
		"=4",       // short escape
		"=",        // bare escape
		"abc=",     // escape at the end
		"=ZZ",      // not hex
		"=0A",      // control character
		"=FF",      // not UTF-8
		"a*b",      // not a KV key byte
		"=C3",      // truncated UTF-8
		"=7F",      // DEL
		"=C2=85",   // C1 control (NEL)
		"a=2Fb",    // '/' escaped needlessly
		"a\x00bcd", // raw control byte
	} {
		if got, err := decodeKey(enc); !errors.Is(err, ErrInvalid) {
			t.Errorf("decodeKey(%q) = %q, %v; want ErrInvalid", enc, got, err)
		}
	}
}

func TestValidKey(t *testing.T) {
	good := []string{"a", "ünïcödé", "a b", strings.Repeat("x", MaxKeyBytes), "🙂/🙃", "=", "."}
	for _, k := range good {
		if err := validKey(k); err != nil {
			t.Errorf("validKey(%q): %v", k, err)
		}
	}
	bad := []string{"", strings.Repeat("x", MaxKeyBytes+1), "a\nb", "tab\t", "\x7f", "\xff", "\u0085"}
	for _, k := range bad {
		if err := validKey(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("validKey(%q) = %v, want ErrInvalid", k, err)
		}
	}
}

func TestValidTableName(t *testing.T) {
	good := []string{"a", "A", "0", "orders", "my-table_2", strings.Repeat("t", MaxTableNameLen)}
	for _, n := range good {
		if err := ValidTableName(n); err != nil {
			t.Errorf("ValidTableName(%q): %v", n, err)
		}
	}
	bad := []string{"", "_a", "-a", "a.b", "a b", "a/b", "tä", strings.Repeat("t", MaxTableNameLen+1), "a*", ">"}
	for _, n := range bad {
		err := ValidTableName(n)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidTableName(%q) = %v, want ErrInvalid", n, err)
			continue
		}
		if !strings.Contains(err.Error(), "starts with a letter or digit") {
			t.Errorf("ValidTableName(%q) error %q does not state the rule", n, err)
		}
	}
}

func TestServerTTL(t *testing.T) {
	cases := map[string]string{"1ns": "1s", "500ms": "1s", "1s": "1s", "1.2s": "2s", "90s": "1m30s"}
	for in, want := range cases {
		d, _ := time.ParseDuration(in)
		if got := serverTTL(d).String(); got != want {
			t.Errorf("serverTTL(%s) = %s, want %s", in, got, want)
		}
	}
}
