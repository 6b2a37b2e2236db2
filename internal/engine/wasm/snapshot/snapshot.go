// Package snapshot prepares a WebAssembly module so that its instances can
// start from an image of an initialized instance (its linear memory and
// globals) instead of running their initialization again.
//
// Prepare rewrites a module in two ways that do not change what its code
// does: the active data segments move out of the module (the host writes
// them into memory at a normal start, exactly where instantiation would
// have), and every mutable global is exported, so that the host can read it
// from an initialized instance and set it in a restored one. The rewritten
// module is compiled once and serves both kinds of start: a normal one
// (write the data, run the initialization) and a restored one (the memory
// is the image, mapped copy-on-write; the globals are set from the image).
//
// The rewriter parses only what it changes: the import section (to count
// imported globals and refuse an imported memory), the global, export, data
// and data count sections. Every other section is kept byte for byte.
// Modules it cannot prepare safely (an imported memory, more than one
// memory, a start function, passive data segments, data offsets that are
// not constants) are refused with ErrUnsupported.
package snapshot

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/gureum/gureum/internal/engine/wasm/wasmbin"
)

// FormatVersion changes whenever Prepare's output, or the image format the
// host keeps beside it, changes for the same input; it is part of every
// snapshot's cache key.
const FormatVersion = 2

// GlobalExportPrefix starts the name under which Prepare exports each
// mutable global: the prefix and the global's index.
const GlobalExportPrefix = "gureum_global_"

const pageSize = 65536

// ErrUnsupported: the module cannot be prepared safely.
var ErrUnsupported = errors.New("module not supported by snapshots")

const (
	secCustom    = 0
	secImport    = 2
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secData      = 11
	secDataCount = 12
)

// Prepared is a module ready for snapshots.
type Prepared struct {
	// Module is the rewritten module: no data section, every mutable
	// global exported.
	Module []byte
	// Data are the original module's data segments, in order. At a normal
	// start the host writes each at its offset before anything runs.
	Data []Segment
	// Globals are the mutable globals, each exported as GlobalExportPrefix
	// and its index.
	Globals []Global
	// Exports are the names of the module's exported functions.
	Exports []string
}

// Segment is a data segment: Bytes belong at Offset in linear memory.
type Segment struct {
	Offset uint32
	Bytes  []byte
}

// Global is a mutable global of a prepared module.
type Global struct {
	Index  int    // index in the module's global index space
	Type   byte   // 0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64
	Export string // name of its export
}

type section struct {
	id   byte
	body []byte
}

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

func sections(bin []byte) ([]section, error) {
	if len(bin) < 8 || string(bin[:8]) != string(header) {
		return nil, errors.New("not a WebAssembly 1.0 binary")
	}
	r := reader{b: bin, off: 8}
	var out []section
	for r.off < len(r.b) {
		id := r.byte()
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		out = append(out, section{id, body})
	}
	return out, nil
}

// Prepare returns orig ready for snapshots. The segments in the result
// share orig's bytes.
func Prepare(orig []byte) (*Prepared, error) {
	secs, err := sections(orig)
	if err != nil {
		return nil, err
	}
	p := &Prepared{}
	importedGlobals := 0
	memories := 0
	sawExports := false
	out := append([]byte(nil), header...)
	for _, s := range secs {
		switch s.id {
		case secImport:
			if importedGlobals, err = countImports(s.body); err != nil {
				return nil, err
			}
		case secMemory:
			r := reader{b: s.body}
			memories += int(r.u32())
		case secGlobal:
			if p.Globals, err = mutableGlobals(s.body, importedGlobals); err != nil {
				return nil, err
			}
		case secExport:
			body, err := addExports(s.body, p.Globals, &p.Exports)
			if err != nil {
				return nil, err
			}
			out = wasmbin.AppendSection(out, s.id, body)
			sawExports = true
			continue
		case secStart:
			return nil, fmt.Errorf("%w: it has a start function", ErrUnsupported)
		case secDataCount:
			continue // the data section goes, and its count with it
		case secData:
			if p.Data, err = dataSegments(s.body); err != nil {
				return nil, err
			}
			continue
		}
		// A module without an export section gets one where it belongs:
		// before the first section that must follow it.
		if !sawExports && s.id != secCustom && s.id > secExport {
			body, err := addExports([]byte{0}, p.Globals, nil)
			if err != nil {
				return nil, err
			}
			out = wasmbin.AppendSection(out, secExport, body)
			sawExports = true
		}
		out = wasmbin.AppendSection(out, s.id, s.body)
	}
	if memories != 1 {
		return nil, fmt.Errorf("%w: %d memories, not one", ErrUnsupported, memories)
	}
	if !sawExports {
		body, err := addExports([]byte{0}, p.Globals, nil)
		if err != nil {
			return nil, err
		}
		out = wasmbin.AppendSection(out, secExport, body)
	}
	p.Module = out
	return p, nil
}

