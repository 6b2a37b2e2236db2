// Command thumbnail makes thumbnails of the images uploaded to the bucket
// uploads: for each PNG or JPEG created under uploads/, it writes PNGs
// 256, 128 and 64 pixels wide, keeping the aspect ratio, to the bucket
// thumbs under thumbs/WIDTH/NAME.png. Its manifest grants it uploads:r and
// thumbs:w, nothing else.
//
// It is an ordinary S3 notification handler; on AWS, lambda.Start would
// replace gureum.Start and an S3 client would replace gureum.Bucket. The
// bucket events arrive asynchronously: an upload that cannot be read as an
// image fails the invocation, which is retried and then dead-lettered.
package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net/url"
	"path"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/image/draw"

	gureum "github.com/gureum/gureum/sdk/go"
)

// Where images come from and where thumbnails go.
const (
	source       = "uploads"
	sourcePrefix = "uploads/"
	target       = "thumbs"
	targetPrefix = "thumbs/"
)

// widths are the thumbnails' widths, largest first: each is scaled from
// the one before, which is much faster than scaling the original each time
// and looks the same; heights follow the original's aspect ratio.
var widths = []int{256, 128, 64}

// maxPixels bounds the images decoded, so that a small file claiming a
// huge size cannot exhaust the instance's memory (256 MiB).
const maxPixels = 40_000_000

func handler(ctx context.Context, ev events.S3Event) error {
	for _, r := range ev.Records {
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			fmt.Printf("skipping %s of %s\n", r.EventName, r.S3.Object.Key)
			continue
		}
		if r.S3.Bucket.Name != source {
			return fmt.Errorf("event of bucket %q: this function makes thumbnails of bucket %s only", r.S3.Bucket.Name, source)
		}
		// S3 events carry keys URL-encoded, spaces as +.
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return fmt.Errorf("object key %q: %w", r.S3.Object.Key, err)
		}
		if err := thumbnails(ctx, key); err != nil {
			// The error fails the invocation, which is what makes the
			// event retried and then dead-lettered; the line says why in
			// the function's log.
			fmt.Printf("cannot make the thumbnails of %s/%s: %v\n", source, key, err)
			return err
		}
	}
	return nil
}

// thumbnails makes the thumbnails of the object key of the source bucket.
func thumbnails(ctx context.Context, key string) error {
	obj, err := gureum.Bucket(source).Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read %s/%s: %w", source, key, err)
	}
	img, format, err := decode(obj.Body, maxPixels)
	if err != nil {
		return fmt.Errorf("%s/%s is not an image this function reads: %w", source, key, err)
	}
	name := thumbName(key)
	thumbs := gureum.Bucket(target)
	src := img
	b := img.Bounds()
	for _, w := range widths {
		t := resize(src, thumbSize(b.Size(), w))
		var buf bytes.Buffer
		if err := png.Encode(&buf, t); err != nil {
			return fmt.Errorf("encode the %d-pixel thumbnail of %s: %w", w, key, err)
		}
		out := fmt.Sprintf("%s%d/%s.png", targetPrefix, w, name)
		if _, err := thumbs.Put(ctx, out, buf.Bytes(),
			gureum.WithContentType("image/png"),
			gureum.WithMetadata("source", "s3://"+source+"/"+key)); err != nil {
			return fmt.Errorf("write %s/%s: %w", target, out, err)
		}
		fmt.Printf("wrote %s/%s (%dx%d) from %s/%s (%s %dx%d)\n",
			target, out, t.Bounds().Dx(), t.Bounds().Dy(), source, key, format, b.Dx(), b.Dy())
		src = t
	}
	return nil
}

// decode reads a PNG or a JPEG of at most limit pixels.
func decode(data []byte, limit int64) (image.Image, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, "", err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > limit {
		return nil, "", fmt.Errorf("%s of %dx%d pixels: at most %d pixels are read", format, cfg.Width, cfg.Height, limit)
	}
	var img image.Image
	switch format {
	case "png":
		img, err = png.Decode(bytes.NewReader(data))
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	default:
		err = fmt.Errorf("format %s; only png and jpeg are read", format)
	}
	return img, format, err
}

// thumbSize is the size of the thumbnail of an image of size orig that is
// width pixels wide: the height keeps the aspect ratio (rounded, at least
// one pixel). An image narrower than width keeps its size: a thumbnail is
// never larger than its original.
func thumbSize(orig image.Point, width int) image.Point {
	if orig.X <= width {
		return orig
	}
	h := (int64(orig.Y)*int64(width) + int64(orig.X)/2) / int64(orig.X)
	return image.Pt(width, max(1, int(h)))
}

// resize scales img to size; an image of that size already is returned as
// it is.
func resize(img image.Image, size image.Point) image.Image {
	b := img.Bounds()
	if b.Size() == size {
		return img
	}
	dst := image.NewRGBA(image.Rectangle{Max: size})
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// thumbName is the name of key's thumbnails: the key under uploads/
// without its extension, so uploads/2025/cat.jpg gives 2025/cat.
func thumbName(key string) string {
	name := strings.TrimPrefix(key, sourcePrefix)
	return strings.TrimSuffix(name, path.Ext(name))
}

func main() {
	gureum.Start(handler)
}
