package snapshot

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
)

// module is a hand-assembled module: one memory of one page, a mutable i32
// global, a mutable i64 global, an immutable i32 global (5), a data segment
// "abc" at 16, and every one of them exported.
func module(extra ...byte) []byte {
	b := append([]byte(nil), header...)
	b = appendSection(b, 1, []byte{1, 0x60, 0, 0})   // type () -> ()
	b = appendSection(b, 3, []byte{1, 0})            // one function
	b = appendSection(b, secMemory, []byte{1, 0, 1}) // memory min 1
	b = appendSection(b, secGlobal, []byte{3,
		0x7f, 1, 0x41, 0, 0x0b,
		0x7e, 1, 0x42, 0, 0x0b,
		0x7f, 0, 0x41, 5, 0x0b})
	exp := []byte{4}
	exp = append(appendName(exp, "memory"), 2, 0)
	exp = append(appendName(exp, "g0"), 3, 0)
	exp = append(appendName(exp, "g1"), 3, 1)
	exp = append(appendName(exp, "g2"), 3, 2)
	b = appendSection(b, 7, exp)
	b = append(b, extra...)
	b = appendSection(b, 10, []byte{1, 2, 0, 0x0b}) // code: empty body
	b = appendSection(b, secData, []byte{1, 0, 0x41, 16, 0x0b, 3, 'a', 'b', 'c'})
	return b
}

func TestBuild(t *testing.T) {
	mem := make([]byte, 2*pageSize)
	copy(mem[100:], "xyz")
	copy(mem[100+3+MergeGap-1:], "near") // merged with xyz
	copy(mem[70000:], "far")
	mem[len(mem)-1] = 9
	img := Image{Memory: mem, Globals: []uint64{7, uint64(1<<63 | 3), 5}, Meta: Meta{Nanotime: 12345}}

	out, err := Build(module(), img)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := ReadMeta(out); !ok || m.Version != FormatVersion || m.Nanotime != 12345 {
		t.Fatalf("meta %+v %v", m, ok)
	}
	if _, ok := ReadMeta(module()); ok {
		t.Error("ReadMeta found metadata in a plain module")
	}
	if _, n := segments(mem); n != 3 {
		t.Errorf("%d segments, want 3", n)
	}

	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := mod.Memory().Read(0, mod.Memory().Size())
	if !bytes.Equal(got, mem) {
		t.Error("memory differs from the image")
	}
	for i, name := range []string{"g0", "g1", "g2"} {
		if v := mod.ExportedGlobal(name).Get(); v != img.Globals[i] {
			t.Errorf("%s = %#x, want %#x", name, v, img.Globals[i])
		}
	}

	// A snapshot of a snapshot keeps one metadata section.
	again, err := Build(out, Image{Memory: mem, Globals: img.Globals, Meta: Meta{Nanotime: 99}})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := ReadMeta(again); m.Nanotime != 99 || bytes.Count(again, []byte(metaSection)) != 1 {
		t.Errorf("snapshot of a snapshot: %+v", m)
	}
}

func TestBuildRefuses(t *testing.T) {
	img := Image{Memory: make([]byte, pageSize), Globals: []uint64{0, 0, 5}}
	start := appendSection(nil, secStart, []byte{0})
	if _, err := Build(module(start...), img); !errors.Is(err, ErrUnsupported) {
		t.Errorf("start function: %v", err)
	}
	if _, err := Build(module(), Image{Memory: make([]byte, pageSize), Globals: []uint64{0}}); err == nil {
		t.Error("wrong number of globals accepted")
	}
	if _, err := Build(module(), Image{Memory: make([]byte, 10), Globals: img.Globals}); err == nil {
		t.Error("partial page accepted")
	}
	if _, err := Build([]byte("not wasm"), img); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzBuild(f *testing.F) {
	f.Add(module())
	f.Add(module(appendSection(nil, secStart, []byte{0})...))
	img := Image{Memory: make([]byte, pageSize), Globals: []uint64{1, 2, 3}}
	img.Memory[5] = 1
	f.Fuzz(func(t *testing.T, bin []byte) {
		_, _ = Build(bin, img) // must not panic
		_, _ = ReadMeta(bin)
	})
}
