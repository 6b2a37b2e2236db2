package queue

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/gureum/gureum/internal/events/deadletter"
)

// Headers a queue message carries besides the dead-letter ones
// (deadletter.Header*). The body is the NATS payload.
const (
	headerMessageID  = "Gureum-Msg-Id"
	headerSentAt     = "Gureum-Sent-At"    // RFC 3339 with nanoseconds, UTC
	headerAttributes = "Gureum-Attributes" // JSON object: name -> MessageAttribute
	headerTrace      = "traceparent"       // W3C trace context
)

// MessageAttribute is an SQS message attribute. DataType is "String",
// "Number" or "Binary", optionally followed by "." and a custom label
// ("Number.int"). String and Number use StringValue, Binary BinaryValue.
type MessageAttribute struct {
	DataType    string `json:"dataType"`
	StringValue string `json:"stringValue,omitempty"`
	BinaryValue []byte `json:"binaryValue,omitempty"`
}

// baseType is the data type without its custom label.
func (a MessageAttribute) baseType() string {
	t, _, _ := strings.Cut(a.DataType, ".")
	return t
}

// ValidateMessageAttributes applies SQS's rules to a message's attributes:
// at most 10; names of 1 to 256 letters, digits, '_', '-' and '.', not
// starting with "AWS." or "Amazon.", without leading, trailing or doubled
// periods; a known data type; a non-empty value of that type; numbers of at
// most 38 significant digits between -1e126 and 1e126. Errors wrap ErrInvalid.
func ValidateMessageAttributes(attrs map[string]MessageAttribute) error {
	if len(attrs) > MaxAttributeCount {
		return fmt.Errorf("%d message attributes: at most 10 are allowed: %w", len(attrs), ErrInvalid)
	}
	for name, a := range attrs {
		if err := validAttributeName(name); err != nil {
			return err
		}
		if err := validAttribute(name, a); err != nil {
			return err
		}
	}
	return nil
}

func validAttributeName(name string) error {
	if name == "" || len(name) > 256 {
		return fmt.Errorf("message attribute name %q: want 1 to 256 characters: %w", name, ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !nameByte(c) && c != '.' {
			return fmt.Errorf("message attribute name %q: only letters, digits, '_', '-' and '.' are allowed: %w", name, ErrInvalid)
		}
	}
	lower := strings.ToLower(name)
	switch {
	case strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon."):
		return fmt.Errorf("message attribute name %q: the prefixes AWS. and Amazon. are reserved: %w", name, ErrInvalid)
	case name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, ".."):
		return fmt.Errorf("message attribute name %q: no leading, trailing or doubled periods: %w", name, ErrInvalid)
	}
	return nil
}

func validAttribute(name string, a MessageAttribute) error {
	if len(a.DataType) > 256 {
		return fmt.Errorf("message attribute %s: data type longer than 256 characters: %w", name, ErrInvalid)
	}
	base, label, hasLabel := strings.Cut(a.DataType, ".")
	if hasLabel {
		if label == "" {
			return fmt.Errorf("message attribute %s: data type %q: empty custom label: %w", name, a.DataType, ErrInvalid)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !nameByte(c) && c != '.' {
				return fmt.Errorf("message attribute %s: data type %q: a custom label has letters, digits, '_', '-' and '.': %w", name, a.DataType, ErrInvalid)
			}
		}
	}
	switch base {
	case "String", "Number":
		if len(a.BinaryValue) > 0 {
			return fmt.Errorf("message attribute %s: a %s has a string value, not a binary one: %w", name, base, ErrInvalid)
		}
		if a.StringValue == "" {
			return fmt.Errorf("message attribute %s: empty %s value: %w", name, base, ErrInvalid)
		}
		if err := validText(a.StringValue); err != nil {
			return fmt.Errorf("message attribute %s: %w", name, err)
		}
		if base == "Number" {
			if err := validNumber(a.StringValue); err != nil {
				return fmt.Errorf("message attribute %s: %w", name, err)
			}
		}
	case "Binary":
		if a.StringValue != "" {
			return fmt.Errorf("message attribute %s: a Binary has a binary value, not a string one: %w", name, ErrInvalid)
		}
		if len(a.BinaryValue) == 0 {
			return fmt.Errorf("message attribute %s: empty Binary value: %w", name, ErrInvalid)
		}
	default:
		return fmt.Errorf("message attribute %s: data type %q: want String, Number or Binary (optionally with .label): %w", name, a.DataType, ErrInvalid)
	}
	return nil
}

