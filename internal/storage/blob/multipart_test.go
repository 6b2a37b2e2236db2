package blob

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// multipartETag is S3's ETag of an object of these parts.
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil)) + fmt.Sprintf("-%d", len(parts))
}

func TestMultipart(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("multi")
	id, err := e.s.CreateUpload(e.ctx, b, "big", PutOptions{ContentType: "video/mp4", Metadata: map[string]string{"x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2, p3 := pattern(MinPartSize, 1), pattern(MinPartSize+3, 2), pattern(1000, 3)
	upload := func(n int, data []byte) Part {
		t.Helper()
		sum := md5.Sum(data)
		p, err := e.s.UploadPart(e.ctx, b, "big", id, n, bytes.NewReader(data), int64(len(data)), base64.StdEncoding.EncodeToString(sum[:]))
		if err != nil {
			t.Fatal(err)
		}
		if p.Number != n || p.Size != int64(len(data)) || p.ETag != md5hex(data) || p.LastModified.IsZero() {
			t.Fatalf("part %+v", p)
		}
		return p
	}
	// Part 2 is first uploaded with other content, then replaced.
	upload(2, pattern(MinPartSize, 9))
	got1 := upload(1, p1)
	got2 := upload(2, p2)
	got3 := upload(3, p3)
	upload(5, []byte("never used"))

	// A bad digest keeps the part there.
	wrong := md5.Sum([]byte("x"))
	_, err = e.s.UploadPart(e.ctx, b, "big", id, 3, strings.NewReader("other"), 5, base64.StdEncoding.EncodeToString(wrong[:]))
	wantErr(t, err, ErrBadDigest)

	page, err := e.s.ListParts(e.ctx, b, "big", id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Parts) != 4 || page.Truncated || page.Parts[1].ETag != got2.ETag || page.Parts[2].ETag != got3.ETag || page.Parts[3].Number != 5 {
		t.Fatalf("parts %+v", page)
	}
	page, err = e.s.ListParts(e.ctx, b, "big", id, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Parts) != 2 || !page.Truncated || page.Next != 3 || page.Parts[0].Number != 2 {
		t.Fatalf("page after 1 of 2: %+v", page)
	}
	ups, err := e.s.Uploads(e.ctx, b)
	if err != nil || len(ups) != 1 || ups[0].Key != "big" || ups[0].UploadID != id || ups[0].Bucket != b || ups[0].Initiated.IsZero() {
		t.Fatalf("uploads %+v %v", ups, err)
	}

	// The checks of a completion.
	complete := func(parts ...CompletedPart) error {
		_, err := e.s.CompleteUpload(e.ctx, b, "big", id, parts, Actor{})
		return err
	}
	cp := func(p Part) CompletedPart { return CompletedPart{Number: p.Number, ETag: p.ETag} }
	wantErr(t, complete(cp(got2), cp(got1)), ErrInvalidPartOrder)
	wantErr(t, complete(cp(got1), cp(got1)), ErrInvalidPartOrder)
	wantErr(t, complete(cp(got1), CompletedPart{Number: 4, ETag: got3.ETag}), ErrInvalidPart)
	wantErr(t, complete(cp(got1), CompletedPart{Number: 2, ETag: got1.ETag}), ErrInvalidPart)
	wantErr(t, complete(), ErrInvalidPart)
	wantErr(t, complete(cp(got3), CompletedPart{Number: 5, ETag: md5hex([]byte("never used"))}), ErrEntityTooSmall)
	_, err = e.s.CompleteUpload(e.ctx, b, "other-key", id, []CompletedPart{cp(got1)}, Actor{})
	wantErr(t, err, ErrNoUpload)
	if ev := e.events.take(); len(ev) != 0 {
		t.Fatalf("events of failed completions: %+v", ev)
	}

	// Completion, with quoted ETags as clients send them.
	info, err := e.s.CompleteUpload(e.ctx, b, "big", id, []CompletedPart{
		cp(got1), {Number: 2, ETag: `"` + got2.ETag + `"`}, cp(got3),
	}, Actor{Principal: "p"})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, p1...), p2...), p3...)
	if info.ETag != multipartETag(p1, p2, p3) || info.Size != int64(len(want)) || info.ContentType != "video/mp4" || info.Metadata["x"] != "y" {
		t.Fatalf("completed %+v, want ETag %s", info, multipartETag(p1, p2, p3))
	}
	data, obj := e.read(b, "big", GetOptions{})
	if !bytes.Equal(data, want) || obj.Info.ETag != info.ETag {
		t.Fatal("completed object differs from its parts")
	}
	r := Range{Start: MinPartSize - 2, End: MinPartSize + 2}
	if got, _ := e.read(b, "big", GetOptions{Range: &r}); !bytes.Equal(got, want[MinPartSize-2:MinPartSize+3]) {
		t.Fatal("range across parts")
	}
	if ev := e.events.take(); len(ev) != 1 || ev[0].Name != EventComplete || ev[0].ETag != info.ETag || ev[0].Size != info.Size {
		t.Fatalf("complete events %+v", ev)
	}
	// The upload is gone, with its parts (and part 5, never used).
	_, err = e.s.ListParts(e.ctx, b, "big", id, 0, 0)
	wantErr(t, err, ErrNoUpload)
	if ups, err := e.s.Uploads(e.ctx, b); err != nil || len(ups) != 0 {
		t.Fatalf("uploads after completion: %+v %v", ups, err)
	}
	if si, err := e.s.parts.Info(e.ctx); err != nil || si.State.Msgs != 0 {
		t.Fatalf("parts store holds %d messages after completion (%v)", si.State.Msgs, err)
	}
	_, err = e.s.CompleteUpload(e.ctx, b, "big", id, []CompletedPart{cp(got1)}, Actor{})
	wantErr(t, err, ErrNoUpload)
}

