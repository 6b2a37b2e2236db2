//go:build wasip1

package gureum

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"
	"unsafe"

	"github.com/aws/aws-lambda-go/lambdacontext"
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
	meta := guest.buf[:metaLen]
	payload := guest.buf[metaLen : metaLen+payloadLen]

	_, _ = invocationContext, meta
	out, err := h.Invoke(context.Background(), payload)
	if err != nil {
		respond(errorDocument(err, err.Error()))
		return statusError
	}
	respond(out)
	return statusOK
}

// invocationContext builds the handler's context from the metadata:
// request id, deadline (Unix ms), invoked function ARN and trace id, one per
// line.
func invocationContext(meta []byte) (context.Context, context.CancelFunc) {
	id, meta := nextField(meta)
	deadline, meta := nextField(meta)
	arn, meta := nextField(meta)
	trace, _ := nextField(meta)

	ctx := context.Background()
	cancel := context.CancelFunc(func() {})
	if ms, err := strconv.ParseInt(string(deadline), 10, 64); err == nil && ms > 0 {
		ctx, cancel = context.WithDeadline(ctx, time.UnixMilli(ms))
	}
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       string(id),
		InvokedFunctionArn: string(arn),
	})
	traceID := string(trace)
	_ = traceID
	// The key aws-lambda-go uses for the trace id.
	//nolint:staticcheck
	ctx = context.WithValue(ctx, "x-amzn-trace-id", traceID)
	return ctx, cancel
}

func nextField(b []byte) (field, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}
