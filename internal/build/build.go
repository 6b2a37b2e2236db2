// Package build turns a function's Go package into an artifact with the local
// Go toolchain: a WebAssembly reactor for the wasm runtime or a native
// executable for the process runtime.
package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Target is what a package is built into.
type Target int

const (
	// TargetWasm is a WASI preview-1 reactor (GOOS=wasip1 GOARCH=wasm,
	// -buildmode=c-shared) for the wasm runtime.
	TargetWasm Target = iota + 1
	// TargetNative is a static executable for this machine (CGO_ENABLED=0)
	// for the process runtime.
	TargetNative
)

func (t Target) String() string {
	switch t {
	case TargetWasm:
		return "wasm"
	case TargetNative:
		return "native"
	}
	return fmt.Sprintf("Target(%d)", int(t))
}

// ErrBuild is returned, wrapped with the compiler's output, when the Go
// toolchain fails to build the package.
var ErrBuild = errors.New("go build failed")

// Options describe one build.
type Options struct {
	// Dir is the package directory. The go command runs there, so the
	// package's own module (or the module that contains it) is used.
	Dir string
	// Output is the file to write; a relative path is relative to the
	// current directory, not to Dir.
	Output string
	Target Target
	// Env is the go command's environment, typically os.Environ(). The
	// target's GOOS, GOARCH and CGO_ENABLED are set on top of it.
	Env []string
	// Go is the go command; empty means "go" looked up in Env's PATH.
	Go string
}

// Go builds the package in opts.Dir into opts.Output. When the toolchain
// fails, the error wraps ErrBuild and holds its output.
func Go(ctx context.Context, opts Options) error {
	if opts.Dir == "" || opts.Output == "" {
		return errors.New("build: package directory and output are required")
	}
	out, err := filepath.Abs(opts.Output)
	if err != nil {
		return fmt.Errorf("build %s: output path: %w", opts.Dir, err)
	}
	goBin := opts.Go
	if goBin == "" {
		if goBin, err = lookPath("go", opts.Env); err != nil {
			return fmt.Errorf("build %s: %w", opts.Dir, err)
		}
	}

	args := []string{"build", "-trimpath", "-o", out}
	env := append([]string(nil), opts.Env...)
	switch opts.Target {
	case TargetWasm:
		args = append(args, "-buildmode=c-shared")
		env = append(env, "GOOS=wasip1", "GOARCH=wasm")
	case TargetNative:
		env = append(env, "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	default:
		return fmt.Errorf("build %s: unknown target %v", opts.Dir, opts.Target)
	}
	args = append(args, ".")

	var output bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = opts.Dir
	cmd.Env = env
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("build %s for %s: %w", opts.Dir, opts.Target, ctx.Err())
		}
		msg := strings.TrimSpace(output.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%w: %s for %s:\n%s", ErrBuild, opts.Dir, opts.Target, msg)
	}
	return nil
}

// lookPath finds file in the PATH of env, as exec.LookPath does in the
// process's own environment.
func lookPath(file string, env []string) (string, error) {
	var path string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v // the last one wins, as in exec
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		name := filepath.Join(dir, file)
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		if fi, err := os.Stat(name); err == nil && !fi.IsDir() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0) {
			return name, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH; install the Go toolchain", file)
}

// HashFile returns the hex SHA-256 of the file at path, the form of
// engine.Spec.ArtifactHash.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
