package wasmbin

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// readLEB decodes a LEB128 number of at most bits bits from the start of
// b, as the WebAssembly specification defines it: at most ceil(bits/7)
// bytes, and the bits of the last byte beyond bits are zero (unsigned) or
// repeat its sign bit (signed). It returns the value's 64 bits, sign
// extended if signed, and the bytes read, or ok false.
func readLEB(b []byte, bits uint, signed bool) (v uint64, n int, ok bool) {
	maxBytes := int((bits + 6) / 7)
	for i := 0; i < len(b) && i < maxBytes; i++ {
		c := b[i]
		shift := uint(7 * i)
		if i == maxBytes-1 {
			if c&0x80 != 0 {
				return 0, 0, false
			}
			if used := bits - shift; used < 7 {
				if !signed && c>>used != 0 {
					return 0, 0, false
				}
				rest := c >> (used - 1) // the sign bit and the unused bits
				if signed && rest != 0 && rest != 0x7f>>(used-1) {
					return 0, 0, false
				}
			}
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if signed && shift+7 < 64 && c&0x40 != 0 {
				v |= ^uint64(0) << (shift + 7)
			}
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

func readUnsigned(b []byte, bits uint) (uint64, int, bool) { return readLEB(b, bits, false) }

func readSigned(b []byte, bits uint) (int64, int, bool) {
	v, n, ok := readLEB(b, bits, true)
	return int64(v), n, ok
}

func TestAppendU32(t *testing.T) {
	for _, tc := range []struct {
		v    uint32
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{624485, []byte{0xe5, 0x8e, 0x26}},
		{1 << 28, []byte{0x80, 0x80, 0x80, 0x80, 0x01}},
		{math.MaxUint32, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
	} {
		if got := AppendU32(nil, tc.v); !bytes.Equal(got, tc.want) {
			t.Errorf("AppendU32(%d) = % x, want % x", tc.v, got, tc.want)
		}
	}
}

func TestAppendSigned(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{-1, []byte{0x7f}},
		{63, []byte{0x3f}},
		{64, []byte{0xc0, 0x00}},
		{-64, []byte{0x40}},
		{-65, []byte{0xbf, 0x7f}},
		{-123456, []byte{0xc0, 0xbb, 0x78}},
		{math.MaxInt32, []byte{0xff, 0xff, 0xff, 0xff, 0x07}},
		{math.MinInt32, []byte{0x80, 0x80, 0x80, 0x80, 0x78}},
		{math.MaxInt64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}},
		{math.MinInt64, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}},
	} {
		if got := AppendS64(nil, tc.v); !bytes.Equal(got, tc.want) {
			t.Errorf("AppendS64(%d) = % x, want % x", tc.v, got, tc.want)
		}
		if tc.v >= math.MinInt32 && tc.v <= math.MaxInt32 {
			if got := AppendS32(nil, int32(tc.v)); !bytes.Equal(got, tc.want) {
				t.Errorf("AppendS32(%d) = % x, want % x", tc.v, got, tc.want)
			}
		}
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	b := []byte{0xaa}
	b = AppendU32(b, 300)
	b = AppendS32(b, -2)
	b = AppendS64(b, 1<<40)
	want := []byte{0xaa, 0xac, 0x02, 0x7e, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20}
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x, want % x", b, want)
	}
}

func TestAppendName(t *testing.T) {
	if got, want := AppendName([]byte{9}, "memory"), append([]byte{9, 6}, "memory"...); !bytes.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
	if got := AppendName(nil, ""); !bytes.Equal(got, []byte{0}) {
		t.Errorf("empty name: got % x", got)
	}
	long := strings.Repeat("n", 200)
	if got, want := AppendName(nil, long), append([]byte{0xc8, 0x01}, long...); !bytes.Equal(got, want) {
		t.Errorf("200-byte name: got % x", got[:4])
	}
}

func TestAppendSection(t *testing.T) {
	got := AppendSection([]byte{0, 'a', 's', 'm'}, 5, []byte{1, 0, 1})
	if want := []byte{0, 'a', 's', 'm', 5, 3, 1, 0, 1}; !bytes.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
	if got := AppendSection(nil, 12, nil); !bytes.Equal(got, []byte{12, 0}) {
		t.Errorf("empty section: got % x", got)
	}
	body := bytes.Repeat([]byte{0x01}, 130)
	got = AppendSection(nil, 11, body)
	if !bytes.Equal(got[:3], []byte{11, 0x82, 0x01}) || !bytes.Equal(got[3:], body) {
		t.Errorf("130-byte section: got % x", got[:3])
	}
}

// The encoders write what a conforming decoder reads back, in the fewest
// bytes; and any number a conforming decoder accepts, however padded, the
// encoders write back to the same value in no more bytes.
func FuzzLEB128(f *testing.F) {
	f.Add(uint32(0), int64(0), []byte{0x00})
	f.Add(uint32(math.MaxUint32), int64(math.MinInt64), []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(uint32(128), int64(-65), []byte{0x80, 0x80, 0x80, 0x80, 0x00})
	f.Add(uint32(1<<28), int64(math.MaxInt64), []byte{0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add(uint32(624485), int64(-123456), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f})
	f.Fuzz(func(t *testing.T, u uint32, s int64, raw []byte) {
		enc := AppendU32(nil, u)
		if v, n, ok := readUnsigned(enc, 32); !ok || v != uint64(u) || n != len(enc) {
			t.Fatalf("u32 %d: % x reads back as %d (%d bytes, ok %v)", u, enc, v, n, ok)
		}
		if v, n := binary.Uvarint(enc); v != uint64(u) || n != len(enc) {
			t.Fatalf("u32 %d: % x is varint %d (%d bytes)", u, enc, v, n)
		}
		if len(enc) > 1 && enc[len(enc)-1] == 0 {
			t.Fatalf("u32 %d: % x is padded", u, enc)
		}

		enc = AppendS64(nil, s)
		if v, n, ok := readSigned(enc, 64); !ok || v != s || n != len(enc) {
			t.Fatalf("s64 %d: % x reads back as %d (%d bytes, ok %v)", s, enc, v, n, ok)
		}
		s32 := int32(s)
		enc = AppendS32(nil, s32)
		if v, n, ok := readSigned(enc, 32); !ok || v != int64(s32) || n != len(enc) {
			t.Fatalf("s32 %d: % x reads back as %d (%d bytes, ok %v)", s32, enc, v, n, ok)
		}
		if !bytes.Equal(enc, AppendS64(nil, int64(s32))) {
			t.Fatalf("s32 %d: AppendS32 and AppendS64 differ", s32)
		}

		if v, n, ok := readUnsigned(raw, 32); ok {
			enc := AppendU32(nil, uint32(v))
			if len(enc) > n {
				t.Fatalf("u32 % x: re-encoded longer, % x", raw[:n], enc)
			}
			if w, _, _ := readUnsigned(enc, 32); w != v {
				t.Fatalf("u32 % x: re-encoded as % x", raw[:n], enc)
			}
		}
		for _, bits := range []uint{32, 64} {
			if v, n, ok := readSigned(raw, bits); ok {
				enc := AppendS64(nil, v)
				if len(enc) > n {
					t.Fatalf("s%d % x: re-encoded longer, % x", bits, raw[:n], enc)
				}
				if w, _, _ := readSigned(enc, bits); w != v {
					t.Fatalf("s%d % x: re-encoded as % x", bits, raw[:n], enc)
				}
			}
		}
	})
}
