package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/server"
)

// benchStartup measures a node's start-up in a fresh data directory with no
// functions, against a bare embedded NATS server with JetStream, alternating
// one of each.
func benchStartup(ctx context.Context, e *env) ([]row, error) {
	n := e.opts.starts
	g := make([]time.Duration, 0, n)
	b := make([]time.Duration, 0, n)
	for i := range n + 1 { // the first pair warms the page cache and is dropped
		dg, err := startNode(ctx, e, i, i == 0)
		if err != nil {
			return nil, fmt.Errorf("gureum: %w", err)
		}
		db, err := startNATS(ctx, e, i)
		if err != nil {
			return nil, fmt.Errorf("nats-server: %w", err)
		}
		if i > 0 {
			g = append(g, dg)
			b = append(b, db)
		}
	}
	gs, bs := summarize(g), summarize(b)
	e.logf("gureum   median %s, min %s, max %s (n=%d)", fmtDur(gs.p50), fmtDur(gs.min), fmtDur(gs.max), n)
	e.logf("baseline median %s, min %s, max %s (n=%d)", fmtDur(bs.p50), fmtDur(bs.min), fmtDur(bs.max), n)
	return []row{{
		Name:     fmt.Sprintf("5. node start-up, no functions, median of %d: server.New → Start vs bare embedded nats-server + JetStream", n),
		Gureum:   fmtDur(gs.p50),
		Baseline: fmtDur(bs.p50),
		Ratio:    fmtRatio(gs.p50.Seconds(), bs.p50.Seconds()),
		Target:   "≤ 300 ms",
		Met:      yesNo(gs.p50 <= 300*time.Millisecond, ""),
	}}, nil
}

// startNode times server.New to Start returning in a fresh data directory,
// then shuts the node down (untimed). check also asks /healthz.
func startNode(ctx context.Context, e *env, i int, check bool) (time.Duration, error) {
	dir := filepath.Join(e.work, fmt.Sprintf("startup-gureum-%d", i))
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.S3Listen = "127.0.0.1:0"
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.DrainTimeout = 5 * time.Second
	cfg.Env = os.Environ()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	t0 := time.Now()
	srv, err := server.New(cfg, server.WithLogger(logger))
	if err != nil {
		return 0, err
	}
	err = srv.Start(sctx)
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(dctx)
	}()
	if check {
		c := newClient(1)
		defer c.CloseIdleConnections()
		resp, body, err := fetch(sctx, c, "http://"+srv.Addr()+"/healthz")
		if err != nil {
			return 0, fmt.Errorf("/healthz: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("/healthz right after Start: status %d: %s", resp.StatusCode, body)
		}
	}
	return d, nil
}

// startNATS times a bare embedded NATS server with JetStream, configured as
// gureum's bus configures its own (store in a fresh directory, no TCP
// listener, no logging, no signal handlers), from NewServer to ready for
// connections with JetStream enabled; shutdown is untimed.
func startNATS(ctx context.Context, e *env, i int) (time.Duration, error) {
	dir := filepath.Join(e.work, fmt.Sprintf("startup-nats-%d", i))
	defer os.RemoveAll(dir)
	t0 := time.Now()
	ns, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "bench",
		JetStream:  true,
		StoreDir:   filepath.Join(dir, "nats"),
		NoSigs:     true,
		NoLog:      true,
		DontListen: true,
	})
	if err != nil {
		return 0, err
	}
	ns.Start()
	ready := ns.ReadyForConnections(30 * time.Second)
	d := time.Since(t0)
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	if !ready {
		return 0, errors.New("not ready within 30s")
	}
	if !ns.JetStreamEnabled() {
		return 0, errors.New("JetStream did not start")
	}
	return d, ctx.Err()
}
