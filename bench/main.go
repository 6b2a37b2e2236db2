// Command bench measures gureum against a baseline taken in the same run and
// prints one Markdown table: each figure beside its baseline, their ratio and
// the target it is held to.
//
//	go run ./bench                                # every benchmark, about four minutes
//	go run ./bench -run rps,latency               # some of them
//	go run ./bench -run floor-rps,floor-latency   # the platform floor under rows 2 and 3
//	go run ./bench -out bench/README.md
//
// All load goes to 127.0.0.1, every phase is bounded in count or time, and
// every server, node and child process the program starts is stopped before
// it exits. See bench/README.md for what each row measures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// options are the command-line flags.
type options struct {
	run       string
	out       string
	root      string
	coldN     int
	duration  time.Duration
	warmup    time.Duration
	conns     int
	requests  int
	instances int
	starts    int
	wrk       bool
	procColdN int
	procConc  int
	scaleN    int
	scaleHold time.Duration

	cpuprofile string

	// Internal: a child process measuring in a fresh address space.
	child    string
	wasm     string
	cache    string
	dir      string
	snapshot bool
	release  string
}

// benchmarks in the order they run.
var benchmarks = []struct {
	name string
	desc string
	fn   func(ctx context.Context, e *env) ([]row, error)
}{
	{"cold", "cold start of a Go reactor instance", benchCold},
	{"rps", "warm requests per second through the gateway", benchRPS},
	{"floor-rps", "warm requests per second through the gateway to a minimal wasm reactor", benchFloorRPS},
	{"latency", "warm latency at one connection", benchLatency},
	{"floor-latency", "warm latency at one connection to a minimal wasm reactor", benchFloorLatency},
	{"memory", "memory per idle warm instance", benchMemory},
	{"startup", "node start-up with no functions", benchStartup},
	{"proc-latency", "warm latency of a process function at one connection", benchProcLatency},
	{"proc-cold", "cold start of a process function instance", benchProcCold},
	{"proc-conc", "requests per second of a process function at concurrency", benchProcConc},
	{"queue-send", "durable queue sends per second", benchQueueSend},
	{"queue-fn", "queue → function events per second with batch 10", benchQueueFunction},
	{"topic-fanout", "topic publish-to-delivery latency with 10 function subscribers", benchTopicFanout},
	{"observe", "warm throughput with observability on against off", benchObserve},
	{"s3-put", "PutObject of 1 KiB objects through the S3 API", benchS3Put},
	{"s3-get", "GetObject of 1 KiB objects through the S3 API", benchS3Get},
	{"s3-large", "PutObject and GetObject of 16 MiB objects through the S3 API", benchS3Large},
	{"table-fn", "table gets and puts from a wasm function", benchTableFunction},
	{"snap-cold", "cold starts from a snapshot, with and without a warm-up event, against normal cold starts", benchSnapCold},
	{"snap-scale", "scale from zero to -scale-n instances on one node, with and without snapshots", benchSnapScale},
	{"snap-memory", "memory per idle instance started from a snapshot against a normal one", benchSnapMemory},
}

func main() {
	os.Exit(doMain(os.Args[1:], os.Stdout, os.Stderr))
}

