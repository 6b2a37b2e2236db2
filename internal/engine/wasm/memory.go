package wasm

import (
	"fmt"
	"os"

	"github.com/tetratelabs/wazero/experimental"
)

// copiedMemory is a linear memory that starts as a copy of an image: the
// fallback when the image cannot be mapped.
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
