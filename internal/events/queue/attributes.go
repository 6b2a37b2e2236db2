package queue

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers match with errors.Is. Every error the package returns for
// one of these reasons wraps the sentinel and says what to change.
var (
	ErrNotFound       = errors.New("queue not found")
	ErrExists         = errors.New("queue exists")
	ErrInvalid        = errors.New("invalid queue request")
	ErrTooLarge       = errors.New("message too large")
	ErrReceiptInvalid = errors.New("receipt handle invalid")
	ErrEmptyBatch     = errors.New("empty batch")
	ErrTooManyEntries = errors.New("too many entries in batch")
	ErrClosed         = errors.New("queue service shut down")
)

// Limits of attributes and requests (the SQS ones).
const (
	MaxNameLen        = 80
	MaxVisibility     = 12 * time.Hour
	MinRetention      = time.Minute
	MaxRetention      = 14 * 24 * time.Hour
	MaxDelay          = 15 * time.Minute
	MaxMaxReceives    = 1000
	MinMessageBytes   = 1024
	MaxMessageBytes   = 1 << 20
	MaxBatchEntries   = 10
	MaxReceiveBatch   = 10
	MaxWait           = 20 * time.Second
	MaxAttributeCount = 10
)

// Attributes are the settings of a queue.
type Attributes struct {
	Visibility      time.Duration // default 30s; 0..12h
	Retention       time.Duration // default 96h (4 days); 1m..336h (14 days)
	Delay           time.Duration // default 0; 0..15m
	MaxReceives     int           // 0 = no redrive; 1..1000 when DLQ is set
	DLQ             string        // dead-letter queue name ("" = none); must exist when set and not be the queue itself
	MaxMessageBytes int           // default 262144; 1024..1048576
}

// DefaultAttributes are SQS's defaults.
func DefaultAttributes() Attributes {
	return Attributes{
		Visibility:      30 * time.Second,
		Retention:       96 * time.Hour,
		MaxMessageBytes: 256 << 10,
	}
}

// Validate reports the first attribute out of range; the error wraps
// ErrInvalid and names the accepted range. It cannot check that the DLQ
// exists; Ensure does.
func (a Attributes) Validate() error {
	switch {
	case a.Visibility < 0 || a.Visibility > MaxVisibility:
		return fmt.Errorf("visibility %s: want 0s to 12h: %w", a.Visibility, ErrInvalid)
	case a.Retention < MinRetention || a.Retention > MaxRetention:
		return fmt.Errorf("retention %s: want 1m to 336h (14 days): %w", a.Retention, ErrInvalid)
	case a.Delay < 0 || a.Delay > MaxDelay:
		return fmt.Errorf("delay %s: want 0s to 15m: %w", a.Delay, ErrInvalid)
	case a.MaxMessageBytes < MinMessageBytes || a.MaxMessageBytes > MaxMessageBytes:
		return fmt.Errorf("max message bytes %d: want 1024 to 1048576: %w", a.MaxMessageBytes, ErrInvalid)
	case a.MaxReceives < 0 || a.MaxReceives > MaxMaxReceives:
		return fmt.Errorf("max receives %d: want 1 to 1000 with a dead-letter queue, or 0 for none: %w", a.MaxReceives, ErrInvalid)
	case a.DLQ == "" && a.MaxReceives != 0:
		return fmt.Errorf("max receives %d without a dead-letter queue: set dlq too, or max receives to 0: %w", a.MaxReceives, ErrInvalid)
	case a.DLQ != "" && a.MaxReceives == 0:
		return fmt.Errorf("dead-letter queue %s without max receives: set max receives (1 to 1000): %w", a.DLQ, ErrInvalid)
	}
	if a.DLQ != "" {
		if err := ValidName(a.DLQ); err != nil {
			return fmt.Errorf("dead-letter queue: %w", err)
		}
	}
	return nil
}

// ValidName accepts queue names of 1 to 80 letters, digits, '-' and '_'.
// Such a name is also a safe NATS subject token, stream name and KV key.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("queue name %q: want 1 to 80 characters: %w", name, ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("queue name %q: only letters, digits, '-' and '_' are allowed: %w", name, ErrInvalid)
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// validEntryID applies SQS's batch entry id rule: 1 to 80 letters, digits,
// '-' and '_'.
func validEntryID(id string) error {
	if id == "" || len(id) > 80 {
		return fmt.Errorf("entry id %q: want 1 to 80 characters: %w", id, ErrInvalid)
	}
	for i := 0; i < len(id); i++ {
		if !nameByte(id[i]) {
			return fmt.Errorf("entry id %q: only letters, digits, '-' and '_' are allowed: %w", id, ErrInvalid)
		}
	}
	return nil
}
