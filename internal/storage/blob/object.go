package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Put stores body (size bytes, or -1 when unknown) as the object key,
// replacing any object there. The body streams into the store while its
// MD5 (the ETag) is computed; a body that does not match opt.ContentMD5,
// or fails or ends early, leaves the object there before untouched.
func (s *Store) Put(ctx context.Context, bucket, key string, body io.Reader, size int64, opt PutOptions) (ObjectInfo, error) {
	info, err := s.put(ctx, bucket, key, body, size, opt)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return info, nil
}

func (s *Store) put(ctx context.Context, bucket, key string, body io.Reader, size int64, opt PutOptions) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, err
	}
	hdr, md, err := putHeaders(opt)
	if err != nil {
		return ObjectInfo{}, err
	}
	want, err := decodeMD5(opt.ContentMD5)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := s.stream(ctx, bucket)
	if err != nil {
		return ObjectInfo{}, err
	}
	store, subject := storeName(bucket), metaSubject(storeName(bucket), key)
	check := func(cur stored) error { return checkPutCondition(opt.IfNoneMatch, cur) }
	if opt.IfNoneMatch != "" {
		// Fail before reading the body; the commit checks again.
		cur, err := readDescription(ctx, st, subject)
		if err != nil {
			return ObjectInfo{}, s.bucketErr(bucket, err)
		}
		if err := check(cur); err != nil {
			return ObjectInfo{}, err
		}
	}
	if body == nil {
		body = eofReader{}
	}
	c, err := s.writeChunks(ctx, store, "", body, size, MaxObjectSize, true, want)
	if err != nil {
		return ObjectInfo{}, s.bucketErr(bucket, err)
	}
	hdr.Set(hdrETag, hex.EncodeToString(c.md5))
	return s.finish(ctx, st, bucket, key, c, hdr, md, check, EventPut, opt.Actor)
}

// finish describes written chunks as the object key, commits that and
// sends the event. Committing nothing, it removes the chunks.
func (s *Store) finish(ctx context.Context, st jetstream.Stream, bucket, key string, c content, hdr nats.Header, md map[string]string, check func(stored) error, event string, a Actor) (ObjectInfo, error) {
	store := storeName(bucket)
	if h := c.seqHeader(); h != "" {
		hdr.Set(hdrChunkSeqs, h)
	}
	d := &description{
		ObjectMeta: jetstream.ObjectMeta{Name: key, Headers: hdr, Metadata: md, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunkSize}},
		Bucket:     store,
		NUID:       c.id,
		Size:       uint64(c.size),
		ModTime:    s.now(),
		Chunks:     c.chunks,
		Digest:     c.digest,
	}
	seq, _, err := s.commit(ctx, st, store, metaSubject(store, key), d, check)
	if err != nil {
		if c.chunks > 0 {
			if perr := s.purge(context.WithoutCancel(ctx), store, chunkSubject(store, c.id)); perr != nil {
				s.log.Warn("blob: failed put left chunks behind", "bucket", bucket, "key", key, "err", perr)
			}
		}
		return ObjectInfo{}, s.bucketErr(bucket, err)
	}
	info := objectInfo(bucket, d)
	if err := s.emit(ctx, event, info, seq, a); err != nil {
		return ObjectInfo{}, err
	}
	return info, nil
}

// emit sends an event of a change made.
func (s *Store) emit(ctx context.Context, name string, info ObjectInfo, seq uint64, a Actor) error {
	if s.events == nil {
		return nil
	}
	ev := Event{
		Name:        name,
		Bucket:      info.Bucket,
		Key:         info.Key,
		Size:        info.Size,
		ETag:        info.ETag,
		Sequencer:   sequencer(seq),
		Time:        info.LastModified,
		Principal:   a.Principal,
		SourceIP:    a.SourceIP,
		RequestID:   a.RequestID,
		TraceParent: a.TraceParent,
	}
	if err := s.events.ObjectEvent(ctx, ev); err != nil {
		return fmt.Errorf("record %s event (the change is made): %w", name, err)
	}
	return nil
}

// sequencer is an event's Sequencer: the stream sequence of the change's
// message, as 16 hex digits, so that later changes of a key compare greater.
func sequencer(seq uint64) string {
	const digits = "0000000000000000"
	h := strconv.FormatUint(seq, 16)
	return digits[:16-len(h)] + h
}

