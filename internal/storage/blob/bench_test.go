package blob

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/gureum/gureum/internal/bus"
)

// BenchmarkObjects measures puts, whole reads and range reads of a 64 MiB
// object on an embedded JetStream.
func BenchmarkObjects(b *testing.B) {
	ctx := context.Background()
	bs, err := bus.Start(ctx, bus.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = bs.Shutdown(ctx) }()
	s, err := Open(ctx, bs.JetStream(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.CreateBucket(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	data := pattern(64<<20, 1)
	put := func(b *testing.B) {
		if _, err := s.Put(ctx, "bench", "k", bytes.NewReader(data), int64(len(data)), PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	get := func(b *testing.B, r *Range) int64 {
		obj, err := s.Get(ctx, "bench", "k", GetOptions{Range: r})
		if err != nil {
			b.Fatal(err)
		}
		defer obj.Close()
		n, err := io.Copy(io.Discard, obj)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	b.Run("put", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			put(b)
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			get(b, nil)
		}
	})
	b.Run("range-1KiB-at-60MiB", func(b *testing.B) {
		r := &Range{Start: 60 << 20, End: 60<<20 + 1023}
		for b.Loop() {
			if n := get(b, r); n != 1024 {
				b.Fatalf("read %d bytes", n)
			}
		}
	})
}
