//go:build linux

package process

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// chunkLog records each Write separately.
type chunkLog struct {
	mu     sync.Mutex
	chunks []string
}

func (l *chunkLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.chunks = append(l.chunks, string(p))
	l.mu.Unlock()
	return len(p), nil
}

func (l *chunkLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.chunks, "")
}

// wholeLines reports whether every chunk but the last ends a line.
func (l *chunkLog) wholeLines() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, c := range l.chunks {
		if i < len(l.chunks)-1 && !strings.HasSuffix(c, "\n") {
			return false
		}
	}
	return true
}

func TestOutputRoutesWholeLines(t *testing.T) {
	idle := &chunkLog{}
	o, stdout, stderr, err := newOutput(idle)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.pump(i)
		}()
	}
	write := func(f interface{ WriteString(string) (int, error) }, s string) {
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}

	write(stdout, "between requests\npart")
	req1 := &chunkLog{}
	o.attach(req1)
	write(stdout, "ial line\n")
	write(stderr, "an error line\n")
	write(stdout, "no line end")
	o.detach()

	write(stdout, strings.Repeat("x", lineMax+10)+"\n")
	req2 := &chunkLog{}
	o.attach(req2)
	write(stdout, "second\n")
	o.detach()

	if got := idle.text(); got != "between requests\n"+strings.Repeat("x", lineMax+10)+"\n" {
		t.Errorf("idle log holds %d bytes: %.60q", len(got), got)
	}
	got := req1.text()
	for _, want := range []string{"partial line\n", "an error line\n", "no line end"} {
		if !strings.Contains(got, want) {
			t.Errorf("request 1 log %q lacks %q", got, want)
		}
	}
	if len(got) != len("partial line\nan error line\nno line end") || !req1.wholeLines() {
		t.Errorf("request 1 log %q in chunks %q", got, req1.chunks)
	}
	if got := req2.text(); got != "second\n" {
		t.Errorf("request 2 log %q", got)
	}

	stdout.Close()
	stderr.Close()
	wg.Wait() // the pumps end at the end of their streams
	o.close()
}

func TestCrashReport(t *testing.T) {
	o := &output{dst: &bytes.Buffer{}}
	o.emitLocked([]byte("starting\nfatal error: runtime: out of memory\n\nruntime stack:\nruntime.throw()\n"))
	o.emitLocked([]byte(strings.Repeat("goroutine frame\n", 5)))
	report, oom := o.crashReport(3)
	if report != "fatal error: runtime: out of memory\n\nruntime stack:" || !oom {
		t.Errorf("crashReport = %q, %v", report, oom)
	}
	o = &output{dst: &bytes.Buffer{}}
	o.emitLocked([]byte("one\ntwo\nthree\n"))
	if report, oom := o.crashReport(2); report != "two\nthree" || oom {
		t.Errorf("crashReport = %q, %v", report, oom)
	}
}
