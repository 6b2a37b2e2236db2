package interrupt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/engine/wasm/wasmbin"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// A few helpers to write modules byte by byte.

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u32(v uint32) []byte { return wasmbin.AppendU32(nil, v) }

func str(s string) []byte { return wasmbin.AppendName(nil, s) }

func vec(items ...[]byte) []byte { return cat(u32(uint32(len(items))), cat(items...)) }

func sec(id byte, content ...[]byte) []byte { return wasmbin.AppendSection(nil, id, cat(content...)) }

func wasmModule(sections ...[]byte) []byte { return cat(header, cat(sections...)) }

// fn is a function body: its locals (a vector) and code.
func fn(locals []byte, code ...byte) []byte {
	b := cat(locals, code)
	return cat(u32(uint32(len(b))), b)
}

var (
	noLocals = vec()
	oneI32   = vec([]byte{1, valI32})
)

func f32(v float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)) }

// kitchenSink is a module whose functions loop in every way and use
// instructions with every kind of immediate.
func kitchenSink() []byte {
	types := sec(secType, vec(
		[]byte{0x60, 0, 0},             // 0: () -> ()
		[]byte{0x60, 1, 0x7f, 1, 0x7f}, // 1: (i32) -> (i32)
		[]byte{0x60, 0, 1, 0x7f},       // 2: () -> (i32)
	))
	funcs := sec(secFunction, vec([]byte{0}, []byte{1}, []byte{1}, []byte{2}, []byte{2}))
	table := sec(secTable, vec([]byte{0x70, 0x00, 0x01}))
	memory := sec(secMemory, vec([]byte{0x00, 0x01}))
	globals := sec(secGlobal, vec([]byte{0x7f, 0x01, 0x41, 0x00, 0x0b})) // g: mutable i32 0
	exports := sec(secExport, vec(
		cat(str("spin"), []byte{externFunc, 0}),
		cat(str("count"), []byte{externFunc, 1}),
		cat(str("looparam"), []byte{externFunc, 2}),
		cat(str("sink"), []byte{externFunc, 3}),
		cat(str("g"), []byte{externGlobal, 0}),
		cat(str("memory"), []byte{externMemory, 0}),
	))
	elems := sec(secElement, vec([]byte{0x00, 0x41, 0x00, 0x0b, 1, 4})) // table[0] = f4
	v128 := make([]byte, 16)
	for i := range 4 {
		v128[4*i] = byte(i + 1)
	}
	sink := cat(
		[]byte{0x41, 7, 0xc0},                            // i32.const 7, i32.extend8_s
		[]byte{0x43}, f32(3.7), []byte{0xfc, 0x00, 0x6a}, // + i32.trunc_sat_f32_s(3.7)
		[]byte{0xfd, 0x0c}, v128, []byte{0xfd, 0x1b, 0x02, 0x6a}, // + i32x4.extract_lane 2
		[]byte{0xd0, 0x70, 0xd1, 0x6a},                         // + ref.is_null(ref.null func)
		[]byte{0x41, 1, 0x41, 2, 0x41, 0, 0x1c, 1, 0x7f, 0x6a}, // + select (result i32) 1 2 0
		[]byte{0x41, 0, 0x41, 5, 0x41, 4, 0xfc, 0x0b, 0x00},    // memory.fill 0 5 4
		[]byte{0x41, 0, 0x2d, 0x00, 0x03, 0x6a},                // + i32.load8_u offset=3
		[]byte{0x41, 0, 0x11, 0x02, 0x00, 0x6a},                // + call_indirect (type 2) table[0]
		[]byte{
			0x02, 0x40, // block
			0x03, 0x40, //   loop
			0x20, 0, 0x41, 1, 0x6a, 0x22, 0, // local.tee 0 (local 0 + 1)
			0x41, 5, 0x4f, 0x0d, 1, // br_if 1 (local 0 >= 5)
			0x20, 0, 0x41, 2, 0x70, // local 0 % 2
			0x0e, 2, 0, 0, 1, // br_table 0 0 1
			0x0b,          //   end
			0x0b,          // end
			0x20, 0, 0x6a, // + local 0
			0x41, 1, 0x04, 0x7f, 0x41, 10, 0x05, 0x41, 20, 0x0b, 0x6a, // + if (result i32) 10 else 20
			0x0b,
		},
	)
	code := sec(secCode, vec(
		// spin: loop br 0 end
		fn(noLocals, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b),
		// count(n): for ; n != 0; n-- { acc++; g++ }; return acc
		fn(oneI32,
			0x02, 0x40, 0x03, 0x40,
			0x20, 0, 0x45, 0x0d, 1,
			0x20, 1, 0x41, 1, 0x6a, 0x21, 1,
			0x23, 0, 0x41, 1, 0x6a, 0x24, 0,
			0x20, 0, 0x41, 1, 0x6b, 0x21, 0,
			0x0c, 0,
			0x0b, 0x0b,
			0x20, 1, 0x0b),
		// looparam(n): a loop that takes and returns its counter on the
		// stack (a multi-value block type), g++ in each iteration.
		fn(noLocals,
			0x20, 0,
			0x03, 0x01,
			0x23, 0, 0x41, 1, 0x6a, 0x24, 0,
			0x41, 1, 0x6b, 0x22, 0, 0x20, 0, 0x0d, 0,
			0x0b, 0x0b),
		fn(oneI32, sink...),
		fn(noLocals, 0x41, 0xe4, 0x00, 0x0b), // 100
	))
	fnNames := vec(cat(u32(0), str("spin")))
	names := cat(str("name"), []byte{1}, u32(uint32(len(fnNames))), fnNames)
	return wasmModule(types, funcs, table, memory, globals, exports, elems, code,
		sec(secCustom, names),
		sec(secCustom, str(".debug_info"), []byte{1, 2, 3}))
}