// validText accepts the characters SQS allows in bodies and string values:
// tab, newline, carriage return, U+0020 to U+D7FF, U+E000 to U+FFFD and
// U+10000 to U+10FFFF, as valid UTF-8.
func validText(s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Errorf("invalid UTF-8 at byte %d: %w", i, ErrInvalid)
		}
		if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return fmt.Errorf("character %U at byte %d is not allowed: %w", r, i, ErrInvalid)
		}
		i += size
	}
	return nil
}

// validNumber accepts a decimal number ([+-]digits[.digits][e[+-]digits])
// with at most 38 significant digits and a magnitude between 1e-128 and
// 1e126 (or zero), as SQS does.
func validNumber(s string) error {
	bad := func(why string) error { return fmt.Errorf("number %q: %s: %w", s, why, ErrInvalid) }
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[start:i]
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fs:i]
	}
	if intPart == "" && frac == "" {
		return bad("want digits")
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		neg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			neg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if es == i {
			return bad("want digits after the exponent")
		}
		e := strings.TrimLeft(s[es:i], "0")
		if len(e) > 5 {
			return bad("out of range")
		}
		for _, c := range []byte(e) {
			exp = exp*10 + int(c-'0')
		}
		if neg {
			exp = -exp
		}
	}
	if i != len(s) {
		return bad("unexpected characters")
	}
	digits := intPart + frac
	first := strings.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		return nil // zero
	}
	sig := strings.TrimRight(digits[first:], "0")
	if len(sig) > 38 {
		return bad("more than 38 significant digits")
	}
	mag := len(intPart) - first - 1 + exp // value = d.ddd × 10^mag
	if mag > 126 || mag == 126 && sig != "1" || mag < -128 {
		return bad("want a magnitude between 1e-128 and 1e126")
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// messageSize is the size SQS limits: the body plus every attribute's name,
// data type and value.
func messageSize(body string, attrs map[string]MessageAttribute) int {
	n := len(body)
	for name, a := range attrs {
		n += len(name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	return n
}

// md5Hex is the MD5OfBody SQS reports: the hex MD5 of the body's bytes.
func md5Hex(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// md5OfAttributes is SQS's MD5OfMessageAttributes: attributes in name
// order, each as length-prefixed (4 bytes, big endian) name and data type,
// a transport byte (1 string, 2 binary) and the length-prefixed value. ""
// without attributes.
func md5OfAttributes(attrs map[string]MessageAttribute) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)
	h := md5.New()
	var n [4]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, name := range names {
		a := attrs[name]
		field([]byte(name))
		field([]byte(a.DataType))
		if a.baseType() == "Binary" {
			h.Write([]byte{2})
			field(a.BinaryValue)
		} else {
			h.Write([]byte{1})
			field([]byte(a.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// encodeAttributes is the header form of attributes: JSON, which escapes
// every character a header value cannot hold.
func encodeAttributes(attrs map[string]MessageAttribute) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(attrs); err != nil {
		return "", fmt.Errorf("encode message attributes: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// decodeAttributes reads encodeAttributes's form; a value that is not valid
// gives no attributes rather than no message.
func decodeAttributes(v string) map[string]MessageAttribute {
	if v == "" {
		return nil
	}
	var attrs map[string]MessageAttribute
	if json.Unmarshal([]byte(v), &attrs) != nil || len(attrs) == 0 {
		return nil
	}
	return attrs
}

// headerSafe accepts a value that fits on one header line: printable ASCII.
func headerSafe(v string, max int) bool {
	if len(v) > max {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// newMessageID is a random (version 4) UUID.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// seqMessageID names a message that arrived without a message id header
// (published to the queue's subject by something other than Send): a
// UUID-shaped id made of its stream sequence, the same on every receive.
func seqMessageID(seq uint64) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", seq&0xffffffffffff)
}

// readHeaders fills m's fields carried in h. stored is when JetStream
// stored the message, used when a header is missing.
func readHeaders(m *Message, h nats.Header, seq uint64, stored time.Time) {
	m.MessageID = h.Get(headerMessageID)
	if m.MessageID == "" {
		m.MessageID = seqMessageID(seq)
	}
	m.SentAt = stored
	if v := h.Get(headerSentAt); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			m.SentAt = t
		}
	}
	m.Attributes = decodeAttributes(h.Get(headerAttributes))
	m.MD5OfMessageAttributes = md5OfAttributes(m.Attributes)
	m.TraceParent = h.Get(headerTrace)
	if info, ok := deadletter.FromHeaders(h.Get); ok {
		m.DeadLetter = &info
	}
}
