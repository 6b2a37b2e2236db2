package wasm

import (
	"fmt"
	"os"

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