func newTestRuntime(t *testing.T, features api.CoreFeatures) wazero.Runtime {
	t.Helper()
	rt := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfig().WithCoreFeatures(features))
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt
}

func instantiate(t *testing.T, rt wazero.Runtime, bin []byte) api.Module {
	t.Helper()
	mod, err := rt.InstantiateWithConfig(context.Background(), bin, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return mod
}

func call(t *testing.T, mod api.Module, name string, args ...uint64) uint64 {
	t.Helper()
	res, err := mod.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s%v: %v", name, args, err)
	}
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

// The instrumented module computes what the original does, across many
// budget periods, and its own globals keep their indices.
func TestInstrumentKeepsBehaviour(t *testing.T) {
	bin := kitchenSink()
	rt := newTestRuntime(t, api.CoreFeaturesV2)
	orig := instantiate(t, rt, bin)
	if got := call(t, orig, "sink"); got != 136 {
		t.Fatalf("original sink = %d, want 136", got)
	}
	for _, budget := range []int32{1, 2, 7, Budget} {
		out, err := instrument(bin, budget)
		if err != nil {
			t.Fatal(err)
		}
		mod := instantiate(t, rt, out)
		if g := mod.ExportedGlobal(FlagExport); g == nil || g.Get() != 0 {
			t.Fatalf("flag %v at start", g)
		}
		for _, n := range []uint64{0, 1, 6, 7, 8, uint64(Budget) - 1, uint64(Budget), 3*uint64(Budget) + 7} {
			for _, m := range []api.Module{orig, mod} {
				m.ExportedGlobal("g").(api.MutableGlobal).Set(0)
			}
			if a, b := call(t, orig, "count", n), call(t, mod, "count", n); a != b || a != n {
				t.Fatalf("budget %d: count(%d) = %d, original %d", budget, n, b, a)
			}
			if a, b := orig.ExportedGlobal("g").Get(), mod.ExportedGlobal("g").Get(); a != b {
				t.Fatalf("budget %d: after count(%d) g = %d, original %d", budget, n, b, a)
			}
			if n == 0 {
				continue
			}
			if a, b := call(t, orig, "looparam", n), call(t, mod, "looparam", n); a != b {
				t.Fatalf("budget %d: looparam(%d) = %d, original %d", budget, n, b, a)
			}
			if a, b := orig.ExportedGlobal("g").Get(), mod.ExportedGlobal("g").Get(); a != b || a != 2*n {
				t.Fatalf("budget %d: after looparam(%d) g = %d, original %d", budget, n, b, a)
			}
		}
		if got := call(t, mod, "sink"); got != 136 {
			t.Fatalf("budget %d: sink = %d, want 136", budget, got)
		}
	}
}

// A loop with no call in it is stopped by the flag; a module with no
// memory, globals or exports gains what the checks need.
func TestInstrumentStopsLoops(t *testing.T) {
	bare := wasmModule(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(cat(str("spin"), []byte{externFunc, 0}))),
		sec(secCode, vec(fn(noLocals, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b))),
	)
	// A function that tail-calls itself loops without a loop instruction.
	tail := wasmModule(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(cat(str("spin"), []byte{externFunc, 0}))),
		sec(secCode, vec(fn(noLocals, 0x12, 0x00, 0x0b))),
	)
	for _, tc := range []struct {
		name     string
		bin      []byte
		export   string
		features api.CoreFeatures
	}{
		{"kitchen sink", kitchenSink(), "spin", api.CoreFeaturesV2},
		{"bare", bare, "spin", api.CoreFeaturesV2},
		{"tail call", tail, "spin", api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Instrument(tc.bin)
			if err != nil {
				t.Fatal(err)
			}
			rt := newTestRuntime(t, tc.features)
			mod := instantiate(t, rt, out)
			f := mod.ExportedFunction(tc.export)
			flag, err := NewFlag(mod)
			if err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(50*time.Millisecond, flag.Set)
			_, err = f.Call(context.Background())
			if err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("error %v, want a trap at unreachable", err)
			}
			if !flag.IsSet() {
				t.Error("IsSet is false")
			}
		})
	}
}

