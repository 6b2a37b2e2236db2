package blob

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// window is how many chunks a write has in flight, unacknowledged: it
	// bounds a write's memory to window+1 chunks.
	window = 8
	// ackTimeout bounds the wait for the acknowledgement of one chunk when
	// the context has no deadline.
	ackTimeout = 30 * time.Second
	// commitAttempts bounds how often a write retries its description when
	// other writers of the same key keep getting there first.
	commitAttempts = 100
	// cleanupTimeout bounds clean-up after a failure (which runs even when
	// the caller's context is done).
	cleanupTimeout = 10 * time.Second
)

// errConflict is a description that lost to another writer of its key.
var errConflict = errors.New("another write of the key came first")

// content describes chunks written.
type content struct {
	id          string // the chunk subject's last token(s)
	size        int64
	chunks      uint32
	md5         []byte // nil when not asked for
	digest      string // the object store's digest: "SHA-256=" and base64url
	first, last uint64 // stream sequences of the first and last chunk
}

// seqHeader is the hdrChunkSeqs value of written chunks; "" for none.
func (c content) seqHeader() string {
	if c.chunks == 0 {
		return ""
	}
	return strconv.FormatUint(c.first, 10) + "-" + strconv.FormatUint(c.last, 10)
}

// newID returns a random identifier that is a valid subject token.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// decodeMD5 decodes a Content-MD5 value; "" gives nil.
func decodeMD5(v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != md5.Size {
		return nil, fmt.Errorf("content-md5 %q is not a base64 MD5: %w", v, ErrBadDigest)
	}
	return b, nil
}

// chunkWrite is one write of chunks in progress.
type chunkWrite struct {
	s        *Store
	ctx      context.Context
	subject  string
	inflight []inflight
	free     [][]byte
	c        content
}

type inflight struct {
	f   jetstream.PubAckFuture
	buf []byte
}

// writeChunks streams r into chunks of store under a new id prefixed by
// idPrefix. With size ≥ 0 it reads exactly size bytes (fewer is an error);
// with size < 0 it reads to EOF, at most max bytes. withMD5 computes the
// MD5 of the content; wantMD5, when set, must match it. On error nothing
// is left written.
func (s *Store) writeChunks(ctx context.Context, store, idPrefix string, r io.Reader, size, max int64, withMD5 bool, wantMD5 []byte) (content, error) {
	if size > max {
		return content{}, fmt.Errorf("%d bytes, over %d: %w", size, max, ErrEntityTooLarge)
	}
	w := &chunkWrite{s: s, ctx: ctx}
	w.c.id = idPrefix + newID()
	w.subject = chunkSubject(store, w.c.id)
	err := w.run(r, size, max, withMD5 || wantMD5 != nil, wantMD5)
	if err != nil {
		w.abort(store)
		return content{}, err
	}
	return w.c, nil
}

func (w *chunkWrite) run(r io.Reader, size, max int64, withMD5 bool, wantMD5 []byte) error {
	limit := max
	if size >= 0 {
		limit = size
	}
	// One byte past the limit tells an over-long body of unknown size.
	lr := io.LimitReader(r, limit+1)
	sha := sha256.New()
	var sum hash.Hash
	if withMD5 {
		sum = md5.New()
	}
	var total int64
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		buf := w.buffer()
		n, rerr := io.ReadFull(lr, buf)
		if total+int64(n) > limit {
			if size >= 0 {
				n = int(limit - total) // a body longer than its size: the rest is not ours
				rerr = io.EOF
			} else {
				return fmt.Errorf("over %d bytes: %w", max, ErrEntityTooLarge)
			}
		}
		if n > 0 {
			data := buf[:n]
			sha.Write(data)
			if sum != nil {
				sum.Write(data)
			}
			total += int64(n)
			if err := w.publish(buf, data); err != nil {
				return err
			}
		} else {
			w.free = append(w.free, buf)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read body: %w", rerr)
		}
	}
	if size >= 0 && total != size {
		return fmt.Errorf("body ended after %d of %d bytes: %w", total, size, io.ErrUnexpectedEOF)
	}
	if err := w.drain(0); err != nil {
		return err
	}
	w.c.size = total
	w.c.digest = jetstream.GetObjectDigestValue(sha)
	if sum != nil {
		w.c.md5 = sum.Sum(nil)
		if wantMD5 != nil && !bytes.Equal(w.c.md5, wantMD5) {
			return fmt.Errorf("content-md5 %s, content %s: %w",
				base64.StdEncoding.EncodeToString(wantMD5), base64.StdEncoding.EncodeToString(w.c.md5), ErrBadDigest)
		}
	}
	return nil
}

