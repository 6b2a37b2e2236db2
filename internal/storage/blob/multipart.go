package blob

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Subjects of the parts store (an object store in layout, with names of
// its own so that one upload's messages share a subject prefix):
//
//	$O.gureum_blob_parts.M.STORE.UPLOAD.u      the upload (uploadRecord)
//	$O.gureum_blob_parts.M.STORE.UPLOAD.p.N    part N (a description)
//	$O.gureum_blob_parts.C.STORE.UPLOAD.ID     a part's chunks
//
// STORE is the bucket's store, so "$O.gureum_blob_parts.*.STORE.>" is
// everything of a bucket's uploads and "$O.gureum_blob_parts.*.STORE.UPLOAD.>"
// everything of one upload.
const partsPrefix = "$O." + partsStore + "."

func uploadSubject(store, id string) string { return partsPrefix + "M." + store + "." + id + ".u" }

func partSubject(store, id string, n int) string {
	return partsPrefix + "M." + store + "." + id + ".p." + strconv.Itoa(n)
}

func partsFilter(store, id string) string { return partsPrefix + "M." + store + "." + id + ".p.*" }

// uploadsFilter matches the uploads of a store, or of every store for "".
func uploadsFilter(store string) string {
	if store == "" {
		store = "*"
	}
	return partsPrefix + "M." + store + ".*.u"
}

// partsSubjectsOf matches everything of one upload, or of every upload of
// a store for id "".
func partsSubjectsOf(store, id string) string {
	if id == "" {
		return partsPrefix + "*." + store + ".>"
	}
	return partsPrefix + "*." + store + "." + id + ".>"
}

// uploadRecord is what the parts store holds of an upload.
type uploadRecord struct {
	Bucket    string     `json:"bucket"`
	Key       string     `json:"key"`
	Initiated time.Time  `json:"initiated"`
	Options   PutOptions `json:"options"`
}

// validUploadID checks that id can be a subject token (it came from a
// client).
func validUploadID(id string) error {
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return fmt.Errorf("upload id %q: %w", id, ErrNoUpload)
	}
	return nil
}

// CreateUpload starts a multipart upload of key, to be stored with opt's
// headers and metadata when completed; opt.IfNoneMatch is checked then.
func (s *Store) CreateUpload(ctx context.Context, bucket, key string, opt PutOptions) (string, error) {
	id, err := s.createUpload(ctx, bucket, key, opt)
	if err != nil {
		return "", fmt.Errorf("create upload of %s/%s: %w", bucket, key, err)
	}
	return id, nil
}

func (s *Store) createUpload(ctx context.Context, bucket, key string, opt PutOptions) (string, error) {
	if err := validKey(key); err != nil {
		return "", err
	}
	if _, _, err := putHeaders(opt); err != nil {
		return "", err
	}
	if _, err := s.record(ctx, bucket); err != nil {
		return "", err
	}
	opt.ContentMD5, opt.Actor = "", Actor{}
	rec, err := json.Marshal(uploadRecord{Bucket: bucket, Key: key, Initiated: s.now(), Options: opt})
	if err != nil {
		return "", err
	}
	id := newID()
	if _, err := s.publishDescription(ctx, uploadSubject(storeName(bucket), id), rec, 0); err != nil {
		return "", err
	}
	return id, nil
}

// upload reads an upload of key.
func (s *Store) upload(ctx context.Context, bucket, key, id string) (uploadRecord, error) {
	if err := validUploadID(id); err != nil {
		return uploadRecord{}, err
	}
	if err := ValidBucketName(bucket); err != nil {
		return uploadRecord{}, fmt.Errorf("%w (%w)", ErrNoBucket, err)
	}
	store := storeName(bucket)
	m, err := s.parts.GetLastMsgForSubject(ctx, uploadSubject(store, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return uploadRecord{}, fmt.Errorf("upload %s: %w", id, ErrNoUpload)
	}
	if err != nil {
		return uploadRecord{}, fmt.Errorf("upload %s: %w", id, err)
	}
	var rec uploadRecord
	if err := json.Unmarshal(m.Data, &rec); err != nil {
		return uploadRecord{}, fmt.Errorf("upload %s: decode: %w", id, err)
	}
	if rec.Key != key || rec.Bucket != bucket {
		return uploadRecord{}, fmt.Errorf("upload %s is not of %s/%s: %w", id, bucket, key, ErrNoUpload)
	}
	if s.now().Sub(rec.Initiated) > uploadTTL {
		s.dropUpload(ctx, store, id)
		return uploadRecord{}, fmt.Errorf("upload %s expired: %w", id, ErrNoUpload)
	}
	return rec, nil
}

// UploadPart stores part number (1 to MaxParts) of an upload, replacing
// a part of that number. contentMD5, when set, must match the body.
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, number int, body io.Reader, size int64, contentMD5 string) (Part, error) {
	p, err := s.uploadPart(ctx, bucket, key, uploadID, number, body, size, contentMD5)
	if err != nil {
		return Part{}, fmt.Errorf("upload part %d of %s/%s: %w", number, bucket, key, err)
	}
	return p, nil
}

