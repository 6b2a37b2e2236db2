// Package host is the boundary between running functions and the node: what
// a function may ask of the node (publish to a topic, send to a queue, and
// later kv, blob and http), the check of its grants, and the two ways in —
// an engine.Host handed to each wasm invocation, and an HTTP API for process
// functions.
//
// Every call goes the same way whichever runtime made it: decode the JSON
// request (InvalidParameter when malformed; unknown fields are refused, so a
// newer SDK's option is never silently dropped), check it against the
// limits, check the caller's grants (AccessDenied naming the missing grant),
// then call Services, the node's implementation, and map its error to a
// stable code through the sentinels of this package.
//
// # Operations
//
//	publish  {"topic", "subject"?, "message", "attributes"?}      → {"messageId"}
//	send     {"queue", "body", "delaySeconds"?, "attributes"?}     → {"messageId"}
//
// An attribute is {"dataType", "stringValue"?, "binaryValue"? (base64)}.
// Errors are {"code", "message"} (Error). The storage operations (kv.*,
// blob.*) are described in storage.go, the outbound HTTP operation in
// fetch.go.
//
// # Limits
//
// A request is at most MaxRequestBytes of JSON. A message — its body plus the
// names, types and values of its attributes, as SQS and SNS count it — is at
// most MaxMessageBytes, with at most MaxAttributes attributes. A subject is
// at most 100 characters without control characters; a delay is 0 to 900
// seconds. Attribute names have 1 to 256 characters of A-Z a-z 0-9 _ - .,
// neither start nor end with a period nor hold two in a row, and do not start
// with "AWS." or "Amazon."; a data type is String, Number or Binary,
// optionally followed by ".label"; a Number must parse as a finite number.
package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gureum/gureum/internal/engine"
)

// Operations.
const (
	OpPublish = "publish"
	OpSend    = "send"
)

// Limits on what a function may ask; see the package documentation.
const (
	MaxRequestBytes = 16 << 20  // JSON of one request (a blob.put body is base64 in it)
	MaxMessageBytes = 256 << 10 // body and attributes of one message
	MaxAttributes   = 10
	MaxSubjectChars = 100
	MaxDelaySeconds = 900
	maxNameChars    = 256 // attribute names
)

// Grants are the names a function may use, per capability, from the
// permissions of its manifest. "*" allows any name.
type Grants struct {
	Publish []string // topics
	Send    []string // queues
	Tables  []string // "NAME:MODE", MODE r, w or rw
	Buckets []string // "NAME:MODE"
	HTTP    []string // hosts: "api.example.com", "host:8443", "*.example.com", "*"
}

// Caller is who makes a host call: the function version, its grants, and the
// invocation it serves.
type Caller struct {
	Function    string
	Version     string
	RequestID   string
	TraceParent string // W3C traceparent of the invocation; may be empty
	Grants      Grants
}

// Attribute is a message attribute, as SQS and SNS have them.
type Attribute struct {
	DataType    string `json:"dataType"` // String, Number or Binary, optionally with ".label"
	StringValue string `json:"stringValue,omitempty"`
	BinaryValue []byte `json:"binaryValue,omitempty"`
}

// PublishInput is a message for a topic.
type PublishInput struct {
	Topic      string               `json:"topic"`
	Subject    string               `json:"subject,omitempty"`
	Message    string               `json:"message"`
	Attributes map[string]Attribute `json:"attributes,omitempty"`
}

// SendInput is a message for a queue.
type SendInput struct {
	Queue        string               `json:"queue"`
	Body         string               `json:"body"`
	DelaySeconds int                  `json:"delaySeconds,omitempty"`
	Attributes   map[string]Attribute `json:"attributes,omitempty"`
}

// Output is the answer of publish and send.
type Output struct {
	MessageID string `json:"messageId"`
}

// Services is what the node does for host calls once they are allowed. The
// input has been validated and the caller's grants checked. Errors wrap
// ErrNotFound (no such topic or queue), ErrInvalid, ErrTooLarge or
// ErrUnavailable to reach the guest with that code; any other error is
// Internal. The error's text is the message the function sees, so it should
// be a sentence a user can act on and name the topic or queue.
type Services interface {
	Publish(ctx context.Context, c Caller, in PublishInput) (messageID string, err error)
	Send(ctx context.Context, c Caller, in SendInput) (messageID string, err error)
}

