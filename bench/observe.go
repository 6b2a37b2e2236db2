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
	// A second unobserved node measures how far two identical nodes differ
	// in this run: the resolution of the comparison.
	off2 := &target{}
	if err := off2.start(ctx, e, "node-unobserved-2", quickstartDir, helloPath, func(c *config.Config) { c.Observe = false }); err != nil {
		off2.stop()
		return nil, err
	}
	defer off2.stop()
	// Four rounds, the order swapped every round (off-on, on-off, ...), so
	// that drift in the machine's speed during the run falls on both sides
	// alike; the difference measured is a few percent, the noise of one
	// short run about as much.
	const rounds = 4
	conns, d := e.opts.conns, e.opts.duration/2
	urls := map[string]string{"on": on.gureumURL, "off": off.gureumURL, "off2": off2.gureumURL}
	sum := map[string]float64{}
	for round := range rounds {
		e.logf("round %d", round+1)
		order := []string{"off", "on", "off2"}
		if round%2 == 1 {
			order = []string{"off2", "on", "off"}
		}
		for _, which := range order {
			r, err := e.measureLoad(ctx, which, urls[which], conns, d)
			if err != nil {
				return nil, err
			}
			sum[which] += r.rps()
		}
	}
	onN, offN, off2N := sum["on"]/rounds, sum["off"]/rounds, sum["off2"]/rounds
	slower := 1 - onN/offN
	return []row{{
		Name:     fmt.Sprintf("12. warm GET /hello rps, %d connections: observability on (records, metrics, traces) vs off", conns),
		Gureum:   fmtRPS(onN),
		Baseline: fmtRPS(offN),
		Ratio:    fmtRatio(onN, offN),
		Target:   "at most 10% slower",
		Met:      fmt.Sprintf("%s (%.1f%% slower)", met(slower <= 0.10), 100*slower),
	}, {
		Name:     fmt.Sprintf("12. the same load on two identical unobserved nodes (how far apart the same thing measures in this run), %d connections", conns),
		Gureum:   fmtRPS(off2N),
		Baseline: fmtRPS(offN),
		Ratio:    fmtRatio(off2N, offN),
		Target:   "—",
		Met:      "—",
	}}, nil
}
