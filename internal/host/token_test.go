package host

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, tc := range []struct{ fn, version string }{
		{"resize", "3"},
		{"a", "$LATEST"},
		{"", ""},
		{"with.dots-and_more", "12345"},
		{"ab", "c"}, // must not verify as ("a", "bc")
	} {
		tok := Token(testKey, tc.fn, tc.version)
		fn, ver, err := VerifyToken(testKey, tok)
		if err != nil || fn != tc.fn || ver != tc.version {
			t.Errorf("%q %q: got %q %q %v", tc.fn, tc.version, fn, ver, err)
		}
	}
	if Token(testKey, "ab", "c") == Token(testKey, "a", "bc") {
		t.Error("tokens of ab/c and a/bc are equal")
	}
}

func TestTokenTamper(t *testing.T) {
	tok := Token(testKey, "resize", "3")
	other := Token(testKey, "admin", "1")
	payload := strings.Split(tok, ".")[1]
	mac := strings.Split(other, ".")[2]
	for name, bad := range map[string]string{
		"empty":          "",
		"other key":      Token(bytes.Repeat([]byte{7}, 32), "resize", "3"),
		"swapped mac":    "gh1." + payload + "." + mac,
		"swapped body":   "gh1." + strings.Split(other, ".")[1] + "." + strings.Split(tok, ".")[2],
		"no prefix":      strings.TrimPrefix(tok, "gh1."),
		"other prefix":   "gh2." + strings.TrimPrefix(tok, "gh1."),
		"truncated":      tok[:len(tok)-1],
		"flipped":        tok[:len(tok)-2] + string(tok[len(tok)-2]^1) + tok[len(tok)-1:],
		"extra":          tok + ".x",
		"padded":         tok + "=",
		"huge":           "gh1." + strings.Repeat("A", 5000) + ".AAAA",
		"no signature":   "gh1." + payload,
		"bad base64":     "gh1.!!!." + mac,
		"length overrun": "gh1." + b64.EncodeToString([]byte{0x7f, 'a'}) + "." + b64.EncodeToString(sign(testKey, []byte{0x7f, 'a'})),
	} {
		if fn, ver, err := VerifyToken(testKey, bad); err == nil || !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: verified as %q %q (%v)", name, fn, ver, err)
		}
	}
	if _, _, err := VerifyToken(testKey[:MinKeyBytes-1], Token(testKey[:MinKeyBytes-1], "f", "1")); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a short key verifies: %v", err)
	}
}

func TestTokenResolver(t *testing.T) {
	var asked []string
	resolve := TokenResolver(testKey, func(_ context.Context, fn, ver string) (Grants, error) {
		asked = append(asked, fn+"@"+ver)
		return Grants{Send: []string{"q"}}, nil
	})
	c, err := resolve(context.Background(), Token(testKey, "f", "2"))
	if err != nil || c.Function != "f" || c.Version != "2" || len(c.Grants.Send) != 1 {
		t.Errorf("resolved %+v, %v", c, err)
	}
	if _, err := resolve(context.Background(), "gh1.x.y"); !errors.Is(err, ErrUnauthorized) || len(asked) != 1 {
		t.Errorf("bad token: %v, grants asked %v", err, asked)
	}
}
