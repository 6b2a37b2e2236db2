package s3api

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/sigv4"
)

// Payload modes of X-Amz-Content-Sha256 that send the body aws-chunked.
const (
	// StreamingSigned: every chunk signed, the signatures chained from the
	// request's (seed) signature.
	StreamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	// StreamingSignedTrailer: signed chunks, then trailing headers signed
	// by x-amz-trailer-signature.
	StreamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	// StreamingUnsignedTrailer: unsigned chunks, then trailing headers (a
	// checksum); what the AWS SDKs send over TLS.
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Limits of the aws-chunked decoder.
const (
	maxChunkLine    = 4 << 10 // one chunk header or trailer line
	maxTrailerLines = 16
)

const (
	chunkAlgorithm   = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
	trailerSigHeader = "x-amz-trailer-signature"
)

// chunkSigner computes the signatures of an aws-chunked body: each chunk's
// signature signs its data and the previous signature, starting from the
// request's own (seed) signature.
type chunkSigner struct {
	key     []byte // sigv4.SigningKey of the request's scope
	amzDate string // the request's X-Amz-Date
	scope   string // DATE/REGION/s3/aws4_request
}

func (s *chunkSigner) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{'\n'})
		}
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// chunk is the signature of a chunk whose data hashes to dataHash.
func (s *chunkSigner) chunk(prev string, dataHash []byte) string {
	return s.sign(chunkAlgorithm, s.amzDate, s.scope, prev, sigv4.EmptyPayloadHash, hex.EncodeToString(dataHash))
}

// trailer is the signature of the trailing headers, canonically
// "name:value\n" each, hashing to trailerHash.
func (s *chunkSigner) trailer(prev string, trailerHash []byte) string {
	return s.sign(trailerAlgorithm, s.amzDate, s.scope, prev, hex.EncodeToString(trailerHash))
}

// chunkedConfig describes the aws-chunked body to decode.
type chunkedConfig struct {
	// Signed: chunk headers carry chunk-signature extensions
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD and its -TRAILER form).
	Signed bool
	// Trailer: trailing headers follow the final chunk; with Signed,
	// they end with x-amz-trailer-signature.
	Trailer bool
	// Signer and Seed verify the chunk and trailer signatures; a nil
	// Signer parses them without checking.
	Signer *chunkSigner
	Seed   string
	// Checksum, when set, is the trailing checksum the request declared
	// (X-Amz-Trailer): the data is hashed and compared with it.
	Checksum *checksum
}

// chunkedReader decodes an aws-chunked body as it is read. It reports
// io.EOF only after the final chunk, its trailers and every signature and
// checksum have been verified; a body that fails any of them ends in an
// error instead, so a reader that stops at the first error never takes a
// forged or truncated body for a whole one.
type chunkedReader struct {
	cfg       chunkedConfig
	br        *bufio.Reader
	prev      string    // the previous signature
	sig       string    // the current chunk's signature
	left      int64     // data bytes left in the current chunk
	inChunk   bool      // between a chunk header and its data's CRLF
	chunkHash hash.Hash // the current chunk's data, when verifying signatures
	trailers  []trailer
	done      bool
	err       error
}

type trailer struct{ name, value string }

func newChunkedReader(r io.Reader, cfg chunkedConfig) *chunkedReader {
	c := &chunkedReader{cfg: cfg, br: bufio.NewReaderSize(r, 16<<10), prev: cfg.Seed}
	if cfg.Signed && cfg.Signer != nil {
		c.chunkHash = sha256.New()
	}
	return c
}

// Trailers returns the trailing headers read, lower-case names, once the
// reader has reached io.EOF.
func (c *chunkedReader) Trailers() []trailer { return c.trailers }

func (c *chunkedReader) Read(p []byte) (int, error) {
	for {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		if c.inChunk && c.left > 0 {
			break
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.chunkHash != nil {
		c.chunkHash.Write(p[:n])
	}
	if c.cfg.Checksum != nil {
		c.cfg.Checksum.h.Write(p[:n])
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errTruncated
		}
		c.err = err
		if n > 0 {
			return n, nil
		}
		return 0, err
	}
	return n, nil
}

var errTruncated = &bodyError{code: CodeIncompleteBody, message: "The request body ended before the aws-chunked encoding did."}

func malformedChunk(what string) *bodyError {
	return &bodyError{code: CodeInvalidRequest, message: "The aws-chunked request body is malformed: " + what + "."}
}

var errChunkSignature = &bodyError{code: CodeSignatureDoesNotMatch, message: "The chunk signature we calculated does not match the signature you provided."}

// next ends the current chunk, if any, and reads the next chunk header;
// after the final chunk it reads and verifies the trailers.
func (c *chunkedReader) next() error {
	if c.inChunk {
		if err := c.expectCRLF(); err != nil {
			return err
		}
		if err := c.verifyChunk(); err != nil {
			return err
		}
		c.inChunk = false
	}
	line, err := c.line()
	if err != nil {
		return err
	}
	size, sig, err := parseChunkHeader(line, c.cfg.Signed)
	if err != nil {
		return err
	}
	c.sig, c.left, c.inChunk = sig, size, true
	if c.chunkHash != nil {
		c.chunkHash.Reset()
	}
	if size > 0 {
		return nil
	}
	// The final, empty chunk: its signature, then the trailers.
	if err := c.verifyChunk(); err != nil {
		return err
	}
	c.inChunk = false
	if err := c.readTrailers(); err != nil {
		return err
	}
	var extra [1]byte
	if n, _ := io.ReadFull(c.br, extra[:]); n > 0 {
		return malformedChunk("data after the final chunk")
	}
	c.done = true
	return nil
}

func (c *chunkedReader) verifyChunk() error {
	if c.chunkHash == nil {
		return nil
	}
	want := c.cfg.Signer.chunk(c.prev, c.chunkHash.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(c.sig)) {
		return errChunkSignature
	}
	c.prev = c.sig
	return nil
}

// line reads one CRLF-terminated line, without the CRLF.
func (c *chunkedReader) line() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkLine:
		return nil, malformedChunk("a chunk header or trailer line is too long")
	case errors.Is(err, io.EOF):
		return nil, errTruncated
	case err != nil:
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, malformedChunk("a line does not end in CRLF")
	}
	return line[:len(line)-2], nil
}

