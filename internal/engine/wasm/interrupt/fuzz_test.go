package interrupt

import (
	"context"
	"errors"
	"flag"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Instrument never panics; it fails only with its two sentinel errors,
// never calls a module wazero accepts malformed, and what it returns for a
// module wazero accepts, wazero accepts too.
func FuzzInstrument(f *testing.F) {
	f.Add(kitchenSink())
	f.Add(wasmModule())
	f.Add(wasmModule(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(cat(str("spin"), []byte{externFunc, 0}))),
		sec(secCode, vec(fn(noLocals, 0x12, 0x00, 0x0b))),
	))
	f.Add(wasmModule(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secImport, vec(
			cat(str("env"), str("g"), []byte{externGlobal, valI32, 0}),
			cat(str("env"), str("m"), []byte{externMemory, 0x00, 0x01}),
		)),
		sec(secFunction, vec([]byte{0})),
		sec(secCode, vec(fn(noLocals, 0x03, 0x40, 0x23, 0x00, 0x0d, 0x00, 0x0b, 0x0b))),
	))
	// The Go-built modules are large and slow to compile: seeds for the
	// plain test run, not for the fuzzing engine to mutate.
	if fz := flag.Lookup("test.fuzz"); fz == nil || fz.Value.String() == "" {
		f.Add(modules.reactor)
		f.Add(modules.command)
	}

	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(modules.cache).
		WithCoreFeatures(api.CoreFeaturesV2|experimental.CoreFeaturesTailCall))
	f.Cleanup(func() { _ = rt.Close(ctx) })
	valid := func(bin []byte) error {
		if !plausibleCounts(bin) {
			return errors.New("a vector longer than its section")
		}
		c, err := rt.CompileModule(ctx, bin)
		if err == nil {
			_ = c.Close(ctx)
		}
		return err
	}

	f.Fuzz(func(t *testing.T, bin []byte) {
		out, err := Instrument(bin)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error wraps neither sentinel: %v", err)
			}
			if errors.Is(err, ErrMalformed) && valid(bin) == nil {
				t.Fatalf("wazero compiles a module called malformed: %v", err)
			}
			return
		}
		if valid(bin) != nil {
			return
		}
		if err := valid(out); err != nil {
			t.Fatalf("wazero compiles the module but not its instrumented form: %v", err)
		}
	})
}

// plausibleCounts reports false when a section starts with a vector count
// larger than the rest of the module, which no valid module has. wazero
// v1.12.0 reads a section's count without bounding it by the section, and
// allocates for it before it finds the module too short: such an input
// takes seconds, or exhausts memory, and would stop fuzzing.
func plausibleCounts(bin []byte) bool {
	if len(bin) < len(header) {
		return true
	}
	r := reader{b: bin[len(header):]}
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return true
		}
		size, err := r.u32()
		if err != nil {
			return true
		}
		rest := reader{b: r.b[r.off:]}
		if id != secCustom && id != secStart && id != secDataCount {
			if n, err := rest.u32(); err == nil && uint64(n) > uint64(len(rest.b)) {
				return false
			}
		}
		if _, err := r.bytes(size); err != nil {
			return true
		}
	}
	return true
}
