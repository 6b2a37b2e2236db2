package manifest

import (
	"maps"
	"path/filepath"

	"github.com/gureum/gureum/internal/registry"
)

// Config returns the function's deployable configuration, all but the
// artifact's hash and size, which exist once it is built. Handler is the
// handler's path relative to the project, slash-separated, so that a
// project deploys the same configuration from any checkout. Routes carry
// their auth mode explicitly ("none").
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
		if h := ev.HTTP; h != nil {
			cfg.Routes = append(cfg.Routes, registry.Route{Method: h.Method, Path: h.Path, Auth: h.Auth})
		}
	}
	return cfg
}