// current reads the live object key of bucket.
func (s *Store) current(ctx context.Context, bucket, key string) (jetstream.Stream, stored, error) {
	if err := validKey(key); err != nil {
		return nil, stored{}, err
	}
	st, err := s.stream(ctx, bucket)
	if err != nil {
		return nil, stored{}, err
	}
	cur, err := readDescription(ctx, st, metaSubject(storeName(bucket), key))
	if err != nil {
		return nil, stored{}, s.bucketErr(bucket, err)
	}
	if !cur.live() {
		return nil, stored{}, fmt.Errorf("key %q: %w", key, ErrNoKey)
	}
	return st, cur, nil
}

// Head describes an object, checking cond.
func (s *Store) Head(ctx context.Context, bucket, key string, cond Conditions) (ObjectInfo, error) {
	_, cur, err := s.current(ctx, bucket, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("head %s/%s: %w", bucket, key, err)
	}
	info := objectInfo(bucket, cur.d)
	if err := checkConditions(cond, info.ETag, info.LastModified, s.now()); err != nil {
		return ObjectInfo{}, fmt.Errorf("head %s/%s: %w", bucket, key, err)
	}
	return info, nil
}

// Get opens a read of an object, or of a range of it. Conditions are
// checked first (ErrPrecondition, ErrNotModified), then the range
// (ErrInvalidRange). The content streams from the store as it is read; an
// object replaced or deleted during the read fails the read.
func (s *Store) Get(ctx context.Context, bucket, key string, opt GetOptions) (*Object, error) {
	st, cur, err := s.current(ctx, bucket, key)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	info := objectInfo(bucket, cur.d)
	if err := checkConditions(opt.Conditions, info.ETag, info.LastModified, s.now()); err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	obj := &Object{Info: info}
	start, end := int64(0), info.Size-1
	if opt.Range != nil {
		if start, end, err = resolveRange(opt.Range, info.Size); err != nil {
			return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
		}
		obj.Partial, obj.Start, obj.End = true, start, end
	}
	r, err := openChunks(ctx, st, storeName(bucket), cur.d, start, end)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	obj.ReadCloser = r
	return obj, nil
}

// Delete deletes an object. A missing key is not an error: it reports
// false and sends no event.
func (s *Store) Delete(ctx context.Context, bucket, key string, a Actor) (bool, error) {
	deleted, err := s.delete(ctx, bucket, key, a)
	if err != nil {
		return false, fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return deleted, nil
}

func (s *Store) delete(ctx context.Context, bucket, key string, a Actor) (bool, error) {
	if err := validKey(key); err != nil {
		return false, err
	}
	st, err := s.stream(ctx, bucket)
	if err != nil {
		return false, err
	}
	store := storeName(bucket)
	subject := metaSubject(store, key)
	for range commitAttempts {
		cur, err := readDescription(ctx, st, subject)
		if err != nil {
			return false, s.bucketErr(bucket, err)
		}
		if !cur.live() {
			return false, nil
		}
		// A marker replaces the description on the condition that it is
		// still the last, so a put racing the delete is never lost; then
		// the chunks go, and the marker itself (a later write has a higher
		// sequence and stays).
		marker := *cur.d
		marker.Deleted, marker.Size, marker.Chunks, marker.Digest = true, 0, 0, ""
		marker.ModTime = s.now()
		data, err := jsonMarshal(&marker)
		if err != nil {
			return false, err
		}
		seq, err := s.publishDescription(ctx, subject, data, cur.seq)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return false, s.bucketErr(bucket, err)
		}
		cleanup := context.WithoutCancel(ctx)
		if cur.d.Size > 0 {
			if err := st.Purge(cleanup, jetstream.WithPurgeSubject(chunkSubject(store, cur.d.NUID))); err != nil {
				s.log.Warn("blob: delete left chunks behind", "bucket", bucket, "key", key, "err", err)
			}
		}
		if err := st.Purge(cleanup, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(seq+1)); err != nil {
			s.log.Warn("blob: delete left its marker behind", "bucket", bucket, "key", key, "err", err)
		}
		info := ObjectInfo{Bucket: bucket, Key: key, LastModified: marker.ModTime}
		return true, s.emit(ctx, EventDelete, info, seq, a)
	}
	return false, errConflict
}

