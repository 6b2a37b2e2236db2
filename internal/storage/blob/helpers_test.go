package blob

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus"
)

// recorder is an EventSink that keeps what it gets; fail makes it fail.
type recorder struct {
	mu     sync.Mutex
	events []Event
	fail   error
}

func (r *recorder) ObjectEvent(_ context.Context, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

type env struct {
	t      *testing.T
	ctx    context.Context
	b      *bus.Bus
	s      *Store
	events *recorder
	dir    string
}

// newEnv starts an embedded JetStream and opens a Store on it.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), events: &recorder{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	e.start()
	return e
}

func (e *env) start() {
	e.t.Helper()
	b, err := bus.Start(e.ctx, bus.Config{DataDir: e.dir})
	if err != nil {
		e.t.Fatal(err)
	}
	e.b = b
	e.t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	s, err := Open(e.ctx, b.JetStream(), Config{Events: e.events})
	if err != nil {
		e.t.Fatal(err)
	}
	e.s = s
}

// restart stops the bus and starts it again on the same directory.
func (e *env) restart() {
	e.t.Helper()
	if err := e.b.Shutdown(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.start()
}

func (e *env) bucket(name string) string {
	e.t.Helper()
	if err := e.s.CreateBucket(e.ctx, name); err != nil {
		e.t.Fatal(err)
	}
	return name
}

func (e *env) put(bucket, key string, data []byte, opt PutOptions) ObjectInfo {
	e.t.Helper()
	info, err := e.s.Put(e.ctx, bucket, key, bytes.NewReader(data), int64(len(data)), opt)
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// read reads a whole object, or a range of it.
func (e *env) read(bucket, key string, opt GetOptions) ([]byte, *Object) {
	e.t.Helper()
	obj, err := e.s.Get(e.ctx, bucket, key, opt)
	if err != nil {
		e.t.Fatal(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		e.t.Fatal(err)
	}
	return data, obj
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// pattern returns n bytes that differ from chunk to chunk and within one.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// patternReader streams n bytes of a pattern without holding them.
type patternReader struct {
	n, off int64
	x      uint32
}

func newPatternReader(n int64, seed uint32) *patternReader { return &patternReader{n: n, x: seed} }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n-r.off {
		p = p[:r.n-r.off]
	}
	for i := range p {
		r.x = r.x*1664525 + 1013904223
		p[i] = byte(r.x >> 24)
	}
	r.off += int64(len(p))
	return len(p), nil
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
