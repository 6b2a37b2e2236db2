// Package snapshot rewrites a WebAssembly module so that an image of an
// initialized instance (its linear memory and globals) becomes the module's
// initial state. An instance of the rewritten module starts where the
// original left off after its initialization, without running it again.
//
// The rewriter parses only what it changes: the memory section (the minimum
// size), the global section (initial values), the data section (replaced by
// the image's non-zero runs), the data count section, and a custom section
// recording the image's metadata. Every other section is kept byte for byte.
// Modules it cannot rewrite safely (an imported memory, a start function,
// passive data segments, global initializers other than constants) are
// refused.
package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// FormatVersion changes whenever the output of Build changes for the same
// input; it is part of every snapshot's cache key and metadata.
const FormatVersion = 1

// MergeGap is the longest run of zero bytes kept inside one data segment:
// non-zero runs closer than this are merged, since copying a few zeros is
// cheaper than instantiating many tiny segments.
const MergeGap = 1024

// metaSection names the custom section holding Meta.
const metaSection = "gureum.snapshot"

const pageSize = 65536

// Image is the state of an initialized instance.
type Image struct {
	Memory  []byte   // linear memory, a whole number of 64 KiB pages
	Globals []uint64 // every global by index, imported ones first, as api.Global.Get returns them
	Meta    Meta
}

// Meta is what a snapshot records about itself, read back with ReadMeta.
type Meta struct {
	Version  uint32 // FormatVersion of the writer
	Nanotime int64  // the instance's monotonic clock when the image was taken
}

// ErrUnsupported: the module cannot be rewritten safely.
var ErrUnsupported = errors.New("module not supported by snapshots")

const (
	secCustom    = 0
	secImport    = 2
	secMemory    = 5
	secGlobal    = 6
	secStart     = 8
	secData      = 11
	secDataCount = 12
)

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

// Build returns orig rewritten so that its initial state is img. The image
// must come from an instance of orig.
func Build(orig []byte, img Image) ([]byte, error) {
	if len(img.Memory)%pageSize != 0 {
		return nil, fmt.Errorf("memory image of %d bytes is not whole pages", len(img.Memory))
	}
	secs, err := sections(orig)
	if err != nil {
		return nil, err
	}
	importedGlobals := 0
	out := append([]byte(nil), header...)
	var dataSegments []byte
	var nData uint32
	wroteData := false
	for _, s := range secs {
		body := s.body
		switch s.id {
		case secImport:
			n, err := countImports(body)
			if err != nil {
				return nil, err
			}
			importedGlobals = n
		case secStart:
			return nil, fmt.Errorf("%w: it has a start function", ErrUnsupported)
		case secMemory:
			if body, err = rewriteMemory(body, uint32(len(img.Memory)/pageSize)); err != nil {
				return nil, err
			}
		case secGlobal:
			if body, err = rewriteGlobals(body, img.Globals, importedGlobals); err != nil {
				return nil, err
			}
		case secDataCount:
			dataSegments, nData = segments(img.Memory)
			body = appendU32(nil, nData)
		case secData:
			if err := checkData(body); err != nil {
				return nil, err
			}
			if dataSegments == nil {
				dataSegments, nData = segments(img.Memory)
			}
			body = append(appendU32(nil, nData), dataSegments...)
			wroteData = true
		case secCustom:
			var r reader
			r.b = body
			if name := r.name(); r.err == nil && name == metaSection {
				continue // a snapshot of a snapshot keeps only the new metadata
			}
		}
		out = appendSection(out, s.id, body)
	}
	if !wroteData {
		return nil, fmt.Errorf("%w: it has no data section", ErrUnsupported)
	}
	meta := appendName(nil, metaSection)
	meta = binary.LittleEndian.AppendUint32(meta, FormatVersion)
	meta = binary.LittleEndian.AppendUint64(meta, uint64(img.Meta.Nanotime))
	return appendSection(out, secCustom, meta), nil
}

// ReadMeta returns the metadata of a module Build wrote; ok is false for any
// other module.
func ReadMeta(bin []byte) (m Meta, ok bool) {
	secs, err := sections(bin)
	if err != nil {
		return Meta{}, false
	}
	for _, s := range secs {
		if s.id != secCustom {
			continue
		}
		r := reader{b: s.body}
		if r.name() != metaSection || r.err != nil || len(r.b)-r.off != 12 {
			continue
		}
		b := r.b[r.off:]
		return Meta{Version: binary.LittleEndian.Uint32(b), Nanotime: int64(binary.LittleEndian.Uint64(b[4:]))}, true
	}
	return Meta{}, false
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
	return globals, r.err
}

