package s3api

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/gureum/gureum/internal/sigv4"
)

// The example of AWS's chunked upload documentation: secret, date, scope,
// the seed signature and the signatures of a 65,536-byte chunk, a
// 1,024-byte chunk and the final chunk, all of 'a'.
const (
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	exampleDate   = "20130524T000000Z"
	exampleScope  = "20130524/us-east-1/s3/aws4_request"
	exampleSeed   = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
)

func exampleSigner() *chunkSigner {
	return &chunkSigner{key: sigv4.SigningKey(exampleSecret, "20130524", "us-east-1", "s3"), amzDate: exampleDate, scope: exampleScope}
}

func TestChunkSignaturesMatchAWSExample(t *testing.T) {
	s := exampleSigner()
	want := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	prev := exampleSeed
	for i, n := range []int{65536, 1024, 0} {
		sum := sha256.Sum256(bytes.Repeat([]byte{'a'}, n))
		got := s.chunk(prev, sum[:])
		if got != want[i] {
			t.Fatalf("chunk %d signature %s, want %s", i, got, want[i])
		}
		prev = got
	}
}

// encodeChunked writes data aws-chunked in the given mode, chunkSize bytes
// a chunk, with a trailing checksum named trailerName when not "".
func encodeChunked(data []byte, chunkSize int, mode string, s *chunkSigner, seed, trailerName string) []byte {
	var b bytes.Buffer
	signed := mode != StreamingUnsignedTrailer
	prev := seed
	var cs *checksum
	if trailerName != "" {
		cs = newChecksum(trailerName)
		cs.h.Write(data)
	}
	writeChunk := func(p []byte) {
		b.WriteString(strconv.FormatInt(int64(len(p)), 16))
		if signed {
			sum := sha256.Sum256(p)
			prev = s.chunk(prev, sum[:])
			b.WriteString(";chunk-signature=" + prev)
		}
		b.WriteString("\r\n")
		if len(p) > 0 {
			b.Write(p)
			b.WriteString("\r\n")
		}
	}
	for len(data) > 0 {
		n := min(chunkSize, len(data))
		writeChunk(data[:n])
		data = data[n:]
	}
	writeChunk(nil)
	if mode == StreamingSigned {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var trailers string
	if cs != nil {
		trailers = cs.header + ":" + cs.sum() + "\n"
		b.WriteString(cs.header + ":" + cs.sum() + "\r\n")
	}
	if signed {
		sum := sha256.Sum256([]byte(trailers))
		b.WriteString(trailerSigHeader + ":" + s.trailer(prev, sum[:]) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func decodeChunked(body []byte, mode string, s *chunkSigner, seed, trailerName string) ([]byte, error) {
	cfg := chunkedConfig{Signed: mode != StreamingUnsignedTrailer, Trailer: mode != StreamingSigned, Signer: s, Seed: seed}
	if trailerName != "" {
		cfg.Checksum = newChecksum(trailerName)
	}
	return io.ReadAll(newChunkedReader(bytes.NewReader(body), cfg))
}

func TestChunkedExampleBody(t *testing.T) {
	data := bytes.Repeat([]byte{'a'}, 66560)
	body := encodeChunked(data, 64<<10, StreamingSigned, exampleSigner(), exampleSeed, "")
	if len(body) != 66824 {
		t.Fatalf("encoded length %d, want the example's Content-Length 66824", len(body))
	}
	got, err := decodeChunked(body, StreamingSigned, exampleSigner(), exampleSeed, "")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("decode: %d bytes, %v", len(got), err)
	}
}

func TestChunkedModes(t *testing.T) {
	data := []byte(strings.Repeat("gureum chunked body ", 1000))
	for _, mode := range []string{StreamingSigned, StreamingSignedTrailer, StreamingUnsignedTrailer} {
		for _, trailer := range []string{"", headerChecksumCRC32, headerChecksumCRC32C, headerChecksumCRC64NVME, headerChecksumSHA1, headerChecksumSHA256} {
			if mode == StreamingSigned && trailer != "" {
				continue
			}
			t.Run(mode+"/"+trailer, func(t *testing.T) {
				body := encodeChunked(data, 4096, mode, exampleSigner(), exampleSeed, trailer)
				got, err := decodeChunked(body, mode, exampleSigner(), exampleSeed, trailer)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("decode: %d bytes, %v", len(got), err)
				}
				// Without a signer, signatures are parsed but not checked.
				got, err = decodeChunked(body, mode, nil, "", trailer)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("decode without signer: %d bytes, %v", len(got), err)
				}
			})
		}
	}
}

func TestChunkedRejects(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 100))
	signed := encodeChunked(data, 300, StreamingSigned, exampleSigner(), exampleSeed, "")
	trailed := encodeChunked(data, 300, StreamingUnsignedTrailer, nil, "", headerChecksumCRC32)
	signedTrailer := encodeChunked(data, 300, StreamingSignedTrailer, exampleSigner(), exampleSeed, headerChecksumSHA256)
	replace := func(b []byte, old, new string) []byte {
		return bytes.Replace(bytes.Clone(b), []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name    string
		body    []byte
		mode    string
		trailer string
		code    string
	}{
		{"data changed", replace(signed, "456", "654"), StreamingSigned, "", CodeSignatureDoesNotMatch},
		{"wrong seed", signed, StreamingSigned, "", CodeSignatureDoesNotMatch},
		{"truncated", signed[:len(signed)-200], StreamingSigned, "", CodeIncompleteBody},
		{"no signature", replace(signed, ";chunk-signature=", ";x="), StreamingSigned, "", CodeInvalidRequest},
		{"chunk longer than its size", replace(signed, "12c;", "12b;"), StreamingSigned, "", CodeInvalidRequest},
		{"bad size", replace(signed, "12c;", "1z2;"), StreamingSigned, "", CodeInvalidRequest},
		{"data after the end", append(bytes.Clone(signed), 'x'), StreamingSigned, "", CodeInvalidRequest},
		{"checksum mismatch", replace(trailed, "456", "654"), StreamingUnsignedTrailer, headerChecksumCRC32, CodeBadDigest},
		{"checksum missing", replace(trailed, "x-amz-checksum-crc32:", "x-amz-other:"), StreamingUnsignedTrailer, headerChecksumCRC32, CodeInvalidRequest},
		{"trailer signature", replace(signedTrailer, "x-amz-trailer-signature:", "x-amz-trailer-signature:0"), StreamingSignedTrailer, headerChecksumSHA256, CodeInvalidRequest},
		{"trailer changed", replace(signedTrailer, "x-amz-checksum-sha256:", "x-amz-checksum-sha1:"), StreamingSignedTrailer, "", CodeSignatureDoesNotMatch},
		{"trailers not declared", trailed, StreamingSigned, "", CodeInvalidRequest},
		{"long line", append([]byte(strings.Repeat("1", 5000)), "\r\n"...), StreamingUnsignedTrailer, "", CodeInvalidRequest},
		{"bare LF", []byte("3\nabc\r\n0\r\n\r\n"), StreamingUnsignedTrailer, "", CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := exampleSeed
			if tt.name == "wrong seed" {
				seed = strings.Repeat("0", 64)
			}
			got, err := decodeChunked(tt.body, tt.mode, exampleSigner(), seed, tt.trailer)
			var be *bodyError
			if !errors.As(err, &be) || be.code != tt.code {
				t.Fatalf("decoded %d bytes, error %v; want code %s", len(got), err, tt.code)
			}
		})
	}
}

