package wasm

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// oomMarker is what Go's runtime prints when memory.grow fails at the cap
// ("fatal error: out of memory"). It may arrive split over several writes.
const oomMarker = "out of memory"

// logSink is where a guest's stdout or stderr goes: the log of the request
// being served, repointed by the instance for each invocation. A sink for
// stderr also watches for the runtime's out-of-memory message, so a crash
// can be reported as such. Write errors of the log are not the guest's
// concern and are dropped.
type logSink struct {
	w         io.Writer
	watch     bool
	oom       bool
	carry     [len(oomMarker) - 1]byte // tail of the previous write
	carryLen  int
	joinSpace [2*len(oomMarker) - 2]byte
}

// point directs the sink at w (nil discards) and forgets what it has seen.
func (s *logSink) point(w io.Writer) {
	s.w = w
	s.oom = false
	s.carryLen = 0
}

func (s *logSink) Write(p []byte) (int, error) {
	if s.watch && !s.oom {
		s.scan(p)
	}
	if s.w != nil {
		_, _ = s.w.Write(p)
	}
	return len(p), nil
}

// scan looks for oomMarker in p and across the boundary with the previous
// write, without allocating.
func (s *logSink) scan(p []byte) {
	const n = len(oomMarker) - 1
	if bytes.Contains(p, []byte(oomMarker)) {
		s.oom = true
		return
	}
	if s.carryLen > 0 {
		j := append(s.joinSpace[:0], s.carry[:s.carryLen]...)
		j = append(j, p[:min(len(p), n)]...)
		if bytes.Contains(j, []byte(oomMarker)) {
			s.oom = true
			return
		}
	}
	if len(p) >= n {
		s.carryLen = copy(s.carry[:], p[len(p)-n:])
		return
	}
	// Keep the last n bytes of carry+p.
	keep := min(s.carryLen, n-len(p))
	copy(s.carry[:], s.carry[s.carryLen-keep:s.carryLen])
	s.carryLen = keep + copy(s.carry[keep:], p)
}

// errOutputTooLarge stops a command writing past the response limit.
var errOutputTooLarge = errors.New("response exceeds the payload limit")

// capture collects a command's stdout as its response, up to the limit.
type capture struct {
	buf      []byte
	tooLarge bool
}

func (c *capture) reset() {
	c.buf, c.tooLarge = nil, false
}

func (c *capture) Write(p []byte) (int, error) {
	if len(c.buf)+len(p) > engine.MaxResponseBytes {
		c.tooLarge = true
		return 0, errOutputTooLarge
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// sleeper is the guest's nanosleep: a real sleep that ends early when the
// invocation's context is done, so a guest sleeping past its deadline is
// stopped at the deadline rather than when it wakes. wazero's own sleep
// cannot be interrupted.
type sleeper struct {
	done <-chan struct{}
}

func (s *sleeper) sleep(ns int64) {
	if ns <= 0 {
		return
	}
	if s.done == nil {
		time.Sleep(time.Duration(ns))
		return
	}
	t := time.NewTimer(time.Duration(ns))
	select {
	case <-t.C:
	case <-s.done:
		t.Stop()
	}
}
