// Package project turns a loaded manifest into what a node deploys: it builds
// each function's artifact with the local toolchain and hashes it. Both
// `gureum up PROJECT` and `gureum deploy` use it, so a project deploys the same
// way into a local node and a remote one.
package project

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gureum/gureum/internal/build"
	"github.com/gureum/gureum/internal/manifest"
	"github.com/gureum/gureum/internal/registry"
)

// Artifact is one function's built artifact.
type Artifact struct {
	Function string
	Path     string // local file
	Hash     string // sha256 hex
	Size     int64
}

// Built is a project ready to deploy.
type Built struct {
	App       string
	Functions []registry.FunctionConfig // ArtifactHash and ArtifactSize filled in
	Artifacts []Artifact                // one per function, same order
}

// Options configures Build.
type Options struct {
	OutDir   string    // where built artifacts are written
	Env      []string  // environment for the Go toolchain
	Progress io.Writer // one line per function built; may be nil
}

// Build builds every function of p.
func Build(ctx context.Context, p *manifest.Project, opts Options) (*Built, error) {
	out := &Built{App: p.App}
	for _, fn := range p.Functions {
		cfg := fn.Config()
		cfg.App = p.App
		path, err := artifactOf(ctx, fn, opts)
		if err != nil {
			return nil, err
		}
		hash, err := build.HashFile(path)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", fn.Name, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", fn.Name, err)
		}
		size := st.Size()
		cfg.ArtifactHash, cfg.ArtifactSize = hash, size
		out.Functions = append(out.Functions, cfg)
		out.Artifacts = append(out.Artifacts, Artifact{Function: fn.Name, Path: path, Hash: hash, Size: size})
	}
	return out, nil
}

func artifactOf(ctx context.Context, fn *manifest.Function, opts Options) (string, error) {
	switch {
	case fn.Artifact != "":
		return fn.Artifact, nil
	case fn.Handler != "":
		return fn.Handler, nil
	case fn.Build != "":
		target, ext := build.TargetWasm, ".wasm"
		if fn.Runtime == "process" {
			target, ext = build.TargetNative, ""
		}
		dst := filepath.Join(opts.OutDir, fn.Name+ext)
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "building %s (%s) from %s\n", fn.Name, fn.Runtime, fn.Build)
		}
		if err := build.Go(ctx, build.Options{Dir: fn.Build, Output: dst, Target: target, Env: opts.Env}); err != nil {
			return "", fmt.Errorf("function %s: %w", fn.Name, err)
		}
		return dst, nil
	}
	return "", fmt.Errorf("function %s: no build, artifact or handler", fn.Name)
}
