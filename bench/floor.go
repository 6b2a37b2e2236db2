package main

// The platform floor of rows 2 and 3: the same load against a node serving
// a reactor that does nearly nothing, so that what gureum adds on the warm
// path (gateway, invoker, pool, engine, records) shows apart from what a Go
// guest costs inside wazero.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gureum/gureum/internal/engine/wasm/wasmbin"
)

const (
	floorPath     = "/floor"
	floorFunction = "floor"
	floorArtifact = "floor.wasm"
)

// floorResponse is the API Gateway v2 response document the floor reactor
// hands back for every event: the shape aws-lambda-go's
// APIGatewayV2HTTPResponse takes in encoding/json, as the quickstart's
// handler answers, with a body of the same length as its greeting (a
// 36-character request id in place of the real one).
const floorResponse = `{"statusCode":200,"headers":{"Content-Type":"application/json"},"multiValueHeaders":null,` +
	`"body":"{\"message\":\"hello, world\",\"requestId\":\"00000000-0000-0000-0000-000000000000\"}","cookies":null}`

// floorManifest deploys the floor reactor as a prebuilt artifact. It has no
// gureum_snapshot and gureum_restore, so snapshots are off: a snapshot
// changes only cold starts, which these rows do not measure.
const floorManifest = `app: floor
functions:
  ` + floorFunction + `:
    runtime: wasm
    artifact: ` + floorArtifact + `
    memory: 128
    timeout: 5s
    snapshot: false
    events:
      - http: {method: GET, path: ` + floorPath + `}
`

// The floor reactor's memory layout: the response document in a data
// segment near the start, the request buffer from the second page on. The
// memory starts with floorPages pages and grows when a request needs more.
const (
	floorResponseAt = 1024
	floorBufferAt   = 1 << 16
	floorPages      = 2
)

// WebAssembly binary format: section ids, types and opcodes the floor
// module uses.
const (
	secType     = 1
	secImport   = 2
	secFunction = 3
	secMemory   = 5
	secExport   = 7
	secCode     = 10
	secData     = 11

	typeFunc     = 0x60
	valI32       = 0x7f
	blockEmpty   = 0x40
	externFunc   = 0x00
	externMemory = 0x02

	opUnreachable = 0x00
	opIf          = 0x04
	opEnd         = 0x0b
	opCall        = 0x10
	opLocalGet    = 0x20
	opLocalTee    = 0x22
	opMemorySize  = 0x3f
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI32Eq       = 0x46
	opI32GtS      = 0x4a
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
	opI32ShrU     = 0x76
)

