package gateway

import (
	"unicode/utf8"

	"github.com/gureum/gureum/internal/jsontext"
)

const hexDigits = "0123456789abcdef"

// appendLowerString appends s in lower case (ASCII letters only) as a quoted
// JSON string.
func appendLowerString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c < 0x20 || c == '"' || c == '\\' {
			// Not a plain token: rare; lower-case a copy.
			return jsontext.AppendString(b, lowerASCII(s))
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return append(b, '"')
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
