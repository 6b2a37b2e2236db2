//go:build wasip1

package gureum

import (
	crand "crypto/rand"
	"math/rand/v2"
	"syscall"
	"unsafe"
)

// Go's runtime keeps the pseudo-random state behind math/rand, math/rand/v2
// and map seeds in its one M (wasm has no threads), as an
// internal/chacha8rand.State: buf [32]uint64, seed [4]uint64, i, n, c uint32.
// A snapshot copies it, so every restored instance would draw the same
// sequence. gureum_snapshot finds the state before the host takes the
// image; gureum_restore overwrites its buffer and seed with fresh entropy.
const (
	randStateBytes = 32*8 + 4*8 // buf and seed: what gureum_restore refills
	randStateI     = randStateBytes
)

// randState is the address of the runtime's random state, found by
// gureum_snapshot; 0 before.
var randState uintptr

// gureumSnapshot prepares the instance for a snapshot the host is about to
// take of it. memSize is the size of linear memory. It returns 0 when the
// snapshot may be taken, 1 when the runtime's random state was not found,
// in which case restored instances would share it.
//
//go:wasmexport gureum_snapshot
func gureumSnapshot(memSize uint32) uint32 {
	randState = findRandState(memSize)
	if randState == 0 {
		return 1
	}
	return 0
}

// gureumRestore is called by the host once in every instance started from
// a snapshot, before any invocation (ABI.md, "Snapshots"). It gives the
// instance its own random state, sets up again the host-side state that
// initialization set and the snapshot does not hold, then runs the
// OnRestore hooks.
//
//go:wasmexport gureum_restore
func gureumRestore() {
	if randState != 0 {
		_, _ = crand.Read(memory(randState, randStateBytes))
	}
	// syscall's init made stdio non-blocking.
	for fd := range 3 {
		_ = syscall.SetNonblock(fd, true)
	}
	instanceID = newInstanceID()
	for _, f := range restoreHooks {
		f()
	}
}

// findRandState returns the address of the runtime's chacha8 state: it
// draws two values and looks for them, adjacent, in a buffer whose index
// field says that exactly they were drawn last. It returns 0 unless one
// place in memory matches.
func findRandState(memSize uint32) uintptr {
	if memSize < 4096 {
		return 0
	}
	// words[w] is at address 8+8w: address 0 cannot be sliced.
	words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(memory(8, int(memSize)-8)))), (memSize-8)/8)
	for range 4 { // a refill between the two draws moves them; draw again
		x1, x2 := rand.Uint64(), rand.Uint64()
		var found uintptr
		matches := 0
		for w := 0; w+1 < len(words); w++ {
			if words[w] != x1 || words[w+1] != x2 {
				continue
			}
			// x1 is buf[k]; then i is k+2 and n is 32 (or 28 before a reseed).
			for k := 0; k <= 30 && k <= w; k++ {
				iw := w - k + randStateI/8 // the word holding i (low half) and n
				if iw >= len(words) {
					continue
				}
				i, n := uint32(words[iw]), uint32(words[iw]>>32)
				if i == uint32(k+2) && (n == 32 || n == 28) {
					found = 8 + uintptr(w-k)*8
					matches++
				}
			}
		}
		if matches == 1 {
			return found
		}
		if matches > 1 {
			return 0
		}
	}
	return 0
}

// memoryAnchor gives memory a pointer to derive addresses from.
var memoryAnchor byte

// memory is n bytes of linear memory at addr.
func memory(addr uintptr, n int) []byte {
	p := unsafe.Pointer(&memoryAnchor)
	return unsafe.Slice((*byte)(unsafe.Add(p, int(addr)-int(uintptr(p)))), n)
}
