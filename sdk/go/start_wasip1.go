//go:build wasip1

package gureum

import (
	"fmt"
	"os"
	"runtime/debug"
	"unsafe"
)

// Status codes gureum_handle returns to the host (see ABI.md).
const (
	statusOK        = 0
	statusError     = 1
	statusPanic     = 2
	statusNoHandler = 3
)

// minBuffer is the smallest request buffer the module allocates.
const minBuffer = 64 << 10

// guest is the module's one runtime state. A WebAssembly module has exactly
// one set of exports, so this state is necessarily package-level; it is
// touched only from the exported functions, which the host never calls
// concurrently.
var guest struct {
	handler invoker
	buf     []byte
	traceID string // in the environment as _X_AMZN_TRACE_ID
}

// Start registers handler and returns. The host then calls it once per
// invocation. Handlers take the forms lambda.Start accepts.
func Start(handler any) {
	guest.handler = newHandler(handler)
}

//go:linkname mainMain main.main
func mainMain()

// gureumStart runs the program's main, which calls Start. _initialize has
// already run the package initializers.
//
//go:wasmexport gureum_start
func gureumStart() {
	mainMain()
}

// gureumBuffer returns the address of a buffer of at least size bytes. The
// buffer stays valid, at the same address, until the next call.
//
//go:wasmexport gureum_buffer
func gureumBuffer(size uint32) uint32 {
	if uint32(cap(guest.buf)) < size || guest.buf == nil {
		guest.buf = make([]byte, max(size, minBuffer))
	}
	guest.buf = guest.buf[:cap(guest.buf)]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(guest.buf))))
}

//go:wasmimport gureum response
func hostResponse(ptr unsafe.Pointer, size uint32)

func respond(b []byte) {
	hostResponse(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b)))
}

// gureumHandle serves one invocation. The buffer holds metaLen bytes of
// metadata followed by payloadLen bytes of event.
//
//go:wasmexport gureum_handle
func gureumHandle(metaLen, payloadLen uint32) (status uint32) {
	h := guest.handler
	if h == nil {
		return statusNoHandler
	}
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(os.Stderr, "panic: %v\n\n%s", v, debug.Stack())
			respond(errorDocument(v, fmt.Sprint(v)))
			status = statusPanic
		}
	}()
	if uint64(metaLen)+uint64(payloadLen) > uint64(len(guest.buf)) {
		panic("gureum: invocation larger than the request buffer")
	}
	inv, err := parseInvocation(string(guest.buf[:metaLen]))
	if err != nil {
		panic(err)
	}
	defer inv.end()
	setTraceEnv(inv.traceID)

	out, err := h.Invoke(inv.context(), guest.buf[metaLen:metaLen+payloadLen])
	if err != nil {
		respond(errorDocument(err, err.Error()))
		return statusError
	}
	respond(out)
	return statusOK
}

// setTraceEnv sets _X_AMZN_TRACE_ID, as aws-lambda-go does, when it changes:
// setting the environment is not cheap.
func setTraceEnv(traceID string) {
	if traceID == guest.traceID {
		return
	}
	if traceID != "" {
		os.Setenv("_X_AMZN_TRACE_ID", traceID)
	} else {
		os.Unsetenv("_X_AMZN_TRACE_ID")
	}
	guest.traceID = traceID
}