func rewriteMemory(body []byte, pages uint32) ([]byte, error) {
	r := reader{b: body}
	if n := r.u32(); n != 1 || r.err != nil {
		return nil, fmt.Errorf("%w: %d memories", ErrUnsupported, n)
	}
	flags := r.byte()
	r.u32()
	out := appendU32(nil, 1)
	out = append(out, flags)
	out = appendU32(out, pages)
	switch flags {
	case 0:
	case 1:
		max := r.u32()
		if max < pages {
			return nil, fmt.Errorf("image of %d pages is larger than the memory's maximum %d", pages, max)
		}
		out = appendU32(out, max)
	default:
		return nil, fmt.Errorf("%w: memory flags %#x", ErrUnsupported, flags)
	}
	if r.err != nil || r.off != len(r.b) {
		return nil, fmt.Errorf("malformed memory section")
	}
	return out, nil
}

// rewriteGlobals replaces the initializer of every mutable global with its
// value in the image.
func rewriteGlobals(body []byte, values []uint64, imported int) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if int(n)+imported != len(values) {
		return nil, fmt.Errorf("image has %d globals, module %d", len(values), int(n)+imported)
	}
	out := appendU32(nil, n)
	for i := 0; i < int(n); i++ {
		typ, mut := r.byte(), r.byte()
		start := r.off
		r.constExpr()
		if r.err != nil {
			return nil, fmt.Errorf("global %d: %w", imported+i, r.err)
		}
		out = append(out, typ, mut)
		if mut == 0 {
			out = append(out, r.b[start:r.off]...)
			continue
		}
		v := values[imported+i]
		switch typ {
		case 0x7f:
			out = appendS64(append(out, 0x41), int64(int32(uint32(v))))
		case 0x7e:
			out = appendS64(append(out, 0x42), int64(v))
		case 0x7d:
			out = binary.LittleEndian.AppendUint32(append(out, 0x43), uint32(v))
		case 0x7c:
			out = binary.LittleEndian.AppendUint64(append(out, 0x44), v)
		default:
			return nil, fmt.Errorf("%w: mutable global %d of type %#x", ErrUnsupported, imported+i, typ)
		}
		out = append(out, 0x0b)
	}
	if r.err != nil || r.off != len(r.b) {
		return nil, fmt.Errorf("malformed global section")
	}
	return out, nil
}

// checkData refuses passive segments, which code may refer to by index.
func checkData(body []byte) error {
	r := reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch flags := r.u32(); flags {
		case 0:
			r.constExpr()
		case 2:
			if r.u32() != 0 {
				return fmt.Errorf("%w: data for a second memory", ErrUnsupported)
			}
			r.constExpr()
		default:
			return fmt.Errorf("%w: passive data segment %d", ErrUnsupported, i)
		}
		r.bytes(int(r.u32()))
	}
	if r.err != nil {
		return fmt.Errorf("malformed data section: %w", r.err)
	}
	return nil
}

// segments encodes mem's non-zero runs, merged across gaps shorter than
// MergeGap, as active data segments.
func segments(mem []byte) ([]byte, uint32) {
	out := []byte{}
	var n uint32
	i := 0
	for {
		for i < len(mem) && mem[i] == 0 {
			i++
		}
		if i == len(mem) {
			return out, n
		}
		start, end := i, i
		for j := i; j < len(mem); {
			if mem[j] != 0 {
				j++
				end = j
				continue
			}
			if j-end >= MergeGap {
				break
			}
			j++
		}
		out = append(out, 0x00, 0x41)
		out = appendS64(out, int64(int32(uint32(start))))
		out = append(out, 0x0b)
		out = appendU32(out, uint32(end-start))
		out = append(out, mem[start:end]...)
		n++
		i = end
	}
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(body)))
	return append(out, body...)
}

func appendName(out []byte, s string) []byte {
	return append(appendU32(out, uint32(len(s))), s...)
}

func appendU32(out []byte, v uint32) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func appendS64(out []byte, v int64) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
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
