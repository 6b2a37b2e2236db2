// Package interrupt makes a WebAssembly module stoppable by its host
// without wazero's WithCloseOnContextDone, which leaves compiled code for Go
// at every loop back-edge and so makes every loop of a guest several times
// slower.
//
// Instrument rewrites a module so that every loop iteration decrements a
// budget global. When the budget runs out (once every Budget iterations)
// the code resets it, executes `memory.grow 0`, and then reads an exported
// flag global, trapping with `unreachable` when the host has set it:
//
//	loop
//	  global.get $budget  i32.const 1  i32.sub  global.set $budget
//	  global.get $budget  i32.eqz
//	  if
//	    i32.const Budget  global.set $budget
//	    i32.const 0  memory.grow  drop
//	    global.get $interrupt
//	    if  unreachable  end
//	  end
//	  ...the loop's own body
//
// # Why memory.grow
//
// Compiled guest code has no safe points: a goroutine running it cannot be
// preempted, so a guest that never leaves compiled code blocks the garbage
// collector's stop-the-world (and its stack scans) and starves the
// goroutines that would stop it. wazero's optimizing compiler lowers
// memory.grow to a call that exits compiled code into Go (exit code
// GrowMemory in internal/engine/wazevo/call_engine.go), which then calls
// MemoryInstance.Grow, an ordinary Go function whose prologue honours a
// pending preemption request before returning into the guest. So a guest
// reaches a safe point at least once every Budget loop iterations, and the
// collector, the scheduler and the goroutine that sets the flag all make
// progress. A delta of 0 changes nothing: Grow returns the current size.
// It is the cheapest exit wazero offers (no host function call, no index
// shifting for a new import). A module with no memory gets one of zero
// pages, which nothing else can see, so that memory.grow is valid.
//
// Code without loops runs for a bounded time, or recurses until its stack
// overflows (wazero grows the stack in Go, another exit). Tail calls can
// loop without a loop instruction, so in a module that uses return_call
// every function entry gets the same check.
//
// # The host
//
// The host instantiates the rewritten module in a runtime without
// WithCloseOnContextDone and, to stop a call, sets the flag from any
// goroutine (Flag.Set, or Flag.AfterDone for a context). The guest reads the
// global from memory at each check, and traps within Budget loop
// iterations (counted across all its loops); the call returns an error
// ("wasm error: unreachable") and Flag.IsSet reports true. The instance is
// then in an unknown state and must be closed, as after any trap. A guest
// blocked in a host function sees the flag only when that returns, so host
// functions that wait (a WASI sleep) must end on the context themselves. A
// command's _start must be called after instantiation
// (wazero.ModuleConfig.WithStartFunctions()), so that the flag can be armed
// before it runs.
//
// # What is refused
//
// Instrument decodes every instruction of the code section of a
// WebAssembly 2.0 module (MVP, sign extension, saturating truncation, bulk
// memory, reference types, multi-value, SIMD) and tail calls. Anything
// else (threads, exception handling, typed function references, GC,
// multi-memory, memory64) fails with an error wrapping ErrUnsupported; a
// module it cannot parse fails with ErrMalformed, as does one with a
// section whose element count exceeds its size (wazero v1.12.0 allocates
// for such a count before it notices, and a 15-byte module can exhaust the
// host's memory). Instrument only inserts
// instructions: locals, function, type, table and existing global indices
// and branch depths are unchanged, so the other sections are copied as
// they are, except DWARF custom sections (".debug_*"), which are dropped
// because their code offsets would be wrong.
package interrupt

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"
)

// FlagExport is the name under which an instrumented module exports its
// interrupt flag, a mutable i32 global. The host sets it to 1 to stop the
// guest.
const FlagExport = "gureum_interrupt"

// Budget is the number of loop iterations between two safe points (and
// flag checks). It bounds how long a guest keeps the Go runtime from
// stopping the world, which every goroutine of the process waits out at
// each collection. At 4096 a guest's tightest loop (~2 ns an iteration)
// reaches a safe point every ~8 µs, and a loop calling a small function
// (~8 ns) every ~35 µs: the median time to stop the world stays at the
// 30–50 µs it takes with WithCloseOnContextDone, where 16384 makes it
// ~130 µs, 65536 ~460 µs and 2^20 ~8 ms. An exit (~25 ns) every 4096
// iterations costs under 1% of the tightest loop. See bench_test.go.
const Budget = 4096

// ErrUnsupported is wrapped by errors for modules that are valid
// WebAssembly but use something Instrument does not handle.
var ErrUnsupported = errors.New("unsupported by interrupt instrumentation")

// ErrMalformed is wrapped by errors for input that is not a well-formed
// WebAssembly binary.
var ErrMalformed = errors.New("malformed WebAssembly module")

// Instrument returns a copy of the WebAssembly binary bin rewritten as the
// package documentation describes. bin is not modified.
func Instrument(bin []byte) ([]byte, error) {
	return instrument(bin, Budget)
}

// Flag is the host's handle on an instrumented instance's interrupt flag.
// Its methods may be called from any goroutine, while the guest runs.
//
// The host never reads the global back: the guest reads it in compiled
// code, where Go's memory model does not reach, so Flag keeps its own
// record of whether it was set, and writes the global at most once.
type Flag struct {
	g   api.MutableGlobal
	set atomic.Bool
}

// NewFlag returns the flag of mod, an instance of a module Instrument
// rewrote.
func NewFlag(mod api.Module) (*Flag, error) {
	g, ok := mod.ExportedGlobal(FlagExport).(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI32 {
		return nil, fmt.Errorf("module %q: no mutable i32 global %q: not instrumented", mod.Name(), FlagExport)
	}
	if g.Get() != 0 {
		return nil, fmt.Errorf("module %q: interrupt flag already set", mod.Name())
	}
	return &Flag{g: g}, nil
}

// Set sets the flag: the guest traps at its next check, and every later
// call into the instance traps too, so the host must discard it.
func (f *Flag) Set() {
	if f.set.CompareAndSwap(false, true) {
		f.g.Set(1)
	}
}

// IsSet reports whether Set was called. A call that failed while IsSet is
// true was (or may have been) stopped by the flag.
func (f *Flag) IsSet() bool { return f.set.Load() }

// AfterDone arranges for the flag to be set when ctx is done, as
// WithCloseOnContextDone closes a module. Calling stop ends the
// arrangement; it returns false when the flag has been or is being set.
func (f *Flag) AfterDone(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, f.Set)
}
