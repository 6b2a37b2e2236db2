package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// gradient is a w×h image whose colour changes across and down.
func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{R: uint8(255 * x / w), G: uint8(255 * y / h), B: 128, A: 255})
		}
	}
	return img
}

func encode(t testing.TB, img image.Image, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestThumbSize(t *testing.T) {
	for _, c := range []struct {
		orig  image.Point
		width int
		want  image.Point
	}{
		{image.Pt(800, 600), 256, image.Pt(256, 192)},
		{image.Pt(800, 600), 64, image.Pt(64, 48)},
		{image.Pt(1000, 333), 128, image.Pt(128, 43)}, // 42.6 rounds up
		{image.Pt(5000, 10), 64, image.Pt(64, 1)},     // at least a pixel
		{image.Pt(100, 4000), 128, image.Pt(100, 4000)},
		{image.Pt(256, 10), 256, image.Pt(256, 10)},
	} {
		if got := thumbSize(c.orig, c.width); got != c.want {
			t.Errorf("thumbSize(%v, %d) = %v, want %v", c.orig, c.width, got, c.want)
		}
	}
}

func TestResizeChain(t *testing.T) {
	for _, format := range []string{"png", "jpeg"} {
		img, got, err := decode(encode(t, gradient(1024, 768), format), maxPixels)
		if err != nil || got != format {
			t.Fatalf("decode %s: %q, %v", format, got, err)
		}
		src, orig := img, img.Bounds().Size()
		for _, w := range widths {
			th := resize(src, thumbSize(orig, w))
			if s := th.Bounds().Size(); s != image.Pt(w, w*3/4) {
				t.Fatalf("%s: thumbnail %d wide is %v", format, w, s)
			}
			// A gradient stays a gradient: red grows left to right.
			y := th.Bounds().Dy() / 2
			l, _, _, _ := th.At(1, y).RGBA()
			r, _, _, _ := th.At(th.Bounds().Dx()-2, y).RGBA()
			if l >= r {
				t.Fatalf("%s: thumbnail %d wide lost the gradient: red %d at the left, %d at the right", format, w, l, r)
			}
			src = th
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, data := range map[string][]byte{
		"text":         []byte("hello, this is not an image\n"),
		"empty":        nil,
		"truncated":    encode(t, gradient(64, 64), "png")[:100],
		"too many px":  encode(t, gradient(300, 200), "png"),
		"gif-like hdr": []byte("GIF89a\x01\x00\x01\x00"),
	} {
		if _, _, err := decode(data, 50_000); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestThumbName(t *testing.T) {
	for key, want := range map[string]string{
		"uploads/cat.png":          "cat",
		"uploads/2025/my cat.jpg":  "2025/my cat",
		"uploads/archive.tar.jpeg": "archive.tar",
		"elsewhere/dog.png":        "elsewhere/dog",
	} {
		if got := thumbName(key); got != want {
			t.Errorf("thumbName(%q) = %q, want %q", key, got, want)
		}
	}
}

// FuzzDecode checks that any upload either decodes, within the pixel
// limit, into an image whose thumbnails have the expected sizes, or is
// refused with an error; never a panic.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, gradient(40, 30), "png"))
	f.Add(encode(f, gradient(3, 70), "jpeg"))
	f.Add(encode(f, image.NewGray(image.Rect(0, 0, 1, 1)), "png"))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		img, format, err := decode(data, limit)
		if err != nil {
			return
		}
		if format != "png" && format != "jpeg" {
			t.Fatalf("decoded format %q", format)
		}
		size := img.Bounds().Size()
		if size.X <= 0 || size.Y <= 0 || size.X*size.Y > limit {
			t.Fatalf("decoded an image of %v", size)
		}
		for _, w := range []int{16, 4} {
			want := thumbSize(size, w)
			if want.X > w || want.X < 1 || want.Y < 1 {
				t.Fatalf("thumbSize(%v, %d) = %v", size, w, want)
			}
			if got := resize(img, want).Bounds().Size(); got != want {
				t.Fatalf("resize to %v gave %v", want, got)
			}
		}
	})
}