// Copy copies an object, within a bucket or between buckets. The copy
// keeps the source's content type, metadata and headers unless
// opt.ReplaceMetadata; opt.Conditions are checked on the source and any
// failing one gives ErrPrecondition. A copy of an object onto itself that
// replaces its metadata rewrites the description alone.
func (s *Store) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, opt CopyOptions) (ObjectInfo, error) {
	info, err := s.copy(ctx, srcBucket, srcKey, dstBucket, dstKey, opt)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("copy %s/%s to %s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, err)
	}
	return info, nil
}

func (s *Store) copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, opt CopyOptions) (ObjectInfo, error) {
	if err := validKey(dstKey); err != nil {
		return ObjectInfo{}, err
	}
	for range commitAttempts {
		srcSt, src, err := s.current(ctx, srcBucket, srcKey)
		if err != nil {
			return ObjectInfo{}, err
		}
		etag := src.d.Headers.Get(hdrETag)
		if err := checkConditions(opt.Conditions, etag, src.d.ModTime, s.now()); err != nil {
			if errors.Is(err, ErrNotModified) {
				err = fmt.Errorf("%w (%w)", ErrPrecondition, err)
			}
			return ObjectInfo{}, err
		}
		hdr, md := src.d.Headers, src.d.Metadata
		if opt.ReplaceMetadata {
			if hdr, md, err = putHeaders(opt.Put); err != nil {
				return ObjectInfo{}, err
			}
		} else {
			hdr = nats.Header{}
			for k, v := range src.d.Headers {
				if k != hdrETag && k != hdrChunkSeqs {
					hdr[k] = v
				}
			}
			md = maps.Clone(md)
		}
		dstSt, err := s.stream(ctx, dstBucket)
		if err != nil {
			return ObjectInfo{}, err
		}
		putCheck := func(cur stored) error { return checkPutCondition(opt.Put.IfNoneMatch, cur) }
		if srcBucket == dstBucket && srcKey == dstKey {
			info, err := s.rewrite(ctx, dstSt, dstBucket, src, hdr, md, putCheck, opt.Put.Actor)
			if errors.Is(err, errConflict) {
				continue // the object changed since read: copy what is there now
			}
			return info, err
		}
		r, err := openChunks(ctx, srcSt, storeName(srcBucket), src.d, 0, int64(src.d.Size)-1)
		if err != nil {
			return ObjectInfo{}, err
		}
		c, err := s.writeChunks(ctx, storeName(dstBucket), "", r, int64(src.d.Size), MaxObjectSize, true, nil)
		if err != nil {
			return ObjectInfo{}, s.bucketErr(dstBucket, err)
		}
		hdr.Set(hdrETag, hex.EncodeToString(c.md5))
		return s.finish(ctx, dstSt, dstBucket, dstKey, c, hdr, md, putCheck, EventCopy, opt.Put.Actor)
	}
	return ObjectInfo{}, errConflict
}

// rewrite gives the object src new headers and metadata, keeping its
// content. It fails with errConflict when src is no longer the object there.
func (s *Store) rewrite(ctx context.Context, st jetstream.Stream, bucket string, src stored, hdr nats.Header, md map[string]string, check func(stored) error, a Actor) (ObjectInfo, error) {
	d := *src.d
	for _, k := range [...]string{hdrETag, hdrChunkSeqs} {
		if v := src.d.Headers.Get(k); v != "" {
			hdr.Set(k, v)
		}
	}
	d.Headers, d.Metadata, d.ModTime = hdr, md, s.now()
	data, err := jsonMarshal(&d)
	if err != nil {
		return ObjectInfo{}, err
	}
	subject := metaSubject(storeName(bucket), d.Name)
	if err := check(src); err != nil {
		return ObjectInfo{}, err
	}
	seq, err := s.publishDescription(ctx, subject, data, src.seq)
	if err != nil {
		return ObjectInfo{}, s.bucketErr(bucket, err)
	}
	info := objectInfo(bucket, &d)
	if err := s.emit(ctx, EventCopy, info, seq, a); err != nil {
		return ObjectInfo{}, err
	}
	return info, nil
}

// eofReader is an empty body.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
