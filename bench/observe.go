package main

import (
	"context"
	"fmt"

	"github.com/gureum/gureum/internal/config"
)

// benchObserve measures what invocation records, metrics and traces cost on
// the warm path: the quickstart on a node with observability on (the
// default) against a second node with it off, the same load, alternating.
func benchObserve(ctx context.Context, e *env) ([]row, error) {
	on, err := e.ensureTarget(ctx)
	if err != nil {
		return nil, err
	}
	off := &target{}
	if err := off.start(ctx, e, "node-unobserved", quickstartDir, helloPath, func(c *config.Config) { c.Observe = false }); err != nil {
		off.stop()
		return nil, err
	}
	defer off.stop()
	conns, d := e.opts.conns, e.opts.duration/2
	var onN, offN float64
	for round := range 2 {
		e.logf("round %d", round+1)
		r, err := e.measureLoad(ctx, "off", off.gureumURL, conns, d)
		if err != nil {
			return nil, err
		}
		offN += r.rps()
		r, err = e.measureLoad(ctx, "on", on.gureumURL, conns, d)
		if err != nil {
			return nil, err
		}
		onN += r.rps()
	}
	onN, offN = onN/2, offN/2
	slower := 1 - onN/offN
	return []row{{
		Name:     fmt.Sprintf("12. warm GET /hello rps, %d connections: observability on (records, metrics, traces) vs off", conns),
		Gureum:   fmtRPS(onN),
		Baseline: fmtRPS(offN),
		Ratio:    fmtRatio(onN, offN),
		Target:   "at most 10% slower",
		Met:      fmt.Sprintf("%s (%.1f%% slower)", met(slower <= 0.10), 100*slower),
	}}, nil
}
