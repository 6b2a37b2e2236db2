package queue

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// A receipt handle is the JetStream ack subject of one delivery,
// base64url-encoded without padding. The ack subject names the stream, the
// consumer, the delivery count and the stream sequence, so a handle
// identifies the delivery it came from and nothing else: parseReceipt
// accepts only a well-formed ack subject, and the caller then checks that
// its stream and consumer are the queue's. Nothing a client sends is ever
// published to a subject other than such a checked ack subject.

// maxReceiptLen bounds a handle (SQS allows 1024 characters).
const maxReceiptLen = 1024

// receipt is a parsed receipt handle: the metadata in an ack subject.
type receipt struct {
	subject   string // the ack subject
	stream    string
	consumer  string
	delivered uint64 // delivery count of this delivery
	streamSeq uint64
	stamp     int64 // when the message was stored, Unix nanoseconds
}

func encodeReceipt(ackSubject string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(ackSubject))
}

// parseReceipt decodes a handle and parses its ack subject.
func parseReceipt(handle string) (receipt, error) {
	if handle == "" || len(handle) > maxReceiptLen {
		return receipt{}, fmt.Errorf("want 1 to 1024 characters: %w", ErrReceiptInvalid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(handle)
	// The decoder skips line breaks; only the canonical form is a handle.
	if err != nil || encodeReceipt(string(raw)) != handle {
		return receipt{}, fmt.Errorf("not base64url: %w", ErrReceiptInvalid)
	}
	return parseAckSubject(string(raw))
}

// parseAckSubject parses the two forms of ack subjects:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
//	$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>[.<token>]
func parseAckSubject(subject string) (receipt, error) {
	invalid := func(why string) (receipt, error) {
		return receipt{}, fmt.Errorf("%s: %w", why, ErrReceiptInvalid)
	}
	rest, ok := strings.CutPrefix(subject, "$JS.ACK.")
	if !ok {
		return invalid("not a delivery")
	}
	tokens := strings.Split(rest, ".")
	for _, t := range tokens {
		if !subjectToken(t) {
			return invalid("malformed")
		}
	}
	switch len(tokens) {
	case 7:
	case 9, 10:
		tokens = tokens[2:]
	default:
		return invalid("malformed")
	}
	// tokens: stream consumer delivered sseq dseq ts pending [token]
	var nums [5]uint64
	for i := range nums {
		n, err := strconv.ParseUint(tokens[2+i], 10, 64)
		if err != nil {
			return invalid("malformed")
		}
		nums[i] = n
	}
	if nums[0] == 0 || nums[1] == 0 || nums[2] == 0 {
		return invalid("malformed")
	}
	return receipt{subject: subject, stream: tokens[0], consumer: tokens[1], delivered: nums[0], streamSeq: nums[1],
		stamp: int64(nums[3] & (1<<63 - 1))}, nil
}

// subjectToken accepts a non-empty subject token of printable ASCII
// without wildcards.
func subjectToken(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= ' ' || c >= 0x7f || c == '*' || c == '>' {
			return false
		}
	}
	return true
}