// countImports returns how many globals the import section imports, and
// refuses an imported memory.
func countImports(body []byte) (globals int, err error) {
	r := reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0: // function
			r.u32()
		case 1: // table
			r.byte()
			r.limits()
		case 2:
			return 0, fmt.Errorf("%w: it imports its memory", ErrUnsupported)
		case 3:
			r.byte()
			r.byte()
			globals++
		default:
			return 0, fmt.Errorf("import of unknown kind %d", kind)
		}
	}
	if r.err != nil {
		return 0, fmt.Errorf("malformed import section: %w", r.err)
	}
	return globals, nil
}

// mutableGlobals lists the global section's mutable globals.
func mutableGlobals(body []byte, imported int) ([]Global, error) {
	r := reader{b: body}
	n := r.u32()
	var out []Global
	for i := 0; i < int(n) && r.err == nil; i++ {
		typ, mut := r.byte(), r.byte()
		r.constExpr()
		if mut == 0 {
			continue
		}
		switch typ {
		case 0x7f, 0x7e, 0x7d, 0x7c:
		default:
			return nil, fmt.Errorf("%w: mutable global %d of type %#x", ErrUnsupported, imported+i, typ)
		}
		idx := imported + i
		out = append(out, Global{Index: idx, Type: typ, Export: GlobalExportPrefix + strconv.Itoa(idx)})
	}
	if r.err != nil || r.off != len(r.b) {
		return nil, fmt.Errorf("malformed global section: %v", r.err)
	}
	return out, nil
}

// addExports appends an export of each global to an export section,
// refusing a name the module already uses. The names of exported functions
// are appended to funcs.
func addExports(body []byte, globals []Global, funcs *[]string) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	names := make(map[string]bool, min(int(n), len(body))) // n is untrusted
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := r.name()
		names[name] = true
		if r.byte() == 0 && funcs != nil {
			*funcs = append(*funcs, name)
		}
		r.u32()
	}
	if r.err != nil || r.off != len(r.b) {
		return nil, fmt.Errorf("malformed export section: %v", r.err)
	}
	if uint64(n)+uint64(len(globals)) > math.MaxUint32 {
		return nil, errors.New("too many exports")
	}
	out := wasmbin.AppendU32(nil, n+uint32(len(globals)))
	out = append(out, body[len(wasmbin.AppendU32(nil, n)):]...)
	for _, g := range globals {
		if names[g.Export] {
			return nil, fmt.Errorf("%w: it already exports a name %q", ErrUnsupported, g.Export)
		}
		out = append(wasmbin.AppendName(out, g.Export), 3)
		out = wasmbin.AppendU32(out, uint32(g.Index))
	}
	return out, nil
}

// dataSegments reads the active segments of memory 0 with constant offsets.
func dataSegments(body []byte) ([]Segment, error) {
	r := reader{b: body}
	n := r.u32()
	var out []Segment
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch flags := r.u32(); flags {
		case 0:
		case 2:
			if r.u32() != 0 {
				return nil, fmt.Errorf("%w: data for a second memory", ErrUnsupported)
			}
		default:
			return nil, fmt.Errorf("%w: passive data segment %d", ErrUnsupported, i)
		}
		if op := r.byte(); op != 0x41 {
			return nil, fmt.Errorf("%w: data segment %d's offset is not an i32.const", ErrUnsupported, i)
		}
		off := uint32(r.sleb32())
		if r.byte() != 0x0b {
			return nil, fmt.Errorf("%w: data segment %d's offset is not one constant", ErrUnsupported, i)
		}
		b := r.bytes(int(r.u32()))
		if r.err == nil && uint64(off)+uint64(len(b)) > math.MaxUint32 {
			return nil, fmt.Errorf("data segment %d ends past 4 GiB", i)
		}
		out = append(out, Segment{Offset: off, Bytes: b})
	}
	if r.err != nil || r.off != len(r.b) {
		return nil, fmt.Errorf("malformed data section: %v", r.err)
	}
	return out, nil
}

// reader decodes the parts of the binary format the rewriter needs. The
// first error sticks; later reads return zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail(errors.New("unexpected end"))
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errors.New("unexpected end"))
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); shift < bits+7; shift += 7 {
		b := r.byte()
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("LEB128 too long"))
	return 0
}

func (r *reader) u32() uint32 {
	v := r.uleb(32)
	if v > math.MaxUint32 {
		r.fail(errors.New("u32 out of range"))
	}
	return uint32(v)
}

// sleb32 reads a signed LEB128 of at most 32 bits.
func (r *reader) sleb32() int32 {
	var v int64
	var shift uint
	for {
		b := r.byte()
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			break
		}
		if shift >= 35 {
			r.fail(errors.New("LEB128 too long"))
			return 0
		}
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail(errors.New("i32 out of range"))
		return 0
	}
	return int32(v)
}

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// constExpr skips a constant expression of one instruction and end.
func (r *reader) constExpr() {
	switch op := r.byte(); op {
	case 0x41, 0x42: // i32.const, i64.const
		r.uleb(64)
	case 0x43:
		r.bytes(4)
	case 0x44:
		r.bytes(8)
	case 0x23: // global.get
		r.u32()
	default:
		r.fail(fmt.Errorf("%w: initializer opcode %#x", ErrUnsupported, op))
	}
	if r.byte() != 0x0b {
		r.fail(fmt.Errorf("%w: initializer of more than one instruction", ErrUnsupported))
	}
}