func doMain(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	names := make([]string, len(benchmarks))
	for i, b := range benchmarks {
		names[i] = b.name
	}
	fs.StringVar(&o.run, "run", "all", "benchmarks to run, comma-separated: "+strings.Join(names, ", "))
	fs.StringVar(&o.out, "out", "", "also write the table to this file; a file with a results section (between lines <!-- results --> and <!-- /results -->) gets only that section replaced")
	fs.StringVar(&o.root, "root", "", "the gureum module's root directory (default: found from the working directory)")
	fs.IntVar(&o.coldN, "cold-n", 200, "cold starts measured, each for gureum and for the baseline")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measuring time of each requests-per-second run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each requests-per-second run")
	fs.IntVar(&o.conns, "conns", 50, "connections of the requests-per-second load")
	fs.IntVar(&o.requests, "requests", 5000, "sequential requests of the one-connection latency run, each for gureum and for the baseline")
	fs.IntVar(&o.instances, "instances", 50, "idle instances started to measure memory")
	fs.IntVar(&o.starts, "starts", 10, "node start-ups measured, each for gureum and for the baseline")
	fs.BoolVar(&o.wrk, "wrk", true, "also load with wrk when it is installed")
	fs.IntVar(&o.procColdN, "proc-cold-n", 50, "cold starts of the process function measured, each for gureum and for the baseline")
	fs.IntVar(&o.procConc, "proc-conc", 8, "client goroutines of the process function's concurrency run")
	fs.IntVar(&o.scaleN, "scale-n", 1000, "concurrent requests of the scale-from-zero run, and the function's concurrency")
	fs.DurationVar(&o.scaleHold, "scale-hold", time.Minute, "the longest each request of the scale-from-zero run is held in its instance; requests are released as soon as every one has reached an instance or failed (1s to 5m)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run (nodes and load) to this file")
	fs.StringVar(&o.child, "child", "", "internal: run one measurement in a child process and print it as JSON")
	fs.StringVar(&o.wasm, "wasm", "", "internal: module of a -child run")
	fs.StringVar(&o.cache, "cache", "", "internal: compilation cache of a -child run")
	fs.StringVar(&o.dir, "dir", "", "internal: scratch directory of a -child run")
	fs.BoolVar(&o.snapshot, "snapshot", false, "internal: a -child run starts instances from a snapshot")
	fs.StringVar(&o.release, "release", "", "internal: host:port of the release endpoint of a snap-scale -child run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if o.child != "" {
		var err error
		if strings.HasPrefix(o.child, "snap-") {
			err = runSnapChild(ctx, o, os.Stdin, stdout, stderr)
		} else {
			err = runChild(ctx, o, stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench child: %v\n", err)
			return 1
		}
		return 0
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	selected, err := selectBenchmarks(o.run)
	if err != nil {
		return err
	}
	if o.coldN < 1 || o.conns < 1 || o.requests < 1 || o.instances < 1 || o.starts < 1 || o.procColdN < 1 || o.procConc < 1 || o.scaleN < 1 || o.duration <= 0 || o.warmup < 0 {
		return errors.New("counts and durations must be positive")
	}
	if o.scaleHold < time.Second || o.scaleHold > 5*time.Minute {
		return fmt.Errorf("-scale-hold %s: want 1s to 5m", o.scaleHold)
	}
	root := o.root
	if root == "" {
		if root, err = findRoot(); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp("", "gureum-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	e := &env{opts: o, root: root, work: work, log: stderr}
	defer e.close()
	machine := describeMachine()
	start := time.Now()
	var rows []row
	for _, b := range benchmarks {
		if !selected[b.name] {
			continue
		}
		e.logf("== %s: %s", b.name, b.desc)
		r, err := b.fn(ctx, e)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		rows = append(rows, r...)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	e.logf("done in %s", time.Since(start).Round(100*time.Millisecond))

	table := renderTable(rows, machine, o)
	fmt.Fprint(stdout, table)
	if o.out != "" {
		if err := writeResults(o.out, table); err != nil {
			return err
		}
		e.logf("wrote %s", o.out)
	}
	return nil
}

func selectBenchmarks(list string) (map[string]bool, error) {
	sel := make(map[string]bool)
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" {
			for _, b := range benchmarks {
				sel[b.name] = true
			}
			continue
		}
		known := false
		for _, b := range benchmarks {
			known = known || b.name == name
		}
		if !known {
			names := make([]string, len(benchmarks))
			for i, b := range benchmarks {
				names[i] = b.name
			}
			return nil, fmt.Errorf("unknown benchmark %q (want all or some of %s)", name, strings.Join(names, ", "))
		}
		sel[name] = true
	}
	if len(sel) == 0 {
		return nil, errors.New("no benchmark selected")
	}
	return sel, nil
}

// findRoot walks up from the working directory to the gureum module's root.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/gureum/gureum\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the gureum module; run from the repository or pass -root")
		}
		dir = parent
	}
}

// env is what the benchmarks share within one run.
type env struct {
	opts options
	root string // module root
	work string // scratch directory, removed at the end
	log  io.Writer

	wasmPath string // the quickstart function, built once
	wasmHash string
	target   *target // a node serving the quickstart and its bare twin, started once
	floor    *target // a node serving the minimal reactor and its bare twin, started once

	procPath   string  // the lambda-go function built natively, once
	procTarget *target // a node serving lambda-go and its bare twin, started once

	built map[string]builtWasm // other wasm functions, by package, built once
}

// close stops what the benchmarks left running for each other.
func (e *env) close() {
	if e.target != nil {
		e.target.stop()
		e.target = nil
	}
	if e.floor != nil {
		e.floor.stop()
		e.floor = nil
	}
	if e.procTarget != nil {
		e.procTarget.stop()
		e.procTarget = nil
	}
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