func (s *Store) uploadPart(ctx context.Context, bucket, key, id string, number int, body io.Reader, size int64, contentMD5 string) (Part, error) {
	if number < 1 || number > MaxParts {
		return Part{}, fmt.Errorf("part number %d outside 1 to %d: %w", number, MaxParts, ErrInvalidPart)
	}
	want, err := decodeMD5(contentMD5)
	if err != nil {
		return Part{}, err
	}
	if _, err := s.upload(ctx, bucket, key, id); err != nil {
		return Part{}, err
	}
	store := storeName(bucket)
	if body == nil {
		body = eofReader{}
	}
	c, err := s.writeChunks(ctx, partsStore, store+"."+id+".", body, size, MaxPartSize, true, want)
	if err != nil {
		return Part{}, err
	}
	etag := hex.EncodeToString(c.md5)
	hdr := nats.Header{}
	hdr.Set(hdrETag, etag)
	if h := c.seqHeader(); h != "" {
		hdr.Set(hdrChunkSeqs, h)
	}
	d := &description{
		ObjectMeta: jetstream.ObjectMeta{Name: store + "/" + id + "/" + strconv.Itoa(number), Headers: hdr, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunkSize}},
		Bucket:     partsStore,
		NUID:       c.id,
		Size:       uint64(c.size),
		ModTime:    s.now(),
		Chunks:     c.chunks,
		Digest:     c.digest,
	}
	if _, _, err := s.commit(ctx, s.parts, partsStore, partSubject(store, id, number), d, nil); err != nil {
		if c.chunks > 0 {
			_ = s.purge(context.WithoutCancel(ctx), partsStore, chunkSubject(partsStore, c.id))
		}
		return Part{}, err
	}
	// An abort that ran during the write would leave this part behind.
	if _, err := s.upload(ctx, bucket, key, id); errors.Is(err, ErrNoUpload) {
		s.dropUpload(ctx, store, id)
		return Part{}, err
	}
	return Part{Number: number, ETag: etag, Size: c.size, LastModified: d.ModTime}, nil
}

// uploadedParts reads the parts of an upload by number.
func (s *Store) uploadedParts(ctx context.Context, store, id string) (map[int]*description, error) {
	out := map[int]*description{}
	err := scanLast(ctx, s.parts, partsFilter(store, id), false, func(m jetstream.Msg) (bool, error) {
		d, err := decodeDescription(m.Data(), metaTime(m))
		if err != nil || d.Deleted {
			return true, nil
		}
		n, err := strconv.Atoi(m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:])
		if err != nil {
			return true, nil
		}
		out[n] = d
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CompleteUpload joins the named parts, in order, into the object and
// ends the upload. Part numbers must ascend (ErrInvalidPartOrder), each
// must be there with its ETag (ErrInvalidPart), and each but the last must
// be MinPartSize or more (ErrEntityTooSmall). The parts stream into the
// object one chunk at a time. Its ETag is the MD5 of the parts' MD5s, a
// '-' and the number of parts.
func (s *Store) CompleteUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletedPart, a Actor) (ObjectInfo, error) {
	info, err := s.completeUpload(ctx, bucket, key, uploadID, parts, a)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("complete upload of %s/%s: %w", bucket, key, err)
	}
	return info, nil
}

