package gureum

import (
	crand "crypto/rand"
	"encoding/hex"
)

// restoreHooks run in every instance started from a snapshot; see OnRestore.
var restoreHooks []func()

// OnRestore registers f to run in every instance the host starts from a
// snapshot (a function with snapshot: true), before its first invocation.
// Call it from main or an init function, before Start.
//
// A snapshot copies the instance's memory as it was after initialization,
// so everything initialization computed is shared by every restored
// instance. The SDK gives each restored instance fresh state for Go's
// runtime generator, behind math/rand's and math/rand/v2's global
// functions and the seeds of maps made later, and crypto/rand is always
// fresh. But a generator the program made during initialization, say
// rand.New(rand.NewPCG(seed1, seed2)), and any value drawn from one
// (tokens, IDs), is the same in every restored instance: make such values
// per invocation, or reseed them here from crypto/rand. Clocks continue
// from the snapshot's; they never run backwards.
//
// Outside a snapshot, f never runs.
func OnRestore(f func()) {
	restoreHooks = append(restoreHooks, f)
}

// instanceID names this instance; see InstanceID.
var instanceID = newInstanceID()

// InstanceID returns an identifier unique to this instance of the
// function, a random 128-bit value in UUID form. An instance started from a
// snapshot gets its own before any OnRestore hook runs, so it is never
// shared by two instances.
func InstanceID() string { return instanceID }

// newInstanceID returns a random (version 4) UUID.
func newInstanceID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
