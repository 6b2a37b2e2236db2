// Package deadletter names where a dead-lettered message came from, so that
// every dead-letter queue can be listed, inspected and replayed the same way.
//
// In gureum every dead-letter queue is an ordinary queue. A message moved
// there carries an Info: its source (the queue it was received from, the
// function whose asynchronous invocation failed, or the topic subscription
// that could not deliver it), why it was moved, and how often it was tried.
// Replay sends the message back to its source.
//
// A source that has no dead-letter queue configured still never drops an
// event it accepted: it uses an automatic queue named by AutoQueue, created
// when it is first needed.
package deadletter

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kinds of sources.
const (
	KindQueue        = "queue"        // Name is the queue
	KindFunction     = "function"     // Name is the function (asynchronous invocation)
	KindSubscription = "subscription" // Name is the topic, Sub the subscription id
)

// Headers that carry an Info on a message in a dead-letter queue.
const (
	HeaderSource = "Gureum-Dlq-Source" // Source.String()
	HeaderReason = "Gureum-Dlq-Reason" // one line
	HeaderCount  = "Gureum-Dlq-Count"  // decimal
	HeaderAt     = "Gureum-Dlq-At"     // RFC 3339 with nanoseconds, UTC
)

// Source is where a dead-lettered message came from and where replay sends it.
type Source struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Sub  string `json:"subscription,omitempty"`
}

// String is the source's header form: "queue:orders", "function:resize",
// "subscription:order-events/fn-audit".
func (s Source) String() string {
	if s.Kind == KindSubscription {
		return s.Kind + ":" + s.Name + "/" + s.Sub
	}
	return s.Kind + ":" + s.Name
}

// ParseSource parses Source.String's form.
func ParseSource(v string) (Source, error) {
	kind, rest, ok := strings.Cut(v, ":")
	if !ok || rest == "" {
		return Source{}, fmt.Errorf("dead-letter source %q: want kind:name", v)
	}
	switch kind {
	case KindQueue, KindFunction:
		return Source{Kind: kind, Name: rest}, nil
	case KindSubscription:
		topic, sub, ok := strings.Cut(rest, "/")
		if !ok || topic == "" || sub == "" {
			return Source{}, fmt.Errorf("dead-letter source %q: want subscription:topic/id", v)
		}
		return Source{Kind: kind, Name: topic, Sub: sub}, nil
	default:
		return Source{}, fmt.Errorf("dead-letter source %q: unknown kind %q", v, kind)
	}
}

// Info describes why a message is in a dead-letter queue.
type Info struct {
	Source Source    `json:"source"`
	Reason string    `json:"reason"` // the last error
	Count  int       `json:"count"`  // receives or attempts made
	At     time.Time `json:"at"`     // when it was moved
}

// Headers returns info as header values, keyed by the Header constants.
func (i Info) Headers() map[string]string {
	return map[string]string{
		HeaderSource: i.Source.String(),
		HeaderReason: oneLine(i.Reason),
		HeaderCount:  strconv.Itoa(i.Count),
		HeaderAt:     i.At.UTC().Format(time.RFC3339Nano),
	}
}

// FromHeaders reads an Info back; ok is false when get finds no source.
func FromHeaders(get func(string) string) (Info, bool) {
	src, err := ParseSource(get(HeaderSource))
	if err != nil {
		return Info{}, false
	}
	i := Info{Source: src, Reason: get(HeaderReason)}
	i.Count, _ = strconv.Atoi(get(HeaderCount))
	i.At, _ = time.Parse(time.RFC3339Nano, get(HeaderAt))
	return i, true
}

// AutoQueue is the automatic dead-letter queue of a source with none
// configured: "fn-NAME-dlq" for a function's asynchronous invocations and
// "topic-NAME-dlq" for a topic's subscriptions.
func AutoQueue(s Source) string {
	switch s.Kind {
	case KindFunction:
		return "fn-" + s.Name + "-dlq"
	case KindSubscription:
		return "topic-" + s.Name + "-dlq"
	default:
		return s.Name + "-dlq"
	}
}

// oneLine keeps a reason to one header-safe line of at most 1 KiB.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r < 0x20 && r != '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = s[:1024]
	}
	return s
}
