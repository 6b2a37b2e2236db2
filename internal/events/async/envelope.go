package async

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Headers of an event's message. The body is the payload, untouched, so the
// accept path never re-encodes it; everything else travels in headers.
const (
	HeaderRequestID   = "Gureum-Request-Id"
	HeaderFunction    = "Gureum-Function"
	HeaderQualifier   = "Gureum-Qualifier"
	HeaderTrigger     = "Gureum-Trigger"
	HeaderSource      = "Gureum-Source"
	HeaderTraceParent = "traceparent"
	HeaderAcceptedAt  = "Gureum-Accepted-At" // RFC 3339 with nanoseconds, UTC
	HeaderAttempts    = "Gureum-Attempts"    // JSON array of Attempt
	// Set on an event whose outcome is decided but whose record or
	// dead-letter delivery failed and waits to be tried again.
	HeaderOutcome       = "Gureum-Outcome"        // a Condition
	HeaderReason        = "Gureum-Reason"         // why it failed, one line
	HeaderResponseBytes = "Gureum-Response-Bytes" // the body ends with this many bytes of the function's response
	HeaderDeferrals     = "Gureum-Deferrals"      // failed deliveries so far
)

// Conditions of a destination record (requestContext.condition).
const (
	ConditionSuccess          = "Success"
	ConditionRetriesExhausted = "RetriesExhausted"
	ConditionEventAgeExceeded = "EventAgeExceeded"
)

// maxStoredAttempts bounds the attempt list a decoder accepts; the worker
// never records more than MaxRetries+1.
const maxStoredAttempts = 16

// maxErrorBytes bounds an attempt's error message and a failure reason.
const maxErrorBytes = 1024

// envelope is an event and the state the worker keeps with it.
type envelope struct {
	Event
	outcome   string // "" until decided
	reason    string // failure reason, with outcome
	response  []byte // the function's last response, with outcome; may be nil
	deferrals int    // failed deliveries of the outcome
}

// encode builds the message of env on subject.
func encode(env *envelope, subject string) *nats.Msg {
	ev := &env.Event
	m := nats.NewMsg(subject)
	h := m.Header
	h.Set(HeaderRequestID, ev.RequestID)
	h.Set(HeaderFunction, ev.Function)
	setIf(h, HeaderQualifier, ev.Qualifier)
	setIf(h, HeaderTrigger, ev.Trigger)
	setIf(h, HeaderSource, ev.Source)
	setIf(h, HeaderTraceParent, ev.TraceParent)
	h.Set(HeaderAcceptedAt, ev.AcceptedAt.UTC().Format(time.RFC3339Nano))
	if len(ev.Attempts) > 0 {
		b, _ := json.Marshal(ev.Attempts) // cannot fail: plain fields
		h.Set(HeaderAttempts, string(b))
	}
	m.Data = ev.Payload
	if env.outcome != "" {
		h.Set(HeaderOutcome, env.outcome)
		setIf(h, HeaderReason, oneLine(env.reason))
		if len(env.response) > 0 {
			h.Set(HeaderResponseBytes, strconv.Itoa(len(env.response)))
			m.Data = append(append(make([]byte, 0, len(ev.Payload)+len(env.response)), ev.Payload...), env.response...)
		}
		if env.deferrals > 0 {
			h.Set(HeaderDeferrals, strconv.Itoa(env.deferrals))
		}
	}
	return m
}

func setIf(h nats.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}

// decode reads an event's message back. It checks what the worker relies
// on and returns an error wrapping ErrInvalid otherwise.
func decode(h nats.Header, data []byte) (*envelope, error) {
	env := &envelope{}
	ev := &env.Event
	ev.RequestID = h.Get(HeaderRequestID)
	ev.Function = h.Get(HeaderFunction)
	ev.Qualifier = h.Get(HeaderQualifier)
	ev.Trigger = h.Get(HeaderTrigger)
	ev.Source = h.Get(HeaderSource)
	ev.TraceParent = h.Get(HeaderTraceParent)
	if ev.RequestID == "" {
		return nil, fmt.Errorf("no %s header: %w", HeaderRequestID, ErrInvalid)
	}
	if !validFunctionName(ev.Function) {
		return nil, fmt.Errorf("%s %q: %w", HeaderFunction, ev.Function, ErrInvalid)
	}
	at, err := time.Parse(time.RFC3339Nano, h.Get(HeaderAcceptedAt))
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", HeaderAcceptedAt, err, ErrInvalid)
	}
	ev.AcceptedAt = at.UTC()
	if a := h.Get(HeaderAttempts); a != "" {
		if err := json.Unmarshal([]byte(a), &ev.Attempts); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", HeaderAttempts, err, ErrInvalid)
		}
		if len(ev.Attempts) > maxStoredAttempts {
			return nil, fmt.Errorf("%s: %d attempts: %w", HeaderAttempts, len(ev.Attempts), ErrInvalid)
		}
	}
	payload := data
	if env.outcome = h.Get(HeaderOutcome); env.outcome != "" {
		switch env.outcome {
		case ConditionSuccess, ConditionRetriesExhausted, ConditionEventAgeExceeded:
		default:
			return nil, fmt.Errorf("%s %q: %w", HeaderOutcome, env.outcome, ErrInvalid)
		}
		env.reason = h.Get(HeaderReason)
		if v := h.Get(HeaderResponseBytes); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > len(data) {
				return nil, fmt.Errorf("%s %q with a body of %d bytes: %w", HeaderResponseBytes, v, len(data), ErrInvalid)
			}
			payload, env.response = data[:len(data)-n], data[len(data)-n:]
		}
		if v := h.Get(HeaderDeferrals); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s %q: %w", HeaderDeferrals, v, ErrInvalid)
			}
			env.deferrals = n
		}
	}
	ev.Payload = payload
	return env, nil
}

// msgSize is the size a message takes against the server's max_payload.
func msgSize(m *nats.Msg) int {
	n := len(m.Data) + len("NATS/1.0\r\n\r\n")
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// oneLine keeps s to one header-safe line of at most maxErrorBytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > maxErrorBytes {
		s = strings.ToValidUTF8(s[:maxErrorBytes], "")
	}
	return strings.TrimSpace(s)
}
