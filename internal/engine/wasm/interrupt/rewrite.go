package interrupt

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/gureum/gureum/internal/engine/wasm/wasmbin"
)

// Section ids, in the order a module must list them (custom sections may
// appear anywhere).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is a section's place in the required order.
var sectionRank = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 6, secExport: 7, secStart: 8, secElement: 9, secDataCount: 10,
	secCode: 11, secData: 12,
}

// Value and external kinds.
const (
	valI32       = 0x7f
	mutable      = 0x01
	externFunc   = 0x00
	externTable  = 0x01
	externMemory = 0x02
	externGlobal = 0x03
)

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// zeroMemory is a memory section of one memory of at least and at most
// zero pages: what memory.grow needs in a module that has no memory.
var zeroMemory = []byte{1, 0x01, 0, 0}

type section struct {
	id   byte
	body []byte
}

// module is what instrument learns from the sections it reads.
type module struct {
	sections      []section
	globals       uint32 // imported and defined
	memories      uint32 // imported and defined
	hasGlobalSec  bool
	hasExportSec  bool
	exportedNames map[string]bool
}

func instrument(bin []byte, budget int32) ([]byte, error) {
	if budget <= 0 {
		return nil, fmt.Errorf("interrupt: budget %d must be positive", budget)
	}
	if len(bin) < len(header) || !bytes.Equal(bin[:4], header[:4]) {
		return nil, fmt.Errorf("interrupt: %w: no WebAssembly magic number", ErrMalformed)
	}
	if !bytes.Equal(bin[4:8], header[4:]) {
		return nil, fmt.Errorf("interrupt: %w: binary version %x", ErrUnsupported, bin[4:8])
	}
	m, err := readSections(bin[len(header):])
	if err != nil {
		return nil, fmt.Errorf("interrupt: %w", err)
	}
	if m.exportedNames[FlagExport] {
		return nil, fmt.Errorf("interrupt: %w: module already exports %q", ErrUnsupported, FlagExport)
	}
	if m.memories > 1 {
		return nil, fmt.Errorf("interrupt: %w: %d memories", ErrUnsupported, m.memories)
	}
	if m.globals > math.MaxUint32-2 {
		return nil, fmt.Errorf("interrupt: %w: too many globals", ErrMalformed)
	}
	budgetIdx, flagIdx := m.globals, m.globals+1

	var code []byte
	for _, s := range m.sections {
		if s.id == secCode {
			if code, err = rewriteCode(s.body, budgetIdx, flagIdx, budget); err != nil {
				return nil, fmt.Errorf("interrupt: code section: %w", err)
			}
		}
	}

	newGlobals := appendGlobal(nil, budget)
	newGlobals = appendGlobal(newGlobals, 0)
	newExport := wasmbin.AppendName(nil, FlagExport)
	newExport = append(newExport, externGlobal)
	newExport = wasmbin.AppendU32(newExport, flagIdx)

	out := make([]byte, 0, len(bin)+len(bin)/8+64)
	out = append(out, header...)
	// The sections the module lacks go in before the first section that
	// must follow them.
	needMemory := m.memories == 0
	needGlobal, needExport := !m.hasGlobalSec, !m.hasExportSec
	insertMissing := func(before int) {
		if needMemory && before > sectionRank[secMemory] {
			out = wasmbin.AppendSection(out, secMemory, zeroMemory)
			needMemory = false
		}
		if needGlobal && before > sectionRank[secGlobal] {
			out = wasmbin.AppendSection(out, secGlobal, append([]byte{2}, newGlobals...))
			needGlobal = false
		}
		if needExport && before > sectionRank[secExport] {
			out = wasmbin.AppendSection(out, secExport, append([]byte{1}, newExport...))
			needExport = false
		}
	}
	for _, s := range m.sections {
		if s.id != secCustom {
			insertMissing(sectionRank[s.id])
		}
		switch s.id {
		case secCustom:
			if isDWARF(s.body) {
				continue
			}
			out = wasmbin.AppendSection(out, s.id, s.body)
		case secMemory:
			if m.memories == 0 {
				// An empty memory section: give it the zero-page memory.
				out = wasmbin.AppendSection(out, secMemory, zeroMemory)
				needMemory = false
				continue
			}
			out = wasmbin.AppendSection(out, s.id, s.body)
		case secGlobal:
			b, err := appendToVector(s.body, 2, newGlobals)
			if err != nil {
				return nil, fmt.Errorf("interrupt: global section: %w", err)
			}
			out = wasmbin.AppendSection(out, s.id, b)
		case secExport:
			b, err := appendToVector(s.body, 1, newExport)
			if err != nil {
				return nil, fmt.Errorf("interrupt: export section: %w", err)
			}
			out = wasmbin.AppendSection(out, s.id, b)
		case secCode:
			out = wasmbin.AppendSection(out, s.id, code)
		default:
			out = wasmbin.AppendSection(out, s.id, s.body)
		}
	}
	insertMissing(math.MaxInt)
	return out, nil
}

