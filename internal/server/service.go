package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/gateway"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/pool"
	"github.com/gureum/gureum/internal/registry"
)

var (
	functionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	artifactHash = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Functions lists every function with its $LATEST configuration.
func (s *Server) Functions(ctx context.Context) ([]admin.FunctionInfo, error) {
	fns, err := s.reg.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.FunctionInfo, 0, len(fns))
	for i := range fns {
		info, err := s.info(ctx, &fns[i])
		if errors.Is(err, registry.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// Function describes one function.
func (s *Server) Function(ctx context.Context, name string) (*admin.FunctionInfo, error) {
	fns, err := s.reg.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range fns {
		if fns[i].Name == name {
			return s.info(ctx, &fns[i])
		}
	}
	return nil, fmt.Errorf("function %s: %w", name, registry.ErrNotFound)
}

func (s *Server) info(ctx context.Context, f *registry.Function) (*admin.FunctionInfo, error) {
	v, err := s.reg.Get(ctx, f.Name, registry.LatestQualifier)
	if err != nil {
		return nil, err
	}
	c := v.Config
	st, _ := s.pools.StatsOf(pool.Key{Function: f.Name, Version: v.VersionString()})
	var snap *admin.SnapshotInfo
	if st.Snapshot.State == "" {
		// Not served here yet, but maybe prepared (and its snapshot
		// taken) ahead of the first request.
		st.Snapshot, _ = s.inv.SnapshotStatus(pool.Key{Function: f.Name, Version: v.VersionString()})
	}
	if st.Snapshot.State != "" {
		snap = &admin.SnapshotInfo{State: st.Snapshot.State, Reason: st.Snapshot.Reason, Standby: st.Snapshot.Standby}
	}
	return &admin.FunctionInfo{
		Name:        f.Name,
		App:         c.App,
		Latest:      f.Latest,
		Aliases:     f.Aliases,
		Runtime:     c.Runtime,
		MemoryMiB:   c.MemoryMiB,
		Timeout:     time.Duration(c.Timeout).String(),
		Concurrency: c.Concurrency,
		Provisioned: c.Provisioned,
		Routes:      c.Routes,
		UpdatedAt:   f.UpdatedAt,
		Instances: admin.InstanceStats{
			Idle: st.Idle, Busy: st.Busy,
			ColdStarts: st.ColdStarts, WarmStarts: st.WarmStarts, Throttles: st.Throttles,
		},
		Snapshot: snap,
	}, nil
}

// Versions lists a function's versions.
func (s *Server) Versions(ctx context.Context, name string) ([]registry.Version, error) {
	return s.reg.Versions(ctx, name)
}

// DeleteFunction removes a function and its versions.
func (s *Server) DeleteFunction(ctx context.Context, name string) error {
	if err := s.reg.Delete(ctx, name); err != nil {
		return err
	}
	if err := s.removeFunctionEvents(ctx, name); err != nil {
		return fmt.Errorf("remove the topic subscriptions of %s: %w", name, err)
	}
	return s.refresh(ctx)
}

// HasArtifact tells whether the artifact store holds hash.
func (s *Server) HasArtifact(ctx context.Context, hash string) (bool, error) {
	if !artifactHash.MatchString(hash) {
		return false, fmt.Errorf("%w: artifact %q is not a sha256 hex digest", admin.ErrInvalid, hash)
	}
	return s.reg.HasArtifact(ctx, hash)
}

// PutArtifact stores an artifact and returns its hash.
func (s *Server) PutArtifact(ctx context.Context, r io.Reader) (string, int64, error) {
	return s.reg.PutArtifact(ctx, r)
}

// Invoke runs one invocation.
func (s *Server) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Result, error) {
	return s.inv.Invoke(ctx, req)
}

// ReadLogs returns a function's recent log lines.
func (s *Server) ReadLogs(ctx context.Context, function string, q observe.Query) ([]observe.Entry, error) {
	return s.logs.Read(ctx, function, q)
}

// FollowLogs streams a function's log lines.
func (s *Server) FollowLogs(ctx context.Context, function string, q observe.Query, each func(observe.Entry) error) error {
	ctx, cancel := s.untilShutdown(ctx)
	defer cancel()
	return s.logs.Follow(ctx, function, q, each)
}

// Deploy activates an app's functions: every function is checked before any
// changes, so a deploy that fails leaves everything as it was.
func (s *Server) Deploy(ctx context.Context, req admin.DeployRequest) (*admin.DeployResult, error) {
	s.deployMu.Lock()
	defer s.deployMu.Unlock()
	if err := s.checkDeploy(ctx, req); err != nil {
		return nil, err
	}
	existing, err := s.reg.LatestAll(ctx)
	if err != nil {
		return nil, err
	}
	// Queues, topics and subscriptions first, so that the triggers every
	// node starts when it sees the new versions find them.
	if err := s.deployEvents(ctx, req); err != nil {
		return nil, err
	}
	if err := s.deployStorage(ctx, req); err != nil {
		return nil, err
	}
	res := &admin.DeployResult{}
	keep := make(map[string]bool, len(req.Functions))
	for _, cfg := range req.Functions {
		cfg.App = req.App
		v, changed, err := s.reg.Deploy(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("deploy %s: %w", cfg.Name, err)
		}
		keep[cfg.Name] = true
		res.Functions = append(res.Functions, admin.DeployedFunction{Name: cfg.Name, Version: v.Number, Changed: changed, Routes: cfg.Routes})
	}

	for _, v := range existing {
		if v.Config.App == req.App && !keep[v.Config.Name] {
			if err := s.reg.Delete(ctx, v.Config.Name); err != nil && !errors.Is(err, registry.ErrNotFound) {
				return nil, fmt.Errorf("remove %s: %w", v.Config.Name, err)
			}
			if err := s.removeFunctionEvents(ctx, v.Config.Name); err != nil {
				return nil, fmt.Errorf("remove %s: %w", v.Config.Name, err)
			}
			res.Removed = append(res.Removed, v.Config.Name)
		}
	}
	sort.Strings(res.Removed)
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Server) checkDeploy(ctx context.Context, req admin.DeployRequest) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if req.App == "" {
		bad("app: missing; name the project with 'app:' in gureum.yaml")
	}
	existing, err := s.reg.LatestAll(ctx)
	if err != nil {
		return err
	}
	owner := make(map[string]string)
	var routes []gateway.Route
	for _, v := range existing {
		owner[v.Config.Name] = v.Config.App
		if v.Config.App == req.App {
			continue // replaced by this deploy
		}
		for _, r := range v.Config.Routes {
			routes = append(routes, gateway.Route{Method: r.Method, Path: r.Path, Function: v.Config.Name})
		}
	}
	seen := make(map[string]bool)
	for _, c := range req.Functions {
		switch {
		case !functionName.MatchString(c.Name):
			bad("function %q: names are 1-64 letters, digits, '-' or '_'", c.Name)
			continue
		case seen[c.Name]:
			bad("function %s: declared twice", c.Name)
		}
		seen[c.Name] = true
		if app, ok := owner[c.Name]; ok && app != req.App {
			bad("function %s: already deployed by app %q; rename it or remove it there first", c.Name, app)
		}
		if s.engines[c.Runtime] == nil {
			bad("function %s: runtime %q is not available (want wasm or process)", c.Name, c.Runtime)
		}
		if c.MemoryMiB < 1 || time.Duration(c.Timeout) <= 0 {
			bad("function %s: memory and timeout must be positive", c.Name)
		}
		if c.Concurrency < 0 || c.Provisioned < 0 {
			bad("function %s: concurrency and provisioned must not be negative", c.Name)
		}
		if err := registry.ValidateSnapshotWarmup(c.Snapshot, c.SnapshotWarmup); err != nil {
			bad("function %s: %v", c.Name, err)
		}
		if ok, err := s.HasArtifact(ctx, c.ArtifactHash); err != nil || !ok {
			bad("function %s: artifact %s was not uploaded; upload it first (PUT %s/artifacts/HASH)", c.Name, c.ArtifactHash, admin.Prefix)
		}
		for _, r := range c.Routes {
			routes = append(routes, gateway.Route{Method: r.Method, Path: r.Path, Function: c.Name})
		}
	}
	if _, err := gateway.NewRouter(routes); err != nil {
		bad("routes: %v", err)
	}
	if err := s.checkEventRefs(ctx, req, bad); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", admin.ErrInvalid, errors.Join(errs...))
	}
	return nil
}

var _ admin.Service = (*Server)(nil)
