package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/host"
)

// hostModule is the name under which guests import gureum's host functions.
const hostModule = "gureum"

// call is the state host functions reach through the context of a guest
// call: which function it is, what the guest answered, the host of the
// invocation being served and the answer of its last host call. Every
// instance owns one and binds it to the context of each call into the guest.
type call struct {
	fn        *function
	response  []byte
	responded bool
	tooLarge  bool

	host    engine.Host // of the request being served; nil outside one
	pending []byte      // answer of the last gureum.call, until gureum.result
}

type callKey struct{}

// bind returns ctx carrying c for host functions.
func (c *call) bind(ctx context.Context) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// reset clears the answer of the previous invocation.
func (c *call) reset() {
	c.response, c.responded, c.tooLarge = nil, false, false
	c.host, c.pending = nil, nil
}

// serve makes h the host of the invocation about to run.
func (c *call) serve(h engine.Host) {
	c.host = h
}

// done forgets the invocation's host and any answer the guest did not take.
func (c *call) done() {
	c.host, c.pending = nil, nil
}

// hostFunction is one import a guest may take from the host module. fn runs
// on the goroutine that called into the guest; a panic in it fails that call.
type hostFunction struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(ctx context.Context, c *call, mod api.Module, stack []uint64)
}

// hostFunctions lists the host module. Operations that touch the outside
// (publish, send, and later kv, blob, http) all go through call, which hands
// them to the invocation's engine.Host; that checks the function's grants.
func hostFunctions() []hostFunction {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	return []hostFunction{
		{name: "response", params: []api.ValueType{i32, i32}, fn: hostResponse},
		{name: "call", params: []api.ValueType{i32, i32, i32, i32}, results: []api.ValueType{i64}, fn: hostCall},
		{name: "result", params: []api.ValueType{i32}, results: []api.ValueType{i32}, fn: hostResult},
	}
}

// instantiateHost adds the host module to a runtime.
func instantiateHost(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(hostModule)
	for _, hf := range hostFunctions() {
		fn := hf.fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				c, ok := ctx.Value(callKey{}).(*call)
				if !ok {
					panic(fmt.Errorf("%s.%s called outside an invocation", hostModule, hf.name))
				}
				fn(ctx, c, mod, stack)
			}), hf.params, hf.results).
			Export(hf.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate host module %s: %w", hostModule, err)
	}
	return nil
}

// hostResponse is response(ptr, len): the guest hands over its response or
// error document, which the host copies.
func hostResponse(_ context.Context, c *call, mod api.Module, stack []uint64) {
	ptr, size := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	c.responded = true
	if size > engine.MaxResponseBytes {
		c.tooLarge = true
		c.response = nil
		return
	}
	b, ok := mod.Memory().Read(ptr, size)
	if !ok {
		panic(fmt.Errorf("%s.response: %d bytes at %#x are outside memory", hostModule, size, ptr))
	}
	c.response = bytes.Clone(b)
}

// Statuses of gureum.call and gureum.result (ABI.md).
const (
	callOK    = 0 // the answer is the operation's JSON response
	callError = 1 // the answer is a host.Error document
)

// maxOpLen bounds the name of a host operation.
const maxOpLen = 64

// hostCall is call(opPtr, opLen, reqPtr, reqLen) -> status<<32 | answerLen:
// the guest asks the invocation's host for an operation. The answer waits in
// c.pending for gureum.result. A request outside the guest's memory fails
// the call, not the instance.
func hostCall(ctx context.Context, c *call, mod api.Module, stack []uint64) {
	opPtr, opLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	reqPtr, reqLen := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	answer, status := c.hostCall(ctx, mod.Memory(), opPtr, opLen, reqPtr, reqLen)
	c.pending = answer
	stack[0] = uint64(status)<<32 | uint64(len(answer))
}

func (c *call) hostCall(ctx context.Context, mem api.Memory, opPtr, opLen, reqPtr, reqLen uint32) ([]byte, uint32) {
	c.pending = nil
	if opLen > maxOpLen {
		return callFailure(host.CodeInvalidParameter, fmt.Sprintf("host operation name of %d bytes is too long", opLen))
	}
	op, ok := mem.Read(opPtr, opLen)
	if !ok {
		return callFailure(host.CodeInvalidParameter, fmt.Sprintf("host operation name (%d bytes at %#x) is outside memory", opLen, opPtr))
	}
	if reqLen > host.MaxRequestBytes {
		return callFailure(host.CodeTooLarge, fmt.Sprintf("%s request of %d bytes is over the limit of %d", op, reqLen, host.MaxRequestBytes))
	}
	req, ok := mem.Read(reqPtr, reqLen)
	if !ok {
		return callFailure(host.CodeInvalidParameter, fmt.Sprintf("%s request (%d bytes at %#x) is outside memory", op, reqLen, reqPtr))
	}
	if c.host == nil {
		return callFailure(host.CodeUnavailable, fmt.Sprintf("%s: no host capabilities here: host calls work only while an invocation is served, on a node that provides them", op))
	}
	// The host may keep what it is given; guest memory changes under it.
	resp, err := c.host.Call(ctx, string(op), bytes.Clone(req))
	if err != nil {
		e := host.ErrorOf(err)
		return callFailure(e.Code, e.Message)
	}
	if uint64(len(resp)) > math.MaxUint32 {
		return callFailure(host.CodeTooLarge, fmt.Sprintf("%s answer of %d bytes is too large", op, len(resp)))
	}
	return resp, callOK
}

// callFailure is the answer of a failed host call.
func callFailure(code, msg string) ([]byte, uint32) {
	b, _ := json.Marshal(&host.Error{Code: code, Message: msg})
	return b, callError
}

// hostResult is result(ptr) -> status: copy the answer of the last
// gureum.call to ptr, which has room for the length call returned, and
// forget it. It returns 0, or 1 when there is no answer waiting or it does
// not fit in memory at ptr.
func hostResult(_ context.Context, c *call, mod api.Module, stack []uint64) {
	ptr := api.DecodeU32(stack[0])
	answer := c.pending
	c.pending = nil
	if answer == nil || !mod.Memory().Write(ptr, answer) {
		stack[0] = callError
		return
	}
	stack[0] = callOK
}
