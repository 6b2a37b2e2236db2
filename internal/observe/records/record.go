package records

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gureum/gureum/internal/jsontext"
)

// Triggers: what started an invocation (Record.Trigger).
const (
	TriggerHTTP        = "http"
	TriggerDirect      = "direct"
	TriggerLambdaAPI   = "lambda-api"
	TriggerAsync       = "async"
	TriggerQueue       = "queue"
	TriggerTopic       = "topic"
	TriggerSchedule    = "schedule"
	TriggerReplay      = "replay"
	TriggerDestination = "destination"
	TriggerBucket      = "bucket"
)

// Outcomes of an invocation (Record.Outcome).
const (
	OutcomeSuccess   = "success"
	OutcomeError     = "error"      // the function returned or raised an error
	OutcomeTimeout   = "timeout"    // the function ran out of time
	OutcomeThrottled = "throttled"  // refused at the concurrency limit; nothing ran
	OutcomeInitError = "init_error" // the instance failed to initialize
)

// Record is what one invocation leaves behind.
type Record struct {
	RequestID string `json:"requestId"`
	Function  string `json:"function"`
	Version   string `json:"version"`
	Trigger   string `json:"trigger"`           // one of the Trigger constants
	Source    string `json:"source,omitempty"`  // route key "GET /orders/{id}", queue or topic ARN, schedule id, ...
	TraceID   string `json:"traceId,omitempty"` // 32 hex digits
	// Start is when the function was handed the event (after any init).
	Start        time.Time     `json:"start"`
	Cold         bool          `json:"cold"`
	InitDuration time.Duration `json:"initDurationNs"`
	Duration     time.Duration `json:"durationNs"`
	MemoryMiB    int           `json:"memoryMiB"`
	Outcome      string        `json:"outcome"` // one of the Outcome constants; "" counts as success
	ErrorType    string        `json:"errorType,omitempty"`
	// BilledMs is the billed run time rounded up to the millisecond (see
	// Billing; the invoker decides whether it includes InitDuration), 0
	// when throttled (nothing ran). Left 0 with GBSeconds by the caller,
	// the store fills both in from Duration and MemoryMiB.
	BilledMs  int64   `json:"billedMs"`
	GBSeconds float64 `json:"gbSeconds"` // MemoryMiB/1024 × BilledMs/1000
	Node      string  `json:"node,omitempty"`
}

// Failed reports whether the invocation did not succeed: an error, a
// timeout, an init error or a throttle.
func (r Record) Failed() bool {
	return r.Outcome != OutcomeSuccess && r.Outcome != ""
}

// End is when the invocation finished: Start + Duration.
func (r Record) End() time.Time { return r.Start.Add(r.Duration) }

// Billing returns the billed duration of a run of d, rounded up to the next
// millisecond (1 ns bills 1 ms, exactly 5 ms bills 5 ms; d ≤ 0 bills
// nothing), and the GB-seconds it makes with memMiB of memory:
// memMiB/1024 × billedMs/1000.
func Billing(d time.Duration, memMiB int) (billedMs int64, gbSeconds float64) {
	if d <= 0 {
		return 0, 0
	}
	billedMs = int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		billedMs++
	}
	if memMiB <= 0 {
		return billedMs, 0
	}
	return billedMs, float64(memMiB) * float64(billedMs) / (1024 * 1000)
}

// maxField caps each stored string of a record; longer ones are cut (at a
// UTF-8 boundary). Identifiers are far shorter; this bounds what a stray
// error type or source can cost.
const maxField = 1 << 10

