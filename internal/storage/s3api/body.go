package s3api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/sigv4"
)

// bodyError is a request body that failed a check while it streamed: its
// S3 error code and message. The store sees it as a read error and keeps
// nothing; the handler answers with the code.
type bodyError struct {
	code    string
	message string
}

func (e *bodyError) Error() string { return e.code + ": " + e.message }

func (e *bodyError) apiError() *apiError { return newError(e.code, e.message) }

var (
	errShortBody = &bodyError{code: CodeIncompleteBody, message: "You did not provide the number of bytes specified by the Content-Length HTTP header."}
	errLongBody  = &bodyError{code: CodeIncompleteBody, message: "The request body is longer than its declared length (Content-Length or x-amz-decoded-content-length)."}
	errSHA256    = &bodyError{code: CodeContentSHA256Mismatch, message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
)

// contentReader is a request's content as the store reads it: exactly size
// bytes, hashed as they pass. It holds back the last bytes until the
// source has reached its verified end (for aws-chunked bodies: the final
// chunk, trailers and signatures) and every digest matches; a body that
// fails a check never yields its full length, only an error, so the store
// does not keep it.
type contentReader struct {
	src       io.Reader
	size      int64
	n         int64
	sha256    hash.Hash // nil: no literal X-Amz-Content-Sha256 to match
	wantSHA   string
	checksums []*checksum // whole-body checksums from headers
	done      bool
	err       error // the first failure, sticky
}

func (c *contentReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	left := c.size - c.n
	if left == 0 {
		if err := c.finish(); err != nil {
			return 0, c.fail(err)
		}
		c.done = true
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.src.Read(p)
	if n > 0 {
		c.n += int64(n)
		if c.sha256 != nil {
			c.sha256.Write(p[:n])
		}
		for _, cs := range c.checksums {
			cs.h.Write(p[:n])
		}
	}
	if c.n == c.size {
		// The last bytes: released only once the whole body checks out.
		if ferr := c.finish(); ferr != nil {
			return 0, c.fail(ferr)
		}
		c.done = true
		return n, nil
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errShortBody
		}
		return 0, c.fail(err)
	}
	return n, nil
}

func (c *contentReader) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	return c.err
}

// finish reads the source to its end (which, for an aws-chunked body,
// verifies its remaining signatures and trailers) and checks the digests.
func (c *contentReader) finish() error {
	var b [1]byte
	for range 100 {
		n, err := c.src.Read(b[:])
		if n > 0 {
			return errLongBody
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if c.sha256 != nil && !strings.EqualFold(hex.EncodeToString(c.sha256.Sum(nil)), c.wantSHA) {
		return errSHA256
	}
	for _, cs := range c.checksums {
		if err := cs.verify(); err != nil {
			return err
		}
	}
	return nil
}

// Failure reports the check the body failed, if it did: the handler
// prefers it to whatever error the store made of it.
func (c *contentReader) Failure() *bodyError {
	var be *bodyError
	if errors.As(c.err, &be) {
		return be
	}
	return nil
}

// openBody prepares the request's content for the store: its length, and a
// reader that decodes aws-chunked bodies and verifies the payload hash,
// chunk signatures and checksums while streaming. signer is nil when
// signatures are not checked. maxSize bounds the content.
func openBody(r *http.Request, signer *chunkSigner, seed string, maxSize int64) (*contentReader, *apiError) {
	payload := r.Header.Get("X-Amz-Content-Sha256")
	chunked := payload == StreamingSigned || payload == StreamingSignedTrailer || payload == StreamingUnsignedTrailer
	if !chunked && hasToken(r.Header.Get("Content-Encoding"), "aws-chunked") &&
		r.Header.Get("X-Amz-Decoded-Content-Length") != "" {
		// aws-chunked without a signature mode: unsigned chunks.
		chunked = true
		payload = StreamingUnsignedTrailer
	}
	cr := &contentReader{src: r.Body}
	var size int64
	if chunked {
		dl := r.Header.Get("X-Amz-Decoded-Content-Length")
		if dl == "" {
			return nil, newError(CodeMissingContentLength, "You must provide the x-amz-decoded-content-length header with an aws-chunked body.")
		}
		n, err := strconv.ParseInt(dl, 10, 64)
		if err != nil || n < 0 {
			return nil, newError(CodeInvalidArgument, "x-amz-decoded-content-length must be a non-negative integer.")
		}
		size = n
		cfg := chunkedConfig{
			Signed:  payload != StreamingUnsignedTrailer,
			Trailer: payload != StreamingSigned,
			Seed:    seed,
		}
		if cfg.Signed {
			cfg.Signer = signer
		}
		if t := strings.TrimSpace(r.Header.Get("X-Amz-Trailer")); t != "" {
			if strings.Contains(t, ",") {
				return nil, newError(CodeInvalidRequest, "Expecting a single x-amz-checksum- trailer. Multiple checksum types are not allowed.")
			}
			cs := newChecksum(t)
			if cs == nil {
				return nil, errorf(CodeInvalidRequest, "The trailing header %s is not supported; only x-amz-checksum-* trailers are.", clip(t, 60))
			}
			cfg.Checksum = cs
		}
		cr.src = newChunkedReader(r.Body, cfg)
	} else {
		if r.ContentLength < 0 {
			return nil, newError(CodeMissingContentLength, "You must provide the Content-Length HTTP header.")
		}
		size = r.ContentLength
		if len(payload) == 64 && isHexString(payload) {
			cr.sha256, cr.wantSHA = sha256.New(), payload
		} else if payload != "" && payload != sigv4.UnsignedPayload {
			return nil, newError(CodeInvalidArgument, "x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* mode.")
		}
	}
	if size > maxSize {
		return nil, errorf(CodeEntityTooLarge, "Your proposed upload of %d bytes exceeds the maximum allowed size of %d bytes.", size, maxSize)
	}
	cs, aerr := headerChecksum(r.Header)
	if aerr != nil {
		return nil, aerr
	}
	if cs != nil {
		cr.checksums = append(cr.checksums, cs)
	}
	cr.size = size
	if size == 0 {
		// The store may not read an empty body at all: check it now.
		if _, err := cr.Read(nil); err != nil && !errors.Is(err, io.EOF) {
			if be := cr.Failure(); be != nil {
				return nil, be.apiError()
			}
			return nil, newError(CodeIncompleteBody, "The request body could not be read.")
		}
	}
	return cr, nil
}

// readAll reads a small body (an XML document) through the same checks,
// refusing one over limit bytes.
func readAll(r *http.Request, signer *chunkSigner, seed string, limit int64) ([]byte, *apiError) {
	if r.ContentLength > limit {
		return nil, errorf(CodeMaxMessageLengthExceeded, "Your request was too big: the most is %d bytes.", limit)
	}
	body, aerr := openBody(r, signer, seed, limit)
	if aerr != nil {
		if aerr.code == CodeEntityTooLarge {
			aerr = errorf(CodeMaxMessageLengthExceeded, "Your request was too big: the most is %d bytes.", limit)
		}
		return nil, aerr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		if be := body.Failure(); be != nil {
			return nil, be.apiError()
		}
		return nil, newError(CodeIncompleteBody, "The request body could not be read.")
	}
	return b, nil
}

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// hasToken reports whether a comma-separated header value lists tok.
func hasToken(v, tok string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// withoutToken removes tok from a comma-separated header value.
func withoutToken(v, tok string) string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, tok) {
			out = append(out, t)
		}
	}
	return strings.Join(out, ",")
}

// clip shortens s for a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
