package schedule

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// event returns what the function receives for tick: sc.Input when set,
// otherwise the EventBridge scheduled event.
func (s *Service) event(sc Schedule, tick time.Time) ([]byte, error) {
	if len(sc.Input) > 0 {
		return sc.Input, nil
	}
	return json.Marshal(events.CloudWatchEvent{
		Version:    "0",
		ID:         newUUID(),
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		AccountID:  s.cfg.AccountID,
		Time:       tick.UTC().Truncate(time.Second),
		Region:     s.cfg.Region,
		Resources:  []string{"arn:aws:events:" + s.cfg.Region + ":" + s.cfg.AccountID + ":rule/" + RuleName(sc.ID)},
		Detail:     json.RawMessage("{}"),
	})
}

// RuleName is the EventBridge rule name a schedule's events name as their
// resource: the schedule ID with every character a rule name cannot hold
// (anything but letters, digits, '.', '-' and '_') replaced by '-', so
// "resize/0" is rule "resize-0".
func RuleName(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '-'
	}, id)
}

// leaseKey is the KV key of one tick of one schedule:
// "<escaped id>.<tick in Unix seconds>". Letters, digits, '-' and '/' of
// the id stay as they are; every other byte becomes _XX (hex), so that two
// ids never share a key.
func leaseKey(id string, tick time.Time) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
	}
	b.WriteByte('.')
	b.WriteString(strconv.FormatInt(tick.Unix(), 10))
	return b.String()
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails; see crypto/rand.Read
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
