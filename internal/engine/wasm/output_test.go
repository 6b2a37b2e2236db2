package wasm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gureum/gureum/internal/engine"
)

func TestLogSinkSpotsOutOfMemory(t *testing.T) {
	for _, writes := range [][]string{
		{"fatal error: out of memory\n"},
		{"runtime: out of memory: cannot allocate 4194304-byte block\n"},
		{"fatal error: ", "out of memory", "\n"},
		{"fatal error: out of m", "emory\n"},
		{"out", " ", "of", " ", "memory"},
		strings.Split("...out of memory...", ""), // byte by byte
	} {
		var log bytes.Buffer
		var s logSink
		s.watch = true
		s.point(&log)
		for _, w := range writes {
			if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("write %q: %d, %v", w, n, err)
			}
		}
		if !s.oom {
			t.Errorf("%q: out of memory not spotted", writes)
		}
		if log.String() != strings.Join(writes, "") {
			t.Errorf("log %q", log.String())
		}
		s.point(nil)
		if s.oom {
			t.Error("point does not forget")
		}
	}

	for _, writes := range [][]string{
		{"out of mem", "\n", "ory"},
		{"all good"},
		{strings.Repeat("out of memor", 3)},
	} {
		var s logSink
		s.watch = true
		for _, w := range writes {
			_, _ = s.Write([]byte(w))
		}
		if s.oom {
			t.Errorf("%q: out of memory reported", writes)
		}
	}
}

func TestCaptureLimit(t *testing.T) {
	var c capture
	chunk := make([]byte, 1<<20)
	for range engine.MaxResponseBytes >> 20 {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write([]byte("!")); !errors.Is(err, errOutputTooLarge) || !c.tooLarge {
		t.Errorf("write past the limit: %v", err)
	}
	c.reset()
	if c.tooLarge || c.buf != nil {
		t.Error("reset keeps state")
	}
}
