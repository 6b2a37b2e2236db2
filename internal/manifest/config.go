package manifest

import (
	"maps"
	"path/filepath"
	"slices"

	"github.com/gureum/gureum/internal/registry"
)

// Config returns the function's deployable configuration, all but the
// artifact's hash and size, which exist once it is built. Handler is the
// handler's path relative to the project, slash-separated, so that a
// project deploys the same configuration from any checkout. Routes carry
// their auth mode explicitly ("none"); queue, topic, schedule and bucket
// events, async settings and grants carry their defaults explicitly too.
func (f *Function) Config() registry.FunctionConfig {
	cfg := registry.FunctionConfig{
		Name:        f.Name,
		Runtime:     f.Runtime,
		MemoryMiB:   f.Memory,
		Timeout:     registry.Duration(f.Timeout),
		Concurrency: f.Concurrency,
		Provisioned: f.Provisioned,
		Snapshot:    f.Snapshot,
	}
	if f.Snapshot && len(f.SnapshotWarmup) > 0 {
		cfg.SnapshotWarmup = slices.Clone(f.SnapshotWarmup)
	}
	if f.Handler != "" {
		cfg.Handler = f.handlerName
		if cfg.Handler == "" {
			cfg.Handler = filepath.ToSlash(filepath.Base(f.Handler))
		}
	}
	if len(f.Env) > 0 {
		cfg.Env = maps.Clone(f.Env)
	}
	for _, ev := range f.Events {
		switch {
		case ev.HTTP != nil:
			h := ev.HTTP
			cfg.Routes = append(cfg.Routes, registry.Route{Method: h.Method, Path: h.Path, Auth: h.Auth})
		case ev.Queue != nil:
			q := ev.Queue
			cfg.Events = append(cfg.Events, registry.EventSource{Queue: &registry.QueueTrigger{
				Name: q.Name, Batch: q.Batch, Window: registry.Duration(q.Window), Concurrency: q.Concurrency,
			}})
		case ev.Topic != nil:
			t := ev.Topic
			cfg.Events = append(cfg.Events, registry.EventSource{Topic: &registry.TopicTrigger{
				Name: t.Name, Filter: slices.Clone(t.Filter), FilterScope: t.FilterScope,
			}})
		case ev.Schedule != nil:
			sc := ev.Schedule
			cfg.Events = append(cfg.Events, registry.EventSource{Schedule: &registry.ScheduleTrigger{
				Expression: sc.Expression, Timezone: sc.Timezone, Input: slices.Clone(sc.Input),
			}})
		case ev.Bucket != nil:
			b := ev.Bucket
			cfg.Events = append(cfg.Events, registry.EventSource{Bucket: &registry.BucketTrigger{
				Name: b.Name, On: slices.Clone(b.On), Prefix: b.Prefix, Suffix: b.Suffix,
			}})
		}
	}
	if a := f.Async; a != nil {
		cfg.Async = &registry.AsyncConfig{
			Retries: a.Retries, MaxEventAge: registry.Duration(a.MaxEventAge),
			OnSuccess: a.OnSuccess, OnFailure: a.OnFailure, DLQ: a.DLQ,
		}
	}
	if p := f.Permissions; !p.Empty() {
		cfg.Permissions = &registry.Permissions{
			Publish: grantStrings(p.Publish), Send: grantStrings(p.Send),
			Tables: grantStrings(p.Tables), Buckets: grantStrings(p.Buckets), HTTP: grantStrings(p.HTTP),
		}
	}
	return cfg
}

// grantStrings returns grants as the registry holds them; nil when there is
// none.
func grantStrings(gs []Grant) []string {
	if len(gs) == 0 {
		return nil
	}
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.String()
	}
	return out
}
