package wasm

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
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
//
// wazero frees a module's memory when the module is closed, and a module is
// closed while its guest may still be running (a timeout, or Close from
// another goroutine; the guest stops at its next check). Unmapping then
// would pull the memory from under the guest and crash the process, so the
// instance brackets every guest call with enter and leave, and the mapping
// goes when it is both freed and idle.
type mappedMemory struct {
	addr unsafe.Pointer
	buf  []byte // the reservation, len == the maximum

	mu    sync.Mutex
	calls int  // guest calls running
	freed bool // wazero is done with it
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

// Free implements experimental.LinearMemory: it unmaps the memory at once,
// or after the guest call running now.
func (m *mappedMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.freed = true
	m.unmapLocked()
}

// enter reports whether the memory may be used, and if so holds it mapped
// until leave.
func (m *mappedMemory) enter() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed {
		return false
	}
	m.calls++
	return true
}

// leave ends what enter began.
func (m *mappedMemory) leave() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls--
	m.unmapLocked()
}

// written implements pageToucher: it reads the kernel's page map of the
// memory, where a page still shared with the image is a file page and one
// the instance wrote is anonymous.
func (m *mappedMemory) written(n uint64) []pageRun {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.addr == nil {
		return nil
	}
	ps := uint64(os.Getpagesize())
	pages := min(n, uint64(len(m.buf))) / ps
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil
	}
	defer f.Close()
	entries := make([]byte, pages*8)
	if _, err := f.ReadAt(entries, int64(uint64(uintptr(m.addr))/ps*8)); err != nil {
		return nil
	}
	const (
		present = 1 << 63
		file    = 1 << 61 // a file page or shared anonymous memory
	)
	var runs []pageRun
	for i := range pages {
		e := binary.LittleEndian.Uint64(entries[i*8:])
		if e&present == 0 || e&file != 0 {
			continue
		}
		if k := len(runs); k > 0 && uint64(runs[k-1].first+runs[k-1].count) == i {
			runs[k-1].count++
		} else {
			runs = append(runs, pageRun{first: uint32(i), count: 1})
		}
	}
	return runs
}

// populate implements pageToucher with madvise(MADV_POPULATE_WRITE), which
// breaks copy-on-write sharing of the pages as writes would, in one call
// per run. Kernels before 5.14 do not know it; the pages are then left to
// fault as they are written.
func (m *mappedMemory) populate(runs []pageRun) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := os.Getpagesize()
	for _, r := range runs {
		off, n := int(r.first)*ps, int(r.count)*ps
		if m.addr == nil || off+n > len(m.buf) {
			return
		}
		if err := unix.Madvise(m.buf[off:off+n], unix.MADV_POPULATE_WRITE); err != nil {
			return
		}
	}
}

func (m *mappedMemory) unmapLocked() {
	if m.freed && m.calls == 0 && m.addr != nil {
		_ = unix.MunmapPtr(m.addr, uintptr(len(m.buf)))
		m.addr, m.buf = nil, nil
	}
}