// A module with no memory, globals or exports gains what the checks need.
func TestInstrumentMinimalModule(t *testing.T) {
	empty := wasmModule()
	noExports := wasmModule(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(secCode, vec(fn(noLocals, 0x03, 0x40, 0x0b, 0x0b))),
	)
	rt := newTestRuntime(t, api.CoreFeaturesV2)
	if _, err := NewFlag(instantiate(t, rt, noExports)); err == nil {
		t.Fatal("NewFlag accepted a module that was not instrumented")
	}
	for _, bin := range [][]byte{empty, noExports} {
		out, err := Instrument(bin)
		if err != nil {
			t.Fatal(err)
		}
		mod := instantiate(t, rt, out)
		flag, err := NewFlag(mod)
		if err != nil {
			t.Fatal(err)
		}
		flag.Set()
		if got := mod.ExportedGlobal(FlagExport).Get(); got != 1 || !flag.IsSet() {
			t.Fatalf("flag global %d after Set", got)
		}
		if _, err := NewFlag(mod); err == nil {
			t.Fatal("NewFlag accepted a set flag")
		}
	}
}

// DWARF, whose code offsets the checks would invalidate, is dropped; other
// custom sections stay.
func TestInstrumentCustomSections(t *testing.T) {
	out, err := Instrument(kitchenSink())
	if err != nil {
		t.Fatal(err)
	}
	m, err := readSections(out[len(header):])
	if err != nil {
		t.Fatal(err)
	}
	var custom []string
	for _, s := range m.sections {
		if s.id == secCustom {
			r := reader{b: s.body}
			name, _ := r.name()
			custom = append(custom, name)
		}
	}
	if len(custom) != 1 || custom[0] != "name" {
		t.Fatalf("custom sections %q, want only name", custom)
	}
}

