package jsontext

import (
	"bytes"
	"encoding/json"
	"testing"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\b\f\n\r\t\x1f", "<a&b>", "\u2028\u2029", "\xff\xfe", "日本語", "é\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		if got := AppendString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("AppendString([]byte %q) = %s, want %s", s, got, want)
		}
		wantHTML, _ := json.Marshal(s)
		if got := AppendStringHTML(nil, s); !bytes.Equal(got, wantHTML) {
			t.Fatalf("AppendStringHTML(%q) = %s, want %s", s, got, wantHTML)
		}
	})
}
