package wasm

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryGuard is implemented by a linear memory that must stay mapped
// while a guest call runs (mappedMemory): a reactor whose memory is one
// brackets every call into the guest with enter and leave, and does not
// call when enter reports the memory gone.
type memoryGuard interface {
	enter() bool
	leave()
}

// pageToucher is implemented by a linear memory mapped from an image
// (mappedMemory on Linux): it can say which of its pages the instance has
// written, and write pages ahead of use, so that the copy-on-write faults a
// restored instance's first invocation would take are taken before it.
type pageToucher interface {
	// written returns the pages among the first n bytes that no longer
	// are the image's: copied on write, or written past its end.
	written(n uint64) []pageRun
	// populate makes the pages of runs the instance's own, as writing them
	// would, without changing their contents. It is a hint: it may do
	// nothing.
	populate(runs []pageRun)
}

// pageRun is a run of count host pages from page first of a linear memory.
type pageRun struct{ first, count uint32 }

// hotPages are the pages of an image that restored instances write early:
// in their restore hook and first invocations. Instances made ahead of
// need (standby) write them before they are taken.
type hotPages struct {
	mu      sync.Mutex
	pages   []bool      // by host page
	invoked atomic.Bool // an invocation's pages are in (or being added)
}

// add records runs.
func (h *hotPages) add(runs []pageRun) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range runs {
		end := int(r.first + r.count)
		if end > len(h.pages) {
			h.pages = append(h.pages, make([]bool, end-len(h.pages))...)
		}
		for i := int(r.first); i < end; i++ {
			h.pages[i] = true
		}
	}
}

// learnInvocation reports whether the pages of an invocation are still to
// be recorded, and if so claims that for the caller. After the first, it
// costs every invocation one atomic load.
func (h *hotPages) learnInvocation() bool {
	return !h.invoked.Load() && h.invoked.CompareAndSwap(false, true)
}

// runs returns the hot pages as runs.
func (h *hotPages) runs() []pageRun {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []pageRun
	for i, hot := range h.pages {
		if !hot {
			continue
		}
		if k := len(out); k > 0 && int(out[k-1].first+out[k-1].count) == i {
			out[k-1].count++
		} else {
			out = append(out, pageRun{first: uint32(i), count: 1})
		}
	}
	return out
}

// copiedMemory is a linear memory that starts as a copy of an image: the
// fallback when the image cannot be mapped. Go's garbage collector keeps
// it while wazero uses it.
type copiedMemory struct{ buf []byte }

// copyImage returns a linear memory of at most limit bytes that starts as
// a copy of the first size bytes of file. When the file cannot be read it
// returns an empty memory, which wazero can still use, and the error.
func copyImage(file *os.File, size, limit uint64) (experimental.LinearMemory, error) {
	limit = max(limit, size)
	buf := make([]byte, size, limit)
	if n, err := file.ReadAt(buf, 0); uint64(n) != size {
		return &copiedMemory{buf: make([]byte, 0, limit)}, fmt.Errorf("read the memory image: %w", err)
	}
	return &copiedMemory{buf: buf}, nil
}

// Reallocate implements experimental.LinearMemory.
func (m *copiedMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.buf)) {
		return nil
	}
	if size > uint64(len(m.buf)) {
		clear(m.buf[len(m.buf):size])
	}
	m.buf = m.buf[:size]
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *copiedMemory) Free() { m.buf = nil }
