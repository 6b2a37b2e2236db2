package blob

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestBuckets(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"zeta", "alpha", "my.bucket", "my-bucket"} {
		e.bucket(name)
	}
	wantErr(t, e.s.CreateBucket(e.ctx, "alpha"), ErrBucketExists)
	wantErr(t, e.s.CreateBucket(e.ctx, "Bad_Name"), ErrInvalidName)
	wantErr(t, e.s.CreateBucket(e.ctx, "192.168.1.1"), ErrInvalidName)

	list, err := e.s.Buckets(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list {
		names = append(names, b.Name)
		if b.CreatedAt.IsZero() {
			t.Errorf("bucket %s has no creation time", b.Name)
		}
	}
	if want := []string{"alpha", "my-bucket", "my.bucket", "zeta"}; !slices.Equal(names, want) {
		t.Fatalf("buckets %v, want %v", names, want)
	}

	// "my.bucket" and "my-bucket" are distinct buckets.
	e.put("my.bucket", "k", []byte("dot"), PutOptions{})
	e.put("my-bucket", "k", []byte("dash"), PutOptions{})
	if got, _ := e.read("my.bucket", "k", GetOptions{}); string(got) != "dot" {
		t.Fatalf("my.bucket/k = %q", got)
	}

	e.put("alpha", "a", []byte("12345"), PutOptions{})
	e.put("alpha", "b", []byte("678"), PutOptions{})
	e.put("alpha", "a", []byte("1234"), PutOptions{}) // a replacement counts once
	info, err := e.s.Bucket(e.ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if info.Objects != 2 || info.Bytes < 7 {
		t.Fatalf("bucket info %+v, want 2 objects of 7 bytes or more", info)
	}
	_, err = e.s.Bucket(e.ctx, "nope")
	wantErr(t, err, ErrNoBucket)

	wantErr(t, e.s.DeleteBucket(e.ctx, "alpha"), ErrBucketNotEmpty)
	wantErr(t, e.s.DeleteBucket(e.ctx, "nope"), ErrNoBucket)
	for _, k := range []string{"a", "b"} {
		if _, err := e.s.Delete(e.ctx, "alpha", k, Actor{}); err != nil {
			t.Fatal(err)
		}
	}
	if info, err := e.s.Bucket(e.ctx, "alpha"); err != nil || info.Objects != 0 {
		t.Fatalf("emptied bucket: %+v, %v", info, err)
	}
	if _, err := e.s.CreateUpload(e.ctx, "alpha", "big", PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteBucket(e.ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Bucket(e.ctx, "alpha")
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.Put(e.ctx, "alpha", "x", strings.NewReader("x"), 1, PutOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.Get(e.ctx, "alpha", "a", GetOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.List(e.ctx, "alpha", ListOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.Uploads(e.ctx, "alpha")
	wantErr(t, err, ErrNoBucket)

	// Re-created, the bucket is empty and has no uploads.
	e.bucket("alpha")
	ups, err := e.s.Uploads(e.ctx, "alpha")
	if err != nil || len(ups) != 0 {
		t.Fatalf("uploads of a re-created bucket: %v, %v", ups, err)
	}
	res, err := e.s.List(e.ctx, "alpha", ListOptions{})
	if err != nil || len(res.Objects) != 0 {
		t.Fatalf("list of a re-created bucket: %+v, %v", res, err)
	}
}

func TestValidBucketName(t *testing.T) {
	for _, name := range []string{"abc", "a-b.c", "0bucket", strings.Repeat("a", 63), "1.2.3", "1.2.3.4a"} {
		if err := ValidBucketName(name); err != nil {
			t.Errorf("ValidBucketName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "ab", strings.Repeat("a", 64), "Abc", "a_b", "-ab", "ab-", ".ab", "ab.", "a..b", "10.0.0.1", "a b", "ab\u00e9"} {
		if err := ValidBucketName(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidBucketName(%q) = %v, want ErrInvalidName", name, err)
		}
	}
}

func TestPutGetMetadata(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("data")
	body := []byte("hello, 구름")
	opt := PutOptions{
		ContentType:        "text/plain; charset=utf-8",
		Metadata:           map[string]string{"owner": "kim", "Colour": "blue"},
		CacheControl:       "max-age=60",
		ContentDisposition: `attachment; filename="a.txt"`,
		ContentEncoding:    "identity",
		ContentLanguage:    "ko",
		Expires:            "Wed, 21 Oct 2026 07:28:00 GMT",
	}
	info := e.put(b, "dir/a.txt", body, opt)
	want := ObjectInfo{
		Bucket: b, Key: "dir/a.txt", Size: int64(len(body)), ETag: md5hex(body),
		ContentType: opt.ContentType, Metadata: map[string]string{"owner": "kim", "colour": "blue"},
		CacheControl: opt.CacheControl, ContentDisposition: opt.ContentDisposition,
		ContentEncoding: opt.ContentEncoding, ContentLanguage: opt.ContentLanguage, Expires: opt.Expires,
	}
	check := func(what string, got ObjectInfo) {
		t.Helper()
		if got.LastModified.IsZero() {
			t.Errorf("%s: no LastModified", what)
		}
		got.LastModified = time.Time{}
		if got.Bucket != want.Bucket || got.Key != want.Key || got.Size != want.Size || got.ETag != want.ETag ||
			got.ContentType != want.ContentType || !maps.Equal(got.Metadata, want.Metadata) ||
			got.CacheControl != want.CacheControl || got.ContentDisposition != want.ContentDisposition ||
			got.ContentEncoding != want.ContentEncoding || got.ContentLanguage != want.ContentLanguage || got.Expires != want.Expires {
			t.Errorf("%s: %+v\nwant %+v", what, got, want)
		}
	}
	check("put", info)
	head, err := e.s.Head(e.ctx, b, "dir/a.txt", Conditions{})
	if err != nil {
		t.Fatal(err)
	}
	check("head", head)
	if !head.LastModified.Equal(info.LastModified) {
		t.Errorf("head LastModified %v, put %v", head.LastModified, info.LastModified)
	}
	data, obj := e.read(b, "dir/a.txt", GetOptions{})
	check("get", obj.Info)
	if !bytes.Equal(data, body) || obj.Partial {
		t.Fatalf("get = %q (partial %v)", data, obj.Partial)
	}

	// Errors.
	_, err = e.s.Get(e.ctx, b, "missing", GetOptions{})
	wantErr(t, err, ErrNoKey)
	_, err = e.s.Head(e.ctx, b, "missing", Conditions{})
	wantErr(t, err, ErrNoKey)
	_, err = e.s.Get(e.ctx, "nobucket", "k", GetOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.Put(e.ctx, b, "", strings.NewReader(""), 0, PutOptions{})
	wantErr(t, err, ErrInvalidKey)
	_, err = e.s.Put(e.ctx, b, strings.Repeat("k", MaxKeyBytes+1), strings.NewReader(""), 0, PutOptions{})
	wantErr(t, err, ErrInvalidKey)
	_, err = e.s.Put(e.ctx, b, "bad\xff", strings.NewReader(""), 0, PutOptions{})
	wantErr(t, err, ErrInvalidKey)
	_, err = e.s.Put(e.ctx, b, "k", strings.NewReader(""), 0, PutOptions{Metadata: map[string]string{"m": strings.Repeat("v", MaxMetadataLen)}})
	wantErr(t, err, ErrEntityTooLarge)
	_, err = e.s.Put(e.ctx, b, "k", strings.NewReader("x"), MaxObjectSize+1, PutOptions{})
	wantErr(t, err, ErrEntityTooLarge)
}

func TestPutSizes(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("sizes")
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		body := pattern(n, byte(n))
		for _, size := range []int64{int64(n), -1} {
			key := fmt.Sprintf("o%d_%d", n, size)
			info, err := e.s.Put(e.ctx, b, key, io.MultiReader(bytes.NewReader(body[:n/2]), bytes.NewReader(body[n/2:])), size, PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(n) || info.ETag != md5hex(body) {
				t.Fatalf("%s: size %d etag %s", key, info.Size, info.ETag)
			}
			got, _ := e.read(b, key, GetOptions{})
			if !bytes.Equal(got, body) {
				t.Fatalf("%s: read %d bytes, different from the %d put", key, len(got), n)
			}
		}
	}
	// A body shorter than its size fails and stores nothing; a longer one
	// is cut at its size.
	_, err := e.s.Put(e.ctx, b, "short", strings.NewReader("abc"), 10, PutOptions{})
	wantErr(t, err, io.ErrUnexpectedEOF)
	_, err = e.s.Head(e.ctx, b, "short", Conditions{})
	wantErr(t, err, ErrNoKey)
	info, err := e.s.Put(e.ctx, b, "long", strings.NewReader("abcdef"), 3, PutOptions{})
	if err != nil || info.Size != 3 {
		t.Fatalf("put of a longer body: %+v, %v", info, err)
	}
	if got, _ := e.read(b, "long", GetOptions{}); string(got) != "abc" {
		t.Fatalf("long = %q", got)
	}
}

func TestLongKeys(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("keys")
	keys := []string{
		strings.Repeat("k", MaxKeyBytes),
		strings.Repeat("구", MaxKeyBytes/3),
		"with spaces/and?query=1&x#frag",
		"a.b*c>d",
		"\t",
	}
	for i, k := range keys {
		e.put(b, k, []byte{byte(i)}, PutOptions{Metadata: map[string]string{"i": fmt.Sprint(i)}})
	}
	res, err := e.s.List(e.ctx, b, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range res.Objects {
		got = append(got, o.Key)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("list %q, want %q", got, want)
	}
	for i, k := range keys {
		data, _ := e.read(b, k, GetOptions{})
		if !bytes.Equal(data, []byte{byte(i)}) {
			t.Fatalf("key %d read %v", i, data)
		}
		if ok, err := e.s.Delete(e.ctx, b, k, Actor{}); err != nil || !ok {
			t.Fatalf("delete key %d: %v %v", i, ok, err)
		}
	}
}

func TestRanges(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("ranges")
	size := 3*chunkSize + 1000
	body := pattern(size, 7)
	e.put(b, "obj", body, PutOptions{})
	e.put(b, "empty", nil, PutOptions{})
	cases := []struct {
		r          Range
		start, end int64
	}{
		{Range{Start: 0, End: 0}, 0, 0},
		{Range{Start: 10, End: 19}, 10, 19},
		{Range{Start: chunkSize - 5, End: chunkSize + 5}, chunkSize - 5, chunkSize + 5},
		{Range{Start: 2*chunkSize + 3, End: -1}, 2*chunkSize + 3, int64(size) - 1},
		{Range{Start: 100, End: int64(size) * 4}, 100, int64(size) - 1},
		{Range{Suffix: 10}, int64(size) - 10, int64(size) - 1},
		{Range{Suffix: int64(size) * 2}, 0, int64(size) - 1},
		{Range{Start: int64(size) - 1, End: -1}, int64(size) - 1, int64(size) - 1},
		{Range{Start: 3 * chunkSize, End: 3*chunkSize + 1}, 3 * chunkSize, 3*chunkSize + 1},
	}
	for _, c := range cases {
		r := c.r
		data, obj := e.read(b, "obj", GetOptions{Range: &r})
		if !obj.Partial || obj.Start != c.start || obj.End != c.end {
			t.Errorf("range %+v: partial %v %d-%d, want %d-%d", c.r, obj.Partial, obj.Start, obj.End, c.start, c.end)
		}
		if !bytes.Equal(data, body[c.start:c.end+1]) {
			t.Errorf("range %+v: %d bytes, not those of %d-%d", c.r, len(data), c.start, c.end)
		}
	}
	for _, r := range []Range{{Start: int64(size), End: -1}, {Start: int64(size) + 10, End: int64(size) + 20}} {
		_, err := e.s.Get(e.ctx, b, "obj", GetOptions{Range: &r})
		wantErr(t, err, ErrInvalidRange)
	}
	for _, r := range []Range{{Start: 0, End: -1}, {Suffix: 1}} {
		_, err := e.s.Get(e.ctx, b, "empty", GetOptions{Range: &r})
		wantErr(t, err, ErrInvalidRange)
	}
	if data, obj := e.read(b, "empty", GetOptions{}); len(data) != 0 || obj.Info.Size != 0 {
		t.Fatalf("empty object read %d bytes", len(data))
	}
	// Conditions come before the range.
	r := Range{Start: int64(size) + 1, End: -1}
	_, err := e.s.Get(e.ctx, b, "obj", GetOptions{Range: &r, Conditions: Conditions{IfMatch: "nope"}})
	wantErr(t, err, ErrPrecondition)
}

// TestRangesInterleaved reads ranges of objects written at the same time
// into one bucket, whose chunks interleave in the stream.
func TestRangesInterleaved(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("mixed")
	const n = 4
	size := 6*chunkSize + 99
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// Small reads make the writers take turns.
			r := io.LimitReader(&slowReader{r: newPatternReader(int64(size), uint32(i))}, int64(size))
			if _, err := e.s.Put(e.ctx, b, fmt.Sprint("o", i), r, -1, PutOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	interleaved := 0
	for i := range n {
		body, _ := io.ReadAll(newPatternReader(int64(size), uint32(i)))
		key := fmt.Sprint("o", i)
		_, cur, err := e.s.current(e.ctx, b, key)
		if err != nil {
			t.Fatal(err)
		}
		if first, last, _ := chunkSeqs(cur.d); last-first+1 != uint64(cur.d.Chunks) {
			interleaved++
		}
		for _, start := range []int64{0, 5, chunkSize, 4*chunkSize + 3, int64(size) - 2} {
			r := Range{Start: start, End: start + chunkSize}
			data, obj := e.read(b, key, GetOptions{Range: &r})
			if !bytes.Equal(data, body[obj.Start:obj.End+1]) || obj.Start != start {
				t.Fatalf("%s from %d: wrong bytes", key, start)
			}
		}
	}
	t.Logf("%d of %d objects have interleaved chunks", interleaved, n)
}

// slowReader returns at most 1000 bytes a read.
type slowReader struct{ r io.Reader }

func (r *slowReader) Read(p []byte) (int, error) {
	if len(p) > 1000 {
		p = p[:1000]
	}
	return r.r.Read(p)
}

func TestConditions(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 500e6, time.UTC)
	clock := func() time.Time { return now }
	e := newEnv(t)
	s, err := Open(e.ctx, e.b.JetStream(), Config{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	b := e.bucket("cond")
	info := e.put(b, "k", []byte("v1"), PutOptions{})
	etag := info.ETag
	before, at, after := now.Add(-time.Hour), now.Truncate(time.Second), now.Add(time.Hour)
	future := now.Add(48 * time.Hour)
	now = now.Add(2 * time.Hour) // reads happen later
	_ = future
	cases := []struct {
		name string
		c    Conditions
		want error
	}{
		{"none", Conditions{}, nil},
		{"if-match", Conditions{IfMatch: etag}, nil},
		{"if-match quoted list", Conditions{IfMatch: `"x", "` + etag + `"`}, nil},
		{"if-match star", Conditions{IfMatch: "*"}, nil},
		{"if-match other", Conditions{IfMatch: "0123"}, ErrPrecondition},
		{"if-unmodified-since later", Conditions{IfUnmodifiedSince: after}, nil},
		{"if-unmodified-since same second", Conditions{IfUnmodifiedSince: at}, nil},
		{"if-unmodified-since earlier", Conditions{IfUnmodifiedSince: before}, ErrPrecondition},
		{"if-match wins over if-unmodified-since", Conditions{IfMatch: etag, IfUnmodifiedSince: before}, nil},
		{"if-none-match", Conditions{IfNoneMatch: etag}, ErrNotModified},
		{"if-none-match weak", Conditions{IfNoneMatch: `W/"` + etag + `"`}, ErrNotModified},
		{"if-none-match star", Conditions{IfNoneMatch: "*"}, ErrNotModified},
		{"if-none-match other", Conditions{IfNoneMatch: "0123"}, nil},
		{"if-modified-since earlier", Conditions{IfModifiedSince: before}, nil},
		{"if-modified-since same second", Conditions{IfModifiedSince: at}, ErrNotModified},
		{"if-modified-since later", Conditions{IfModifiedSince: after}, ErrNotModified},
		{"if-modified-since in the future", Conditions{IfModifiedSince: now.Add(time.Hour)}, nil},
		{"if-none-match wins over if-modified-since", Conditions{IfNoneMatch: "0123", IfModifiedSince: after}, nil},
		{"precondition before not-modified", Conditions{IfMatch: "0123", IfNoneMatch: etag}, ErrPrecondition},
	}
	for _, c := range cases {
		_, err := e.s.Head(e.ctx, b, "k", c.c)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("head %s: %v, want %v", c.name, err, c.want)
		}
		obj, err := e.s.Get(e.ctx, b, "k", GetOptions{Conditions: c.c})
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("get %s: %v, want %v", c.name, err, c.want)
		}
		if err == nil {
			obj.Close()
		}
		// A copy fails every unmet condition with ErrPrecondition.
		_, err = e.s.Copy(e.ctx, b, "k", b, "copy", CopyOptions{Conditions: c.c})
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, ErrPrecondition) {
			t.Errorf("copy %s: %v, want ErrPrecondition", c.name, err)
		}
	}

	// If-None-Match "*" on a put: only where the key is free.
	_, err = e.s.Put(e.ctx, b, "k", strings.NewReader("v2"), 2, PutOptions{IfNoneMatch: "*"})
	wantErr(t, err, ErrPrecondition)
	if got, _ := e.read(b, "k", GetOptions{}); string(got) != "v1" {
		t.Fatalf("k = %q after a failed conditional put", got)
	}
	if _, err := e.s.Put(e.ctx, b, "fresh", strings.NewReader("v"), 1, PutOptions{IfNoneMatch: "*"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Delete(e.ctx, b, "k", Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Put(e.ctx, b, "k", strings.NewReader("v3"), 2, PutOptions{IfNoneMatch: "*"}); err != nil {
		t.Fatalf("conditional put on a deleted key: %v", err)
	}
}

// TestConditionalPutRace has writers race to create one key: exactly one
// wins.
func TestConditionalPutRace(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("race")
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := e.s.Put(e.ctx, b, "once", strings.NewReader(fmt.Sprint(i)), -1, PutOptions{IfNoneMatch: "*"})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrPrecondition):
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won, want 1", won)
	}
}

// TestBadDigestKeepsPrevious: a put whose content does not match its
// Content-MD5, or whose body fails, leaves the object there before.
func TestBadDigestKeepsPrevious(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("digest")
	old := pattern(2*chunkSize+5, 1)
	prev := e.put(b, "k", old, PutOptions{ContentType: "old/type"})
	chunksBefore := chunkMessages(t, e, b)

	body := pattern(3*chunkSize+9, 2)
	wrong := md5.Sum([]byte("something else"))
	_, err := e.s.Put(e.ctx, b, "k", bytes.NewReader(body), int64(len(body)), PutOptions{ContentMD5: base64.StdEncoding.EncodeToString(wrong[:])})
	wantErr(t, err, ErrBadDigest)
	_, err = e.s.Put(e.ctx, b, "k", bytes.NewReader(body), int64(len(body)), PutOptions{ContentMD5: "not base64!"})
	wantErr(t, err, ErrBadDigest)
	failing := io.MultiReader(bytes.NewReader(body), iotestErrReader{})
	_, err = e.s.Put(e.ctx, b, "k", failing, -1, PutOptions{})
	if err == nil {
		t.Fatal("put of a failing body succeeded")
	}
	_, err = e.s.Put(e.ctx, b, "new", bytes.NewReader(body), int64(len(body)), PutOptions{ContentMD5: base64.StdEncoding.EncodeToString(wrong[:])})
	wantErr(t, err, ErrBadDigest)

	got, obj := e.read(b, "k", GetOptions{})
	if !bytes.Equal(got, old) || obj.Info.ETag != prev.ETag || obj.Info.ContentType != "old/type" {
		t.Fatalf("previous object changed: %d bytes, etag %s", len(got), obj.Info.ETag)
	}
	_, err = e.s.Head(e.ctx, b, "new", Conditions{})
	wantErr(t, err, ErrNoKey)
	if n := chunkMessages(t, e, b); n != chunksBefore {
		t.Fatalf("failed puts left chunks: %d chunk messages, were %d", n, chunksBefore)
	}
	if ev := e.events.take(); len(ev) != 1 {
		t.Fatalf("%d events, want the first put's only", len(ev))
	}

	// The right digest works.
	right := md5.Sum(body)
	info, err := e.s.Put(e.ctx, b, "k", bytes.NewReader(body), int64(len(body)), PutOptions{ContentMD5: base64.StdEncoding.EncodeToString(right[:])})
	if err != nil || info.ETag != md5hex(body) {
		t.Fatalf("put with the right digest: %+v, %v", info, err)
	}
	// The replaced object's chunks are gone.
	if n := chunkMessages(t, e, b); n != 4 {
		t.Fatalf("%d chunk messages, want the 4 of the new object", n)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// chunkMessages counts the chunk messages in a bucket's store.
func chunkMessages(t *testing.T, e *env, bucket string) uint64 {
	t.Helper()
	st, err := e.b.JetStream().Stream(e.ctx, streamName(storeName(bucket)))
	if err != nil {
		t.Fatal(err)
	}
	si, err := st.Info(e.ctx, jetstream.WithSubjectFilter("$O."+storeName(bucket)+".C.>"))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range si.State.Subjects {
		n += c
	}
	return n
}

// TestConcurrentOverwrites leaves one object and no stray chunks.
func TestConcurrentOverwrites(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("over")
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			body := pattern(chunkSize+10, byte(i))
			if _, err := e.s.Put(e.ctx, b, "k", bytes.NewReader(body), int64(len(body)), PutOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := chunkMessages(t, e, b); n != 2 {
		t.Fatalf("%d chunk messages, want the 2 of the last object", n)
	}
	got, obj := e.read(b, "k", GetOptions{})
	if md5hex(got) != obj.Info.ETag {
		t.Fatal("object does not match its ETag")
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("del")
	e.put(b, "k", pattern(chunkSize*2, 3), PutOptions{})
	ok, err := e.s.Delete(e.ctx, b, "k", Actor{Principal: "admin"})
	if err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	}
	ok, err = e.s.Delete(e.ctx, b, "k", Actor{})
	if err != nil || ok {
		t.Fatalf("second delete: %v %v", ok, err)
	}
	ok, err = e.s.Delete(e.ctx, b, "never", Actor{})
	if err != nil || ok {
		t.Fatalf("delete of a missing key: %v %v", ok, err)
	}
	_, err = e.s.Delete(e.ctx, "nobucket", "k", Actor{})
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.Get(e.ctx, b, "k", GetOptions{})
	wantErr(t, err, ErrNoKey)
	if n := chunkMessages(t, e, b); n != 0 {
		t.Fatalf("%d chunk messages left", n)
	}
	if ev := e.events.take(); len(ev) != 2 || ev[1].Name != EventDelete {
		t.Fatalf("events %+v, want a put and one delete", ev)
	}
	// The store holds nothing more of the key.
	st, _ := e.b.JetStream().Stream(e.ctx, streamName(storeName(b)))
	si, err := st.Info(e.ctx)
	if err != nil || si.State.Msgs != 0 {
		t.Fatalf("store of an emptied bucket holds %d messages (%v)", si.State.Msgs, err)
	}
}

func TestList(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("list")
	keys := []string{"a", "a/1", "a/2", "a/b/1", "b", "b/1", "c/1", "c/2", "d", "é", "Z", "a-"}
	for _, k := range keys {
		e.put(b, k, []byte(k), PutOptions{})
	}
	e.put(b, "gone", []byte("x"), PutOptions{})
	if _, err := e.s.Delete(e.ctx, b, "gone", Actor{}); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted) // byte order: "Z" < "a" < ... < "é"

	// Everything, one page.
	res, err := e.s.List(e.ctx, b, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(res); !slices.Equal(got, sorted) || res.Truncated || len(res.CommonPrefixes) != 0 {
		t.Fatalf("list = %q (truncated %v), want %q", got, res.Truncated, sorted)
	}
	if o := res.Objects[0]; o.Size != 1 || o.ETag != md5hex([]byte("Z")) || o.Bucket != b {
		t.Fatalf("listed object %+v", o)
	}

	// Pages of 5 go through every key once.
	var all []string
	opt := ListOptions{MaxKeys: 5}
	for pages := 0; ; pages++ {
		res, err := e.s.List(e.ctx, b, opt)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, keysOf(res)...)
		if !res.Truncated {
			break
		}
		if len(res.Objects) != 5 || res.Next != res.Objects[4].Key {
			t.Fatalf("page of %d, next %q", len(res.Objects), res.Next)
		}
		opt.StartAfter = res.Next
	}
	if !slices.Equal(all, sorted) {
		t.Fatalf("pages = %q", all)
	}

	// Delimiter.
	res, err = e.s.List(e.ctx, b, ListOptions{Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keysOf(res), []string{"Z", "a", "a-", "b", "d", "é"}; !slices.Equal(got, want) {
		t.Fatalf("delimited keys %q, want %q", got, want)
	}
	if want := []string{"a/", "b/", "c/"}; !slices.Equal(res.CommonPrefixes, want) {
		t.Fatalf("common prefixes %q, want %q", res.CommonPrefixes, want)
	}
	// Prefix and delimiter.
	res, err = e.s.List(e.ctx, b, ListOptions{Prefix: "a/", Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keysOf(res), []string{"a/1", "a/2"}; !slices.Equal(got, want) || !slices.Equal(res.CommonPrefixes, []string{"a/b/"}) {
		t.Fatalf("prefix a/: keys %q prefixes %q", got, res.CommonPrefixes)
	}
	// Pages of 2 with a delimiter: prefixes count and are not repeated.
	var entries []string
	opt = ListOptions{Delimiter: "/", MaxKeys: 2}
	for {
		res, err := e.s.List(e.ctx, b, opt)
		if err != nil {
			t.Fatal(err)
		}
		page := append(keysOf(res), res.CommonPrefixes...)
		if len(page) > 2 {
			t.Fatalf("page of %d", len(page))
		}
		entries = append(entries, page...)
		if !res.Truncated {
			break
		}
		opt.StartAfter = res.Next
	}
	slices.Sort(entries)
	if want := []string{"Z", "a", "a-", "a/", "b", "b/", "c/", "d", "é"}; !slices.Equal(entries, want) {
		t.Fatalf("delimited pages %q, want %q", entries, want)
	}
	// Start after, and a prefix matching nothing.
	res, err = e.s.List(e.ctx, b, ListOptions{StartAfter: "c/1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keysOf(res), []string{"c/2", "d", "é"}; !slices.Equal(got, want) {
		t.Fatalf("after c/1: %q", got)
	}
	res, err = e.s.List(e.ctx, b, ListOptions{Prefix: "zz"})
	if err != nil || len(res.Objects) != 0 || res.Truncated {
		t.Fatalf("prefix zz: %+v %v", res, err)
	}
	// A multipart upload's parts are not objects.
	id, err := e.s.CreateUpload(e.ctx, b, "multi", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UploadPart(e.ctx, b, "multi", id, 1, strings.NewReader("p"), 1, ""); err != nil {
		t.Fatal(err)
	}
	res, err = e.s.List(e.ctx, b, ListOptions{})
	if err != nil || !slices.Equal(keysOf(res), sorted) {
		t.Fatalf("list with an upload: %q %v", keysOf(res), err)
	}
}

func keysOf(res ListResult) []string {
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.Key)
	}
	return out
}

func TestCopy(t *testing.T) {
	e := newEnv(t)
	src, dst := e.bucket("src"), e.bucket("dst")
	body := pattern(2*chunkSize+77, 9)
	orig := e.put(src, "o", body, PutOptions{ContentType: "image/png", Metadata: map[string]string{"a": "1"}, CacheControl: "no-cache"})
	e.events.take()

	// Keep the metadata.
	info, err := e.s.Copy(e.ctx, src, "o", dst, "copy", CopyOptions{Put: PutOptions{Actor: Actor{Principal: "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != orig.ETag || info.ContentType != "image/png" || info.Metadata["a"] != "1" || info.CacheControl != "no-cache" || info.Bucket != dst || info.Key != "copy" {
		t.Fatalf("copy %+v", info)
	}
	got, obj := e.read(dst, "copy", GetOptions{})
	if !bytes.Equal(got, body) || obj.Info.ContentType != "image/png" {
		t.Fatal("copy differs from its source")
	}
	// Replace the metadata.
	info, err = e.s.Copy(e.ctx, src, "o", src, "o2", CopyOptions{ReplaceMetadata: true, Put: PutOptions{ContentType: "text/plain", Metadata: map[string]string{"b": "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if info.ContentType != "text/plain" || !maps.Equal(info.Metadata, map[string]string{"b": "2"}) || info.CacheControl != "" {
		t.Fatalf("copy with new metadata %+v", info)
	}
	// Onto itself with new metadata: the content stays, nothing is copied.
	chunks := chunkMessages(t, e, src)
	info, err = e.s.Copy(e.ctx, src, "o", src, "o", CopyOptions{ReplaceMetadata: true, Put: PutOptions{ContentType: "a/b", Metadata: map[string]string{"c": "3"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, obj = e.read(src, "o", GetOptions{})
	if !bytes.Equal(got, body) || obj.Info.ContentType != "a/b" || obj.Info.Metadata["c"] != "3" || obj.Info.ETag != orig.ETag {
		t.Fatalf("self copy: %+v", obj.Info)
	}
	r := Range{Start: chunkSize + 1, End: chunkSize + 10}
	if got, _ := e.read(src, "o", GetOptions{Range: &r}); !bytes.Equal(got, body[chunkSize+1:chunkSize+11]) {
		t.Fatal("range of a self-copied object")
	}
	if n := chunkMessages(t, e, src); n != chunks {
		t.Fatalf("self copy changed the chunks: %d, were %d", n, chunks)
	}
	ev := e.events.take()
	if len(ev) != 3 || ev[0].Name != EventCopy || ev[0].Principal != "p" || ev[0].Bucket != dst {
		t.Fatalf("copy events %+v", ev)
	}
	// Errors.
	_, err = e.s.Copy(e.ctx, src, "missing", dst, "x", CopyOptions{})
	wantErr(t, err, ErrNoKey)
	_, err = e.s.Copy(e.ctx, src, "o", "nobucket", "x", CopyOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.Copy(e.ctx, "nobucket", "o", dst, "x", CopyOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.Copy(e.ctx, src, "o", dst, "copy", CopyOptions{Put: PutOptions{IfNoneMatch: "*"}})
	wantErr(t, err, ErrPrecondition)
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("events")
	a := Actor{Principal: "function:f", SourceIP: "10.0.0.1", RequestID: "r1", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	p1 := e.put(b, "k", []byte("one"), PutOptions{Actor: a})
	p2 := e.put(b, "k", []byte("two!"), PutOptions{Actor: a})
	if _, err := e.s.Delete(e.ctx, b, "k", a); err != nil {
		t.Fatal(err)
	}
	p3 := e.put(b, "k", []byte("three"), PutOptions{Actor: a})
	ev := e.events.take()
	if len(ev) != 4 {
		t.Fatalf("%d events, want 4", len(ev))
	}
	want := []struct {
		name string
		info ObjectInfo
	}{{EventPut, p1}, {EventPut, p2}, {EventDelete, ObjectInfo{}}, {EventPut, p3}}
	for i, w := range want {
		got := ev[i]
		if got.Name != w.name || got.Bucket != b || got.Key != "k" || got.Size != w.info.Size || got.ETag != w.info.ETag ||
			got.Principal != a.Principal || got.SourceIP != a.SourceIP || got.RequestID != a.RequestID || got.TraceParent != a.TraceParent ||
			got.Time.IsZero() || len(got.Sequencer) != 16 {
			t.Errorf("event %d: %+v", i, got)
		}
		if i > 0 && got.Sequencer <= ev[i-1].Sequencer {
			t.Errorf("event %d sequencer %s not after %s", i, got.Sequencer, ev[i-1].Sequencer)
		}
	}
	// A failing sink fails the change, which stays made.
	e.events.setFail(errors.New("sink down"))
	_, err := e.s.Put(e.ctx, b, "k2", strings.NewReader("x"), 1, PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "sink down") {
		t.Fatalf("put with a failing sink: %v", err)
	}
	if _, err := e.s.Head(e.ctx, b, "k2", Conditions{}); err != nil {
		t.Fatalf("the put stays made: %v", err)
	}
	if _, err := e.s.Delete(e.ctx, b, "k2", Actor{}); err == nil {
		t.Fatal("delete with a failing sink succeeded")
	}
	e.events.setFail(nil)
	if _, err := e.s.Delete(e.ctx, b, "never", Actor{}); err != nil {
		t.Fatal(err)
	}
	if ev := e.events.take(); len(ev) != 0 {
		t.Fatalf("events of a failing sink or a missing key: %+v", ev)
	}
}

func TestPersistence(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("keep")
	body := pattern(3*chunkSize+1, 4)
	info := e.put(b, "k", body, PutOptions{ContentType: "x/y", Metadata: map[string]string{"m": "v"}})
	id, err := e.s.CreateUpload(e.ctx, b, "up", PutOptions{ContentType: "a/b"})
	if err != nil {
		t.Fatal(err)
	}
	part, err := e.s.UploadPart(e.ctx, b, "up", id, 1, strings.NewReader("tail"), 4, "")
	if err != nil {
		t.Fatal(err)
	}
	e.restart()
	list, err := e.s.Buckets(e.ctx)
	if err != nil || len(list) != 1 || list[0].Name != b {
		t.Fatalf("buckets after restart: %+v %v", list, err)
	}
	got, obj := e.read(b, "k", GetOptions{})
	if !bytes.Equal(got, body) || obj.Info.ETag != info.ETag || obj.Info.ContentType != "x/y" || obj.Info.Metadata["m"] != "v" ||
		!obj.Info.LastModified.Equal(info.LastModified) {
		t.Fatalf("object after restart: %+v", obj.Info)
	}
	r := Range{Suffix: 2}
	if got, _ := e.read(b, "k", GetOptions{Range: &r}); !bytes.Equal(got, body[len(body)-2:]) {
		t.Fatal("range after restart")
	}
	ups, err := e.s.Uploads(e.ctx, b)
	if err != nil || len(ups) != 1 || ups[0].UploadID != id {
		t.Fatalf("uploads after restart: %+v %v", ups, err)
	}
	done, err := e.s.CompleteUpload(e.ctx, b, "up", id, []CompletedPart{{Number: 1, ETag: part.ETag}}, Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read(b, "up", GetOptions{}); string(got) != "tail" || done.ContentType != "a/b" {
		t.Fatalf("completed after restart: %q %+v", got, done)
	}
}

// TestTwoStores has two Stores (two nodes) share buckets: one deletes a
// bucket the other has used.
func TestTwoStores(t *testing.T) {
	e := newEnv(t)
	other, err := Open(e.ctx, e.b.JetStream(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := e.bucket("shared")
	if _, err := other.Put(e.ctx, b, "k", strings.NewReader("v"), 1, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read(b, "k", GetOptions{}); string(got) != "v" {
		t.Fatalf("k = %q", got)
	}
	wantErr(t, other.CreateBucket(e.ctx, b), ErrBucketExists)
	if _, err := e.s.Delete(e.ctx, b, "k", Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteBucket(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	_, err = other.Get(e.ctx, b, "k", GetOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = other.Put(e.ctx, b, "k", strings.NewReader("v"), 1, PutOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = other.Delete(e.ctx, b, "k", Actor{})
	wantErr(t, err, ErrNoBucket)
	e.bucket(b)
	if _, err := other.Put(e.ctx, b, "k", nil, 0, PutOptions{}); err != nil {
		t.Fatalf("put into the re-created bucket: %v", err)
	}
}

// TestObjectStoreLayout checks that a bucket is a JetStream object store
// in both directions: NATS tools read gureum's objects (the digest
// verified), and gureum reads objects those tools wrote, whatever their
// chunks.
func TestObjectStoreLayout(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("tools")
	body := pattern(2*chunkSize+321, 5)
	e.put(b, "ours", body, PutOptions{ContentType: "a/b", Metadata: map[string]string{"k": "v"}})
	obs, err := e.b.JetStream().ObjectStore(e.ctx, storeName(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := obs.GetBytes(e.ctx, "ours")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("object store read of ours: %d bytes, %v", len(got), err)
	}
	oi, err := obs.GetInfo(e.ctx, "ours")
	if err != nil || oi.Headers.Get("Content-Type") != "a/b" || oi.Metadata["k"] != "v" {
		t.Fatalf("object store info of ours: %+v, %v", oi, err)
	}

	// Theirs: chunks of 1000 bytes, some shorter.
	theirs := pattern(10_000, 6)
	if _, err := obs.Put(e.ctx, jetstream.ObjectMeta{Name: "theirs", Opts: &jetstream.ObjectMetaOptions{ChunkSize: 1000}},
		&slowReader{r: io.MultiReader(bytes.NewReader(theirs[:1500]), bytes.NewReader(theirs[1500:]))}); err != nil {
		t.Fatal(err)
	}
	data, obj := e.read(b, "theirs", GetOptions{})
	if !bytes.Equal(data, theirs) || obj.Info.Size != int64(len(theirs)) {
		t.Fatalf("read of theirs: %d bytes", len(data))
	}
	for _, r := range []Range{{Start: 1234, End: 5678}, {Suffix: 10}, {Start: 999, End: 1000}} {
		data, obj := e.read(b, "theirs", GetOptions{Range: &r})
		if !bytes.Equal(data, theirs[obj.Start:obj.End+1]) {
			t.Fatalf("range %+v of theirs", r)
		}
	}
	res, err := e.s.List(e.ctx, b, ListOptions{})
	if err != nil || !slices.Equal(keysOf(res), []string{"ours", "theirs"}) {
		t.Fatalf("list %q %v", keysOf(res), err)
	}
	if ok, err := e.s.Delete(e.ctx, b, "theirs", Actor{}); err != nil || !ok {
		t.Fatalf("delete theirs: %v %v", ok, err)
	}
}
