package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/storage/blob"
	"github.com/gureum/gureum/internal/storage/s3api"
)

// Credentials of the tests: an administrator and a key limited to reading
// "shared" and writing "scratch".
const (
	adminKey      = "AKIDGUREUMADMIN"
	adminSecret   = "admin/secret+key"
	limitedKey    = "AKIDGUREUMLIMITED"
	limitedSecret = "limited-secret"
	region        = "us-east-1"
)

func lookup(id string) (string, s3api.Identity, bool) {
	switch id {
	case adminKey:
		return adminSecret, s3api.Identity{AccessKeyID: id}, true
	case limitedKey:
		return limitedSecret, s3api.Identity{AccessKeyID: id, Principal: "function:worker", Allow: func(bucket string, write bool) bool {
			return bucket == "scratch" || bucket == "shared" && !write
		}}, true
	}
	return "", s3api.Identity{}, false
}

// sink records bucket events.
type sink struct {
	mu     sync.Mutex
	events []blob.Event
}

func (s *sink) ObjectEvent(_ context.Context, ev blob.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	return nil
}

func (s *sink) find(name, bucket, key string) (blob.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.events) - 1; i >= 0; i-- {
		if ev := s.events[i]; ev.Name == name && ev.Bucket == bucket && ev.Key == key {
			return ev, true
		}
	}
	return blob.Event{}, false
}

