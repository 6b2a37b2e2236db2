package topic

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
)

// Message limits, as Amazon SNS sets them.
const (
	// MaxMessageSize bounds a message: its body plus, for every attribute,
	// name, data type and value.
	MaxMessageSize   = 256 << 10
	maxAttributes    = 10
	maxSubjectLen    = 100
	maxAttrNameLen   = 256
	maxDataTypeLen   = 256
	maxTraceParentLn = 512
)

// Headers of a message on a topic stream; the data is the body.
const (
	hdrMessageID   = "Gureum-Message-Id"
	hdrSubject     = "Gureum-Subject"
	hdrAttributes  = "Gureum-Attributes" // length of the attributes JSON that starts the data
	hdrTimestamp   = "Gureum-Timestamp"  // RFC 3339, UTC
	hdrTraceParent = "traceparent"       // W3C trace context
)

// Attribute is a message attribute as SNS defines it. DataType is String,
// Number, Binary or String.Array, optionally with a custom suffix
// ("Number.float", "Binary.png"); Binary attributes use BinaryValue, the
// others StringValue (a String.Array holds a JSON array).
type Attribute struct {
	DataType    string `json:"dataType"`
	StringValue string `json:"stringValue,omitempty"`
	BinaryValue []byte `json:"binaryValue,omitempty"`
}

// Message is a published message as every subscription sees it.
type Message struct {
	Topic       string
	MessageID   string
	Subject     string
	Body        string
	Attributes  map[string]Attribute
	Timestamp   time.Time
	TraceParent string
}

// PublishInput is what Publish sends.
type PublishInput struct {
	Subject     string
	Message     string
	Attributes  map[string]Attribute
	TraceParent string // W3C traceparent, carried to every delivery
}

