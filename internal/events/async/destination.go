package async

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kinds of destinations.
const (
	KindQueue    = "queue"
	KindTopic    = "topic"
	KindFunction = "function"
)

// Destination is where an invocation record goes.
type Destination struct {
	Kind string // KindQueue, KindTopic or KindFunction
	Name string
}

// String is ParseDestination's form, "kind:name".
func (d Destination) String() string { return d.Kind + ":" + d.Name }

// ParseDestination reads "queue:NAME", "topic:NAME" or "function:NAME". The
// ARN of an SQS queue, an SNS topic or a Lambda function (as the Lambda API
// names destinations) is read too; a function ARN's qualifier is ignored,
// because destinations run a function's $LATEST.
func ParseDestination(s string) (Destination, error) {
	if strings.HasPrefix(s, "arn:") {
		return parseDestinationARN(s)
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		return Destination{}, fmt.Errorf("destination %q: want queue:NAME, topic:NAME or function:NAME: %w", s, ErrInvalid)
	}
	d := Destination{Kind: kind, Name: name}
	if err := d.validate(); err != nil {
		return Destination{}, fmt.Errorf("destination %q: %w", s, err)
	}
	return d, nil
}

// parseDestinationARN reads arn:PARTITION:sqs|sns|lambda:REGION:ACCOUNT:...
func parseDestinationARN(s string) (Destination, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 {
		return Destination{}, fmt.Errorf("destination %q: malformed ARN: %w", s, ErrInvalid)
	}
	var d Destination
	switch service, rest := parts[2], parts[5]; service {
	case "sqs":
		d = Destination{Kind: KindQueue, Name: rest}
	case "sns":
		d = Destination{Kind: KindTopic, Name: rest}
	case "lambda":
		name, ok := strings.CutPrefix(rest, "function:")
		if !ok {
			return Destination{}, fmt.Errorf("destination %q: not a function ARN: %w", s, ErrInvalid)
		}
		name, _, _ = strings.Cut(name, ":")
		d = Destination{Kind: KindFunction, Name: name}
	default:
		return Destination{}, fmt.Errorf("destination %q: service %q: want sqs, sns or lambda: %w", s, service, ErrInvalid)
	}
	if err := d.validate(); err != nil {
		return Destination{}, fmt.Errorf("destination %q: %w", s, err)
	}
	return d, nil
}

func (d Destination) validate() error {
	switch d.Kind {
	case KindFunction:
		if !validFunctionName(d.Name) {
			return fmt.Errorf("function name %q: want 1-64 letters, digits, '-' or '_': %w", d.Name, ErrInvalid)
		}
	case KindQueue, KindTopic:
		if !validResourceName(d.Name) {
			return fmt.Errorf("%s name %q: want 1-256 letters, digits, '-', '_' or '.': %w", d.Kind, d.Name, ErrInvalid)
		}
	default:
		return fmt.Errorf("kind %q: want queue, topic or function: %w", d.Kind, ErrInvalid)
	}
	return nil
}

// validResourceName accepts queue and topic names: 1-256 letters, digits,
// '-', '_' and '.' (SQS and SNS names, with FIFO's ".fifo").
func validResourceName(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Record is the invocation record sent to a destination, in AWS Lambda's
// shape.
type Record struct {
	Version         string           `json:"version"`   // "1.0"
	Timestamp       string           `json:"timestamp"` // RFC 3339, milliseconds, UTC
	RequestContext  RequestContext   `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload,omitempty"`
	ResponseContext *ResponseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

// RequestContext identifies the invocation of a Record.
type RequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionARN            string `json:"functionArn"`
	Condition              string `json:"condition"` // a Condition constant
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext describes the last attempt of a Record; absent when the
// function never ran.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"` // "Unhandled" on error
}

// record builds env's destination record.
func (s *Service) record(env *envelope, now time.Time) []byte {
	ev := &env.Event
	qualifier := ev.Qualifier
	if qualifier == "" {
		qualifier = "$LATEST"
	}
	r := Record{
		Version:   "1.0",
		Timestamp: now.UTC().Format("2006-01-02T15:04:05.000Z"),
		RequestContext: RequestContext{
			RequestID:              ev.RequestID,
			FunctionARN:            "arn:aws:lambda:" + s.cfg.Region + ":" + s.cfg.AccountID + ":function:" + ev.Function + ":" + qualifier,
			Condition:              env.outcome,
			ApproximateInvokeCount: len(ev.Attempts),
		},
		RequestPayload: jsonValue(ev.Payload),
	}
	var last *Attempt
	if n := len(ev.Attempts); n > 0 {
		last = &ev.Attempts[n-1]
		r.ResponseContext = &ResponseContext{StatusCode: 200, ExecutedVersion: last.Version}
		if env.outcome != ConditionSuccess {
			r.ResponseContext.FunctionError = "Unhandled"
		}
	}
	switch {
	case len(env.response) > 0:
		r.ResponsePayload = jsonValue(env.response)
	case env.outcome == ConditionSuccess:
		// Nothing kept (a function that returned nothing): null, as AWS.
		if last != nil {
			r.ResponsePayload = json.RawMessage("null")
		}
	case last != nil && last.Error != "":
		r.ResponsePayload = errorDocument(last.Error, last.ErrorType)
	default:
		r.ResponsePayload = errorDocument(env.reason, "")
	}
	b, _ := json.Marshal(r) // cannot fail: every raw value is valid JSON
	if len(b) > MaxRecordBytes {
		r.ResponsePayload = nil
		if b, _ = json.Marshal(r); len(b) > MaxRecordBytes {
			r.RequestPayload = nil
			b, _ = json.Marshal(r)
		}
	}
	return b
}

// jsonValue is b when it is JSON, else b as a JSON string.
func jsonValue(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(strings.ToValidUTF8(string(b), "\uFFFD"))
	return s
}

// errorDocument is a Lambda error payload.
func errorDocument(msg, typ string) json.RawMessage {
	b, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType,omitempty"`
	}{msg, typ})
	return b
}
