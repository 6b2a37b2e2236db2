package kv

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// escapeByte starts an escape in an encoded key: '=' followed by the byte's
// value as two upper-case hex digits.
const escapeByte = '='

const hexDigits = "0123456789ABCDEF"

// literal reports whether b stands for itself in an encoded key. Every other
// byte, including '.', '=', '*' and '>', is escaped, so an encoded key is one
// NATS subject token that never holds a wildcard.
func literal(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		b == '-' || b == '_' || b == '/'
}

// validKey reports, as an error wrapping ErrInvalid, why key is not a valid
// item key.
func validKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyBytes {
		return fmt.Errorf("%w: key of %d bytes: a key has 1 to %d bytes", ErrInvalid, len(key), MaxKeyBytes)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: key %q: a key is UTF-8 text", ErrInvalid, key)
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: key %q: a key holds no control characters", ErrInvalid, key)
		}
	}
	return nil
}

// encodeKey turns an item key into a JetStream KV key: bytes in
// [A-Za-z0-9_/-] are kept and every other byte becomes "=XX". The encoding
// works byte by byte, so it is reversible and keeps prefixes: a is a prefix
// of b exactly when encodeKey(a) is a prefix of encodeKey(b).
func encodeKey(key string) string {
	n := len(key)
	for i := 0; i < len(key); i++ {
		if !literal(key[i]) {
			n += 2
		}
	}
	if n == len(key) {
		return key
	}
	var sb strings.Builder
	sb.Grow(n)
	for i := 0; i < len(key); i++ {
		b := key[i]
		if literal(b) {
			sb.WriteByte(b)
			continue
		}
		sb.WriteByte(escapeByte)
		sb.WriteByte(hexDigits[b>>4])
		sb.WriteByte(hexDigits[b&0xF])
	}
	return sb.String()
}

// decodeKey reverses encodeKey. It accepts only what encodeKey produces
// (upper-case hex, no escape of a byte that could stand for itself), so every
// item has exactly one encoded form, and the result must be a valid key; a
// KV key written by something other than this package may fail here.
func decodeKey(enc string) (string, error) {
	if strings.IndexByte(enc, escapeByte) < 0 {
		for i := 0; i < len(enc); i++ {
			if !literal(enc[i]) {
				return "", fmt.Errorf("%w: encoded key %q: byte %q is not allowed", ErrInvalid, enc, enc[i])
			}
		}
		if err := validKey(enc); err != nil {
			return "", err
		}
		return enc, nil
	}
	buf := make([]byte, 0, len(enc))
	for i := 0; i < len(enc); i++ {
		b := enc[i]
		if literal(b) {
			buf = append(buf, b)
			continue
		}
		if b != escapeByte || i+2 >= len(enc) {
			return "", fmt.Errorf("%w: encoded key %q: bad byte at %d", ErrInvalid, enc, i)
		}
		hi, lo := unhex(enc[i+1]), unhex(enc[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: encoded key %q: bad escape at %d", ErrInvalid, enc, i)
		}
		v := byte(hi<<4 | lo)
		if literal(v) {
			return "", fmt.Errorf("%w: encoded key %q: needless escape at %d", ErrInvalid, enc, i)
		}
		buf = append(buf, v)
		i += 2
	}
	key := string(buf)
	if err := validKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// unhex returns the value of an upper-case hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
