package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"
)

// fetch is a download of one artifact into the cache; callers asking for the
// same artifact meanwhile wait for it instead of downloading it again.
type fetch struct {
	done chan struct{}
	err  error
}

// PutArtifact stores the bytes of r as an artifact and returns their sha256
// (hex) and size. The bytes go to a temporary file while they are hashed, so
// artifacts of any size never sit whole in memory; they are uploaded to the
// object store unless an artifact with that hash is already there, and kept
// in the local cache.
func (r *Registry) PutArtifact(ctx context.Context, rd io.Reader) (hash string, size int64, err error) {
	tmp, err := os.CreateTemp(r.cacheDir, ".incoming-*")
	if err != nil {
		return "", 0, fmt.Errorf("put artifact: %w", err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name()) // fails harmlessly once renamed
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, rd})
	if err != nil {
		return "", 0, fmt.Errorf("put artifact: %w", err)
	}
	hash = hex.EncodeToString(h.Sum(nil))

	info, err := r.artifactInfo(ctx, hash)
	switch {
	case errors.Is(err, ErrNotFound):
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return "", 0, fmt.Errorf("put artifact %s: %w", hash, err)
		}
		info, err = r.obs.Put(ctx, jetstream.ObjectMeta{Name: hash}, ctxReader{ctx, tmp})
		if err != nil {
			return "", 0, fmt.Errorf("put artifact %s: upload: %w", hash, err)
		}
		if int64(info.Size) != size {
			return "", 0, fmt.Errorf("put artifact %s: stored %d bytes of %d", hash, info.Size, size)
		}
	case err != nil:
		return "", 0, fmt.Errorf("put artifact: %w", err)
	case int64(info.Size) != size:
		return "", 0, fmt.Errorf("put artifact %s: stored copy has %d bytes, not %d: %w", hash, info.Size, size, ErrCorrupt)
	}
	if err := r.install(tmp, hash); err != nil {
		return "", 0, fmt.Errorf("put artifact %s: %w", hash, err)
	}
	return hash, size, nil
}

// HasArtifact reports whether the object store holds an artifact.
func (r *Registry) HasArtifact(ctx context.Context, hash string) (bool, error) {
	_, err := r.artifactInfo(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// ArtifactPath returns the path of an artifact's file in the local cache
// (executable, not to be modified). When the cache lacks it — another node
// deployed it, or the cache was cleared — it is downloaded from the object
// store and its hash checked first.
func (r *Registry) ArtifactPath(ctx context.Context, hash string) (string, error) {
	if err := validateHash(hash); err != nil {
		return "", fmt.Errorf("artifact %q: %w", hash, err)
	}
	path := r.cachePath(hash)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}

	r.mu.Lock()
	f, ok := r.fetching[hash]
	if !ok {
		f = &fetch{done: make(chan struct{})}
		r.fetching[hash] = f
	}
	r.mu.Unlock()
	if ok {
		select {
		case <-f.done:
			if f.err != nil {
				return "", f.err
			}
			return path, nil
		case <-ctx.Done():
			return "", fmt.Errorf("artifact %s: %w", hash, ctx.Err())
		}
	}

	f.err = r.download(ctx, hash)
	r.mu.Lock()
	delete(r.fetching, hash)
	r.mu.Unlock()
	close(f.done)
	if f.err != nil {
		return "", f.err
	}
	return path, nil
}

// download copies an artifact from the object store into the cache.
func (r *Registry) download(ctx context.Context, hash string) error {
	res, err := r.obs.Get(ctx, hash)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("artifact %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("artifact %s: %w", hash, err)
	}
	defer func() { _ = res.Close() }()
	tmp, err := os.CreateTemp(r.cacheDir, ".incoming-*")
	if err != nil {
		return fmt.Errorf("artifact %s: %w", hash, err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), res); err != nil {
		return fmt.Errorf("artifact %s: download: %w", hash, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return fmt.Errorf("artifact %s: downloaded content hashes to %s: %w", hash, got, ErrCorrupt)
	}
	if err := r.install(tmp, hash); err != nil {
		return fmt.Errorf("artifact %s: %w", hash, err)
	}
	return nil
}

// install makes a verified temporary file the cached copy of an artifact.
// The rename is atomic, so readers see either no file or the whole file.
func (r *Registry) install(tmp *os.File, hash string) error {
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), r.cachePath(hash))
}

// artifactInfo returns the object store's record of an artifact, or an
// error matching ErrNotFound.
func (r *Registry) artifactInfo(ctx context.Context, hash string) (*jetstream.ObjectInfo, error) {
	if err := validateHash(hash); err != nil {
		return nil, fmt.Errorf("artifact %q: %w", hash, err)
	}
	info, err := r.obs.GetInfo(ctx, hash)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("artifact %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", hash, err)
	}
	return info, nil
}

func (r *Registry) cachePath(hash string) string { return filepath.Join(r.cacheDir, hash) }

// validateHash accepts a sha256 in lower-case hex, which also makes it safe
// as a file name.
func validateHash(hash string) error {
	if len(hash) != 2*sha256.Size {
		return fmt.Errorf("want a sha256 in hex: %w", ErrInvalid)
	}
	for _, c := range []byte(hash) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("want a sha256 in lower-case hex: %w", ErrInvalid)
		}
	}
	return nil
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
