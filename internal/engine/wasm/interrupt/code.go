package interrupt

import (
	"fmt"

	"github.com/gureum/gureum/internal/engine/wasm/wasmbin"
)

// Opcodes the rewriter emits or must recognize.
const (
	opUnreachable        = 0x00
	opNop                = 0x01
	opBlock              = 0x02
	opLoop               = 0x03
	opIf                 = 0x04
	opElse               = 0x05
	opEnd                = 0x0b
	opBr                 = 0x0c
	opBrIf               = 0x0d
	opBrTable            = 0x0e
	opReturn             = 0x0f
	opCall               = 0x10
	opCallIndirect       = 0x11
	opReturnCall         = 0x12
	opReturnCallIndirect = 0x13
	opDrop               = 0x1a
	opSelect             = 0x1b
	opSelectTyped        = 0x1c
	opLocalGet           = 0x20
	opGlobalSet          = 0x24
	opTableGet           = 0x25
	opTableSet           = 0x26
	opLoadFirst          = 0x28
	opStoreLast          = 0x3e
	opMemorySize         = 0x3f
	opMemoryGrow         = 0x40
	opI32Const           = 0x41
	opI64Const           = 0x42
	opF32Const           = 0x43
	opF64Const           = 0x44
	opNumericFirst       = 0x45 // i32.eqz
	opNumericLast        = 0xc4 // i64.extend32_s (sign extension)
	opRefNull            = 0xd0
	opRefIsNull          = 0xd1
	opRefFunc            = 0xd2
	opPrefixMisc         = 0xfc
	opPrefixSIMD         = 0xfd

	opGlobalGet = 0x23
	opI32Sub    = 0x6b
	opI32Eqz    = 0x45
	blockEmpty  = 0x40
)

// checkSequence returns the instructions inserted at each loop head (and,
// in modules with tail calls, at each function entry).
func checkSequence(budgetIdx, flagIdx uint32, budget int32) []byte {
	var b []byte
	// budget--
	b = append(b, opGlobalGet)
	b = wasmbin.AppendU32(b, budgetIdx)
	b = append(b, opI32Const, 1, opI32Sub, opGlobalSet)
	b = wasmbin.AppendU32(b, budgetIdx)
	// if budget == 0
	b = append(b, opGlobalGet)
	b = wasmbin.AppendU32(b, budgetIdx)
	b = append(b, opI32Eqz, opIf, blockEmpty)
	//   budget = N
	b = append(b, opI32Const)
	b = wasmbin.AppendS32(b, budget)
	b = append(b, opGlobalSet)
	b = wasmbin.AppendU32(b, budgetIdx)
	//   drop(memory.grow(0)): leaves compiled code for Go, a safe point.
	b = append(b, opI32Const, 0, opMemoryGrow, 0x00, opDrop)
	//   if interrupt { unreachable }
	b = append(b, opGlobalGet)
	b = wasmbin.AppendU32(b, flagIdx)
	b = append(b, opIf, blockEmpty, opUnreachable, opEnd)
	return append(b, opEnd)
}

// body is one decoded function body: where its instructions start and
// where checks go.
type body struct {
	code      []byte
	exprStart int   // offset of the first instruction, after the locals
	loops     []int // offsets just after each loop's block type
	tailCalls bool
}

// rewriteCode returns the code section with the checks inserted.
func rewriteCode(sec []byte, budgetIdx, flagIdx uint32, budget int32) ([]byte, error) {
	r := reader{b: sec}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	bodies := make([]body, 0, min(n, uint32(len(sec))))
	tailCalls := false
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		code, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		b, err := decodeBody(code)
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		tailCalls = tailCalls || b.tailCalls
		bodies = append(bodies, b)
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: trailing bytes after function bodies", ErrMalformed)
	}

	check := checkSequence(budgetIdx, flagIdx, budget)
	out := wasmbin.AppendU32(make([]byte, 0, len(sec)+len(sec)/4), n)
	var buf []byte
	for _, b := range bodies {
		buf = buf[:0]
		prev := 0
		if tailCalls {
			buf = append(buf, b.code[:b.exprStart]...)
			buf = append(buf, check...)
			prev = b.exprStart
		}
		for _, at := range b.loops {
			buf = append(buf, b.code[prev:at]...)
			buf = append(buf, check...)
			prev = at
		}
		buf = append(buf, b.code[prev:]...)
		if uint64(len(buf)) > 1<<32-1 {
			return nil, fmt.Errorf("%w: function body too large", ErrUnsupported)
		}
		out = wasmbin.AppendU32(out, uint32(len(buf)))
		out = append(out, buf...)
	}
	return out, nil
}