func (s *Store) completeUpload(ctx context.Context, bucket, key, id string, list []CompletedPart, a Actor) (ObjectInfo, error) {
	rec, err := s.upload(ctx, bucket, key, id)
	if err != nil {
		return ObjectInfo{}, err
	}
	if len(list) == 0 || len(list) > MaxParts {
		return ObjectInfo{}, fmt.Errorf("%d parts named, want 1 to %d: %w", len(list), MaxParts, ErrInvalidPart)
	}
	for i := 1; i < len(list); i++ {
		if list[i].Number <= list[i-1].Number {
			return ObjectInfo{}, fmt.Errorf("part %d after part %d: %w", list[i].Number, list[i-1].Number, ErrInvalidPartOrder)
		}
	}
	store := storeName(bucket)
	have, err := s.uploadedParts(ctx, store, id)
	if err != nil {
		return ObjectInfo{}, err
	}
	chosen := make([]*description, len(list))
	sums := md5.New()
	var total int64
	for i, p := range list {
		d := have[p.Number]
		if d == nil {
			return ObjectInfo{}, fmt.Errorf("part %d: not uploaded: %w", p.Number, ErrInvalidPart)
		}
		etag := d.Headers.Get(hdrETag)
		if !strings.EqualFold(strings.Trim(p.ETag, `"`), etag) {
			return ObjectInfo{}, fmt.Errorf("part %d: ETag %s, not %s: %w", p.Number, etag, p.ETag, ErrInvalidPart)
		}
		bin, err := hex.DecodeString(etag)
		if err != nil {
			return ObjectInfo{}, fmt.Errorf("part %d: stored ETag %q: %w", p.Number, etag, err)
		}
		sums.Write(bin)
		chosen[i] = d
		total += int64(d.Size)
	}
	for i, d := range chosen[:len(chosen)-1] {
		if d.Size < MinPartSize {
			return ObjectInfo{}, fmt.Errorf("part %d: %d bytes, under %d: %w", list[i].Number, d.Size, MinPartSize, ErrEntityTooSmall)
		}
	}
	if total > MaxObjectSize {
		return ObjectInfo{}, fmt.Errorf("%d bytes, over %d: %w", total, MaxObjectSize, ErrEntityTooLarge)
	}
	st, err := s.stream(ctx, bucket)
	if err != nil {
		return ObjectInfo{}, err
	}
	check := func(cur stored) error { return checkPutCondition(rec.Options.IfNoneMatch, cur) }
	if rec.Options.IfNoneMatch != "" {
		cur, err := readDescription(ctx, st, metaSubject(store, key))
		if err != nil {
			return ObjectInfo{}, s.bucketErr(bucket, err)
		}
		if err := check(cur); err != nil {
			return ObjectInfo{}, err
		}
	}
	hdr, md, err := putHeaders(rec.Options)
	if err != nil {
		return ObjectInfo{}, err
	}
	c, err := s.writeChunks(ctx, store, "", &partsReader{ctx: ctx, st: s.parts, parts: chosen}, total, MaxObjectSize, false, nil)
	if err != nil {
		return ObjectInfo{}, s.bucketErr(bucket, err)
	}
	hdr.Set(hdrETag, hex.EncodeToString(sums.Sum(nil))+"-"+strconv.Itoa(len(list)))
	info, err := s.finish(ctx, st, bucket, key, c, hdr, md, check, EventComplete, a)
	if err != nil {
		// When only the event failed, the upload stays so that a retry
		// completes it again and records the event.
		return ObjectInfo{}, err
	}
	s.dropUpload(ctx, store, id)
	return info, nil
}

// partsReader reads parts one after another.
type partsReader struct {
	ctx   context.Context
	st    jetstream.Stream
	parts []*description
	cur   *chunkReader
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.parts) == 0 {
				return 0, io.EOF
			}
			d := r.parts[0]
			r.parts = r.parts[1:]
			cr, err := openChunks(r.ctx, r.st, partsStore, d, 0, int64(d.Size)-1)
			if err != nil {
				return 0, err
			}
			r.cur = cr
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// AbortUpload ends an upload and removes its parts.
func (s *Store) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	if _, err := s.upload(ctx, bucket, key, uploadID); err != nil {
		return fmt.Errorf("abort upload of %s/%s: %w", bucket, key, err)
	}
	if err := s.parts.Purge(ctx, jetstream.WithPurgeSubject(partsSubjectsOf(storeName(bucket), uploadID))); err != nil {
		return fmt.Errorf("abort upload of %s/%s: %w", bucket, key, err)
	}
	return nil
}