// TestContentReaderHoldsBackEnd: a body whose digest fails never yields
// its full length, even to a reader that stops at the declared size.
func TestContentReaderHoldsBackEnd(t *testing.T) {
	data := []byte("hello, world")
	sum := sha256.Sum256([]byte("something else"))
	cr := &contentReader{src: bytes.NewReader(data), size: int64(len(data)), sha256: sha256.New(), wantSHA: fmt.Sprintf("%x", sum)}
	buf := make([]byte, len(data))
	n, err := io.ReadFull(cr, buf)
	if err == nil || n == len(data) {
		t.Fatalf("ReadFull read %d bytes, err %v; want an error before the end", n, err)
	}
	if be := cr.Failure(); be == nil || be.code != CodeContentSHA256Mismatch {
		t.Fatalf("failure %v, want %s", cr.Failure(), CodeContentSHA256Mismatch)
	}

	good := sha256.Sum256(data)
	cr = &contentReader{src: bytes.NewReader(data), size: int64(len(data)), sha256: sha256.New(), wantSHA: fmt.Sprintf("%x", good)}
	got, err := io.ReadAll(cr)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll: %q, %v", got, err)
	}

	// Shorter and longer than declared.
	cr = &contentReader{src: bytes.NewReader(data), size: int64(len(data)) + 1}
	if _, err := io.ReadAll(cr); !errors.Is(err, errShortBody) {
		t.Fatalf("short body: %v", err)
	}
	cr = &contentReader{src: bytes.NewReader(data), size: int64(len(data)) - 1}
	if _, err := io.ReadAll(cr); !errors.Is(err, errLongBody) {
		t.Fatalf("long body: %v", err)
	}
}

