package examples

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/testutil"
)

// TestThumbnails runs the thumbnail pipeline end to end: images uploaded
// with an S3 client trigger the function, which writes their thumbnails to
// another bucket; other uploads are filtered out, and a corrupt image is
// retried and dead-lettered while the node carries on.
func TestThumbnails(t *testing.T) {
	n := testutil.StartServer(t, func(c *config.Config) {
		c.AsyncRetryBase = 100 * time.Millisecond
	})
	n.Deploy("thumbnails")
	ctx := context.Background()

	// Least privilege: the function reads uploads and writes thumbs, and
	// gureum lint agrees that this is all its code does.
	vs, err := n.Client.Versions(ctx, "thumbnail")
	if err != nil || len(vs) == 0 {
		t.Fatalf("versions of thumbnail: %v, %v", vs, err)
	}
	if got, want := vs[len(vs)-1].Config.Permissions, (&registry.Permissions{Buckets: []string{"uploads:r", "thumbs:w"}}); !permissionsEqual(got, want) {
		t.Fatalf("thumbnail is deployed with %+v, want %+v", got, want)
	}
	if r := n.CLI("lint", "thumbnails"); r.Code != 0 || strings.Contains(r.Stdout, "gureum.yaml:") || !strings.Contains(r.Stderr, "no grant broader than their code needs") {
		t.Errorf("gureum lint thumbnails: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + n.Server.S3Addr()),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("any", "any", ""),
	})
	upload := func(bucket, key, contentType string, body []byte) {
		t.Helper()
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String(contentType),
		})
		if err != nil {
			t.Fatalf("put %s/%s: %v", bucket, key, err)
		}
	}
	// thumbKeys lists the bucket thumbs.
	thumbKeys := func() ([]string, error) {
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("thumbs")})
		if err != nil {
			return nil, err
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		slices.Sort(keys)
		return keys, nil
	}
	var last string // what the last poll saw, shown if a wait times out
	waitKeys := func(what string, want []string) {
		t.Helper()
		slices.Sort(want)
		testutil.Eventually(t, 90*time.Second, what, func() bool {
			keys, err := thumbKeys()
			last = fmt.Sprintf("thumbs holds %q (%v)", keys, err)
			return err == nil && slices.Equal(keys, want)
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			r := n.CLI("logs", "thumbnail")
			t.Logf("last seen: %s\nthumbnail's log:\n%s%s", last, r.Stdout, r.Stderr)
		}
	})

	// A PNG and a JPEG (whose key S3 events carry URL-encoded), and
	// uploads that must make no thumbnail: a text file under uploads/, a
	// PNG outside it, and a PNG in another bucket.
	upload("uploads", "uploads/cat.png", "image/png", encodeImage(t, testGradient(800, 600), "png"))
	upload("uploads", "uploads/2025/my dog+1.jpg", "image/jpeg", encodeImage(t, testGradient(640, 480), "jpeg"))
	upload("uploads", "uploads/readme.txt", "text/plain", []byte("not an image\n"))
	upload("uploads", "elsewhere/bird.png", "image/png", encodeImage(t, testGradient(300, 200), "png"))
	upload("thumbs", "incoming/fish.png", "image/png", encodeImage(t, testGradient(300, 200), "png"))
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("thumbs"), Key: aws.String("incoming/fish.png")}); err != nil {
		t.Fatalf("delete thumbs/incoming/fish.png: %v", err)
	}

	want := []string{
		"thumbs/256/cat.png", "thumbs/128/cat.png", "thumbs/64/cat.png",
		"thumbs/256/2025/my dog+1.png", "thumbs/128/2025/my dog+1.png", "thumbs/64/2025/my dog+1.png",
	}
	// The first event compiles the module, which takes a while on a busy
	// machine.
	waitKeys("the thumbnails of cat.png and my dog+1.jpg", want)
	checkThumbs := func(source string, sizes map[int]image.Point) {
		t.Helper()
		name := strings.TrimSuffix(strings.TrimPrefix(source, "uploads/"), source[strings.LastIndexByte(source, '.'):])
		for w, size := range sizes {
			key := fmt.Sprintf("thumbs/%d/%s.png", w, name)
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("thumbs"), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			data, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatalf("read %s: %v", key, err)
			}
			if ct := aws.ToString(out.ContentType); ct != "image/png" {
				t.Errorf("%s: Content-Type %q, want image/png", key, ct)
			}
			if src := out.Metadata["source"]; src != "s3://uploads/uploads/"+source {
				t.Errorf("%s: metadata source %q, want s3://uploads/uploads/%s", key, src, source)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s is not a PNG: %v", key, err)
			}
			if got := img.Bounds().Size(); got != size {
				t.Errorf("%s is %v, want %v", key, got, size)
			}
			// The thumbnail is of the gradient: red grows left to right.
			y := img.Bounds().Dy() / 2
			l, _, _, _ := img.At(img.Bounds().Min.X+1, y).RGBA()
			r, _, _, _ := img.At(img.Bounds().Max.X-2, y).RGBA()
			if l+0x2000 > r {
				t.Errorf("%s does not look like the gradient uploaded: red %#x at the left, %#x at the right", key, l, r)
			}
		}
	}
	fourThirds := map[int]image.Point{256: {256, 192}, 128: {128, 96}, 64: {64, 48}}
	checkThumbs("cat.png", fourThirds)
	checkThumbs("2025/my dog+1.jpg", fourThirds)

	// A corrupt PNG fails the function: tried twice (retries: 1), then
	// kept in thumbnails-failed with the event.
	upload("uploads", "uploads/broken.png", "image/png", []byte("\x89PNG\r\n\x1a\nthis is not really a png"))
	var dead []admin.Message
	testutil.Eventually(t, 90*time.Second, "broken.png dead-lettered in thumbnails-failed", func() bool {
		var err error
		dead, err = n.Server.PeekMessages(ctx, "thumbnails-failed", 10)
		last = fmt.Sprintf("thumbnails-failed holds %d messages (%v)", len(dead), err)
		return err == nil && len(dead) > 0
	})
	if len(dead) != 1 || !strings.Contains(dead[0].Body, "broken.png") || dead[0].DeadLetter == nil ||
		dead[0].DeadLetter.Count != 2 || dead[0].DeadLetter.Source != "function:thumbnail" || !strings.Contains(dead[0].DeadLetter.Reason, "not an image") {
		t.Fatalf("thumbnails-failed holds %+v (dead letter %+v), want the event of broken.png after 2 attempts, with the function's error", dead, dead[0].DeadLetter)
	}
	if r := n.CLI("dlq", "ls"); r.Code != 0 || !strings.Contains(r.Stdout, "thumbnails-failed") {
		t.Fatalf("dlq ls: %+v", r)
	}
	testutil.Eventually(t, 10*time.Second, "thumbnail's log to say why broken.png failed", func() bool {
		r := n.CLI("logs", "thumbnail")
		return strings.Count(r.Stdout, "cannot make the thumbnails of uploads/uploads/broken.png") == 2
	})

	// The node carries on: a small image uploaded next gets thumbnails,
	// none wider than itself.
	upload("uploads", "uploads/small.png", "image/png", encodeImage(t, testGradient(100, 50), "png"))
	want = append(want, "thumbs/256/small.png", "thumbs/128/small.png", "thumbs/64/small.png")
	waitKeys("the thumbnails of small.png", want)
	checkThumbs("small.png", map[int]image.Point{256: {100, 50}, 128: {100, 50}, 64: {64, 32}})
	if resp, _ := n.Get("/healthz"); resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: %d", resp.StatusCode)
	}
	// Nothing else arrives late: the filtered uploads made no thumbnail.
	if keys, err := thumbKeys(); err != nil || !slices.Equal(keys, want) {
		t.Fatalf("thumbs holds %q (%v), want only %q", keys, err, want)
	}
}

// testGradient is a w×h image whose red grows left to right and green top
// to bottom.
func testGradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(255 * x / w), G: uint8(255 * y / h), B: 96, A: 255})
		}
	}
	return img
}

func encodeImage(t *testing.T, img image.Image, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
