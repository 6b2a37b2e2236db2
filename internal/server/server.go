// Package server is the composition root of a gureum node: New wires the
// packages together, Start brings them up in order, Shutdown takes them down
// in reverse order after draining in-flight work.
//
// Start order: data dir and token → bus (NATS JetStream) → registry → logs →
// engines → pools → invoker → gateway routes → listeners → watch → ready.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/process"
	"github.com/gureum/gureum/internal/engine/wasm"
	"github.com/gureum/gureum/internal/gateway"
	"github.com/gureum/gureum/internal/host"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/lambdaapi"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/observe/metrics"
	"github.com/gureum/gureum/internal/pool"
	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/version"
)

// Server is one gureum node.
type Server struct {
	cfg config.Config
	log *slog.Logger

	token   string
	bus     *bus.Bus
	reg     *registry.Registry
	logs    *observe.Logs
	engines map[string]engine.Engine
	pools   *pool.Manager
	inv     *invoke.Invoker
	gw      *gateway.Gateway
	admin   *admin.Handler
	events  *eventSources
	storage *storageServices
	metrics *metrics.Metrics
	obs     *observer // nil when observability is off
	// lastLatest is the $LATEST versions refresh last applied.
	lastLatest atomic.Pointer[[]*registry.Version]
	host       *host.Host
	hostKey    []byte
	hostURL    string // the host API of process functions, on this node's listener

	httpSrv  *http.Server
	adminSrv *http.Server
	addr     string
	adminAdr string

	ready     atomic.Bool
	deployMu  sync.Mutex // one deploy at a time on this node
	refreshMu sync.Mutex // serializes route and pool refreshes

	// stopping is closed when shutdown begins: long polls and log follows
	// end then instead of holding the drain up.
	stopping     chan struct{}
	stoppingOnce sync.Once

	watchCancel context.CancelFunc
	wg          sync.WaitGroup

	// Versions whose first cold start's work was begun in the background
	// (warm), and those goroutines.
	warmMu      sync.Mutex
	warmed      map[pool.Key]bool
	warmWG      sync.WaitGroup
	shutdown    sync.Once
	shutdownErr error
}

// Option adjusts a Server.
type Option func(*Server)