type env struct {
	store  *blob.Store
	srv    *httptest.Server
	events *sink
	admin  *s3.Client
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newStore starts an embedded JetStream and opens the blob store on it.
func newStore(t *testing.T) (*blob.Store, *sink) {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Start(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx) //nolint:errcheck // test teardown
	})
	events := &sink{}
	st, err := blob.Open(ctx, b.JetStream(), blob.Config{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return st, events
}

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newEnv(t *testing.T, cfg s3api.Config) *env {
	t.Helper()
	st, events := newStore(t)
	cfg.Store = st
	if cfg.Region == "" {
		cfg.Region = region
	}
	srv := httptest.NewServer(s3api.New(cfg))
	t.Cleanup(srv.Close)
	e := &env{store: st, srv: srv, events: events}
	e.admin = e.client(adminKey, adminSecret)
	return e
}

func (e *env) client(key, secret string) *s3.Client {
	return newClient(e.srv, key, secret)
}

func newClient(srv *httptest.Server, key, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

// errorCode is the S3 error code of an SDK error, "" for none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func mustBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(testContext(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(testContext(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

func get(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.GetObject(testContext(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestS3 runs the operations through the AWS SDK against one node.
func TestS3(t *testing.T) {
	e := newEnv(t, s3api.Config{Lookup: lookup, Logger: testLogger(t)})
	t.Run("Buckets", e.testBuckets)
	t.Run("Objects", e.testObjects)
	t.Run("Conditional", e.testConditional)
	t.Run("Ranges", e.testRanges)
	t.Run("List", e.testList)
	t.Run("Copy", e.testCopy)
	t.Run("DeleteObjects", e.testDeleteObjects)
	t.Run("Multipart", e.testMultipart)
	t.Run("Auth", e.testAuth)
	t.Run("Allow", e.testAllow)
	t.Run("Presigned", e.testPresigned)
	t.Run("Events", e.testEvents)
	t.Run("PayloadHash", e.testPayloadHash)
	t.Run("Checksums", e.testChecksums)
	t.Run("BadInput", e.testBadInput)
}

func (e *env) testBuckets(t *testing.T) {
	ctx := testContext(t)
	c := e.admin
	mustBucket(t, c, "photos")
	// A CreateBucketConfiguration is accepted, its constraint ignored.
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String("photos-eu"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1},
	}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")})
	var owned *types.BucketAlreadyOwnedByYou
	if !errors.As(err, &owned) || httpStatus(err) != http.StatusConflict {
		t.Fatalf("create again: %v", err)
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	mustCode(t, err, "InvalidBucketName")

	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("head missing bucket: %v", err)
	}
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("photos")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("location %q, %v", loc.LocationConstraint, err)
	}
	ver, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("photos")})
	if err != nil || ver.Status != "" {
		t.Fatalf("versioning %q, %v", ver.Status, err)
	}
	list, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list.Buckets {
		names = append(names, aws.ToString(b.Name))
		if b.CreationDate == nil || time.Since(*b.CreationDate) > time.Hour {
			t.Fatalf("bucket %s created %v", aws.ToString(b.Name), b.CreationDate)
		}
	}
	if !slices.Contains(names, "photos") || !slices.Contains(names, "photos-eu") {
		t.Fatalf("buckets %v", names)
	}

	put(t, c, "photos-eu", "x", "x")
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos-eu")})
	if mustCode(t, err, "BucketNotEmpty"); httpStatus(err) != http.StatusConflict {
		t.Fatalf("status %d", httpStatus(err))
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos-eu"), Key: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos-eu")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos-eu")})
	var nsb *types.NoSuchBucket
	if !errors.As(err, &nsb) {
		t.Fatalf("list deleted bucket: %v", err)
	}
}

func (e *env) testObjects(t *testing.T) {
	ctx := testContext(t)
	c := e.admin
	mustBucket(t, c, "objects")
	body := "hello, gureum"
	out, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:             aws.String("objects"),
		Key:                aws.String("dir/hello world+ü.txt"),
		Body:               strings.NewReader(body),
		ContentType:        aws.String("text/plain; charset=utf-8"),
		Metadata:           map[string]string{"Owner": "alice", "purpose": "test"},
		CacheControl:       aws.String("max-age=60"),
		ContentDisposition: aws.String(`attachment; filename="h.txt"`),
		ContentLanguage:    aws.String("en"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + md5Hex(body) + `"`; aws.ToString(out.ETag) != want {
		t.Fatalf("put ETag %s, want %s", aws.ToString(out.ETag), want)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objects"), Key: aws.String("dir/hello world+ü.txt")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if string(got) != body || aws.ToString(g.ContentType) != "text/plain; charset=utf-8" ||
		aws.ToInt64(g.ContentLength) != int64(len(body)) || aws.ToString(g.ETag) != aws.ToString(out.ETag) ||
		g.Metadata["owner"] != "alice" || g.Metadata["purpose"] != "test" ||
		aws.ToString(g.CacheControl) != "max-age=60" || aws.ToString(g.ContentLanguage) != "en" ||
		aws.ToString(g.ContentDisposition) != `attachment; filename="h.txt"` || aws.ToString(g.AcceptRanges) != "bytes" {
		t.Fatalf("get: %q %+v", got, g)
	}
	if g.LastModified == nil || time.Since(*g.LastModified) > time.Minute {
		t.Fatalf("last modified %v", g.LastModified)
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objects"), Key: aws.String("dir/hello world+ü.txt")})
	if err != nil || aws.ToInt64(h.ContentLength) != int64(len(body)) || h.Metadata["owner"] != "alice" {
		t.Fatalf("head: %+v, %v", h, err)
	}

	// Keys with characters that need escaping, and an empty object.
	for _, key := range []string{"a//b", "sp ace/%41/?q=1&x#y", "ключ", "trailing/", "./dot/../seg"} {
		put(t, c, "objects", key, "v:"+key)
		if got := get(t, c, "objects", key); got != "v:"+key {
			t.Fatalf("key %q read back %q", key, got)
		}
	}
	put(t, c, "objects", "empty", "")
	if got := get(t, c, "objects", "empty"); got != "" {
		t.Fatalf("empty object read back %q", got)
	}

	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objects"), Key: aws.String("missing")})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) || httpStatus(err) != http.StatusNotFound {
		t.Fatalf("get missing: %v", err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objects"), Key: aws.String("missing")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("head missing: %v", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("no-bucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
	mustCode(t, err, "NoSuchBucket")

	// Delete, and delete again: both succeed, as in S3.
	for range 2 {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("objects"), Key: aws.String("empty")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objects"), Key: aws.String("empty")})
	if !errors.As(err, &nf) {
		t.Fatalf("head deleted: %v", err)
	}

	// Conditional write.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objects"), Key: aws.String("ab"), Body: strings.NewReader("1"), IfNoneMatch: aws.String("*")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objects"), Key: aws.String("ab"), Body: strings.NewReader("2"), IfNoneMatch: aws.String("*")})
	if mustCode(t, err, "PreconditionFailed"); get(t, c, "objects", "ab") != "1" {
		t.Fatal("a failed conditional put replaced the object")
	}
}

func (e *env) testConditional(t *testing.T) {
	ctx := testContext(t)
	c := e.admin
	mustBucket(t, c, "cond")
	out := put(t, c, "cond", "k", "conditional")
	etag := aws.ToString(out.ETag)
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cond"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	mod := *h.LastModified
	in := func(f func(*s3.GetObjectInput)) *s3.GetObjectInput {
		i := &s3.GetObjectInput{Bucket: aws.String("cond"), Key: aws.String("k")}
		f(i)
		return i
	}
	tests := []struct {
		name   string
		in     *s3.GetObjectInput
		status int // 0 = success
	}{
		{"if-match", in(func(i *s3.GetObjectInput) { i.IfMatch = aws.String(etag) }), 0},
		{"if-match other", in(func(i *s3.GetObjectInput) { i.IfMatch = aws.String(`"0123"`) }), 412},
		{"if-none-match", in(func(i *s3.GetObjectInput) { i.IfNoneMatch = aws.String(etag) }), 304},
		{"if-none-match other", in(func(i *s3.GetObjectInput) { i.IfNoneMatch = aws.String(`"0123"`) }), 0},
		{"if-modified-since then", in(func(i *s3.GetObjectInput) { i.IfModifiedSince = aws.Time(mod) }), 304},
		{"if-modified-since earlier", in(func(i *s3.GetObjectInput) { i.IfModifiedSince = aws.Time(mod.Add(-time.Hour)) }), 0},
		{"if-unmodified-since earlier", in(func(i *s3.GetObjectInput) { i.IfUnmodifiedSince = aws.Time(mod.Add(-time.Hour)) }), 412},
		{"if-unmodified-since later", in(func(i *s3.GetObjectInput) { i.IfUnmodifiedSince = aws.Time(mod.Add(time.Hour)) }), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.GetObject(ctx, tt.in)
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if string(b) != "conditional" {
					t.Fatalf("body %q", b)
				}
				return
			}
			if httpStatus(err) != tt.status {
				t.Fatalf("error %v, want status %d", err, tt.status)
			}
			if tt.status == 412 {
				mustCode(t, err, "PreconditionFailed")
			}
		})
	}
	// HEAD answers the same conditions with the status alone.
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cond"), Key: aws.String("k"), IfMatch: aws.String(`"0123"`)})
	if httpStatus(err) != 412 {
		t.Fatalf("head if-match: %v", err)
	}
}

func (e *env) testRanges(t *testing.T) {
	ctx := testContext(t)
	c := e.admin
	mustBucket(t, c, "ranges")
	body := "0123456789abcdefghij"
	put(t, c, "ranges", "k", body)
	for _, tt := range []struct{ rng, want, contentRange string }{
		{"bytes=0-4", "01234", "bytes 0-4/20"},
		{"bytes=15-", "fghij", "bytes 15-19/20"},
		{"bytes=-3", "hij", "bytes 17-19/20"},
		{"bytes=10-100", "abcdefghij", "bytes 10-19/20"},
	} {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("k"), Range: aws.String(tt.rng)})
		if err != nil {
			t.Fatalf("%s: %v", tt.rng, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != tt.want || aws.ToString(out.ContentRange) != tt.contentRange || aws.ToInt64(out.ContentLength) != int64(len(tt.want)) {
			t.Fatalf("%s: %q, Content-Range %q, length %d", tt.rng, b, aws.ToString(out.ContentRange), aws.ToInt64(out.ContentLength))
		}
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("k"), Range: aws.String("bytes=20-30")})
	if mustCode(t, err, "InvalidRange"); httpStatus(err) != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("status %d", httpStatus(err))
	}
	// The raw response: 206 with Content-Range and Accept-Ranges.
	resp := e.do(t, "GET", "/ranges/k", nil, map[string]string{"Range": "bytes=1-2"})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || string(b) != "12" || resp.Header.Get("Content-Range") != "bytes 1-2/20" ||
		resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("Content-Length") != "2" {
		t.Fatalf("raw range: %d %q %v", resp.StatusCode, b, resp.Header)
	}
}

func (e *env) testList(t *testing.T) {
	ctx := testContext(t)
	c := e.admin
	mustBucket(t, c, "listing")
	keys := []string{"a/1", "a/2", "a/b/3", "b/4", "c", "d e", "z/5"}
	for _, k := range keys {
		put(t, c, "listing", k, k)
	}
	// All keys, two a page.
	var all []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("listing"), MaxKeys: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if aws.ToInt32(page.KeyCount) != int32(len(page.Contents)) || len(page.Contents) > 2 {
			t.Fatalf("page of %d, KeyCount %d", len(page.Contents), aws.ToInt32(page.KeyCount))
		}
		for _, o := range page.Contents {
			all = append(all, aws.ToString(o.Key))
			if aws.ToString(o.ETag) != `"`+md5Hex(aws.ToString(o.Key))+`"` || aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) || o.StorageClass != types.ObjectStorageClassStandard {
				t.Fatalf("object %+v", o)
			}
		}
	}
	if !slices.Equal(all, keys) || pages != 4 {
		t.Fatalf("listed %v in %d pages", all, pages)
	}
	// A delimiter groups keys.
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("listing"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes, top []string
	for _, cp := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(cp.Prefix))
	}
	for _, o := range out.Contents {
		top = append(top, aws.ToString(o.Key))
	}
	if !slices.Equal(prefixes, []string{"a/", "b/", "z/"}) || !slices.Equal(top, []string{"c", "d e"}) || aws.ToBool(out.IsTruncated) {
		t.Fatalf("prefixes %v, keys %v", prefixes, top)
	}
	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("listing"), Prefix: aws.String("a/"), Delimiter: aws.String("/"), StartAfter: aws.String("a/1")})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "a/2" || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "a/b/" {
		t.Fatalf("prefix a/ after a/1: %+v, %v", out, err)
	}
	// Version 1, with markers.
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("listing"), Marker: aws.String("b/4"), MaxKeys: aws.Int32(2)})
	if err != nil || len(v1.Contents) != 2 || aws.ToString(v1.Contents[0].Key) != "c" || !aws.ToBool(v1.IsTruncated) || aws.ToString(v1.NextMarker) != "d e" {
		t.Fatalf("v1: %+v, %v", v1, err)
	}
	// max-keys=0 answers an empty page.
	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("listing"), MaxKeys: aws.Int32(0)})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("max-keys 0: %+v, %v", out, err)
	}
	// encoding-type=url encodes keys.
	resp := e.do(t, "GET", "/listing?list-type=2&prefix=d&encoding-type=url", nil, nil)
	var res struct {
		EncodingType string
		Contents     []struct{ Key string }
	}
	decodeBody(t, resp, &res)
	if res.EncodingType != "url" || len(res.Contents) != 1 || res.Contents[0].Key != "d+e" {
		t.Fatalf("url-encoded listing: %+v", res)
	}
	// A bad continuation token and bad max-keys are refused.
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("listing"), ContinuationToken: aws.String("!!!")})
	mustCode(t, err, "InvalidArgument")
	resp = e.do(t, "GET", "/listing?list-type=2&max-keys=-1", nil, nil)
	mustErrorBody(t, resp, 400, "InvalidArgument")
	resp = e.do(t, "GET", "/listing?list-type=2&max-keys=ten", nil, nil)
	mustErrorBody(t, resp, 400, "InvalidArgument")
}