// Host checks host calls and hands them to Services. It is safe for
// concurrent use.
type Host struct {
	svc       Services
	storage   Storage
	transport http.RoundTripper
	span      SpanFunc
}

// SpanFunc starts a span for a host call that leaves the node (http) and
// returns the traceparent to send along and a function that ends the span.
type SpanFunc func(ctx context.Context, c Caller, name string) (traceparent string, end func(error))

// Options are what a Host serves beyond Services.
type Options struct {
	// Storage serves kv.* and blob.*; nil answers them Unavailable.
	Storage Storage
	// Transport makes outbound HTTP requests; nil = a transport of its own
	// that uses no proxy.
	Transport http.RoundTripper
	// Span traces outbound HTTP requests; nil = none, the caller's
	// traceparent is sent as it is.
	Span SpanFunc
}

// New returns a Host that serves allowed calls with svc.
func New(svc Services) *Host {
	return NewWith(svc, Options{})
}

// NewWith returns a Host that serves allowed calls with svc and opts.
func NewWith(svc Services, opts Options) *Host {
	h := &Host{svc: svc, storage: opts.Storage, transport: opts.Transport, span: opts.Span}
	if h.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		h.transport = t
	}
	if h.span == nil {
		h.span = func(_ context.Context, c Caller, _ string) (string, func(error)) {
			return c.TraceParent, func(error) {}
		}
	}
	return h
}

// Bind returns the engine.Host of one invocation of c.Function: every call
// is checked against c.Grants and served on c's behalf.
func (h *Host) Bind(c Caller) engine.Host {
	return &binding{h: h, c: c}
}

type binding struct {
	h *Host
	c Caller
}

// Call serves one operation. Errors are *Error values.
func (b *binding) Call(ctx context.Context, op string, req []byte) ([]byte, error) {
	resp, err := b.h.call(ctx, b.c, op, req)
	if err != nil {
		return nil, ErrorOf(err)
	}
	return resp, nil
}

// known reports whether op is an operation.
func known(op string) bool {
	return op == OpPublish || op == OpSend || op == OpHTTP || storageOp(op)
}

// call decodes, checks and serves one operation.
func (h *Host) call(ctx context.Context, c Caller, op string, req []byte) ([]byte, error) {
	if len(req) > MaxRequestBytes {
		return nil, errorf(CodeTooLarge, fmt.Sprintf("%s request of %d bytes is over the limit of %d", op, len(req), MaxRequestBytes))
	}
	var id string
	switch op {
	case OpPublish:
		var in PublishInput
		if err := decode(req, &in); err != nil {
			return nil, errorf(CodeInvalidParameter, "publish: "+err.Error())
		}
		if err := checkPublish(in); err != nil {
			return nil, err
		}
		if !allowed(c.Grants.Publish, in.Topic) {
			return nil, denied(c.Function, "publish to topic", "publish", in.Topic)
		}
		if err := checkSize(in.Topic, "topic", len(in.Message), in.Attributes); err != nil {
			return nil, err
		}
		var err error
		if id, err = h.svc.Publish(ctx, c, in); err != nil {
			return nil, err
		}
	case OpSend:
		var in SendInput
		if err := decode(req, &in); err != nil {
			return nil, errorf(CodeInvalidParameter, "send: "+err.Error())
		}
		if err := checkSend(in); err != nil {
			return nil, err
		}
		if !allowed(c.Grants.Send, in.Queue) {
			return nil, denied(c.Function, "send to queue", "send", in.Queue)
		}
		if err := checkSize(in.Queue, "queue", len(in.Body), in.Attributes); err != nil {
			return nil, err
		}
		var err error
		if id, err = h.svc.Send(ctx, c, in); err != nil {
			return nil, err
		}
	case OpHTTP:
		return marshal(h.fetch(ctx, c, req))
	default:
		if storageOp(op) {
			return marshal(h.callStorage(ctx, c, op, req))
		}
		return nil, errorf(CodeNotFound, fmt.Sprintf("unknown host operation %q", op))
	}
	return json.Marshal(Output{MessageID: id})
}

// marshal encodes an operation's answer.
func marshal(v any, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// decode reads exactly one JSON object into v and nothing else.
func decode(req []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(req))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed request: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("malformed request: data after the JSON object")
	}
	return nil
}

// allowed reports whether grants allow name.
func allowed(grants []string, name string) bool {
	for _, g := range grants {
		if g == "*" || g == name {
			return true
		}
	}
	return false
}