// dropUpload removes an upload and its parts, logging a failure.
func (s *Store) dropUpload(ctx context.Context, store, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.parts.Purge(ctx, jetstream.WithPurgeSubject(partsSubjectsOf(store, id))); err != nil {
		s.log.Warn("blob: failed to remove an upload", "store", store, "upload", id, "err", err)
	}
}

// ListParts lists a page of an upload's parts: up to max (at most, and by
// default, DefaultMaxKeys) with numbers after marker.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, marker, max int) (PartsPage, error) {
	if _, err := s.upload(ctx, bucket, key, uploadID); err != nil {
		return PartsPage{}, fmt.Errorf("list parts of %s/%s: %w", bucket, key, err)
	}
	have, err := s.uploadedParts(ctx, storeName(bucket), uploadID)
	if err != nil {
		return PartsPage{}, fmt.Errorf("list parts of %s/%s: %w", bucket, key, err)
	}
	if max <= 0 || max > DefaultMaxKeys {
		max = DefaultMaxKeys
	}
	page := PartsPage{Parts: []Part{}}
	for n, d := range have {
		if n > marker {
			page.Parts = append(page.Parts, Part{Number: n, ETag: d.Headers.Get(hdrETag), Size: int64(d.Size), LastModified: d.ModTime})
		}
	}
	slices.SortFunc(page.Parts, func(a, b Part) int { return cmp.Compare(a.Number, b.Number) })
	if len(page.Parts) > max {
		page.Parts = page.Parts[:max]
		page.Truncated = true
		page.Next = page.Parts[max-1].Number
	}
	return page, nil
}

// Uploads lists a bucket's unfinished uploads by key, then by time of
// initiation.
func (s *Store) Uploads(ctx context.Context, bucket string) ([]UploadInfo, error) {
	if _, err := s.stream(ctx, bucket); err != nil {
		return nil, fmt.Errorf("list uploads of %s: %w", bucket, err)
	}
	out := []UploadInfo{}
	err := s.eachUpload(ctx, storeName(bucket), func(store, id string, rec uploadRecord) {
		if s.now().Sub(rec.Initiated) > uploadTTL {
			s.dropUpload(ctx, store, id)
			return
		}
		out = append(out, UploadInfo{Bucket: rec.Bucket, Key: rec.Key, UploadID: id, Initiated: rec.Initiated})
	})
	if err != nil {
		return nil, fmt.Errorf("list uploads of %s: %w", bucket, err)
	}
	slices.SortFunc(out, func(a, b UploadInfo) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), a.Initiated.Compare(b.Initiated), cmp.Compare(a.UploadID, b.UploadID))
	})
	return out, nil
}

// eachUpload calls fn with the uploads of a store ("" for all).
func (s *Store) eachUpload(ctx context.Context, store string, fn func(store, id string, rec uploadRecord)) error {
	return scanLast(ctx, s.parts, uploadsFilter(store), false, func(m jetstream.Msg) (bool, error) {
		// $O.gureum_blob_parts.M.STORE.UPLOAD.u
		tokens := strings.Split(strings.TrimPrefix(m.Subject(), partsPrefix), ".")
		if len(tokens) != 4 {
			return true, nil
		}
		var rec uploadRecord
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			return true, nil
		}
		fn(tokens[1], tokens[2], rec)
		return true, nil
	})
}

// dropExpiredUploads removes the uploads of a store ("" for all) older
// than uploadTTL.
func (s *Store) dropExpiredUploads(ctx context.Context, store string) error {
	var expired [][2]string
	err := s.eachUpload(ctx, store, func(store, id string, rec uploadRecord) {
		if s.now().Sub(rec.Initiated) > uploadTTL {
			expired = append(expired, [2]string{store, id})
		}
	})
	if err != nil {
		return fmt.Errorf("expire uploads: %w", err)
	}
	for _, e := range expired {
		s.dropUpload(ctx, e[0], e[1])
	}
	return nil
}
