package process

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
)

const (
	// lineMax is the longest line kept whole; a longer one is written in
	// pieces of this size.
	lineMax = 64 << 10
	// tailMax is how much of the latest output is kept for error messages.
	tailMax = 8 << 10
)

// output routes an instance's stdout and stderr, line by line, to the log of
// the request in progress, or to the instance's own log between requests.
//
// Every read from the pipes happens with mu held, and the pipes are
// non-blocking. So after drainLocked nothing the process wrote before that
// moment is still on its way: a result posted over the Runtime API is
// preceded in the log by everything written before it.
type output struct {
	mu      sync.Mutex
	scratch [8 << 10]byte // what a read brings, until it is written
	dst     io.Writer     // where complete lines go now
	idle    io.Writer     // where they go between requests
	tail    []byte        // the latest output, for error messages
	oom     bool          // the output since attach reports a failed allocation
	crash   []byte        // the start of the first Go crash report since attach
	streams [2]stream
	closed  bool
}

type stream struct {
	file    *os.File
	conn    syscall.RawConn
	partial []byte // the start of a line waiting for its end
	eof     bool
}

// newOutput creates the stdout and stderr pipes. The caller passes the
// write ends to the process and closes them once it started.
func newOutput(idle io.Writer) (o *output, stdout, stderr *os.File, err error) {
	o = &output{dst: idle, idle: idle}
	var writers [2]*os.File
	for i := range o.streams {
		r, w, err := os.Pipe()
		if err != nil {
			o.closeFiles()
			closeAll(writers[:])
			return nil, nil, nil, err
		}
		conn, err := r.SyscallConn()
		if err != nil {
			r.Close()
			w.Close()
			o.closeFiles()
			closeAll(writers[:])
			return nil, nil, nil, err
		}
		o.streams[i] = stream{file: r, conn: conn}
		writers[i] = w
	}
	return o, writers[0], writers[1], nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// pump copies stream i until the process and its children closed it or the
// output is closed. It runs in its own goroutine.
func (o *output) pump(i int) {
	s := &o.streams[i]
	for {
		var done bool
		err := s.conn.Read(func(fd uintptr) bool {
			o.mu.Lock()
			defer o.mu.Unlock()
			done = o.fillLocked(s, fd)
			return done
		})
		if err != nil || done {
			return
		}
	}
}

// fillLocked reads what the pipe holds without blocking and writes the
// complete lines. It reports whether the stream ended.
func (o *output) fillLocked(s *stream, fd uintptr) bool {
	for !s.eof {
		n, err := readFD(fd, o.scratch[:])
		if n > 0 {
			o.linesLocked(s, o.scratch[:n])
		}
		switch {
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN):
			return false
		case err != nil || n == 0:
			s.eof = true
			o.emitLocked(s.partial)
			s.partial = nil
		}
	}
	return true
}

// linesLocked writes the complete lines of s.partial+data, each in one
// piece, and keeps the rest in s.partial. A line longer than lineMax is
// written in pieces.
func (o *output) linesLocked(s *stream, data []byte) {
	if len(s.partial) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.partial = append(s.partial, data...)
			if len(s.partial) >= lineMax {
				o.emitLocked(s.partial)
				s.partial = s.partial[:0]
			}
			return
		}
		s.partial = append(s.partial, data[:i+1]...)
		o.emitLocked(s.partial)
		s.partial = s.partial[:0]
		data = data[i+1:]
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	o.emitLocked(data[:end])
	if rest := data[end:]; len(rest) > 0 {
		s.partial = append(s.partial, rest...)
	}
}

func (o *output) emitLocked(p []byte) {
	if len(p) == 0 {
		return
	}
	_, _ = o.dst.Write(p) // a failing log must not fail the function
	if !o.oom {
		o.oom = mentionsOOM(p)
	}
	if len(o.crash) == 0 {
		o.crash = append(o.crash, crashStart(p)...)
	}
	if len(p) >= tailMax {
		o.tail = append(o.tail[:0], p[len(p)-tailMax:]...)
		return
	}
	if over := len(o.tail) + len(p) - tailMax; over > 0 {
		o.tail = o.tail[:copy(o.tail, o.tail[over:])]
	}
	o.tail = append(o.tail, p...)
}

