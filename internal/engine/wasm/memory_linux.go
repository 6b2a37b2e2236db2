package wasm

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// memoryFile keeps a memory image in an anonymous in-memory file, which
// restored instances map copy-on-write.
func memoryFile(mem []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("gureum-snapshot", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "gureum-snapshot")
	if _, err := f.Write(mem); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// mappedMemory is a linear memory whose first pages map a memory image
// copy-on-write: a restored instance shares every page of the image it
// does not write with every other instance restored from it. The whole
// maximum is reserved up front, so the memory never moves.
type mappedMemory struct {
	addr unsafe.Pointer
	buf  []byte // the reservation, len == the maximum
}

// mapImage returns a linear memory of at most limit bytes that starts as
// the first size bytes of file. When the mapping fails it falls back to a
// copy.
func mapImage(file *os.File, size, limit uint64) (experimental.LinearMemory, error) {
	limit = max(limit, size)
	addr, err := unix.MmapPtr(-1, 0, nil, uintptr(limit), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return copyImage(file, size, limit)
	}
	if size > 0 {
		if _, err := unix.MmapPtr(int(file.Fd()), 0, addr, uintptr(size), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
			_ = unix.MunmapPtr(addr, uintptr(limit))
			return copyImage(file, size, limit)
		}
	}
	return &mappedMemory{addr: addr, buf: unsafe.Slice((*byte)(addr), limit)}, nil
}

// Reallocate implements experimental.LinearMemory. The memory never moves.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() {
	if m.addr != nil {
		_ = unix.MunmapPtr(m.addr, uintptr(len(m.buf)))
		m.addr, m.buf = nil, nil
	}
}