// Only a loop head gains a check; other code, and function entries in a
// module without tail calls, are left alone.
func TestInstrumentInsertsOnlyAtLoops(t *testing.T) {
	body := []byte{0x02, 0x40, 0x03, 0x40, 0x0b, 0x0b, 0x03, 0x40, 0x0b, 0x0b}
	bin := wasmModule(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0}, []byte{0})),
		sec(secMemory, vec([]byte{0x00, 0x01})),
		sec(secCode, vec(fn(noLocals, body...), fn(noLocals, 0x0b))),
	)
	out, err := Instrument(bin)
	if err != nil {
		t.Fatal(err)
	}
	m, err := readSections(out[len(header):])
	if err != nil {
		t.Fatal(err)
	}
	check := checkSequence(0, 1, Budget)
	want := vec(
		fn(noLocals, cat(body[:4], check, body[4:8], check, body[8:])...),
		fn(noLocals, 0x0b),
	)
	for _, s := range m.sections {
		if s.id == secCode && !bytes.Equal(s.body, want) {
			t.Fatalf("code section\n%x\nwant\n%x", s.body, want)
		}
	}
}

func TestInstrumentRefuses(t *testing.T) {
	code := func(b ...byte) []byte {
		return wasmModule(
			sec(secType, vec([]byte{0x60, 0, 0})),
			sec(secFunction, vec([]byte{0})),
			sec(secMemory, vec([]byte{0x00, 0x01})),
			sec(secCode, vec(fn(noLocals, b...))),
		)
	}
	instrumented, err := Instrument(kitchenSink())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		bin  []byte
		want error
	}{
		{"not wasm", []byte("hello, world"), ErrMalformed},
		{"version 2", cat(header[:4], []byte{2, 0, 0, 0}), ErrUnsupported},
		{"truncated section", cat(header, []byte{secType, 5, 0}), ErrMalformed},
		{"unknown section", cat(header, []byte{42, 0}), ErrMalformed},
		{"sections out of order", wasmModule(sec(secFunction, vec()), sec(secType, vec())), ErrMalformed},
		{"tag section", wasmModule(sec(secTag, vec())), ErrUnsupported},
		{"atomics", code(0x41, 0, 0xfe, 0x10, 0x02, 0x00, 0x1a, 0x0b), ErrUnsupported},
		{"try", code(0x06, 0x40, 0x0b, 0x0b), ErrUnsupported},
		{"unassigned SIMD", code(0xfd, 0x9a, 0x01, 0x0b), ErrUnsupported},
		{"relaxed SIMD", code(0xfd, 0x80, 0x02, 0x0b), ErrUnsupported},
		{"multi-memory load", code(0x41, 0, 0x28, 0x42, 0x01, 0x00, 0x1a, 0x0b), ErrUnsupported},
		{"typed reference block", code(0x02, 0x63, 0x70, 0x0b, 0x0b), ErrUnsupported},
		{"missing end", code(0x03, 0x40, 0x0b), ErrMalformed},
		{"bytes after end", code(0x0b, 0x01), ErrMalformed},
		{"overlong integer", code(0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b), ErrMalformed},
		{"already instrumented", instrumented, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Instrument(tc.bin)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLEB(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1 << 20, math.MaxInt32, math.MinInt32} {
		r := reader{b: wasmbin.AppendS32(nil, v)}
		got, err := r.slebValue(32)
		if err != nil || got != int64(v) || !r.done() {
			t.Errorf("s32 %d: got %d, %v", v, got, err)
		}
	}
	for _, v := range []uint32{0, 1, 127, 128, 1 << 21, math.MaxUint32} {
		r := reader{b: wasmbin.AppendU32(nil, v)}
		got, err := r.u32()
		if err != nil || got != v || !r.done() {
			t.Errorf("u32 %d: got %d, %v", v, got, err)
		}
	}
	for _, b := range [][]byte{
		{0x80, 0x80, 0x80, 0x80, 0x10},       // 2^32
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, // six bytes
	} {
		r := reader{b: b}
		if _, err := r.u32(); err == nil {
			t.Errorf("u32 %x: no error", b)
		}
	}
	for _, b := range [][]byte{
		{0x80, 0x80, 0x80, 0x80, 0x08}, // 2^31 as s32
		{0xff, 0xff, 0xff, 0xff, 0x77}, // below -2^31
	} {
		r := reader{b: b}
		if _, err := r.slebValue(32); err == nil {
			t.Errorf("s32 %x: no error", b)
		}
	}
}
