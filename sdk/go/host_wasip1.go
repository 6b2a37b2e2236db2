//go:build wasip1

package gureum

import (
	"context"
	"runtime"
	"unsafe"
)

//go:wasmimport gureum call
func hostCallImport(opPtr unsafe.Pointer, opLen uint32, reqPtr unsafe.Pointer, reqLen uint32) uint64

//go:wasmimport gureum result
func hostResultImport(ptr unsafe.Pointer) uint32

// hostCall asks the host for op through the gureum module's call and result
// imports (ABI.md). The host knows the invocation being served, its trace
// context and the function's grants; ctx's deadline is the host's to keep.
func hostCall(_ context.Context, op string, req []byte) ([]byte, error) {
	r := hostCallImport(unsafe.Pointer(unsafe.StringData(op)), uint32(len(op)), unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)))
	runtime.KeepAlive(op)
	runtime.KeepAlive(req)
	status, n := uint32(r>>32), uint32(r)
	answer := make([]byte, n)
	if n > 0 && hostResultImport(unsafe.Pointer(unsafe.SliceData(answer))) != 0 {
		return nil, &Error{Code: CodeInternal, Message: op + ": the host's answer was lost"}
	}
	if status != 0 {
		return nil, hostError(op, answer)
	}
	return answer, nil
}
