package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of an object's description. The standard ones keep their HTTP
// names; the Gureum- ones are the store's own.
const (
	hdrContentType        = "Content-Type"
	hdrCacheControl       = "Cache-Control"
	hdrContentDisposition = "Content-Disposition"
	hdrContentEncoding    = "Content-Encoding"
	hdrContentLanguage    = "Content-Language"
	hdrExpires            = "Expires"
	hdrETag               = "Etag"
	// hdrChunkSeqs is "FIRST-LAST", the stream sequences of the first and
	// last chunk as written; a range read uses it to find a chunk without
	// reading the ones before it.
	hdrChunkSeqs = "Gureum-Chunk-Seqs"
)

// maxHeaderBytes bounds the standard headers stored with an object, as S3
// bounds a request's headers.
const maxHeaderBytes = 8 << 10

// chunkSize is the size of every chunk of an object but the last. Objects
// are cut into chunks of exactly this size, so the chunk holding an offset
// is offset/chunkSize. It stays well under NATS's default message limit.
const chunkSize = 128 << 10

// description is an object's description as stored: the object store's
// own record, so that NATS tools read gureum's buckets.
type description = jetstream.ObjectInfo

// stored is a description read back, with the stream sequence of its message.
type stored struct {
	d   *description
	seq uint64
}

// live reports whether the description is of an object that exists.
func (s stored) live() bool { return s.d != nil && !s.d.Deleted }

// putHeaders checks the headers and metadata of a put and returns them as
// stored.
func putHeaders(opt PutOptions) (nats.Header, map[string]string, error) {
	n := 0
	for k, v := range opt.Metadata {
		n += len(k) + len(v)
	}
	if n > MaxMetadataLen {
		return nil, nil, fmt.Errorf("user metadata of %d bytes, over %d: %w", n, MaxMetadataLen, ErrEntityTooLarge)
	}
	h := nats.Header{}
	size := 0
	for _, kv := range [...][2]string{
		{hdrContentType, opt.ContentType},
		{hdrCacheControl, opt.CacheControl},
		{hdrContentDisposition, opt.ContentDisposition},
		{hdrContentEncoding, opt.ContentEncoding},
		{hdrContentLanguage, opt.ContentLanguage},
		{hdrExpires, opt.Expires},
	} {
		if kv[1] != "" {
			h.Set(kv[0], kv[1])
			size += len(kv[1])
		}
	}
	if size > maxHeaderBytes {
		return nil, nil, fmt.Errorf("object headers of %d bytes, over %d: %w", size, maxHeaderBytes, ErrEntityTooLarge)
	}
	var md map[string]string
	if len(opt.Metadata) > 0 {
		md = make(map[string]string, len(opt.Metadata))
		for k, v := range opt.Metadata {
			md[strings.ToLower(k)] = v
		}
	}
	return h, md, nil
}

// objectInfo is the ObjectInfo of a stored description.
func objectInfo(bucket string, d *description) ObjectInfo {
	h := d.Headers
	return ObjectInfo{
		Bucket:             bucket,
		Key:                d.Name,
		Size:               int64(d.Size),
		ETag:               h.Get(hdrETag),
		ContentType:        h.Get(hdrContentType),
		Metadata:           maps.Clone(d.Metadata),
		LastModified:       d.ModTime,
		CacheControl:       h.Get(hdrCacheControl),
		ContentDisposition: h.Get(hdrContentDisposition),
		ContentEncoding:    h.Get(hdrContentEncoding),
		ContentLanguage:    h.Get(hdrContentLanguage),
		Expires:            h.Get(hdrExpires),
	}
}

// chunkSeqs returns the sequences recorded for an object's chunks.
func chunkSeqs(d *description) (first, last uint64, ok bool) {
	a, b, found := strings.Cut(d.Headers.Get(hdrChunkSeqs), "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseUint(a, 10, 64)
	last, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || first == 0 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// objChunkSize is the chunk size an object was written with.
func objChunkSize(d *description) int64 {
	if d.Opts != nil && d.Opts.ChunkSize > 0 {
		return int64(d.Opts.ChunkSize)
	}
	return chunkSize
}

// readDescription reads the last description on subject; a subject with
// none gives a zero stored and no error.
func readDescription(ctx context.Context, st jetstream.Stream, subject string) (stored, error) {
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return stored{}, nil
	}
	if err != nil {
		return stored{}, err
	}
	d, err := decodeDescription(m.Data, m.Time)
	if err != nil {
		return stored{}, fmt.Errorf("%s: %w", subject, err)
	}
	return stored{d: d, seq: m.Sequence}, nil
}

// decodeDescription parses a description; t is its message's time, used
// when the description holds none.
func decodeDescription(data []byte, t time.Time) (*description, error) {
	var d description
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("decode object description: %w", err)
	}
	if d.Name == "" {
		return nil, errors.New("decode object description: no name")
	}
	if d.ModTime.IsZero() {
		d.ModTime = t
	}
	d.ModTime = d.ModTime.UTC()
	return &d, nil
}

// jsonMarshal encodes a description.
func jsonMarshal(d *description) ([]byte, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode object description: %w", err)
	}
	return data, nil
}