func TestMultipartAbortAndErrors(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("abort")
	_, err := e.s.CreateUpload(e.ctx, "nobucket", "k", PutOptions{})
	wantErr(t, err, ErrNoBucket)
	_, err = e.s.CreateUpload(e.ctx, b, "", PutOptions{})
	wantErr(t, err, ErrInvalidKey)
	id, err := e.s.CreateUpload(e.ctx, b, "k", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := e.s.CreateUpload(e.ctx, b, "a", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, MaxParts + 1} {
		_, err = e.s.UploadPart(e.ctx, b, "k", id, n, strings.NewReader("x"), 1, "")
		wantErr(t, err, ErrInvalidPart)
	}
	_, err = e.s.UploadPart(e.ctx, b, "k", "nosuchupload", 1, strings.NewReader("x"), 1, "")
	wantErr(t, err, ErrNoUpload)
	_, err = e.s.UploadPart(e.ctx, b, "k", "bad.id>", 1, strings.NewReader("x"), 1, "")
	wantErr(t, err, ErrNoUpload)
	_, err = e.s.UploadPart(e.ctx, b, "other", id, 1, strings.NewReader("x"), 1, "")
	wantErr(t, err, ErrNoUpload)
	_, err = e.s.UploadPart(e.ctx, b, "k", id, 1, strings.NewReader("x"), MaxPartSize+1, "")
	wantErr(t, err, ErrEntityTooLarge)
	for n := 1; n <= 3; n++ {
		if _, err := e.s.UploadPart(e.ctx, b, "k", id, n, strings.NewReader("part"), -1, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.UploadPart(e.ctx, b, "a", id2, 1, strings.NewReader("keep"), -1, ""); err != nil {
		t.Fatal(err)
	}
	ups, err := e.s.Uploads(e.ctx, b)
	if err != nil || len(ups) != 2 || ups[0].Key != "a" || ups[1].Key != "k" {
		t.Fatalf("uploads %+v %v", ups, err)
	}
	wantErr(t, e.s.AbortUpload(e.ctx, b, "other", id), ErrNoUpload)
	if err := e.s.AbortUpload(e.ctx, b, "k", id); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.s.AbortUpload(e.ctx, b, "k", id), ErrNoUpload)
	_, err = e.s.UploadPart(e.ctx, b, "k", id, 4, strings.NewReader("x"), 1, "")
	wantErr(t, err, ErrNoUpload)
	ups, err = e.s.Uploads(e.ctx, b)
	if err != nil || len(ups) != 1 || ups[0].UploadID != id2 {
		t.Fatalf("uploads after abort %+v %v", ups, err)
	}
	// The other upload keeps its part.
	page, err := e.s.ListParts(e.ctx, b, "a", id2, 0, 0)
	if err != nil || len(page.Parts) != 1 {
		t.Fatalf("parts of the other upload: %+v %v", page, err)
	}
	// A conditional completion.
	e.put(b, "a", []byte("there"), PutOptions{})
	id3, err := e.s.CreateUpload(e.ctx, b, "a", PutOptions{IfNoneMatch: "*"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.s.UploadPart(e.ctx, b, "a", id3, 1, strings.NewReader("new"), 3, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.CompleteUpload(e.ctx, b, "a", id3, []CompletedPart{{Number: 1, ETag: p.ETag}}, Actor{})
	wantErr(t, err, ErrPrecondition)
	if got, _ := e.read(b, "a", GetOptions{}); string(got) != "there" {
		t.Fatalf("a = %q", got)
	}
}

func TestUploadExpiry(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := newEnv(t)
	s, err := Open(e.ctx, e.b.JetStream(), Config{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	b := e.bucket("expiry")
	old, err := s.CreateUpload(e.ctx, b, "old", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPart(e.ctx, b, "old", old, 1, strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	now = now.Add(6 * 24 * time.Hour)
	young, err := s.CreateUpload(e.ctx, b, "young", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * 24 * time.Hour) // old is 8 days old, young 2
	// Lazily: the old upload is gone to its users.
	_, err = s.ListParts(e.ctx, b, "old", old, 0, 0)
	wantErr(t, err, ErrNoUpload)
	ups, err := s.Uploads(e.ctx, b)
	if err != nil || len(ups) != 1 || ups[0].UploadID != young {
		t.Fatalf("uploads %+v %v", ups, err)
	}
	// On Open: a store opened later drops the young one too, once old.
	now = now.Add(6 * 24 * time.Hour)
	if _, err := Open(e.ctx, e.b.JetStream(), Config{Now: clock}); err != nil {
		t.Fatal(err)
	}
	if si, err := s.parts.Info(e.ctx); err != nil || si.State.Msgs != 0 {
		t.Fatalf("parts store holds %d messages after expiry (%v)", si.State.Msgs, err)
	}
}

// TestMultipartLarge streams a large upload through the store: parts from
// a generator, the object back through a hash. Memory stays bounded by a
// few chunks (checked with -test.memprofile, not here).
func TestMultipartLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large upload")
	}
	e := newEnv(t)
	b := e.bucket("large")
	const parts, partSize = 13, 8 << 20 // about 97 MiB
	id, err := e.s.CreateUpload(e.ctx, b, "large", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	whole := md5.New()
	var list []CompletedPart
	partSums := md5.New()
	for n := 1; n <= parts; n++ {
		size := int64(partSize)
		if n == parts {
			size = 1234567
		}
		h := md5.New()
		r := io.TeeReader(newPatternReader(size, uint32(n)), io.MultiWriter(h, whole))
		p, err := e.s.UploadPart(e.ctx, b, "large", id, n, r, size, "")
		if err != nil {
			t.Fatal(err)
		}
		if p.ETag != hex.EncodeToString(h.Sum(nil)) {
			t.Fatalf("part %d ETag %s", n, p.ETag)
		}
		partSums.Write(h.Sum(nil))
		list = append(list, CompletedPart{Number: n, ETag: p.ETag})
	}
	uploaded := time.Since(start)
	info, err := e.s.CompleteUpload(e.ctx, b, "large", id, list, Actor{})
	if err != nil {
		t.Fatal(err)
	}
	completed := time.Since(start) - uploaded
	if want := hex.EncodeToString(partSums.Sum(nil)) + fmt.Sprintf("-%d", parts); info.ETag != want {
		t.Fatalf("ETag %s, want %s", info.ETag, want)
	}
	obj, err := e.s.Get(e.ctx, b, "large", GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	h := md5.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		t.Fatal(err)
	}
	if n != info.Size || !bytes.Equal(h.Sum(nil), whole.Sum(nil)) {
		t.Fatalf("read %d bytes of %d, content differs", n, info.Size)
	}
	t.Logf("%d MiB: parts uploaded in %v, completed in %v, read in %v", info.Size>>20, uploaded, completed, time.Since(start)-uploaded-completed)
}