// validateMessage checks m as SNS checks a Publish request.
func validateMessage(m *Message) error {
	if m.Body == "" {
		return invalidf("message body is empty")
	}
	if !utf8.ValidString(m.Body) {
		return invalidf("message body is not valid UTF-8")
	}
	if len(m.Subject) > maxSubjectLen {
		return invalidf("subject: %d characters, at most %d", len(m.Subject), maxSubjectLen)
	}
	if !printableASCII(m.Subject) {
		return invalidf("subject: only printable ASCII characters, no line breaks")
	}
	if len(m.TraceParent) > maxTraceParentLn || !printableASCII(m.TraceParent) {
		return invalidf("traceparent: want a W3C traceparent header value")
	}
	if len(m.Attributes) > maxAttributes {
		return invalidf("%d message attributes, at most %d", len(m.Attributes), maxAttributes)
	}
	size := len(m.Body)
	for name, a := range m.Attributes {
		if err := validateAttribute(name, a); err != nil {
			return err
		}
		size += len(name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	if size > MaxMessageSize {
		return errTooLarge(size)
	}
	return nil
}

func validateAttribute(name string, a Attribute) error {
	if err := validAttributeName(name); err != nil {
		return err
	}
	q := strconv.Quote(name)
	if len(a.DataType) > maxDataTypeLen {
		return invalidf("message attribute %s: data type longer than %d", q, maxDataTypeLen)
	}
	base := baseType(a.DataType)
	if base != "String.Array" && len(a.DataType) > len(base) && !validTypeLabel(a.DataType[len(base)+1:]) {
		return invalidf("message attribute %s: data type %q: a custom label after the dot may use letters, digits, '_', '-' and '.'", q, a.DataType)
	}
	switch base {
	case "String", "Number", "String.Array":
		if len(a.BinaryValue) > 0 {
			return invalidf("message attribute %s: a %s attribute takes stringValue, not binaryValue", q, base)
		}
		if a.StringValue == "" {
			return invalidf("message attribute %s: empty value", q)
		}
		if !utf8.ValidString(a.StringValue) {
			return invalidf("message attribute %s: value is not valid UTF-8", q)
		}
	case "Binary":
		if a.StringValue != "" {
			return invalidf("message attribute %s: a Binary attribute takes binaryValue, not stringValue", q)
		}
		if len(a.BinaryValue) == 0 {
			return invalidf("message attribute %s: empty value", q)
		}
		return nil
	default:
		return invalidf("message attribute %s: data type %q: want String, Number, Binary or String.Array", q, a.DataType)
	}
	switch base {
	case "Number":
		n, err := strconv.ParseFloat(a.StringValue, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return invalidf("message attribute %s: %q is not a number", q, a.StringValue)
		}
	case "String.Array":
		var arr []any
		if err := json.Unmarshal([]byte(a.StringValue), &arr); err != nil || arr == nil {
			return invalidf(`message attribute %s: a String.Array holds a JSON array, e.g. ["a", 1, true]`, q)
		}
		for _, v := range arr {
			switch v.(type) {
			case map[string]any, []any:
				return invalidf("message attribute %s: a String.Array holds strings, numbers, true, false and null only", q)
			}
		}
	}
	return nil
}

// validAttributeName applies SNS's rules for attribute names.
func validAttributeName(name string) error {
	q := strconv.Quote(name)
	switch {
	case name == "":
		return invalidf("message attribute: empty name")
	case len(name) > maxAttrNameLen:
		return invalidf("message attribute %s: name longer than %d", q, maxAttrNameLen)
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, ".."):
		return invalidf("message attribute %s: a name may not start or end with '.' or hold '..'", q)
	case hasPrefixFold(name, "AWS.") || hasPrefixFold(name, "Amazon."):
		return invalidf("message attribute %s: names beginning with AWS. or Amazon. are reserved", q)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(isAlnum(c) || c == '_' || c == '-' || c == '.') {
			return invalidf("message attribute %s: a name may use letters, digits, '_', '-' and '.'", q)
		}
	}
	return nil
}

func validTypeLabel(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// baseType is the SNS data type without its custom label.
func baseType(dt string) string {
	if dt == "String.Array" {
		return dt
	}
	base, _, _ := strings.Cut(dt, ".")
	return base
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// encodeMessage builds the stream message for m on subject. The data is
// the body, preceded by the attributes as a JSON object when there are
// any (its length in a header): attributes may hold far more than the
// 64 KiB JetStream allows for headers.
func encodeMessage(subject string, m *Message) *nats.Msg {
	nm := nats.NewMsg(subject)
	var attrs []byte
	if len(m.Attributes) > 0 {
		// Always succeeds: the map holds plain strings and byte slices.
		attrs, _ = json.Marshal(m.Attributes)
		nm.Header.Set(hdrAttributes, strconv.Itoa(len(attrs)))
	}
	nm.Data = make([]byte, 0, len(attrs)+len(m.Body))
	nm.Data = append(append(nm.Data, attrs...), m.Body...)
	nm.Header.Set(hdrMessageID, m.MessageID)
	nm.Header.Set(hdrTimestamp, m.Timestamp.UTC().Format(time.RFC3339Nano))
	if m.Subject != "" {
		nm.Header.Set(hdrSubject, m.Subject)
	}
	if m.TraceParent != "" {
		nm.Header.Set(hdrTraceParent, m.TraceParent)
	}
	return nm
}

// decodeMessage reads a stream message back. It never fails: whatever is
// missing or malformed stays empty, so that a message is always delivered
// or dead-lettered, never dropped.
func decodeMessage(topic string, header nats.Header, data []byte) Message {
	m := Message{
		Topic:       topic,
		MessageID:   header.Get(hdrMessageID),
		Subject:     header.Get(hdrSubject),
		TraceParent: header.Get(hdrTraceParent),
	}
	m.Timestamp, _ = time.Parse(time.RFC3339Nano, header.Get(hdrTimestamp))
	if v := header.Get(hdrAttributes); v != "" {
		n, err := strconv.Atoi(v)
		var attrs map[string]Attribute
		if err == nil && n >= 0 && n <= len(data) && json.Unmarshal(data[:n], &attrs) == nil {
			m.Attributes = attrs
			data = data[n:]
		}
	}
	m.Body = string(data)
	return m
}

// newUUID returns a random (version 4) UUID in its usual text form.
func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand panics instead)
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

// validUUID reports whether s has the text form of a UUID.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
