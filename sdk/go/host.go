package gureum

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
)

// Codes of an [Error], as the node sends them.
const (
	CodeAccessDenied     = "AccessDenied"
	CodeNotFound         = "NotFound"
	CodeConditionFailed  = "ConditionFailed"
	CodeInvalidParameter = "InvalidParameter"
	CodeTooLarge         = "TooLarge"
	CodeUnavailable      = "Unavailable"
	CodeInternal         = "Internal"
)

// Sentinels an [*Error] matches, by its code, with errors.Is:
//
//	if errors.Is(err, gureum.ErrAccessDenied) { ... }
var (
	// ErrAccessDenied: the function's manifest does not grant the call.
	ErrAccessDenied = errors.New("access denied")
	// ErrNotFound: no such topic, queue, table, item, bucket or object.
	ErrNotFound = errors.New("not found")
	// ErrConditionFailed: a conditional write ([IfAbsent], [IfRevision])
	// found the item in another state; read it again and retry, or give up.
	ErrConditionFailed = errors.New("condition failed")
	// ErrInvalidParameter: a name, attribute, subject or delay the node
	// does not accept, or an option that does not apply to the call.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrTooLarge: the message is over the limit (256 KiB with its
	// attributes).
	ErrTooLarge = errors.New("too large")
	// ErrUnavailable: the node cannot serve the call now; it may succeed
	// later.
	ErrUnavailable = errors.New("unavailable")
)

// ErrNoHost is returned by host calls made where no gureum node is reachable:
// a process function whose environment has no GUREUM_HOST_URL, such as one
// running on AWS Lambda.
var ErrNoHost = errors.New("gureum: no gureum host to call: host calls work only in functions run by gureum (GUREUM_HOST_URL is not set)")

// Error is a host call the node refused or failed: a stable code (the Code
// constants) and a sentence that says what to do.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes an *Error match the sentinel of its code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrAccessDenied:
		return e.Code == CodeAccessDenied
	case ErrNotFound:
		return e.Code == CodeNotFound
	case ErrConditionFailed:
		return e.Code == CodeConditionFailed
	case ErrInvalidParameter:
		return e.Code == CodeInvalidParameter
	case ErrTooLarge:
		return e.Code == CodeTooLarge
	case ErrUnavailable:
		return e.Code == CodeUnavailable
	}
	return false
}

// A MessageOption adds to a message for [Publish] or [Send].
type MessageOption func(*message)

// message is what options set.
type message struct {
	subject  *string
	delay    *time.Duration
	attrs    map[string]attribute
	problems []string
}

// attribute is a message attribute in the host's JSON form.
type attribute struct {
	DataType    string `json:"dataType"`
	StringValue string `json:"stringValue,omitempty"`
	BinaryValue []byte `json:"binaryValue,omitempty"`
}

func (m *message) attr(name string, a attribute) {
	if m.attrs == nil {
		m.attrs = make(map[string]attribute)
	}
	m.attrs[name] = a
}

// WithSubject sets the subject of a message published to a topic (at most
// 100 characters), which email subscriptions use as their subject line.
// Publish only.
func WithSubject(s string) MessageOption {
	return func(m *message) { m.subject = &s }
}

// WithAttribute adds a String attribute, which subscriptions' filter
// policies can match and which reaches the receiving function as a message
// attribute.
func WithAttribute(name, value string) MessageOption {
	return func(m *message) { m.attr(name, attribute{DataType: "String", StringValue: value}) }
}

// WithNumberAttribute adds a Number attribute. v must be finite.
func WithNumberAttribute(name string, v float64) MessageOption {
	return func(m *message) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			m.problems = append(m.problems, "attribute "+name+" is not a finite number")
			return
		}
		m.attr(name, attribute{DataType: "Number", StringValue: formatNumber(v)})
	}
}

// WithBinaryAttribute adds a Binary attribute.
func WithBinaryAttribute(name string, v []byte) MessageOption {
	return func(m *message) { m.attr(name, attribute{DataType: "Binary", BinaryValue: v}) }
}

// WithDelay keeps a message sent to a queue invisible for d (whole seconds,
// rounded up; at most 15 minutes). Send only.
func WithDelay(d time.Duration) MessageOption {
	return func(m *message) {
		if d < 0 {
			m.problems = append(m.problems, "negative delay "+d.String())
			return
		}
		m.delay = &d
	}
}

// formatNumber writes v as encoding/json does: plain digits for everyday
// magnitudes, an exponent for very large or small ones.
func formatNumber(v float64) string {
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(v, 'e', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func collect(opts []MessageOption) (message, error) {
	var m message
	for _, o := range opts {
		if o != nil {
			o(&m)
		}
	}
	if len(m.problems) > 0 {
		return m, &Error{Code: CodeInvalidParameter, Message: m.problems[0]}
	}
	return m, nil
}

// Publish publishes message to a topic, which delivers it to every
// subscription (functions, queues, HTTP endpoints), and returns the message
// id. The function's manifest must grant it: permissions: {publish: [topic]}.
// Failures are [*Error] values (match them with errors.Is and the Err
// sentinels), or [ErrNoHost] outside gureum.
func Publish(ctx context.Context, topic, message string, opts ...MessageOption) (messageID string, err error) {
	m, err := collect(opts)
	if err != nil {
		return "", err
	}
	if m.delay != nil {
		return "", &Error{Code: CodeInvalidParameter, Message: "WithDelay applies to Send: a topic delivers at once"}
	}
	req := struct {
		Topic      string               `json:"topic"`
		Subject    string               `json:"subject,omitempty"`
		Message    string               `json:"message"`
		Attributes map[string]attribute `json:"attributes,omitempty"`
	}{Topic: topic, Message: message, Attributes: m.attrs}
	if m.subject != nil {
		req.Subject = *m.subject
	}
	return call(ctx, "publish", req)
}

// Send sends body to a queue and returns the message id. The function's
// manifest must grant it: permissions: {send: [queue]}. Failures are
// [*Error] values (match them with errors.Is and the Err sentinels), or
// [ErrNoHost] outside gureum.
func Send(ctx context.Context, queue, body string, opts ...MessageOption) (messageID string, err error) {
	m, err := collect(opts)
	if err != nil {
		return "", err
	}
	if m.subject != nil {
		return "", &Error{Code: CodeInvalidParameter, Message: "WithSubject applies to Publish: queue messages have no subject"}
	}
	req := struct {
		Queue        string               `json:"queue"`
		Body         string               `json:"body"`
		DelaySeconds int64                `json:"delaySeconds,omitempty"`
		Attributes   map[string]attribute `json:"attributes,omitempty"`
	}{Queue: queue, Body: body, Attributes: m.attrs}
	if m.delay != nil {
		req.DelaySeconds = int64((*m.delay + time.Second - 1) / time.Second)
	}
	return call(ctx, "send", req)
}

// call encodes req, makes the host call op and decodes the message id.
func call(ctx context.Context, op string, req any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return "", &Error{Code: CodeInvalidParameter, Message: err.Error()}
	}
	answer, err := hostCall(ctx, op, b)
	if err != nil {
		return "", err
	}
	var out struct {
		MessageID string `json:"messageId"`
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		return "", &Error{Code: CodeInternal, Message: op + ": malformed answer from the host: " + err.Error()}
	}
	return out.MessageID, nil
}

// hostError decodes the error document of a failed host call.
func hostError(op string, doc []byte) *Error {
	var e Error
	if json.Unmarshal(doc, &e) != nil || e.Code == "" {
		return &Error{Code: CodeInternal, Message: op + ": malformed error from the host: " + truncate(string(doc), 200)}
	}
	return &e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