func (c *chunkedReader) expectCRLF() error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errTruncated
		}
		return err
	}
	if b != [2]byte{'\r', '\n'} {
		return malformedChunk("chunk data is longer than its size")
	}
	return nil
}

// parseChunkHeader parses "SIZE[;chunk-signature=SIG][;ext]": the size in
// hex and, when signed, the 64-hex-digit signature.
func parseChunkHeader(line []byte, signed bool) (size int64, sig string, err error) {
	s := string(line)
	sizeText, exts, _ := strings.Cut(s, ";")
	sizeText = strings.TrimSpace(sizeText)
	if sizeText == "" || len(sizeText) > 15 {
		return 0, "", malformedChunk("a chunk size is missing or too long")
	}
	size, perr := strconv.ParseInt(sizeText, 16, 64)
	if perr != nil || size < 0 || strings.HasPrefix(sizeText, "-") || strings.HasPrefix(sizeText, "+") {
		return 0, "", malformedChunk("a chunk size is not hexadecimal")
	}
	for exts != "" {
		var ext string
		ext, exts, _ = strings.Cut(exts, ";")
		k, v, _ := strings.Cut(strings.TrimSpace(ext), "=")
		if k == "chunk-signature" {
			if sig != "" {
				return 0, "", malformedChunk("a chunk has two signatures")
			}
			sig = v
		}
	}
	if signed && (len(sig) != 64 || !isLowerHex(sig)) {
		return 0, "", malformedChunk("a chunk lacks its 64-hex-digit chunk-signature")
	}
	return size, sig, nil
}

// readTrailers reads the lines after the final chunk up to the empty line
// that ends the body, and verifies the trailer signature and checksum.
func (c *chunkedReader) readTrailers() error {
	var trailerSig string
	for {
		line, err := c.line()
		if errors.Is(err, errTruncated) && !c.cfg.Trailer {
			// Some clients end a body without trailers right after the
			// final chunk's header.
			break
		}
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		if !c.cfg.Trailer {
			return malformedChunk("trailing headers in a body that declared none")
		}
		if len(c.trailers) == maxTrailerLines {
			return malformedChunk("too many trailing headers")
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return malformedChunk("a trailing header has no ':'")
		}
		t := trailer{strings.ToLower(strings.TrimSpace(string(name))), strings.TrimSpace(string(value))}
		if t.name == trailerSigHeader {
			if trailerSig != "" {
				return malformedChunk("two trailer signatures")
			}
			trailerSig = t.value
			continue
		}
		if trailerSig != "" {
			return malformedChunk("a trailing header after the trailer signature")
		}
		c.trailers = append(c.trailers, t)
	}
	if c.cfg.Signed && c.cfg.Trailer {
		if len(trailerSig) != 64 || !isLowerHex(trailerSig) {
			return malformedChunk("the trailers lack their 64-hex-digit x-amz-trailer-signature")
		}
		if c.cfg.Signer != nil {
			// The trailers sign as canonical headers: sorted by name,
			// "name:value\n" each.
			sorted := slices.Clone(c.trailers)
			slices.SortStableFunc(sorted, func(a, b trailer) int { return strings.Compare(a.name, b.name) })
			h := sha256.New()
			for _, t := range sorted {
				h.Write([]byte(t.name + ":" + t.value + "\n"))
			}
			want := c.cfg.Signer.trailer(c.prev, h.Sum(nil))
			if !hmac.Equal([]byte(want), []byte(trailerSig)) {
				return &bodyError{code: CodeSignatureDoesNotMatch, message: "The trailer signature we calculated does not match the signature you provided."}
			}
		}
	}
	if sum := c.cfg.Checksum; sum != nil {
		for _, t := range c.trailers {
			if t.name == sum.header {
				sum.want = t.value
			}
		}
		if sum.want == "" {
			return &bodyError{code: CodeInvalidRequest, message: "The request declared the trailing checksum " + sum.header + " but did not send it."}
		}
		if !sum.validEncoding(sum.want) {
			return &bodyError{code: CodeInvalidRequest, message: "Value for " + sum.header + " trailing header is invalid."}
		}
		if err := sum.verify(); err != nil {
			return err
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