// decodeBody reads a function body's locals and instructions, recording
// every loop head.
func decodeBody(code []byte) (body, error) {
	b := body{code: code}
	r := reader{b: code}
	groups, err := r.u32()
	if err != nil {
		return b, fmt.Errorf("locals: %w", err)
	}
	for i := uint32(0); i < groups; i++ {
		if _, err := r.u32(); err != nil {
			return b, fmt.Errorf("locals: %w", err)
		}
		if _, err := r.valType(); err != nil {
			return b, fmt.Errorf("locals: %w", err)
		}
	}
	b.exprStart = r.off
	depth := 1 // the function's own block
	for depth > 0 {
		if r.done() {
			return b, fmt.Errorf("%w: function body ends before its end instruction", ErrMalformed)
		}
		at := r.off
		op, _ := r.byte()
		switch {
		case op == opBlock || op == opLoop || op == opIf:
			if err := r.blockType(); err != nil {
				return b, fmt.Errorf("at %#x: %w", at, err)
			}
			depth++
			if op == opLoop {
				b.loops = append(b.loops, r.off)
			}
		case op == opEnd:
			depth--
		case op == opReturnCall || op == opReturnCallIndirect:
			b.tailCalls = true
			err = r.skipImmediates(op)
		default:
			err = r.skipImmediates(op)
		}
		if err != nil {
			return b, fmt.Errorf("at %#x: %w", at, err)
		}
	}
	if !r.done() {
		return b, fmt.Errorf("%w: bytes after the function's end", ErrMalformed)
	}
	return b, nil
}

// skipImmediates reads the immediates of an instruction other than block,
// loop, if and end.
func (r *reader) skipImmediates(op byte) error {
	switch {
	case op == opUnreachable, op == opNop, op == opElse, op == opReturn,
		op == opDrop, op == opSelect, op == opRefIsNull,
		op >= opNumericFirst && op <= opNumericLast:
		return nil
	case op == opBr, op == opBrIf, op == opCall, op == opReturnCall,
		op >= opLocalGet && op <= opGlobalSet, // local.get/set/tee, global.get/set
		op == opTableGet, op == opTableSet, op == opRefFunc:
		_, err := r.u32()
		return err
	case op == opBrTable:
		n, err := r.u32()
		if err != nil {
			return err
		}
		for i := uint64(0); i <= uint64(n); i++ { // the labels and the default
			if _, err := r.u32(); err != nil {
				return err
			}
		}
		return nil
	case op == opCallIndirect, op == opReturnCallIndirect:
		if _, err := r.u32(); err != nil { // type
			return err
		}
		_, err := r.u32() // table
		return err
	case op == opSelectTyped:
		n, err := r.u32()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			if _, err := r.valType(); err != nil {
				return err
			}
		}
		return nil
	case op >= opLoadFirst && op <= opStoreLast:
		return r.memArg()
	case op == opMemorySize, op == opMemoryGrow:
		return r.memoryZero()
	case op == opI32Const:
		return r.sleb(32)
	case op == opI64Const:
		return r.sleb(64)
	case op == opF32Const:
		_, err := r.bytes(4)
		return err
	case op == opF64Const:
		_, err := r.bytes(8)
		return err
	case op == opRefNull:
		_, err := r.refType()
		return err
	case op == opPrefixMisc:
		return r.skipMisc()
	case op == opPrefixSIMD:
		return r.skipSIMD()
	}
	return fmt.Errorf("%w: opcode %#x", ErrUnsupported, op)
}

// skipMisc reads a 0xFC instruction: saturating truncation, bulk memory
// and table operations.
func (r *reader) skipMisc() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // *.trunc_sat_*
		return nil
	case 8: // memory.init data memory
		if _, err := r.u32(); err != nil {
			return err
		}
		return r.memoryZero()
	case 9, 13, 15, 16, 17: // data.drop, elem.drop, table.grow/size/fill
		_, err := r.u32()
		return err
	case 10: // memory.copy dst src
		if err := r.memoryZero(); err != nil {
			return err
		}
		return r.memoryZero()
	case 11: // memory.fill
		return r.memoryZero()
	case 12, 14: // table.init elem table, table.copy dst src
		if _, err := r.u32(); err != nil {
			return err
		}
		_, err := r.u32()
		return err
	}
	return fmt.Errorf("%w: opcode 0xfc %d", ErrUnsupported, sub)
}