// denied is the AccessDenied error for an ungranted call, naming the grant
// that would allow it.
func denied(function, action, key, name string) *Error {
	return errorf(CodeAccessDenied, fmt.Sprintf("function %s may not %s %s: grant it in gureum.yaml with permissions: {%s: [%s]}",
		function, action, name, key, name))
}

func checkPublish(in PublishInput) error {
	if in.Topic == "" {
		return errorf(CodeInvalidParameter, "publish: no topic")
	}
	if in.Message == "" {
		return errorf(CodeInvalidParameter, "publish to topic "+in.Topic+": empty message")
	}
	if n := utf8.RuneCountInString(in.Subject); n > MaxSubjectChars {
		return errorf(CodeInvalidParameter, fmt.Sprintf("publish to topic %s: subject of %d characters is over the limit of %d", in.Topic, n, MaxSubjectChars))
	}
	if strings.ContainsFunc(in.Subject, isControl) {
		return errorf(CodeInvalidParameter, "publish to topic "+in.Topic+": the subject holds a control character")
	}
	return checkAttributes("publish to topic "+in.Topic, in.Attributes)
}

func checkSend(in SendInput) error {
	if in.Queue == "" {
		return errorf(CodeInvalidParameter, "send: no queue")
	}
	if in.Body == "" {
		return errorf(CodeInvalidParameter, "send to queue "+in.Queue+": empty body")
	}
	if in.DelaySeconds < 0 || in.DelaySeconds > MaxDelaySeconds {
		return errorf(CodeInvalidParameter, fmt.Sprintf("send to queue %s: delay of %d seconds is outside 0..%d", in.Queue, in.DelaySeconds, MaxDelaySeconds))
	}
	return checkAttributes("send to queue "+in.Queue, in.Attributes)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkAttributes checks attributes' number, names, types and values.
func checkAttributes(what string, attrs map[string]Attribute) error {
	if len(attrs) > MaxAttributes {
		return errorf(CodeInvalidParameter, fmt.Sprintf("%s: %d attributes, at most %d allowed", what, len(attrs), MaxAttributes))
	}
	for name, a := range attrs {
		if err := checkAttributeName(name); err != nil {
			return errorf(CodeInvalidParameter, fmt.Sprintf("%s: attribute %q: %v", what, name, err))
		}
		if err := checkAttribute(a); err != nil {
			return errorf(CodeInvalidParameter, fmt.Sprintf("%s: attribute %s: %v", what, name, err))
		}
	}
	return nil
}

func checkAttributeName(name string) error {
	if name == "" || len(name) > maxNameChars {
		return fmt.Errorf("a name has 1 to %d characters", maxNameChars)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return errors.New("a name holds only A-Z a-z 0-9 _ - .")
		}
	}
	if name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return errors.New("a name neither starts nor ends with a period nor holds two in a row")
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return errors.New(`names starting with "AWS." or "Amazon." are reserved`)
	}
	return nil
}

func checkAttribute(a Attribute) error {
	base, label, hasLabel := strings.Cut(a.DataType, ".")
	if hasLabel && (label == "" || strings.ContainsFunc(label, isControl)) {
		return fmt.Errorf("malformed data type %q", a.DataType)
	}
	switch base {
	case "String", "Number":
		if a.StringValue == "" || a.BinaryValue != nil {
			return fmt.Errorf("a %s attribute has a stringValue and no binaryValue", base)
		}
		if base == "Number" {
			f, err := strconv.ParseFloat(a.StringValue, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return fmt.Errorf("%q is not a finite number", a.StringValue)
			}
		}
	case "Binary":
		if len(a.BinaryValue) == 0 || a.StringValue != "" {
			return errors.New("a Binary attribute has a binaryValue and no stringValue")
		}
	default:
		return fmt.Errorf("data type %q is not String, Number or Binary", a.DataType)
	}
	return nil
}

// checkSize checks a message's size as SQS and SNS count it: the body and
// each attribute's name, data type and value.
func checkSize(name, kind string, body int, attrs map[string]Attribute) error {
	n := body
	for k, a := range attrs {
		n += len(k) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	if n > MaxMessageBytes {
		return errorf(CodeTooLarge, fmt.Sprintf("message of %d bytes for %s %s is over the limit of %d", n, kind, name, MaxMessageBytes))
	}
	return nil
}