// isDWARF reports whether a custom section holds DWARF debug information.
func isDWARF(body []byte) bool {
	r := reader{b: body}
	name, err := r.name()
	return err == nil && strings.HasPrefix(name, ".debug_")
}

// readSections splits the module into sections and reads the few facts
// instrument needs from the import, memory, global and export sections.
func readSections(b []byte) (*module, error) {
	m := &module{exportedNames: map[string]bool{}}
	r := reader{b: b}
	lastRank := 0
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section %d size: %w", id, err)
		}
		body, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if id == secTag {
			return nil, fmt.Errorf("%w: tag section (exception handling)", ErrUnsupported)
		}
		if id != secCustom {
			rank, ok := sectionRank[id]
			if !ok {
				return nil, fmt.Errorf("%w: unknown section id %d", ErrMalformed, id)
			}
			if rank <= lastRank {
				return nil, fmt.Errorf("%w: section %d out of order", ErrMalformed, id)
			}
			lastRank = rank
		}
		sr := reader{b: body}
		if id != secCustom && id != secStart && id != secDataCount {
			// Every section else is a vector, and every element takes at
			// least a byte: a larger count is malformed, and would make a
			// decoder that trusts it allocate without bound.
			n, err := sr.u32()
			if err != nil {
				return nil, fmt.Errorf("section %d: %w", id, err)
			}
			if uint64(n) > uint64(len(body)) {
				return nil, fmt.Errorf("%w: section %d holds %d bytes but counts %d elements", ErrMalformed, id, len(body), n)
			}
			sr.off = 0
		}
		switch id {
		case secCustom:
			if _, err := sr.name(); err != nil {
				return nil, fmt.Errorf("custom section name: %w", err)
			}
		case secImport:
			err = m.readImports(&sr)
		case secMemory:
			var n uint32
			if n, err = sr.u32(); err == nil {
				m.memories += n
			}
		case secGlobal:
			m.hasGlobalSec = true
			var n uint32
			if n, err = sr.u32(); err == nil {
				if m.globals+n < m.globals {
					err = fmt.Errorf("%w: too many globals", ErrMalformed)
				}
				m.globals += n
			}
		case secExport:
			m.hasExportSec = true
			err = m.readExports(&sr)
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		m.sections = append(m.sections, section{id, body})
	}
	return m, nil
}

func (m *module) readImports(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.name(); err != nil {
			return fmt.Errorf("import %d: %w", i, err)
		}
		if _, err := r.name(); err != nil {
			return fmt.Errorf("import %d: %w", i, err)
		}
		kind, err := r.byte()
		if err != nil {
			return fmt.Errorf("import %d: %w", i, err)
		}
		switch kind {
		case externFunc:
			_, err = r.u32()
		case externTable:
			if _, err = r.refType(); err == nil {
				err = r.limits()
			}
		case externMemory:
			m.memories++
			err = r.limits()
		case externGlobal:
			if _, err = r.valType(); err == nil {
				var mut byte
				if mut, err = r.byte(); err == nil && mut > 1 {
					err = fmt.Errorf("%w: global mutability %#x", ErrMalformed, mut)
				}
			}
			m.globals++
		default:
			err = fmt.Errorf("%w: import kind %#x", ErrUnsupported, kind)
		}
		if err != nil {
			return fmt.Errorf("import %d: %w", i, err)
		}
	}
	if !r.done() {
		return fmt.Errorf("%w: trailing bytes after imports", ErrMalformed)
	}
	return nil
}

func (m *module) readExports(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		name, err := r.name()
		if err != nil {
			return fmt.Errorf("export %d: %w", i, err)
		}
		if _, err := r.byte(); err != nil {
			return fmt.Errorf("export %d: %w", i, err)
		}
		if _, err := r.u32(); err != nil {
			return fmt.Errorf("export %d: %w", i, err)
		}
		m.exportedNames[name] = true
	}
	if !r.done() {
		return fmt.Errorf("%w: trailing bytes after exports", ErrMalformed)
	}
	return nil
}

// appendToVector returns a vector's encoding (a count and its elements)
// with n more elements, encoded in extra, at its end.
func appendToVector(body []byte, n uint32, extra []byte) ([]byte, error) {
	r := reader{b: body}
	count, err := r.u32()
	if err != nil {
		return nil, err
	}
	if count > math.MaxUint32-n {
		return nil, fmt.Errorf("%w: vector too long", ErrMalformed)
	}
	out := wasmbin.AppendU32(make([]byte, 0, len(body)+len(extra)+5), count+n)
	out = append(out, body[r.off:]...)
	return append(out, extra...), nil
}

// appendGlobal appends a mutable i32 global initialized to v.
func appendGlobal(b []byte, v int32) []byte {
	b = append(b, valI32, mutable, opI32Const)
	b = wasmbin.AppendS32(b, v)
	return append(b, opEnd)
}
