// Package wasmbin encodes the small pieces of the WebAssembly binary format
// that the module rewriters (interrupt and snapshot) write: LEB128 integers,
// names and sections.
//
// Each function appends to a byte slice and returns the extended slice, in
// the manner of strconv.AppendInt, so that callers build a module in one
// buffer. Decoding is left to the rewriters: each reads only what it needs
// and reports errors in its own terms.
package wasmbin

// AppendU32 appends v as an unsigned LEB128 number in its shortest form
// (one to five bytes).
func AppendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendS32 appends v as a signed LEB128 number in its shortest form (one
// to five bytes), as i32.const immediates are written.
func AppendS32(b []byte, v int32) []byte {
	return AppendS64(b, int64(v))
}

// AppendS64 appends v as a signed LEB128 number in its shortest form (one
// to ten bytes), as i64.const immediates are written.
func AppendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendName appends s as a name: its length in bytes (unsigned LEB128)
// followed by its bytes. s must be shorter than 4 GiB.
func AppendName(b []byte, s string) []byte {
	b = AppendU32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendSection appends a section: its id, the size of body (unsigned
// LEB128) and body itself. body must be shorter than 4 GiB.
func AppendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = AppendU32(b, uint32(len(body)))
	return append(b, body...)
}