// buffer returns a chunk buffer no chunk in flight uses.
func (w *chunkWrite) buffer() []byte {
	if n := len(w.free); n > 0 {
		b := w.free[n-1]
		w.free = w.free[:n-1]
		return b
	}
	return make([]byte, chunkSize)
}

// publish sends one chunk. Its buffer stays untouched until the chunk is
// acknowledged, because a publish may be sent again.
func (w *chunkWrite) publish(buf, data []byte) error {
	f, err := w.s.js.PublishMsgAsync(&nats.Msg{Subject: w.subject, Data: data})
	if err != nil {
		return fmt.Errorf("write chunk: %w", err)
	}
	w.inflight = append(w.inflight, inflight{f: f, buf: buf})
	w.c.chunks++
	return w.drain(window)
}

// drain waits for acknowledgements until at most keep chunks are in flight.
func (w *chunkWrite) drain(keep int) error {
	for len(w.inflight) > keep {
		p := w.inflight[0]
		w.inflight = w.inflight[1:]
		ack, err := awaitAck(w.ctx, p.f)
		if err != nil {
			return fmt.Errorf("write chunk: %w", err)
		}
		if w.c.first == 0 {
			w.c.first = ack.Sequence
		}
		w.c.last = ack.Sequence
		w.free = append(w.free, p.buf)
	}
	return nil
}

// abort waits out the chunks in flight and removes every chunk written.
func (w *chunkWrite) abort(store string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), cleanupTimeout)
	defer cancel()
	for _, p := range w.inflight {
		_, _ = awaitAck(ctx, p.f)
	}
	w.inflight = nil
	if w.c.chunks == 0 {
		return
	}
	if err := w.s.purge(ctx, store, w.subject); err != nil {
		w.s.log.Warn("blob: failed write left chunks behind", "subject", w.subject, "err", err)
	}
}

func awaitAck(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	t := time.NewTimer(ackTimeout)
	defer t.Stop()
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("no acknowledgement in %s: %w", ackTimeout, nats.ErrTimeout)
	}
}

// purge removes the messages of subject (which may hold wildcards) from a
// store's stream.
func (s *Store) purge(ctx context.Context, store, subject string, opts ...jetstream.StreamPurgeOpt) error {
	st, err := s.streamOf(ctx, store)
	if err != nil {
		return err
	}
	return st.Purge(ctx, append([]jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(subject)}, opts...)...)
}

// streamOf returns the stream of a store by the store's name.
func (s *Store) streamOf(ctx context.Context, store string) (jetstream.Stream, error) {
	if store == partsStore {
		return s.parts, nil
	}
	s.mu.Lock()
	st, ok := s.streams[store]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	return s.js.Stream(ctx, streamName(store))
}

// commit publishes d as the description on subject in place of the one
// there, when check (if any) accepts the one there; it tries again when
// another writer of the subject comes first. The chunks of the description
// replaced are removed. It returns the sequence of d's message and the
// description it replaced.
func (s *Store) commit(ctx context.Context, st jetstream.Stream, store, subject string, d *description, check func(stored) error) (uint64, stored, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return 0, stored{}, fmt.Errorf("encode object description: %w", err)
	}
	for range commitAttempts {
		cur, err := readDescription(ctx, st, subject)
		if err != nil {
			return 0, stored{}, err
		}
		if check != nil {
			if err := check(cur); err != nil {
				return 0, stored{}, err
			}
		}
		seq, err := s.publishDescription(ctx, subject, data, cur.seq)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return 0, stored{}, err
		}
		if cur.live() && cur.d.NUID != d.NUID && cur.d.Size > 0 {
			if err := s.purge(context.WithoutCancel(ctx), store, chunkSubject(store, cur.d.NUID)); err != nil {
				s.log.Warn("blob: replaced object left chunks behind", "store", store, "id", cur.d.NUID, "err", err)
			}
		}
		return seq, cur, nil
	}
	return 0, stored{}, fmt.Errorf("write %s: %w", subject, errConflict)
}

// publishDescription publishes a description (a roll-up of its subject)
// on the condition that the subject's last message is still lastSeq (0:
// none).
func (s *Store) publishDescription(ctx context.Context, subject string, data []byte, lastSeq uint64) (uint64, error) {
	m := nats.NewMsg(subject)
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = data
	ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(lastSeq))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, errConflict
		}
		return 0, err
	}
	return ack.Sequence, nil
}
