package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// row is one line of the results table.
type row struct {
	Name     string
	Gureum   string
	Baseline string
	Ratio    string
	Target   string
	Met      string
}

// stats summarizes a sample of durations.
type stats struct {
	min, p50, p99, max time.Duration
}

func summarize(d []time.Duration) stats {
	s := slices.Clone(d)
	slices.Sort(s)
	return stats{min: s[0], p50: percentile(s, 0.50), p99: percentile(s, 0.99), max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

func fmtRPS(v float64) string { return fmt.Sprintf("%.0f rps", v) }

func fmtMiB(bytes float64) string { return fmt.Sprintf("%.2f MiB", bytes/(1<<20)) }

// fmtRatio is gureum's figure over the baseline's.
func fmtRatio(g, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", g/b)
}

func yesNo(ok bool, detail string) string {
	s := "no"
	if ok {
		s = "yes"
	}
	if detail != "" {
		s += " (" + detail + ")"
	}
	return s
}

// renderTable renders the results as Markdown: the machine, then the table.
func renderTable(rows []row, machine string, o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s on %s.\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine)
	fmt.Fprintf(&b, "Flags: -run %s -cold-n %d -duration %s -warmup %s -conns %d -requests %d -instances %d -starts %d -proc-cold-n %d -proc-conc %d.\n\n",
		o.run, o.coldN, o.duration, o.warmup, o.conns, o.requests, o.instances, o.starts, o.procColdN, o.procConc)
	b.WriteString("| benchmark | gureum | baseline | ratio | target | met |\n")
	b.WriteString("|---|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Name, r.Gureum, r.Baseline, r.Ratio, r.Target, r.Met)
	}
	return b.String()
}

// describeMachine names the CPU, the cores Go uses, how busy the machine
// was, and the versions that matter to the figures.
func describeMachine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		f.Close()
	}
	desc := fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s/%s, %s",
		cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			desc += fmt.Sprintf(", load average %s %s %s before the run", f[0], f[1], f[2])
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			switch dep.Path {
			case "github.com/tetratelabs/wazero":
				desc += ", wazero " + dep.Version
			case "github.com/nats-io/nats-server/v2":
				desc += ", nats-server " + dep.Version
			}
		}
	}
	return desc
}

const (
	resultsBegin = "<!-- results -->"
	resultsEnd   = "<!-- /results -->"
)

// writeResults writes table to path. When the file already holds a results
// section (a line resultsBegin, later a line resultsEnd), only that section is
// replaced.
func writeResults(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	content := table
	if err == nil {
		lines := strings.SplitAfter(string(old), "\n")
		begin := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == resultsBegin })
		if begin >= 0 {
			end := slices.IndexFunc(lines[begin+1:], func(l string) bool { return strings.TrimSpace(l) == resultsEnd })
			if end >= 0 {
				end += begin + 1
				content = strings.Join(lines[:begin+1], "") + table + strings.Join(lines[end:], "")
			}
		}
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// alternate times a and b in turn, warm+n times each, and keeps the last n
// samples of each: running them interleaved exposes both to the same machine.
func alternate(ctx context.Context, warm, n int, aName string, a func() (time.Duration, error), bName string, b func() (time.Duration, error)) (as, bs []time.Duration, err error) {
	as, bs = make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for i := range warm + n {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		da, err := a()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", aName, err)
		}
		db, err := b()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", bName, err)
		}
		if i >= warm {
			as, bs = append(as, da), append(bs, db)
		}
	}
	return as, bs, nil
}