// cutField cuts s to at most maxField bytes without splitting a character.
func cutField(s string) string {
	if len(s) <= maxField {
		return s
	}
	i := maxField
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// normalize prepares r for storage: strings cut, Start in UTC, billing
// filled in (and zeroed for a throttle). It reports false for a record that
// cannot be stored (a start time outside years 0–9999, which JSON's time
// format cannot hold).
func normalize(r *Record) bool {
	r.RequestID = cutField(r.RequestID)
	r.Function = cutField(r.Function)
	r.Version = cutField(r.Version)
	r.Trigger = cutField(r.Trigger)
	r.Source = cutField(r.Source)
	r.TraceID = cutField(r.TraceID)
	r.Outcome = cutField(r.Outcome)
	r.ErrorType = cutField(r.ErrorType)
	r.Node = cutField(r.Node)
	r.Start = r.Start.UTC()
	if y := r.Start.Year(); y < 0 || y > 9999 {
		return false
	}
	switch {
	case r.Outcome == OutcomeThrottled:
		r.BilledMs, r.GBSeconds = 0, 0
	case r.BilledMs == 0 && r.GBSeconds == 0:
		r.BilledMs, r.GBSeconds = Billing(r.Duration, r.MemoryMiB)
	case r.BilledMs < 0:
		r.BilledMs = 0
	}
	if math.IsNaN(r.GBSeconds) || math.IsInf(r.GBSeconds, 0) || r.GBSeconds < 0 {
		r.GBSeconds = 0
	}
	return true
}

// appendRecord appends the JSON of r, byte for byte as json.Marshal writes
// it, without reflection: the flusher encodes every invocation's record.
// r must be normalized (finite GBSeconds, Start within years 0–9999).
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"requestId":`...)
	b = jsontext.AppendStringHTML(b, r.RequestID)
	b = append(b, `,"function":`...)
	b = jsontext.AppendStringHTML(b, r.Function)
	b = append(b, `,"version":`...)
	b = jsontext.AppendStringHTML(b, r.Version)
	b = append(b, `,"trigger":`...)
	b = jsontext.AppendStringHTML(b, r.Trigger)
	if r.Source != "" {
		b = append(b, `,"source":`...)
		b = jsontext.AppendStringHTML(b, r.Source)
	}
	if r.TraceID != "" {
		b = append(b, `,"traceId":`...)
		b = jsontext.AppendStringHTML(b, r.TraceID)
	}
	b = append(b, `,"start":"`...)
	b = r.Start.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","cold":`...)
	b = strconv.AppendBool(b, r.Cold)
	b = append(b, `,"initDurationNs":`...)
	b = strconv.AppendInt(b, int64(r.InitDuration), 10)
	b = append(b, `,"durationNs":`...)
	b = strconv.AppendInt(b, int64(r.Duration), 10)
	b = append(b, `,"memoryMiB":`...)
	b = strconv.AppendInt(b, int64(r.MemoryMiB), 10)
	b = append(b, `,"outcome":`...)
	b = jsontext.AppendStringHTML(b, r.Outcome)
	if r.ErrorType != "" {
		b = append(b, `,"errorType":`...)
		b = jsontext.AppendStringHTML(b, r.ErrorType)
	}
	b = append(b, `,"billedMs":`...)
	b = strconv.AppendInt(b, r.BilledMs, 10)
	b = append(b, `,"gbSeconds":`...)
	b = appendFloat(b, r.GBSeconds)
	if r.Node != "" {
		b = append(b, `,"node":`...)
		b = jsontext.AppendStringHTML(b, r.Node)
	}
	return append(b, '}')
}

// appendFloat writes a finite float64 as encoding/json does: the shortest
// representation, in exponent form only below 1e-6 or from 1e21 on, with a
// one-digit negative exponent written without its leading zero.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// decodeBatch calls each for every record in a stored batch (JSON lines),
// skipping lines that are not a record, and stops at the first error each
// returns.
func decodeBatch(data []byte, each func(*Record) error) error {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			continue
		}
		var r Record
		if json.Unmarshal(line, &r) != nil {
			continue // not a record: keep the rest of the batch readable
		}
		if err := each(&r); err != nil {
			return err
		}
	}
	return nil
}