// WithLogger sets the platform logger (default: text to stderr, info level).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns a node for cfg; nothing runs until Start.
func New(cfg config.Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = abs
	s := &Server{cfg: cfg, stopping: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return s, nil
}

// Start brings the node up. When it returns nil the node serves requests and
// /healthz answers 200.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = s.Shutdown(sctx)
			cancel()
		}
	}()
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if s.token, err = loadToken(s.cfg); err != nil {
		return err
	}
	if s.bus, err = bus.Start(ctx, bus.Config{
		DataDir: s.cfg.DataDir,
		URL:     s.cfg.NATSURL,
		Listen:  s.cfg.NATSListen,
		Name:    "gureum",
		OnAsyncError: func(subject string, err error) {
			if s.ready.Load() {
				s.log.Warn("NATS", "subject", subject, "err", err)
			}
		},
	}); err != nil {
		return fmt.Errorf("start NATS: %w", err)
	}
	if s.reg, err = registry.Open(ctx, s.bus.JetStream(), registry.Config{CacheDir: s.cfg.Path("artifacts")}); err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	if s.logs, err = observe.OpenLogs(ctx, s.bus.Conn(), s.bus.JetStream(), observe.LogsConfig{Retention: s.cfg.LogRetention}); err != nil {
		return err
	}
	wasmEng, err := wasm.New(wasm.Config{CacheDir: s.cfg.Path("cache", "wasm"), Version: version.Version, NoStandby: !s.cfg.SnapshotStandby})
	if err != nil {
		return fmt.Errorf("start wasm runtime: %w", err)
	}
	s.engines = map[string]engine.Engine{"wasm": wasmEng}
	procEng, err := process.New(process.Config{})
	if err != nil {
		return fmt.Errorf("start process runtime: %w", err)
	}
	s.engines["process"] = procEng
	pcfg := pool.DefaultConfig()
	pcfg.IdleTimeout = s.cfg.IdleTimeout
	if pcfg.ReapInterval > s.cfg.IdleTimeout/2 {
		pcfg.ReapInterval = s.cfg.IdleTimeout / 2
	}
	pcfg.DefaultConcurrency = s.cfg.DefaultConcurrency
	pcfg.OnError = func(key pool.Key, err error) {
		s.log.Warn("instance pool", "function", key.Function, "version", key.Version, "err", err)
	}
	if s.pools, err = pool.New(pcfg); err != nil {
		return err
	}
	if s.hostKey, err = newHostKey(); err != nil {
		return err
	}
	s.host = host.NewWith(hostServices{s}, host.Options{
		Storage: hostStorage{s},
		Span: func(ctx context.Context, c host.Caller, name string) (string, func(error)) {
			return s.hostSpan(ctx, c.TraceParent, name)
		},
	})
	// The listener comes before the first prepare: process functions are
	// given the host API's address on it.
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another gureum running? try --listen 127.0.0.1:8081)", s.cfg.Listen, err)
	}
	defer func() {
		if s.httpSrv == nil {
			ln.Close()
		}
	}()
	s.addr = ln.Addr().String()
	s.adminAdr = s.addr
	s.hostURL = loopbackURL(s.addr)
	if err := s.startObserve(ctx); err != nil {
		return err
	}
	s.metrics.SetSource(metricsSource{s})
	icfg := invoke.Config{Registry: s.reg, Engines: s.engines, Pools: s.pools, Logs: s.logs, Region: s.cfg.Region, Host: hostBinding{s}}
	if s.obs != nil {
		icfg.Observer = s.obs
		icfg.Node, _ = os.Hostname()
	}
	s.inv = invoke.New(icfg)
	if err := s.startEvents(ctx); err != nil {
		return err
	}
	if err := s.startStorage(ctx); err != nil {
		return err
	}
	s.admin = admin.NewHandler(s, s.token)
	gwCfg := gateway.Config{
		Invoker:      s.inv,
		Ready:        s.ready.Load,
		MaxBodyBytes: s.cfg.MaxBodyBytes,
		LambdaAPI: lambdaapi.New(lambdaapi.Config{Invoker: s.inv, Functions: s.reg, Async: s, Region: s.cfg.Region,
			AccessKeyID: s.cfg.AccessKeyID, SecretAccessKey: s.cfg.SecretAccessKey}),
	}
	if s.obs != nil {
		gwCfg.Observer = s.obs
	}
	if s.cfg.AdminListen == "" {
		gwCfg.Metrics = s.metricsHandler()
	}
	reserved := http.NewServeMux()
	reserved.Handle(host.PathPrefix, s.host.Handler(host.TokenResolver(s.hostKey, s.hostGrants)))
	if s.cfg.AdminListen == "" {
		reserved.Handle("/", s.admin)
	}
	gwCfg.Admin = reserved
	if s.gw, err = gateway.New(gwCfg); err != nil {
		return err
	}
	if err := s.refresh(ctx); err != nil {
		return err
	}
	s.httpSrv = &http.Server{Handler: s.gw, ReadHeaderTimeout: 10 * time.Second}
	s.serve(s.httpSrv, ln)
	if s.cfg.AdminListen != "" {
		aln, err := net.Listen("tcp", s.cfg.AdminListen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", s.cfg.AdminListen, err)
		}
		s.adminAdr = aln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle(admin.Prefix+"/", s.admin)
		mux.Handle(gateway.MetricsPath, s.metricsHandler())
		s.adminSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		s.serve(s.adminSrv, aln)
	}
	if err := s.watch(ctx); err != nil {
		return err
	}
	s.ready.Store(true)
	return nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// watch follows registry changes from every node sharing the JetStream.
func (s *Server) watch(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.watchCancel = cancel
	ch, err := s.reg.Watch(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("watch registry: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for range ch {
			// Coalesce bursts: drain what is queued, then rebuild once.
			for len(ch) > 0 {
				<-ch
			}
			if err := s.refresh(wctx); err != nil && wctx.Err() == nil {
				s.log.Error("apply registry change", "err", err)
			}
		}
	}()
	return nil
}

