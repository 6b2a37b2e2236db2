package blob

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// chunkReader reads bytes of an object chunk by chunk, one direct get of
// the next message on the object's chunk subject at a time, so a read
// holds one chunk in memory whatever the object's size.
type chunkReader struct {
	ctx     context.Context
	st      jetstream.Stream
	subject string
	next    uint64 // the sequence the next chunk is at or after
	skip    int64  // bytes to drop from the next chunk
	left    int64  // bytes still to return
	buf     []byte // what is left of the current chunk
	err     error  // sticky
}

// openChunks returns a reader of bytes start to end (inclusive) of the
// object d, whose chunks are in store's stream st.
//
// The store writes chunks of chunkSize bytes but the last, so the chunk
// holding start is known. Its stream sequence comes from the sequences the
// write recorded when the chunks were stored one after another, as they are
// unless other writes to the same store interleaved; otherwise the reader
// counts chunk headers (not content) up to it. An object written by another
// tool (without recorded sequences, perhaps with chunks of other sizes) is
// read from its start, skipping by reading.
func openChunks(ctx context.Context, st jetstream.Stream, store string, d *description, start, end int64) (*chunkReader, error) {
	r := &chunkReader{ctx: ctx, st: st, subject: chunkSubject(store, d.NUID), left: end - start + 1}
	if d.Size == 0 || r.left <= 0 {
		r.left = 0
		return r, nil
	}
	first, last, ok := chunkSeqs(d)
	if !ok {
		r.next, r.skip = 1, start
		return r, nil
	}
	cs := objChunkSize(d)
	k := uint64(start / cs)
	r.skip = start % cs
	switch {
	case last-first+1 == uint64(d.Chunks):
		r.next = first + k
	case k == 0:
		r.next = first
	default:
		seq, err := nthChunk(ctx, st, r.subject, first, k)
		if err != nil {
			return nil, err
		}
		r.next = seq
	}
	return r, nil
}

// nthChunk finds the stream sequence of the chunk k (from 0) on subject,
// reading headers only.
func nthChunk(ctx context.Context, st jetstream.Stream, subject string, from, k uint64) (uint64, error) {
	var seq, i uint64
	err := scan(ctx, st, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
		HeadersOnly:    true,
	}, func(m jetstream.Msg) (bool, error) {
		if i == k {
			md, err := m.Metadata()
			if err != nil {
				return false, err
			}
			seq = md.Sequence.Stream
			return false, nil
		}
		i++
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("find chunk %d: %w", k, err)
	}
	if seq == 0 {
		return 0, fmt.Errorf("find chunk %d: object changed while read: %w", k, io.ErrUnexpectedEOF)
	}
	return seq, nil
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.buf) == 0 {
		if err := r.fetch(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.buf[:min(int64(len(r.buf)), r.left)])
	r.buf = r.buf[n:]
	r.left -= int64(n)
	return n, nil
}

// fetch reads the next chunk, dropping what is to be skipped.
func (r *chunkReader) fetch() error {
	m, err := r.st.GetMsg(r.ctx, r.next, jetstream.WithGetMsgSubject(r.subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("read object: its chunks are gone (replaced or deleted while read): %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return fmt.Errorf("read object: %w", err)
	}
	r.next = m.Sequence + 1
	data := m.Data
	if r.skip >= int64(len(data)) {
		r.skip -= int64(len(data)) // Read fetches the next chunk
		return nil
	}
	r.buf = data[r.skip:]
	r.skip = 0
	return nil
}

// Close ends the read.
func (r *chunkReader) Close() error {
	r.err = errors.New("read of a closed object")
	r.buf = nil
	return nil
}