// simdUnassigned are the opcodes below 256 that WebAssembly 2.0 leaves
// unassigned after the 0xFD prefix.
var simdUnassigned = map[uint32]bool{
	154: true, 162: true, 165: true, 166: true, 175: true, 176: true,
	178: true, 179: true, 180: true, 187: true, 194: true, 197: true,
	198: true, 207: true, 208: true, 210: true, 211: true, 212: true,
	226: true, 238: true,
}

// skipSIMD reads a 0xFD instruction.
func (r *reader) skipSIMD() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11, sub == 92, sub == 93: // v128 loads and store
		return r.memArg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		_, err := r.bytes(16)
		return err
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		_, err := r.byte()
		return err
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		if err := r.memArg(); err != nil {
			return err
		}
		_, err := r.byte()
		return err
	case sub <= 255 && !simdUnassigned[sub]:
		return nil
	}
	return fmt.Errorf("%w: opcode 0xfd %d", ErrUnsupported, sub)
}

// reader decodes the WebAssembly binary format. Every method fails, never
// panics, on input that ends early or is too long.
type reader struct {
	b   []byte
	off int
}

func (r *reader) done() bool { return r.off >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, fmt.Errorf("%w: unexpected end", ErrMalformed)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("%w: unexpected end", ErrMalformed)
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s, nil
}

// u32 reads an unsigned LEB128 number of at most 32 bits.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift == 28 && c > 0x0f {
			return 0, fmt.Errorf("%w: integer too large", ErrMalformed)
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

// sleb reads a signed LEB128 number of at most bits bits, returning only
// whether it is well formed.
func (r *reader) sleb(bits uint) error {
	_, err := r.slebValue(bits)
	return err
}

func (r *reader) slebValue(bits uint) (int64, error) {
	var v int64
	maxBytes := (bits + 6) / 7
	for i := uint(0); ; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		shift := 7 * i
		if i == maxBytes-1 {
			// The last byte: its unused bits must repeat the sign bit.
			used := bits - shift // bits this byte carries, 1..7
			if c&0x80 != 0 {
				return 0, fmt.Errorf("%w: integer too long", ErrMalformed)
			}
			if used < 7 {
				rest := c >> (used - 1) // sign bit and the unused bits
				if rest != 0 && rest != (0x7f>>(used-1)) {
					return 0, fmt.Errorf("%w: integer too large", ErrMalformed)
				}
			}
		}
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v, nil
		}
	}
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// valType reads a value type of WebAssembly 2.0.
func (r *reader) valType() (byte, error) {
	t, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f: // i32 i64 f32 f64 v128 funcref externref
		return t, nil
	}
	return 0, fmt.Errorf("%w: value type %#x", ErrUnsupported, t)
}

func (r *reader) refType() (byte, error) {
	t, err := r.byte()
	if err != nil {
		return 0, err
	}
	if t != 0x70 && t != 0x6f {
		return 0, fmt.Errorf("%w: reference type %#x", ErrUnsupported, t)
	}
	return t, nil
}

// blockType reads a block type: empty, one value type, or a type index
// (multi-value), encoded as a signed 33-bit number.
func (r *reader) blockType() error {
	if r.off < len(r.b) {
		switch r.b[r.off] {
		case blockEmpty:
			r.off++
			return nil
		case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			_, err := r.valType()
			return err
		}
	}
	v, err := r.slebValue(33)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("%w: block type %d", ErrUnsupported, v)
	}
	return nil
}

// limits reads a table's or memory's limits.
func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	switch flags {
	case 0x00:
		_, err = r.u32()
		return err
	case 0x01, 0x03: // with a maximum; 0x03 is shared (threads)
		if _, err = r.u32(); err != nil {
			return err
		}
		_, err = r.u32()
		return err
	}
	return fmt.Errorf("%w: limits flags %#x", ErrUnsupported, flags)
}

// memArg reads a load's or store's alignment and offset.
func (r *reader) memArg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align >= 0x40 { // a memory index follows (multi-memory)
		return fmt.Errorf("%w: memory argument alignment %#x", ErrUnsupported, align)
	}
	_, err = r.u32()
	return err
}

// memoryZero reads the memory index byte that memory instructions carry,
// which must be zero without multi-memory.
func (r *reader) memoryZero() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c != 0 {
		return fmt.Errorf("%w: memory index %d", ErrUnsupported, c)
	}
	return nil
}