func FuzzChunkedReader(f *testing.F) {
	data := []byte("fuzzing the aws-chunked decoder")
	for i, mode := range []string{StreamingSigned, StreamingSignedTrailer, StreamingUnsignedTrailer} {
		trailer := ""
		if mode != StreamingSigned {
			trailer = headerChecksumCRC32
		}
		f.Add(encodeChunked(data, 7, mode, exampleSigner(), exampleSeed, trailer), uint8(i))
		f.Add(encodeChunked(nil, 7, mode, exampleSigner(), exampleSeed, trailer), uint8(i|4))
	}
	f.Add([]byte("0\r\n\r\n"), uint8(2))
	f.Add([]byte("ffffffffffffffff\r\n"), uint8(2))
	f.Add([]byte("5;chunk-signature=\r\nabc"), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, flags uint8) {
		modes := []string{StreamingSigned, StreamingSignedTrailer, StreamingUnsignedTrailer, StreamingUnsignedTrailer}
		mode := modes[flags&3]
		trailer := ""
		if mode != StreamingSigned && flags&8 == 0 {
			trailer = headerChecksumCRC32
		}
		signer := exampleSigner()
		if flags&4 != 0 {
			signer = nil
		}
		got, err := decodeChunked(body, mode, signer, exampleSeed, trailer)
		if len(got) > len(body) {
			t.Fatalf("decoded %d bytes from %d", len(got), len(body))
		}
		if err != nil {
			var be *bodyError
			if !errors.As(err, &be) || be.message == "" {
				t.Fatalf("error %v is not a *bodyError", err)
			}
		}
	})
}

// FuzzChunkedRoundTrip: what is encoded decodes to the same bytes, and a
// signed or checksummed body with one byte changed either fails or still
// decodes to the original data.
func FuzzChunkedRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint16(2), uint8(0), uint32(0), uint8(0))
	f.Add(bytes.Repeat([]byte{'x'}, 1000), uint16(100), uint8(1), uint32(150), uint8(1))
	f.Add([]byte{}, uint16(1), uint8(2), uint32(3), uint8(0xff))
	f.Fuzz(func(t *testing.T, data []byte, chunkSize uint16, modeSel uint8, at uint32, flip uint8) {
		mode := []string{StreamingSigned, StreamingSignedTrailer, StreamingUnsignedTrailer}[int(modeSel)%3]
		trailer := ""
		if mode != StreamingSigned {
			trailer = headerChecksumCRC32C
		}
		if len(data) > 64<<10 {
			data = data[:64<<10]
		}
		size := max(int(chunkSize), len(data)/1024, 1) // at most ~1024 chunks
		body := encodeChunked(data, size, mode, exampleSigner(), exampleSeed, trailer)
		got, err := decodeChunked(body, mode, exampleSigner(), exampleSeed, trailer)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %d of %d bytes, %v", len(got), len(data), err)
		}
		if flip == 0 || len(body) == 0 {
			return
		}
		body[int(at)%len(body)] ^= flip
		got, err = decodeChunked(body, mode, exampleSigner(), exampleSeed, trailer)
		if err == nil && !bytes.Equal(got, data) {
			t.Fatalf("a changed body decoded to other data without an error")
		}
	})
}