func (e *env) testCopy(t *testing.T) {
	ctx := testContext(t)
	c := e.admin
	mustBucket(t, c, "copy-src")
	mustBucket(t, c, "copy-dst")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("copy-src"), Key: aws.String("src key+ü"), Body: strings.NewReader("copy me"),
		ContentType: aws.String("text/x-src"), Metadata: map[string]string{"m": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	source := "copy-src/" + url.PathEscape("src key+ü")
	out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copy-dst"), Key: aws.String("same"), CopySource: aws.String(source)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.CopyObjectResult.ETag) != `"`+md5Hex("copy me")+`"` || out.CopyObjectResult.LastModified == nil {
		t.Fatalf("copy result %+v", out.CopyObjectResult)
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("copy-dst"), Key: aws.String("same")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-src" || h.Metadata["m"] != "1" {
		t.Fatalf("copied head %+v, %v", h, err)
	}
	// REPLACE takes the request's metadata; a versionId is ignored.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String("copy-dst"), Key: aws.String("replaced"), CopySource: aws.String(source + "?versionId=null"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-new"), Metadata: map[string]string{"n": "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("copy-dst"), Key: aws.String("replaced")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-new" || h.Metadata["n"] != "2" || h.Metadata["m"] != "" {
		t.Fatalf("replaced head %+v, %v", h, err)
	}
	if get(t, c, "copy-dst", "replaced") != "copy me" {
		t.Fatal("replaced content")
	}
	// Source conditions.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copy-dst"), Key: aws.String("c"), CopySource: aws.String(source), CopySourceIfMatch: aws.String(`"0000"`)})
	mustCode(t, err, "PreconditionFailed")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copy-dst"), Key: aws.String("c"), CopySource: aws.String(source), CopySourceIfNoneMatch: aws.String(`"` + md5Hex("copy me") + `"`)})
	mustCode(t, err, "PreconditionFailed")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copy-dst"), Key: aws.String("c"), CopySource: aws.String(source), CopySourceIfMatch: aws.String(`"` + md5Hex("copy me") + `"`)})
	if err != nil {
		t.Fatal(err)
	}
	// Copying onto itself needs REPLACE; a missing source is NoSuchKey.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copy-src"), Key: aws.String("src key+ü"), CopySource: aws.String(source)})
	mustCode(t, err, "InvalidRequest")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copy-dst"), Key: aws.String("c"), CopySource: aws.String("copy-src/missing")})
	mustCode(t, err, "NoSuchKey")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copy-src"), Key: aws.String("src key+ü"), CopySource: aws.String(source),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-self")})
	if err != nil {
		t.Fatal(err)
	}
	h, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("copy-src"), Key: aws.String("src key+ü")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-self" || get(t, c, "copy-src", "src key+ü") != "copy me" {
		t.Fatalf("copied onto itself: %+v, %v", h, err)
	}
}