// floorModule assembles a reactor of gureum's ABI (internal/engine/wasm,
// ABI.md) whose handler ignores its event and hands back response with
// status 0. It imports gureum.response and nothing else, so it runs with
// no WASI at all:
//
//	func 0 (import gureum.response) (ptr, len)
//	func 1 _initialize ()            — nothing
//	func 2 gureum_start ()           — nothing
//	func 3 gureum_buffer (size) ptr  — grows memory to hold size bytes at floorBufferAt
//	func 4 gureum_handle (meta, payload) status — response(floorResponseAt, len); 0
func floorModule(response []byte) []byte {
	var types []byte
	types = wasmbin.AppendU32(types, 4)
	types = append(types, typeFunc, 0, 0)                         // 0: () -> ()
	types = append(types, typeFunc, 1, valI32, 1, valI32)         // 1: (i32) -> i32
	types = append(types, typeFunc, 2, valI32, valI32, 1, valI32) // 2: (i32, i32) -> i32
	types = append(types, typeFunc, 2, valI32, valI32, 0)         // 3: (i32, i32) -> ()

	var imports []byte
	imports = wasmbin.AppendU32(imports, 1)
	imports = wasmbin.AppendName(imports, "gureum")
	imports = wasmbin.AppendName(imports, "response")
	imports = append(imports, externFunc)
	imports = wasmbin.AppendU32(imports, 3)

	funcs := []byte{4, 0, 0, 1, 2} // type indices of funcs 1-4

	var mem []byte
	mem = wasmbin.AppendU32(mem, 1)
	mem = append(mem, 0x00) // a minimum and no maximum: the node's cap applies
	mem = wasmbin.AppendU32(mem, floorPages)

	var exports []byte
	exports = wasmbin.AppendU32(exports, 5)
	exports = appendExport(exports, "memory", externMemory, 0)
	exports = appendExport(exports, "_initialize", externFunc, 1)
	exports = appendExport(exports, "gureum_start", externFunc, 2)
	exports = appendExport(exports, "gureum_buffer", externFunc, 3)
	exports = appendExport(exports, "gureum_handle", externFunc, 4)

	empty := []byte{0, opEnd} // no locals, no instructions

	// gureum_buffer: extra := ((floorBufferAt + size + 0xffff) >> 16) -
	// memory.size; if extra > 0, memory.grow(extra), trapping when the cap
	// refuses it; return floorBufferAt. The host sends at most 2 GiB, so
	// the unsigned sum cannot wrap.
	buffer := []byte{1, 1, valI32} // one i32 local: extra
	buffer = append(buffer, opLocalGet, 0, opI32Const)
	buffer = wasmbin.AppendS32(buffer, floorBufferAt+0xffff)
	buffer = append(buffer, opI32Add, opI32Const)
	buffer = wasmbin.AppendS32(buffer, 16)
	buffer = append(buffer, opI32ShrU,
		opMemorySize, 0, opI32Sub, opLocalTee, 1,
		opI32Const, 0, opI32GtS,
		opIf, blockEmpty,
		opLocalGet, 1, opMemoryGrow, 0,
		opI32Const, 0x7f, opI32Eq, // -1: the grow failed
		opIf, blockEmpty, opUnreachable, opEnd,
		opEnd,
		opI32Const)
	buffer = wasmbin.AppendS32(buffer, floorBufferAt)
	buffer = append(buffer, opEnd)

	// gureum_handle: response(floorResponseAt, len(response)); return 0.
	handle := []byte{0, opI32Const}
	handle = wasmbin.AppendS32(handle, floorResponseAt)
	handle = append(handle, opI32Const)
	handle = wasmbin.AppendS32(handle, int32(len(response)))
	handle = append(handle, opCall, 0, opI32Const, 0, opEnd)

	var code []byte
	code = wasmbin.AppendU32(code, 4)
	for _, body := range [][]byte{empty, empty, buffer, handle} {
		code = wasmbin.AppendU32(code, uint32(len(body)))
		code = append(code, body...)
	}

	var data []byte
	data = wasmbin.AppendU32(data, 1)
	data = append(data, 0x00, opI32Const) // active, memory 0, at a constant offset
	data = wasmbin.AppendS32(data, floorResponseAt)
	data = append(data, opEnd)
	data = wasmbin.AppendU32(data, uint32(len(response)))
	data = append(data, response...)

	bin := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	bin = wasmbin.AppendSection(bin, secType, types)
	bin = wasmbin.AppendSection(bin, secImport, imports)
	bin = wasmbin.AppendSection(bin, secFunction, funcs)
	bin = wasmbin.AppendSection(bin, secMemory, mem)
	bin = wasmbin.AppendSection(bin, secExport, exports)
	bin = wasmbin.AppendSection(bin, secCode, code)
	bin = wasmbin.AppendSection(bin, secData, data)
	return bin
}

func appendExport(b []byte, name string, kind byte, index uint32) []byte {
	b = wasmbin.AppendName(b, name)
	b = append(b, kind)
	return wasmbin.AppendU32(b, index)
}

// writeFloorProject writes the floor reactor and its manifest into a new
// project directory dir.
func writeFloorProject(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("floor project: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, floorArtifact), floorModule([]byte(floorResponse)), 0o644); err != nil {
		return fmt.Errorf("floor project: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gureum.yaml"), []byte(floorManifest), 0o644); err != nil {
		return fmt.Errorf("floor project: %w", err)
	}
	return nil
}

// ensureFloor starts, on first use, a node serving the floor reactor in its
// own data directory, and its bare twin.
func (e *env) ensureFloor(ctx context.Context) (*target, error) {
	if e.floor != nil {
		return e.floor, nil
	}
	dir := filepath.Join(e.work, "floor-project")
	if err := writeFloorProject(dir); err != nil {
		return nil, err
	}
	return e.ensureNode(ctx, &e.floor, "floor", dir, floorPath)
}

// benchFloorRPS is row 2 against the floor reactor (row 2f).
func benchFloorRPS(ctx context.Context, e *env) ([]row, error) {
	t, err := e.ensureFloor(ctx)
	if err != nil {
		return nil, err
	}
	return rpsRows(ctx, e, t, "2f.", "GET /floor (minimal reactor)")
}

// benchFloorLatency is row 3 against the floor reactor (row 3f).
func benchFloorLatency(ctx context.Context, e *env) ([]row, error) {
	t, err := e.ensureFloor(ctx)
	if err != nil {
		return nil, err
	}
	return latencyRows(ctx, e, t, "3f.", "GET /floor (minimal reactor)")
}
