package wasm

import (
	"bytes"
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/gureum/gureum/internal/engine"
)

// hostModule is the name under which guests import gureum's host functions.
const hostModule = "gureum"

// call is the state host functions reach through the context of a guest
// call: what the guest answered, and (for host functions to come) which
// function it is. Every instance owns one and binds it to the context of
// each call into the guest.
type call struct {
	fn        *function
	response  []byte
	responded bool
	tooLarge  bool
}

type callKey struct{}

// bind returns ctx carrying c for host functions.
func (c *call) bind(ctx context.Context) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// reset clears the answer of the previous invocation.
func (c *call) reset() {
	c.response, c.responded, c.tooLarge = nil, false, false
}

// hostFunction is one import a guest may take from the host module. fn runs
// on the goroutine that called into the guest; a panic in it fails that call.
type hostFunction struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(ctx context.Context, c *call, mod api.Module, stack []uint64)
}

// hostFunctions lists the host module. Host calls that touch the outside
// (kv, blob, publish, http) are added here and check the function's grants
// through c.fn.
func hostFunctions() []hostFunction {
	i32 := api.ValueTypeI32
	return []hostFunction{
		{name: "response", params: []api.ValueType{i32, i32}, fn: hostResponse},
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
