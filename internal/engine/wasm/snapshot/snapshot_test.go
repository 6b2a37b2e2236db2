package snapshot

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/gureum/gureum/internal/engine/wasm/wasmbin"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// module is a hand-assembled module: one memory of one page, a mutable i32
// global, a mutable i64 global, an immutable i32 global (5), data segments
// "abc" at 16 and "zz" at 40000, memory and g2 exported, and a function f
// that returns global 0 plus the byte at 16.
func module(extra ...byte) []byte {
	b := append([]byte(nil), header...)
	b = wasmbin.AppendSection(b, 1, []byte{1, 0x60, 0, 1, 0x7f}) // type () -> i32
	b = wasmbin.AppendSection(b, 3, []byte{1, 0})                // one function
	b = wasmbin.AppendSection(b, secMemory, []byte{1, 0, 1})     // memory min 1
	b = wasmbin.AppendSection(b, secGlobal, []byte{3,
		0x7f, 1, 0x41, 0, 0x0b,
		0x7e, 1, 0x42, 0, 0x0b,
		0x7f, 0, 0x41, 5, 0x0b})
	exp := []byte{3}
	exp = append(wasmbin.AppendName(exp, "memory"), 2, 0)
	exp = append(wasmbin.AppendName(exp, "g2"), 3, 2)
	exp = append(wasmbin.AppendName(exp, "f"), 0, 0)
	b = wasmbin.AppendSection(b, secExport, exp)
	b = append(b, extra...)
	b = wasmbin.AppendSection(b, secDataCount, []byte{2})
	// f: global.get 0; i32.const 16; i32.load8_u; i32.add
	body := []byte{0, 0x23, 0, 0x41, 16, 0x2d, 0, 0, 0x6a, 0x0b}
	b = wasmbin.AppendSection(b, 10, append([]byte{1, byte(len(body))}, body...))
	data := []byte{2, 0, 0x41, 16, 0x0b, 3, 'a', 'b', 'c'}
	data = append(data, 0, 0x41, 0xc0, 0xb8, 0x02, 0x0b, 2, 'z', 'z') // 40000
	return wasmbin.AppendSection(b, secData, data)
}

func TestPrepare(t *testing.T) {
	p, err := Prepare(module())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Data) != 2 || p.Data[0].Offset != 16 || string(p.Data[0].Bytes) != "abc" ||
		p.Data[1].Offset != 40000 || string(p.Data[1].Bytes) != "zz" {
		t.Fatalf("data %+v", p.Data)
	}
	want := []Global{{0, 0x7f, "gureum_global_0"}, {1, 0x7e, "gureum_global_1"}}
	if len(p.Globals) != 2 || p.Globals[0] != want[0] || p.Globals[1] != want[1] {
		t.Fatalf("globals %+v", p.Globals)
	}

	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, p.Module)
	if err != nil {
		t.Fatal(err)
	}
	// No data is applied by instantiation: the host writes it.
	if b, _ := mod.Memory().Read(16, 3); !bytes.Equal(b, make([]byte, 3)) {
		t.Errorf("data applied at instantiation: %q", b)
	}
	for _, s := range p.Data {
		mod.Memory().Write(s.Offset, s.Bytes)
	}
	// The globals are exported and settable, and the code sees them.
	g0, ok := mod.ExportedGlobal("gureum_global_0").(api.MutableGlobal)
	if !ok {
		t.Fatal("global 0 is not exported as a mutable global")
	}
	g0.Set(100)
	res, err := mod.ExportedFunction("f").Call(ctx)
	if err != nil || res[0] != 100+'a' {
		t.Fatalf("f = %v, %v", res, err)
	}
	if g := mod.ExportedGlobal("gureum_global_1"); g == nil || g.Type() != api.ValueTypeI64 {
		t.Error("global 1 not exported as i64")
	}
	if mod.ExportedGlobal("g2").Get() != 5 {
		t.Error("immutable global changed")
	}
}

// A module without an export section gets one, in the right place.
func TestPrepareAddsExportSection(t *testing.T) {
	b := append([]byte(nil), header...)
	b = wasmbin.AppendSection(b, secMemory, []byte{1, 0, 1})
	b = wasmbin.AppendSection(b, secGlobal, []byte{1, 0x7f, 1, 0x41, 7, 0x0b})
	b = wasmbin.AppendSection(b, secData, []byte{1, 0, 0x41, 0, 0x0b, 1, 'x'})
	p, err := Prepare(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, p.Module)
	if err != nil {
		t.Fatal(err)
	}
	if g := mod.ExportedGlobal("gureum_global_0"); g == nil || g.Get() != 7 {
		t.Errorf("global 0: %v", g)
	}
}

func TestPrepareRefuses(t *testing.T) {
	start := wasmbin.AppendSection(nil, secStart, []byte{0})
	if _, err := Prepare(module(start...)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("start function: %v", err)
	}
	passive := append([]byte(nil), header...)
	passive = wasmbin.AppendSection(passive, secMemory, []byte{1, 0, 1})
	passive = wasmbin.AppendSection(passive, secData, []byte{1, 1, 1, 'x'})
	if _, err := Prepare(passive); !errors.Is(err, ErrUnsupported) {
		t.Errorf("passive segment: %v", err)
	}
	noMemory := wasmbin.AppendSection(append([]byte(nil), header...), 1, []byte{0})
	if _, err := Prepare(noMemory); !errors.Is(err, ErrUnsupported) {
		t.Errorf("no memory: %v", err)
	}
	clash := append([]byte(nil), header...)
	clash = wasmbin.AppendSection(clash, secMemory, []byte{1, 0, 1})
	clash = wasmbin.AppendSection(clash, secGlobal, []byte{1, 0x7f, 1, 0x41, 7, 0x0b})
	clash = wasmbin.AppendSection(clash, secExport, append(wasmbin.AppendName([]byte{1}, "gureum_global_0"), 2, 0))
	if _, err := Prepare(clash); !errors.Is(err, ErrUnsupported) {
		t.Errorf("export name clash: %v", err)
	}
	if _, err := Prepare([]byte("not wasm")); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzPrepare(f *testing.F) {
	f.Add(module())
	f.Add(module(wasmbin.AppendSection(nil, secStart, []byte{0})...))
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, bin []byte) {
		p, err := Prepare(bin) // must not panic
		if err != nil {
			return
		}
		// What wazero accepts before, it accepts after.
		if cm, err := rt.CompileModule(ctx, bin); err == nil {
			_ = cm.Close(ctx)
			cm, err := rt.CompileModule(ctx, p.Module)
			if err != nil {
				t.Fatalf("prepared module does not compile: %v", err)
			}
			_ = cm.Close(ctx)
		}
	})
}