// drainLocked takes in everything the pipes hold now and writes the
// complete lines to the current destination, and with partial the
// unfinished lines too.
func (o *output) drainLocked(partial bool) {
	if o.closed {
		return
	}
	for i := range o.streams {
		s := &o.streams[i]
		_ = s.conn.Control(func(fd uintptr) { o.fillLocked(s, fd) }) // a closed pipe holds nothing
	}
	if partial {
		for i := range o.streams {
			s := &o.streams[i]
			o.emitLocked(s.partial)
			s.partial = s.partial[:0]
		}
	}
}

// attach sends output to w until detach. Lines completed before go to the
// previous destination; a line begun before goes whole to w.
func (o *output) attach(w io.Writer) {
	o.mu.Lock()
	o.drainLocked(false)
	o.dst = w
	o.oom = false
	o.crash = o.crash[:0]
	o.mu.Unlock()
}

// detach sends everything written until now, unfinished lines included, to
// the request's log and the output from now on to the instance's log.
func (o *output) detach() {
	o.mu.Lock()
	o.drainLocked(true)
	o.dst = o.idle
	o.mu.Unlock()
}

// close drains the pipes and closes them, which ends the pumps even when a
// process that escaped the instance's process group still holds them. After
// close returns no log is written again.
func (o *output) close() {
	o.mu.Lock()
	o.drainLocked(true)
	o.closed = true
	o.dst = io.Discard
	o.mu.Unlock()
	o.closeFiles()
}

func (o *output) closeFiles() {
	for i := range o.streams {
		if f := o.streams[i].file; f != nil {
			f.Close()
		}
	}
}

// crashReport returns up to n lines of output that explain a crash: the
// start of a Go crash report ("panic:", "fatal error:") written since the
// current request began, or else the latest lines (where a Python traceback
// ends with its exception). oom reports whether the output since the
// request began tells of a failed allocation.
func (o *output) crashReport(n int) (text string, oom bool) {
	o.mu.Lock()
	t := string(o.tail)
	full := len(o.tail) == tailMax
	fromCrash := len(o.crash) > 0
	if fromCrash {
		t, full = string(o.crash), false
	}
	oom = o.oom
	o.mu.Unlock()
	if i := strings.IndexByte(t, '\n'); full && i >= 0 {
		t = t[i+1:] // the first line was cut
	}
	t = strings.TrimRight(t, "\n")
	if fromCrash {
		for i, lines := 0, 0; i < len(t); i++ {
			if t[i] == '\n' {
				if lines++; lines == n {
					return t[:i], oom
				}
			}
		}
		return t, oom
	}
	for i, lines := len(t)-1, 0; i >= 0; i-- {
		if t[i] == '\n' {
			if lines++; lines == n {
				return t[i+1:], oom
			}
		}
	}
	return t, oom
}

// crashStart returns up to 2 KiB of p from the first line that starts a Go
// crash report, or nil.
func crashStart(p []byte) []byte {
	for _, marker := range [...]string{"panic: ", "fatal error: "} {
		for i := 0; i < len(p); {
			j := bytes.Index(p[i:], []byte(marker))
			if j < 0 {
				break
			}
			if j += i; j == 0 || p[j-1] == '\n' {
				return p[j:min(len(p), j+2<<10)]
			}
			i = j + 1
		}
	}
	return nil
}

// mentionsOOM reports whether output says an allocation failed, in the
// words of the common runtimes (Go, Python, Node.js, Java, C++, glibc).
func mentionsOOM(p []byte) bool {
	for _, s := range [...]string{"out of memory", "Out of memory", "MemoryError", "annot allocate memory", "bad_alloc"} {
		if bytes.Contains(p, []byte(s)) {
			return true
		}
	}
	return false
}
