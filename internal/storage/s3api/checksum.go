package s3api

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"
)

// Checksum headers, as the SDKs send them whole in a header or in the
// trailer of an aws-chunked body: the base64 of the big-endian digest.
const (
	headerChecksumCRC32     = "x-amz-checksum-crc32"
	headerChecksumCRC32C    = "x-amz-checksum-crc32c"
	headerChecksumCRC64NVME = "x-amz-checksum-crc64nvme"
	headerChecksumSHA1      = "x-amz-checksum-sha1"
	headerChecksumSHA256    = "x-amz-checksum-sha256"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial, bit-reversed as
// hash/crc64 takes it.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// checksum is a content checksum a client sent, to verify while the
// content streams.
type checksum struct {
	header string // lower-case header name, e.g. x-amz-checksum-crc32
	name   string // for messages: CRC32, SHA256, …
	want   string // base64; "" when it arrives later, in a trailer
	h      hash.Hash
}

// newChecksum returns a checksum for a header name, or nil when the name
// is not one of S3's checksum headers.
func newChecksum(header string) *checksum {
	header = strings.ToLower(strings.TrimSpace(header))
	c := &checksum{header: header}
	switch header {
	case headerChecksumCRC32:
		c.name, c.h = "CRC32", crc32.NewIEEE()
	case headerChecksumCRC32C:
		c.name, c.h = "CRC32C", crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case headerChecksumCRC64NVME:
		c.name, c.h = "CRC64NVME", crc64.New(crc64.MakeTable(crc64NVMEPoly))
	case headerChecksumSHA1:
		c.name, c.h = "SHA1", sha1.New()
	case headerChecksumSHA256:
		c.name, c.h = "SHA256", sha256.New()
	default:
		return nil
	}
	return c
}

// headerChecksum returns the checksum a request carries in a header, nil
// when it carries none, or an error when it names an unknown algorithm or
// carries two.
func headerChecksum(h http.Header) (*checksum, *apiError) {
	var found *checksum
	for name, vs := range h {
		lname := strings.ToLower(name)
		if !strings.HasPrefix(lname, "x-amz-checksum-") || lname == "x-amz-checksum-type" || lname == "x-amz-checksum-algorithm" || lname == "x-amz-checksum-mode" {
			continue
		}
		c := newChecksum(lname)
		if c == nil {
			return nil, errorf(CodeInvalidRequest, "Unknown checksum header %s.", clip(name, 60))
		}
		if found != nil {
			return nil, newError(CodeInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum types are not allowed.")
		}
		if len(vs) > 0 {
			c.want = strings.TrimSpace(vs[0])
		}
		if !c.validEncoding(c.want) {
			return nil, errorf(CodeInvalidRequest, "Value for %s header is invalid.", c.header)
		}
		found = c
	}
	return found, nil
}

// validEncoding reports whether v is the base64 of a digest of the
// checksum's size.
func (c *checksum) validEncoding(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == c.h.Size()
}

// sum is the base64 of the digest of what was written.
func (c *checksum) sum() string {
	return base64.StdEncoding.EncodeToString(c.h.Sum(nil))
}

// verify compares the digest with the expected value.
func (c *checksum) verify() error {
	if c.sum() != c.want {
		return &bodyError{code: CodeBadDigest, message: "The " + c.name + " you specified did not match the calculated checksum."}
	}
	return nil
}