// refresh makes routes, caches and pools match the registry.
func (s *Server) refresh(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	latest, err := s.reg.LatestAll(ctx)
	if err != nil {
		return fmt.Errorf("load functions: %w", err)
	}
	var routes []gateway.Route
	served := make(map[pool.Key]bool)
	for _, v := range latest {
		s.inv.Forget(v.Config.Name)
		for _, r := range v.Config.Routes {
			routes = append(routes, gateway.Route{Method: r.Method, Path: r.Path, Function: v.Config.Name})
		}
		served[pool.Key{Function: v.Config.Name, Version: v.VersionString()}] = true
	}
	if err := s.gw.SetRoutes(routes); err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	if prev := s.lastLatest.Swap(&latest); prev != nil {
		for _, v := range *prev {
			if !served[pool.Key{Function: v.Config.Name, Version: v.VersionString()}] && !slices.ContainsFunc(latest, func(l *registry.Version) bool { return l.Config.Name == v.Config.Name }) {
				s.metrics.Forget(v.Config.Name)
			}
		}
	}
	s.applyEvents(ctx, latest)
	// Versions no longer behind $LATEST stop being served on this node.
	for _, key := range s.inv.PreparedVersions() {
		if !served[key] {
			s.inv.Forget(key.Function)
			s.inv.Unprepare(ctx, key.Function, key.Version)
		}
	}
	s.warm(latest)
	// Provisioned instances of every served version.
	for _, v := range latest {
		if v.Config.Provisioned == 0 {
			continue
		}
		fn, key, lim, err := s.inv.Prepare(ctx, v)
		if err != nil {
			s.log.Warn("prepare provisioned function", "function", v.Config.Name, "err", err)
			continue
		}
		if err := s.pools.Ensure(key, fn, lim); err != nil {
			s.log.Warn("provision function", "function", v.Config.Name, "err", err)
		}
	}
	return nil
}

// warm does, in the background, what the first cold start of each newly
// served wasm version would otherwise do on the first request's time:
// compile its module and take its snapshot (invoke.Invoker.Warm).
func (s *Server) warm(latest []*registry.Version) {
	for _, v := range latest {
		if v.Config.Runtime != registry.RuntimeWasm || !v.Config.Snapshot {
			continue
		}
		key := pool.Key{Function: v.Config.Name, Version: v.VersionString()}
		s.warmMu.Lock()
		if s.warmed == nil {
			s.warmed = make(map[pool.Key]bool)
		}
		done := s.warmed[key]
		s.warmed[key] = true
		s.warmMu.Unlock()
		if done {
			continue
		}
		s.warmWG.Add(1)
		go func() {
			defer s.warmWG.Done()
			ctx, cancel := s.untilShutdown(context.Background())
			defer cancel()
			if err := s.inv.Warm(ctx, v); err != nil && ctx.Err() == nil {
				s.log.Warn("take snapshot ahead of the first request", "function", key.Function, "version", key.Version, "err", err)
			}
		}()
	}
}

// untilShutdown returns ctx, ended also when the node begins to shut down:
// for waits that have no result to lose (long polls, log follows).
func (s *Server) untilShutdown(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Addr is the address of the node's HTTP listener.
func (s *Server) Addr() string { return s.addr }

// NATSURL is where other nodes reach this node's embedded NATS (with
// config NATSListen), or the external NATS it joined.
func (s *Server) NATSURL() string { return s.bus.ClientURL() }

// AdminAddr is the address serving the admin API.
func (s *Server) AdminAddr() string { return s.adminAdr }

// Token is the admin token.
func (s *Server) Token() string { return s.token }

// Invoker is the node's invoker.
func (s *Server) Invoker() *invoke.Invoker { return s.inv }

// Pools is the node's instance pools.
func (s *Server) Pools() *pool.Manager { return s.pools }

// Shutdown stops the node: it stops accepting requests, lets in-flight
// invocations finish until ctx ends, then stops every component. Idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Do(func() { s.shutdownErr = s.shutdownOnce(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdownOnce(ctx context.Context) error {
	s.ready.Store(false)
	s.stoppingOnce.Do(func() { close(s.stopping) })
	var errs []error
	if s.httpSrv != nil {
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
			_ = s.httpSrv.Close()
		}
	}
	if s.adminSrv != nil {
		if err := s.adminSrv.Shutdown(ctx); err != nil {
			_ = s.adminSrv.Close()
		}
	}
	errs = append(errs, s.stopStorage(ctx)...)
	errs = append(errs, s.stopEvents(ctx)...)
	s.warmWG.Wait() // ended by s.stopping
	if s.inv != nil {
		if err := s.inv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.watchCancel != nil {
		s.watchCancel()
	}
	errs = append(errs, s.stopObserve(ctx)...)
	if s.pools != nil {
		if err := s.pools.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("pools: %w", err))
		}
	}
	for name, e := range s.engines {
		if err := e.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s runtime: %w", name, err))
		}
	}
	if s.logs != nil {
		if err := s.logs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.bus != nil {
		if err := s.bus.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("NATS: %w", err))
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// loadToken returns the configured admin token, or the one stored in the data
// directory, creating it at first start.
func loadToken(cfg config.Config) (string, error) {
	if cfg.Token != "" {
		return cfg.Token, nil
	}
	path := cfg.Path("token")
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	t := "gur_" + hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return t, nil
}
