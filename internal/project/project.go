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
	"slices"
	"strings"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/build"
	"github.com/gureum/gureum/internal/events/schedule"
	"github.com/gureum/gureum/internal/events/topic"
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
	Queues    []admin.QueueSpec         // in file order
	Topics    []admin.TopicSpec         // in file order
	Tables    []admin.TableSpec         // in file order
	Buckets   []admin.BucketSpec        // in file order
}

// Request is the deploy request of b.
func (b *Built) Request() admin.DeployRequest {
	return admin.DeployRequest{App: b.App, Functions: b.Functions, Queues: b.Queues, Topics: b.Topics, Tables: b.Tables, Buckets: b.Buckets}
}

// Checks are the manifest checks that need the node's own parsers: schedule
// expressions and topic filter policies.
func Checks() manifest.Checks {
	return manifest.Checks{
		Schedule: func(expr, tz string) error {
			_, err := schedule.Parse(expr, tz)
			return err
		},
		FilterPolicy: func(policy []byte, scope string) error {
			_, err := topic.ParseFilterPolicyScope(policy, scope)
			return err
		},
	}
}

// Load reads and validates a project's manifest with every check.
func Load(path string) (*manifest.Project, error) {
	return manifest.LoadWith(path, Checks())
}

// resources maps the manifest's queues, topics, tables and buckets to their
// deploy specs.
func resources(p *manifest.Project, out *Built) {
	for _, q := range p.Queues {
		out.Queues = append(out.Queues, admin.QueueSpec{Name: q.Name, QueueAttributes: admin.QueueAttributes{
			Visibility: registry.Duration(q.Visibility), Retention: registry.Duration(q.Retention),
			Delay: registry.Duration(q.Delay), MaxReceives: q.MaxReceives, DLQ: q.DLQ,
			MaxMessageBytes: q.MaxMessageBytes,
		}})
	}
	for _, t := range p.Topics {
		spec := admin.TopicSpec{Name: t.Name}
		for _, s := range t.Subscriptions {
			sub := admin.SubscriptionSpec{FilterPolicy: s.Filter, RawDelivery: s.Raw, DLQ: s.DLQ}
			switch {
			case s.Queue != "":
				sub.Protocol, sub.Endpoint = "queue", s.Queue
			case strings.HasPrefix(s.HTTP, "https:"):
				sub.Protocol, sub.Endpoint = "https", s.HTTP
			default:
				sub.Protocol, sub.Endpoint = "http", s.HTTP
			}
			spec.Subscriptions = append(spec.Subscriptions, sub)
		}
		out.Topics = append(out.Topics, spec)
	}
	for _, t := range p.Tables {
		out.Tables = append(out.Tables, admin.TableSpec{Name: t.Name})
	}
	for _, b := range p.Buckets {
		spec := admin.BucketSpec{Name: b.Name}
		for _, n := range b.Notifications {
			spec.Notifications = append(spec.Notifications, admin.BucketNotificationSpec{
				Queue: n.Queue, Topic: n.Topic, On: slices.Clone(n.On), Prefix: n.Prefix, Suffix: n.Suffix,
			})
		}
		out.Buckets = append(out.Buckets, spec)
	}
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
	resources(p, out)
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