func (e *env) testDeleteObjects(t *testing.T) {
	ctx := testContext(t)
	c := e.admin
	mustBucket(t, c, "bulk")
	for _, k := range []string{"a", "b", "c"} {
		put(t, c, "bulk", k, k)
	}
	long := strings.Repeat("k", 1025)
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bulk"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a")}, {Key: aws.String("missing")}, {Key: aws.String(long)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	if !slices.Equal(deleted, []string{"a", "missing"}) || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "KeyTooLongError" || aws.ToString(out.Errors[0].Key) != long {
		t.Fatalf("deleted %v, errors %+v", deleted, out.Errors)
	}
	out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bulk"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{
		{Key: aws.String("b")}, {Key: aws.String("c")},
	}}})
	if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Fatalf("quiet delete: %+v, %v", out, err)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bulk")})
	if err != nil || len(list.Contents) != 0 {
		t.Fatalf("left after delete: %+v, %v", list.Contents, err)
	}
}

func (e *env) testMultipart(t *testing.T) {
	ctx := testContext(t)
	c := e.admin
	mustBucket(t, c, "multipart")
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("multipart"), Key: aws.String("big/object"), ContentType: aws.String("application/x-big"),
		Metadata: map[string]string{"kind": "multipart"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := create.UploadId
	if aws.ToString(id) == "" || aws.ToString(create.Key) != "big/object" || aws.ToString(create.Bucket) != "multipart" {
		t.Fatalf("create: %+v", create)
	}
	part1 := strings.Repeat("1", blob.MinPartSize)
	part2 := "the last part"
	var parts []types.CompletedPart
	for i, p := range []string{part1, part2} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multipart"), Key: aws.String("big/object"), UploadId: id, PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader(p)})
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		if aws.ToString(out.ETag) != `"`+md5Hex(p)+`"` {
			t.Fatalf("part %d ETag %s", i+1, aws.ToString(out.ETag))
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("multipart"), Key: aws.String("big/object"), UploadId: id})
	if err != nil || len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[1].Size) != int64(len(part2)) || aws.ToInt32(lp.Parts[0].PartNumber) != 1 {
		t.Fatalf("list parts: %+v, %v", lp, err)
	}
	lp, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("multipart"), Key: aws.String("big/object"), UploadId: id, MaxParts: aws.Int32(1)})
	if err != nil || len(lp.Parts) != 1 || !aws.ToBool(lp.IsTruncated) || aws.ToString(lp.NextPartNumberMarker) != "1" {
		t.Fatalf("list parts page: %+v, %v", lp, err)
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multipart")})
	if err != nil || len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != aws.ToString(id) || aws.ToString(ups.Uploads[0].Key) != "big/object" {
		t.Fatalf("list uploads: %+v, %v", ups, err)
	}
	// A wrong ETag, parts out of order, a bad part number.
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multipart"), Key: aws.String("big/object"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{parts[0], {PartNumber: aws.Int32(2), ETag: aws.String(`"00000000000000000000000000000000"`)}}}})
	mustCode(t, err, "InvalidPart")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multipart"), Key: aws.String("big/object"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{parts[1], parts[0]}}})
	mustCode(t, err, "InvalidPartOrder")
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multipart"), Key: aws.String("big/object"), UploadId: id, PartNumber: aws.Int32(10001), Body: strings.NewReader("x")})
	mustCode(t, err, "InvalidArgument")

	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multipart"), Key: aws.String("big/object"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + multipartETag(md5Hex(part1), md5Hex(part2)) + `"`; aws.ToString(done.ETag) != want || aws.ToString(done.Key) != "big/object" || !strings.HasSuffix(aws.ToString(done.Location), "/multipart/big/object") {
		t.Fatalf("complete: ETag %s want %s, %+v", aws.ToString(done.ETag), want, done)
	}
	if got := get(t, c, "multipart", "big/object"); got != part1+part2 {
		t.Fatalf("completed object of %d bytes", len(got))
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("multipart"), Key: aws.String("big/object")})
	if err != nil || aws.ToString(h.ContentType) != "application/x-big" || h.Metadata["kind"] != "multipart" {
		t.Fatalf("head completed: %+v, %v", h, err)
	}
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("multipart"), Key: aws.String("big/object"), UploadId: id})
	mustCode(t, err, "NoSuchUpload")

	// A small part other than the last, an abort, and UploadPartCopy.
	c2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("multipart"), Key: aws.String("small")})
	if err != nil {
		t.Fatal(err)
	}
	var small []types.CompletedPart
	for i, p := range []string{"tiny", "tail"} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multipart"), Key: aws.String("small"), UploadId: c2.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		small = append(small, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multipart"), Key: aws.String("small"), UploadId: c2.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: small}})
	mustCode(t, err, "EntityTooSmall")
	cp, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("multipart"), Key: aws.String("small"), UploadId: c2.UploadId, PartNumber: aws.Int32(3),
		CopySource: aws.String("multipart/big/object"), CopySourceRange: aws.String("bytes=5242880-5242884")})
	if err != nil || aws.ToString(cp.CopyPartResult.ETag) != `"`+md5Hex("the l")+`"` {
		t.Fatalf("upload part copy: %+v, %v", cp, err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("multipart"), Key: aws.String("small"), UploadId: c2.UploadId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multipart"), Key: aws.String("small"), UploadId: c2.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	mustCode(t, err, "NoSuchUpload")
}

// multipartETag is S3's ETag of a multipart object: the MD5 of its parts'
// MD5s, then "-" and the number of parts.
func multipartETag(partMD5s ...string) string {
	h := md5.New()
	for _, p := range partMD5s {
		b, _ := hex.DecodeString(p)
		h.Write(b)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(partMD5s))
}

func (e *env) testAuth(t *testing.T) {
	ctx := testContext(t)
	mustBucket(t, e.admin, "auth")
	_, err := e.client(adminKey, "wrong secret").ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("auth")})
	if mustCode(t, err, "SignatureDoesNotMatch"); httpStatus(err) != 403 {
		t.Fatalf("status %d", httpStatus(err))
	}
	_, err = e.client("AKIDUNKNOWN", "x").ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("auth")})
	mustCode(t, err, "InvalidAccessKeyId")
	// A body signed with the wrong secret is refused before it is stored.
	_, err = e.client(adminKey, "wrong secret").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("auth"), Key: aws.String("k"), Body: strings.NewReader("x")})
	mustCode(t, err, "SignatureDoesNotMatch")
	// Unsigned requests are refused when keys are checked.
	resp, err := http.Get(e.srv.URL + "/auth")
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, resp, 403, "AccessDenied")
	// A signature from long ago.
	req, _ := http.NewRequest("GET", e.srv.URL+"/auth", nil)
	req.Header.Set("X-Amz-Content-Sha256", hashHex(nil))
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(ctx,
		aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret}, req, hashHex(nil), "s3", region, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, resp, 403, "RequestTimeTooSkewed")
	// A malformed Authorization header.
	req, _ = http.NewRequest("GET", e.srv.URL+"/auth", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+adminKey+"/x")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, resp, 400, "AuthorizationHeaderMalformed")
}

func (e *env) testAllow(t *testing.T) {
	ctx := testContext(t)
	for _, b := range []string{"shared", "scratch", "private"} {
		mustBucket(t, e.admin, b)
		put(t, e.admin, b, "k", "in "+b)
	}
	c := e.client(limitedKey, limitedSecret)
	list, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	if !slices.Equal(names, []string{"scratch", "shared"}) {
		t.Fatalf("limited key lists %v", names)
	}
	if got := get(t, c, "shared", "k"); got != "in shared" {
		t.Fatalf("read shared: %q", got)
	}
	put(t, c, "scratch", "mine", "ok")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("k"), Body: strings.NewReader("x")})
	mustCode(t, err, "AccessDenied")
	var ae smithy.APIError
	if errors.As(err, &ae); !strings.Contains(ae.ErrorMessage(), `"shared"`) || !strings.Contains(ae.ErrorMessage(), "write") {
		t.Fatalf("denial message %q names neither bucket nor grant", ae.ErrorMessage())
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k")})
	mustCode(t, err, "AccessDenied")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("scratch"), Key: aws.String("stolen"), CopySource: aws.String("private/k")})
	mustCode(t, err, "AccessDenied")
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("shared"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("k")}}}})
	mustCode(t, err, "AccessDenied")
	_ = out
	if get(t, e.admin, "shared", "k") != "in shared" {
		t.Fatal("a denied request changed the bucket")
	}
}

func (e *env) testPresigned(t *testing.T) {
	ctx := testContext(t)
	mustBucket(t, e.admin, "presign")
	ps := s3.NewPresignClient(e.admin)
	preq, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("presign"), Key: aws.String("up loaded")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(preq.Method, preq.URL, strings.NewReader("presigned body"))
	for k, vs := range preq.SignedHeader {
		if !strings.EqualFold(k, "Host") {
			req.Header[k] = vs
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned put: %d %s (url %s)", resp.StatusCode, b, preq.URL)
	}
	gq, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("presign"), Key: aws.String("up loaded")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(gq.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned body" {
		t.Fatalf("presigned get: %d %q", resp.StatusCode, b)
	}
	// A changed URL no longer verifies; a wrong key cannot presign.
	resp, err = http.Get(strings.Replace(gq.URL, "up%20loaded", "other", 1))
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, resp, 403, "SignatureDoesNotMatch")
	bad, err := s3.NewPresignClient(e.client(adminKey, "nope")).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("presign"), Key: aws.String("up loaded")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(bad.URL)
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, resp, 403, "SignatureDoesNotMatch")
}

// testEvents: every change records who made it, from where, in which
// request and trace.
func (e *env) testEvents(t *testing.T) {
	mustBucket(t, e.admin, "evented")
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	resp := e.do(t, "PUT", "/evented/k", []byte("data"), map[string]string{"Traceparent": tp})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("put: %d", resp.StatusCode)
	}
	ev, ok := e.events.find(blob.EventPut, "evented", "k")
	if !ok {
		t.Fatal("no put event")
	}
	if ev.Principal != adminKey || ev.SourceIP != "127.0.0.1" || ev.RequestID != resp.Header.Get("X-Amz-Request-Id") || ev.TraceParent != tp || ev.Size != 4 || ev.ETag != md5Hex("data") {
		t.Fatalf("event %+v (request id %s)", ev, resp.Header.Get("X-Amz-Request-Id"))
	}
	put(t, e.client(limitedKey, limitedSecret), "scratch", "by-function", "x")
	if ev, ok := e.events.find(blob.EventPut, "scratch", "by-function"); !ok || ev.Principal != "function:worker" {
		t.Fatalf("function event %+v", ev)
	}
	resp = e.do(t, "DELETE", "/evented/k", nil, map[string]string{"Traceparent": tp})
	resp.Body.Close()
	if ev, ok := e.events.find(blob.EventDelete, "evented", "k"); !ok || ev.TraceParent != tp || ev.RequestID != resp.Header.Get("X-Amz-Request-Id") {
		t.Fatalf("delete event %+v", ev)
	}
}

// testPayloadHash: a body that does not match its signed hash is refused
// and leaves the key as it was.
func (e *env) testPayloadHash(t *testing.T) {
	mustBucket(t, e.admin, "hashed")
	put(t, e.admin, "hashed", "k", "original")
	req, _ := http.NewRequest("PUT", e.srv.URL+"/hashed/k", strings.NewReader("tampered"))
	claimed := hashHex([]byte("intended"))
	req.Header.Set("X-Amz-Content-Sha256", claimed)
	e.sign(t, req, claimed)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, resp, 400, "XAmzContentSHA256Mismatch")
	if got := get(t, e.admin, "hashed", "k"); got != "original" {
		t.Fatalf("object now %q", got)
	}
	// Likewise for a new key: nothing is left behind.
	req, _ = http.NewRequest("PUT", e.srv.URL+"/hashed/new", strings.NewReader("tampered"))
	req.Header.Set("X-Amz-Content-Sha256", claimed)
	e.sign(t, req, claimed)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, resp, 400, "XAmzContentSHA256Mismatch")
	_, err = e.admin.HeadObject(testContext(t), &s3.HeadObjectInput{Bucket: aws.String("hashed"), Key: aws.String("new")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("head after refused put: %v", err)
	}
	// A bad Content-MD5.
	resp = e.do(t, "PUT", "/hashed/md5", []byte("body"), map[string]string{"Content-Md5": "AAAAAAAAAAAAAAAAAAAAAA=="})
	mustErrorBody(t, resp, 400, "BadDigest")
	resp = e.do(t, "PUT", "/hashed/md5", []byte("body"), map[string]string{"Content-Md5": "not base64"})
	mustErrorBody(t, resp, 400, "InvalidDigest")
}

// testChecksums: a whole-body checksum header is verified.
func (e *env) testChecksums(t *testing.T) {
	mustBucket(t, e.admin, "sums")
	ctx := testContext(t)
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
		if _, err := e.admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String(string(alg)), Body: strings.NewReader("checked " + string(alg)), ChecksumAlgorithm: alg}); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
	}
	resp := e.do(t, "PUT", "/sums/bad", []byte("body"), map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="})
	mustErrorBody(t, resp, 400, "BadDigest")
	_, err := e.admin.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String("bad")})
	if httpStatus(err) != 404 {
		t.Fatalf("head after bad checksum: %v", err)
	}
}

func (e *env) testBadInput(t *testing.T) {
	mustBucket(t, e.admin, "bad")
	resp := e.do(t, "POST", "/bad?delete", []byte("<Delete><Object><Key>a</Key></Object>"), nil)
	mustErrorBody(t, resp, 400, "MalformedXML")
	resp = e.do(t, "POST", "/bad?delete", []byte("<Delete></Delete>"), nil)
	mustErrorBody(t, resp, 400, "MalformedXML")
	huge := append([]byte("<Delete>"), bytes.Repeat([]byte("<Object><Key>k</Key></Object>"), 200000)...)
	resp = e.do(t, "POST", "/bad?delete", huge, nil)
	mustErrorBody(t, resp, 400, "MaxMessageLengthExceeded")
	resp = e.do(t, "PUT", "/bad", []byte("<CreateBucketConfiguration>"), nil)
	mustErrorBody(t, resp, 400, "MalformedXML")
	resp = e.do(t, "PUT", "/bad/"+strings.Repeat("k", 1025), []byte("x"), nil)
	mustErrorBody(t, resp, 400, "KeyTooLongError")
	resp = e.do(t, "PUT", "/bad/k?partNumber=0&uploadId=x", []byte("x"), nil)
	mustErrorBody(t, resp, 400, "InvalidArgument")
	resp = e.do(t, "PUT", "/bad/k?partNumber=x&uploadId=x", []byte("x"), nil)
	mustErrorBody(t, resp, 400, "InvalidArgument")
	resp = e.do(t, "PUT", "/bad/k?partNumber=1&uploadId=nonesuch", []byte("x"), nil)
	mustErrorBody(t, resp, 404, "NoSuchUpload")
	resp = e.do(t, "POST", "/bad/k?uploadId=nonesuch", []byte("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"), nil)
	mustErrorBody(t, resp, 404, "NoSuchUpload")
	resp = e.do(t, "GET", "/bad?acl", nil, nil)
	mustErrorBody(t, resp, 501, "NotImplemented")
	resp = e.do(t, "PATCH", "/bad/k", nil, nil)
	mustErrorBody(t, resp, 405, "MethodNotAllowed")
	resp = e.do(t, "GET", "/bad?list-type=3", nil, nil)
	mustErrorBody(t, resp, 400, "InvalidArgument")

	// No Content-Length and no aws-chunked encoding.
	req, _ := http.NewRequest("PUT", e.srv.URL+"/bad/chunked", io.MultiReader(strings.NewReader("abc")))
	req.ContentLength = -1
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	e.sign(t, req, "UNSIGNED-PAYLOAD")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, r, 411, "MissingContentLength")

	// Every response carries request ids; errors name their resource.
	resp = e.do(t, "GET", "/bad/missing", nil, nil)
	if resp.Header.Get("X-Amz-Request-Id") == "" || resp.Header.Get("X-Amz-Id-2") == "" {
		t.Fatalf("headers %v", resp.Header)
	}
	var eb struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		Resource  string
		RequestID string `xml:"RequestId"`
	}
	rid := resp.Header.Get("X-Amz-Request-Id")
	decodeBody(t, resp, &eb)
	if eb.Code != "NoSuchKey" || eb.Resource != "/bad/missing" || eb.RequestID != rid || eb.Message == "" {
		t.Fatalf("error body %+v", eb)
	}
	resp = e.do(t, "HEAD", "/bad/missing", nil, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || len(b) != 0 {
		t.Fatalf("head missing: %d %q", resp.StatusCode, b)
	}
}

// do sends a request signed with the admin key.
func (e *env) do(t *testing.T, method, path string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	h := hashHex(body)
	req.Header.Set("X-Amz-Content-Sha256", h)
	e.sign(t, req, h)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (e *env) sign(t *testing.T, req *http.Request, payloadHash string) {
	t.Helper()
	s := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := s.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret}, req, payloadHash, "s3", region, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func decodeBody(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func mustErrorBody(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	var eb struct {
		Code    string
		Message string
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("error Content-Type %q", ct)
	}
	got := resp.StatusCode
	decodeBody(t, resp, &eb)
	if got != status || eb.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", got, eb.Code, eb.Message, status, code)
	}
}

// TestEmbeddedDefault: without Lookup, any key and unsigned requests are
// accepted, and the key is still recorded.
func TestEmbeddedDefault(t *testing.T) {
	e := newEnv(t, s3api.Config{MaxObjectSize: 64})
	ctx := testContext(t)
	c := e.client("anything", "whatever")
	mustBucket(t, c, "open")
	put(t, c, "open", "k", "v")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("open"), Key: aws.String("big"), Body: strings.NewReader(strings.Repeat("x", 65))})
	mustCode(t, err, "EntityTooLarge")
	if ev, ok := e.events.find(blob.EventPut, "open", "k"); !ok || ev.Principal != "anything" {
		t.Fatalf("event %+v", ev)
	}
	resp, err := http.Get(e.srv.URL + "/open/k")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "v" {
		t.Fatalf("unsigned get: %d %q", resp.StatusCode, b)
	}
	req, _ := http.NewRequest("PUT", e.srv.URL+"/open/anon", strings.NewReader("anon"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ev, ok := e.events.find(blob.EventPut, "open", "anon"); resp.StatusCode != 200 || !ok || ev.Principal != "anonymous" {
		t.Fatalf("unsigned put: %d, event %+v", resp.StatusCode, ev)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("open"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
}

// TestSignedChunkedUpload sends AWS's documented chunked upload example
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) and verifies every chunk signature;
// a changed chunk is refused and stores nothing.
func TestSignedChunkedUpload(t *testing.T) {
	st, _ := newStore(t)
	ctx := testContext(t)
	if err := st.CreateBucket(ctx, "examplebucket"); err != nil {
		t.Fatal(err)
	}
	h := s3api.New(s3api.Config{
		Store:  st,
		Region: region,
		Lookup: func(id string) (string, s3api.Identity, bool) {
			return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", s3api.Identity{AccessKeyID: id}, id == "AKIAIOSFODNN7EXAMPLE"
		},
		Now: func() time.Time { return time.Date(2013, 5, 24, 0, 1, 0, 0, time.UTC) },
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	sigs := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	body := func(fill byte) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, "10000;chunk-signature=%s\r\n%s\r\n", sigs[0], bytes.Repeat([]byte{fill}, 65536))
		fmt.Fprintf(&b, "400;chunk-signature=%s\r\n%s\r\n", sigs[1], bytes.Repeat([]byte{'a'}, 1024))
		fmt.Fprintf(&b, "0;chunk-signature=%s\r\n\r\n", sigs[2])
		return b.Bytes()
	}
	send := func(b []byte) *http.Response {
		req, _ := http.NewRequest("PUT", srv.URL+"/examplebucket/chunkObject.txt", bytes.NewReader(b))
		req.Host = "s3.amazonaws.com"
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("X-Amz-Date", "20130524T000000Z")
		req.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
		req.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
			"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
			"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send(body('b'))
	mustErrorBody(t, resp, 403, "SignatureDoesNotMatch")
	if _, err := st.Head(ctx, "examplebucket", "chunkObject.txt", blob.Conditions{}); !errors.Is(err, blob.ErrNoKey) {
		t.Fatalf("head after a forged chunk: %v", err)
	}
	resp = send(body('a'))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("example upload: %d %s", resp.StatusCode, b)
	}
	obj, err := st.Get(ctx, "examplebucket", "chunkObject.txt", blob.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj)
	obj.Close()
	if !bytes.Equal(got, bytes.Repeat([]byte{'a'}, 66560)) || obj.Info.ContentEncoding != "" {
		t.Fatalf("stored %d bytes, content encoding %q", len(got), obj.Info.ContentEncoding)
	}
}

// TestTLSTrailingChecksums: over TLS the SDK sends bodies aws-chunked with
// a trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
func TestTLSTrailingChecksums(t *testing.T) {
	st, _ := newStore(t)
	ctx := testContext(t)
	var (
		mu    sync.Mutex
		modes []string
	)
	h := s3api.New(s3api.Config{Store: st, Region: region, Lookup: lookup})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		modes = append(modes, r.Header.Get("X-Amz-Content-Sha256"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newClient(srv, adminKey, adminSecret)
	mustBucket(t, c, "tls")
	body := strings.Repeat("trailing checksum ", 10000)
	for _, alg := range []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha256} {
		key := "k" + string(alg)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tls"), Key: aws.String(key), Body: strings.NewReader(body), ChecksumAlgorithm: alg}); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if got := get(t, c, "tls", key); got != body {
			t.Fatalf("%s: read back %d bytes", alg, len(got))
		}
	}
	mu.Lock()
	streamed := slices.Contains(modes, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	mu.Unlock()
	if !streamed {
		t.Fatalf("the SDK sent no trailing-checksum body: %v", modes)
	}
	// A trailer that does not match is refused and nothing is stored.
	chunked := "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
	req, _ := http.NewRequest("PUT", srv.URL+"/tls/bad", strings.NewReader(chunked))
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", "5")
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	s := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := s.SignHTTP(ctx, aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret}, req, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "s3", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mustErrorBody(t, resp, 400, "BadDigest")
	if _, err := st.Head(ctx, "tls", "bad", blob.Conditions{}); !errors.Is(err, blob.ErrNoKey) {
		t.Fatalf("head after a bad trailer: %v", err)
	}
}

// TestManagerUpload streams ~100 MiB through the SDK's upload manager
// (multipart, parts in parallel) and reads it back.
func TestManagerUpload(t *testing.T) {
	size := int64(100 << 20)
	if testing.Short() || raceEnabled {
		size = 24 << 20
	}
	const partSize = 8 << 20
	e := newEnv(t, s3api.Config{Lookup: lookup})
	ctx := testContext(t)
	mustBucket(t, e.admin, "big")
	gen := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{'g', 'u', 'r', 'e', 'u', 'm'}), size) }

	// What the upload should produce: the content's hash and the ETag of
	// its parts.
	whole := sha256.New()
	var partMD5s []string
	src := gen()
	for {
		h := md5.New()
		n, err := io.CopyN(io.MultiWriter(whole, h), src, partSize)
		if n > 0 {
			partMD5s = append(partMD5s, hex.EncodeToString(h.Sum(nil)))
		}
		if err != nil {
			break
		}
	}

	up := manager.NewUploader(e.admin, func(u *manager.Uploader) {
		u.PartSize = partSize
		u.Concurrency = 3
	})
	out, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("big"), Key: aws.String("stream.bin"), Body: gen()})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + multipartETag(partMD5s...) + `"`; aws.ToString(out.ETag) != want {
		t.Fatalf("ETag %s, want %s", aws.ToString(out.ETag), want)
	}
	g, err := e.admin.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("stream.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Body.Close()
	got := sha256.New()
	n, err := io.Copy(got, g.Body)
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), whole.Sum(nil)) {
		t.Fatalf("read back %d of %d bytes (%v); hash matches: %v", n, size, err, bytes.Equal(got.Sum(nil), whole.Sum(nil)))
	}
}

// TestUncheckedKeys: a Lookup that answers keys without a secret accepts
// them unchecked, and unsigned requests when it answers the key id "".
func TestUncheckedKeys(t *testing.T) {
	e := newEnv(t, s3api.Config{Lookup: func(id string) (string, s3api.Identity, bool) {
		if id == adminKey {
			return adminSecret, s3api.Identity{AccessKeyID: id}, true
		}
		return "", s3api.Identity{AccessKeyID: id}, true
	}})
	mustBucket(t, e.admin, "unchecked")
	put(t, e.client("someone", "any secret"), "unchecked", "k", "v")
	if ev, ok := e.events.find(blob.EventPut, "unchecked", "k"); !ok || ev.Principal != "someone" {
		t.Fatalf("event %+v", ev)
	}
	// A key with a secret is still checked.
	_, err := e.client(adminKey, "wrong").ListBuckets(testContext(t), &s3.ListBucketsInput{})
	mustCode(t, err, "SignatureDoesNotMatch")
	resp, err := http.Get(e.srv.URL + "/unchecked/k")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "v" {
		t.Fatalf("unsigned get: %d %q", resp.StatusCode, b)
	}
}
