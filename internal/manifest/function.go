package manifest

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gureum/gureum/internal/registry"
)

// Limits, as in AWS Lambda unless noted.
const (
	MinMemory     = 128   // MiB
	MaxMemory     = 10240 // MiB
	MaxWasmMemory = 4096  // MiB: a wasm32 memory addresses at most 4 GiB
	MinTimeout    = time.Second
	MaxTimeout    = 15 * time.Minute
	MaxEnvSize    = 4096 // bytes of names and values together
)

// reservedEnv are variables the runtimes set for every function.
var reservedEnv = []string{"_HANDLER", "_X_AMZN_TRACE_ID", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}

func (p *parser) functions(e entry) []*Function {
	if isNull(e.val) {
		return nil
	}
	if e.val.Kind != yaml.MappingNode {
		p.add(e.val, "functions", fmt.Sprintf("%s where a map of function names to settings belongs; e.g. functions: {api: {build: ./api}}", describe(e.val)))
		return nil
	}
	var fns []*Function
	for _, fe := range p.entries(e.val, "functions") {
		fns = append(fns, p.function(fe))
	}
	if len(fns) == 0 {
		p.add(e.val, "functions", "no functions; list at least one, e.g. functions: {api: {build: ./api}}")
	}
	return fns
}

// fnNodes holds the value nodes of settings that are checked together.
type fnNodes struct {
	build, artifact, handler, memory, concurrency, provisioned *yaml.Node
	snapshot                                                   *entry // the snapshot key, when written
	misspelled                                                 bool   // a key close to build, artifact or handler
}

func (p *parser) function(e entry) *Function {
	fp := "functions." + e.name
	f := &Function{Name: e.name, Line: e.key.Line, Runtime: DefaultRuntime, Memory: DefaultMemory, Timeout: DefaultTimeout}
	if !validFunctionName(e.name) {
		p.add(e.key, fp, fmt.Sprintf("%q is not a valid function name; use 1 to 64 letters, digits, '-' and '_', e.g. api or resize-image", e.name))
	}
	if !isNull(e.val) && e.val.Kind != yaml.MappingNode {
		p.add(e.val, fp, fmt.Sprintf("%s where a map of settings belongs; e.g. %s: {build: ./%s}", describe(e.val), e.name, e.name))
		return f
	}
	var n fnNodes
	var concurrency, provisioned int64
	for _, s := range p.entries(e.val, fp) {
		sp := fp + "." + s.name
		switch s.name {
		case "runtime":
			if v, ok := p.str(s.val, sp, "runtime: wasm"); ok {
				if v == RuntimeWasm || v == RuntimeProcess {
					f.Runtime = v
				} else {
					f.Runtime = ""
					p.add(s.val, sp, fmt.Sprintf("%q is not a runtime; use wasm (a WebAssembly module) or process (a native executable), e.g. runtime: process", v))
				}
			} else {
				f.Runtime = ""
			}
		case "build":
			n.build = s.val
			f.Build, _ = p.filePath(s.val, sp, "build: ./"+e.name, false)
		case "artifact":
			n.artifact = s.val
			f.Artifact, _ = p.filePath(s.val, sp, "artifact: ./"+e.name+".wasm", false)
		case "handler":
			n.handler = s.val
			var ok bool
			if f.Handler, ok = p.filePath(s.val, sp, "handler: ./bootstrap", true); ok {
				f.handlerName = path.Clean(s.val.Value)
			}
		case "memory":
			if v, ok := p.integer(s.val, sp, "a number of MiB", "memory: 256"); ok {
				if v < MinMemory || v > MaxMemory {
					p.add(s.val, sp, fmt.Sprintf("%d MiB is out of range; memory is %d to %d MiB, e.g. memory: 256", v, MinMemory, MaxMemory))
				} else {
					f.Memory, n.memory = int(v), s.val
				}
			}
		case "timeout":
			if d, ok := p.timeout(s.val, sp); ok {
				f.Timeout = d
			}
		case "concurrency":
			if v, ok := p.integer(s.val, sp, "a number of instances", "concurrency: 10"); ok {
				if v < 0 {
					p.add(s.val, sp, fmt.Sprintf("%d is negative; concurrency is the most instances at once, or 0 for the node's default, e.g. concurrency: 10", v))
				} else {
					concurrency, n.concurrency = v, s.val
				}
			}
		case "provisioned":
			if v, ok := p.integer(s.val, sp, "a number of instances", "provisioned: 1"); ok {
				if v < 0 {
					p.add(s.val, sp, fmt.Sprintf("%d is negative; provisioned is the number of instances kept warm, e.g. provisioned: 1", v))
				} else {
					provisioned, n.provisioned = v, s.val
				}
			}
		case "snapshot":
			n.snapshot = &s
			f.Snapshot, f.SnapshotWarmup = p.snapshot(s.val, sp)
		case "env":
			f.Env = p.env(s.val, sp)
		case "async":
			f.Async = p.async(s, e.name)
		case "permissions":
			f.Permissions = p.permissions(s.key, s.val, sp)
		case "events":
			f.Events = p.events(s.val, sp, f)
		default:
			if meant := p.unknown(s, fp, functionKeys); meant == "build" || meant == "artifact" || meant == "handler" {
				n.misspelled = true
			}
		}
	}
	if n.provisioned != nil && n.concurrency != nil && concurrency > 0 && provisioned > concurrency {
		p.add(n.provisioned, fp+".provisioned", fmt.Sprintf("%d is more than concurrency (%d); a function keeps at most concurrency instances, e.g. provisioned: %d", provisioned, concurrency, concurrency))
	}
	f.Concurrency, f.Provisioned = clampInt(concurrency), clampInt(provisioned)
	p.checkCode(e, f, n)
	p.checkSnapshot(e, f, n.snapshot)
	return f
}

// snapshot reads a function's snapshot setting: true, false, or a map
// whose warmup is the event (any value, as JSON) the instance whose
// snapshot is taken serves first. The map form turns snapshots on.
func (p *parser) snapshot(n *yaml.Node, sp string) (bool, json.RawMessage) {
	const forms = "snapshot is true, false or a map with the event that warms the snapshot up, e.g. snapshot: false or snapshot: {warmup: {rawPath: /}}"
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool":
		v, ok := p.boolean(n, sp, "snapshot: false")
		return v && ok, nil
	case isNull(n):
		p.add(n, sp, "empty; "+forms)
		return false, nil
	case n.Kind != yaml.MappingNode:
		p.add(n, sp, fmt.Sprintf("%s is not true or false; %s", describe(n), forms))
		return false, nil
	}
	var warmup json.RawMessage
	for _, s := range p.entries(n, sp) {
		wp := sp + "." + s.name
		switch s.name {
		case "warmup":
			warmup = p.snapshotWarmup(s.val, wp)
		case "enabled", "enable":
			p.add(s.key, wp, fmt.Sprintf("unknown key %q; a snapshot map always turns snapshots on: write snapshot: true or snapshot: false, or snapshot: {warmup: EVENT} to warm the snapshot up", s.name))
		default:
			if suggest(s.name, snapshotKeys) != "" {
				p.unknown(s, sp, snapshotKeys)
				break
			}
			p.add(s.key, wp, fmt.Sprintf("unknown key %q; a snapshot map holds only warmup, the event that warms the snapshot up, e.g. snapshot: {warmup: {rawPath: /}}", s.name))
		}
	}
	return true, warmup
}

// snapshotWarmup reads a snapshot's warm-up event, converted to JSON.
func (p *parser) snapshotWarmup(n *yaml.Node, sp string) json.RawMessage {
	if isNull(n) {
		p.add(n, sp, "empty; give the event the instance serves before its snapshot is taken, as its invocations receive them, e.g. warmup: {rawPath: /orders}, or remove warmup")
		return nil
	}
	js, ok := p.jsonValue(n, sp)
	if !ok {
		return nil
	}
	if len(js) > registry.MaxSnapshotWarmup {
		p.add(n, sp, fmt.Sprintf("the warm-up event takes %d bytes as JSON, more than the %d allowed; warm up with a smaller event, such as one a typical request sends", len(js), registry.MaxSnapshotWarmup))
		return nil
	}
	return js
}

// checkSnapshot resolves a function's snapshot setting against its
// runtime: a wasm function takes DefaultWasmSnapshot unless it says
// otherwise; a process function never takes snapshots and may say so only
// with snapshot: false.
func (p *parser) checkSnapshot(e entry, f *Function, s *entry) {
	switch f.Runtime {
	case RuntimeWasm:
		if s == nil {
			f.Snapshot = DefaultWasmSnapshot
		}
	case RuntimeProcess:
		if s != nil && f.Snapshot {
			at := s.val
			if at.Kind == yaml.MappingNode {
				at = s.key
			}
			p.add(at, "functions."+e.name+".snapshot", "snapshots apply to wasm functions only, and this function has runtime: process; remove snapshot")
		}
		f.Snapshot, f.SnapshotWarmup = false, nil
	}
}

// clampInt converts a checked non-negative count to int.
func clampInt(v int64) int {
	return int(min(v, int64(^uint(0)>>1)))
}

// checkCode checks the settings that say where a function's code is, which
// depend on its runtime, and the files they name.
func (p *parser) checkCode(e entry, f *Function, n fnNodes) {
	fp := "functions." + e.name
	switch f.Runtime {
	case RuntimeWasm:
		if n.handler != nil {
			p.add(n.handler, fp+".handler", "handler is for runtime: process; a wasm function takes build: ./"+e.name+" (a Go package) or artifact: ./"+e.name+".wasm")
		}
		p.exactlyOne(e, n, n.build, n.artifact, "build", "artifact", "a wasm function needs its code: build: ./"+e.name+" (a Go package built to wasm) or artifact: ./"+e.name+".wasm (a ready module)")
		if n.memory != nil && f.Memory > MaxWasmMemory {
			p.add(n.memory, fp+".memory", fmt.Sprintf("%d MiB is more than a wasm function can use: a wasm32 memory addresses at most %d MiB; use memory: %d or less, or runtime: process", f.Memory, MaxWasmMemory, MaxWasmMemory))
		}
	case RuntimeProcess:
		if n.artifact != nil {
			p.add(n.artifact, fp+".artifact", "artifact is a wasm module, for runtime: wasm; a process function takes build: ./"+e.name+" (a Go package built natively) or handler: ./bootstrap (an executable)")
		}
		p.exactlyOne(e, n, n.build, n.handler, "build", "handler", "a process function needs its code: build: ./"+e.name+" (a Go package built natively) or handler: ./bootstrap (an executable)")
	default:
		return // the runtime is wrong; which code fits is unknown
	}
	if !p.checkFS {
		return
	}
	if n.build != nil && f.Build != "" {
		p.checkBuildDir(n.build, fp+".build", f.Build)
	}
	if n.artifact != nil && f.Artifact != "" && f.Runtime == RuntimeWasm {
		p.checkArtifact(n.artifact, fp+".artifact", f.Artifact)
	}
	if n.handler != nil && f.Handler != "" && f.Runtime == RuntimeProcess {
		p.checkHandler(n.handler, fp+".handler", f.Handler)
	}
}

func (p *parser) exactlyOne(e entry, n fnNodes, a, b *yaml.Node, aName, bName, missing string) {
	switch {
	case a == nil && b == nil:
		if n.misspelled {
			return // the misspelled key is reported
		}
		p.add(e.key, "functions."+e.name, "no "+aName+" or "+bName+"; "+missing)
	case a != nil && b != nil:
		later, name := b, bName
		if a.Line > b.Line || a.Line == b.Line && a.Column > b.Column {
			later, name = a, aName
		}
		p.add(later, "functions."+e.name+"."+name, aName+" and "+bName+" are both set; keep one: "+missing)
	}
}

// filePath checks a path setting and joins it to the project directory.
// local requires the path to stay inside the project.
func (p *parser) filePath(n *yaml.Node, sp, example string, local bool) (string, bool) {
	v, ok := p.str(n, sp, example)
	if !ok {
		return "", false
	}
	native := filepath.FromSlash(v)
	switch {
	case strings.ContainsRune(v, 0):
		p.add(n, sp, "the path contains a NUL byte; e.g. "+example)
	case path.IsAbs(v) || filepath.IsAbs(native) || filepath.VolumeName(native) != "":
		p.add(n, sp, fmt.Sprintf("%q is absolute; write it relative to the manifest's directory so the project works wherever it is checked out, e.g. %s", v, example))
	case local && !filepath.IsLocal(native):
		p.add(n, sp, fmt.Sprintf("%q is outside the project; put the file in the project directory, e.g. %s", v, example))
	default:
		return filepath.Join(p.dir, native), true
	}
	return "", false
}

// timeout accepts a Go duration or whole seconds.
func (p *parser) timeout(n *yaml.Node, sp string) (time.Duration, bool) {
	const rangeHint = "timeout is 1s to 15m, e.g. timeout: 30s"
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.add(n, sp, describe(n)+" is not a duration; write a Go duration or whole seconds, e.g. timeout: 30s or timeout: 90")
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		var secs int64
		if err := n.Decode(&secs); err != nil || secs < 1 || secs > int64(MaxTimeout/time.Second) {
			p.add(n, sp, fmt.Sprintf("%s seconds is out of range; %s", n.Value, rangeHint))
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	case "!!float":
		if isDigits(n.Value) {
			p.add(n, sp, fmt.Sprintf("%s seconds is out of range; %s", n.Value, rangeHint))
			return 0, false
		}
		p.add(n, sp, fmt.Sprintf("%s is not a whole number of seconds; write a duration for fractions, e.g. timeout: 1500ms", n.Value))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.add(n, sp, fmt.Sprintf("%q is not a duration; write a Go duration or whole seconds, e.g. timeout: 30s, timeout: 1m30s or timeout: 90", n.Value))
		return 0, false
	}
	if d < MinTimeout || d > MaxTimeout {
		p.add(n, sp, fmt.Sprintf("%s is out of range; %s", n.Value, rangeHint))
		return 0, false
	}
	if d%time.Millisecond != 0 {
		p.add(n, sp, fmt.Sprintf("%s is finer than a millisecond; round it, e.g. timeout: %s", n.Value, d.Round(time.Millisecond)))
		return 0, false
	}
	return d, true
}

func (p *parser) env(n *yaml.Node, sp string) map[string]string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, sp, describe(n)+" where a map of variables belongs; e.g. env: {TABLE: orders}")
		return nil
	}
	env := make(map[string]string)
	size := 0
	for _, e := range p.entries(n, sp) {
		ep := sp + "." + e.name
		switch {
		case !isIdentifier(e.name):
			p.add(e.key, ep, fmt.Sprintf("%q is not a variable name; use letters, digits and '_', not starting with a digit, e.g. TABLE_NAME", e.name))
		case strings.HasPrefix(e.name, "AWS_"):
			p.add(e.key, ep, "names starting with AWS_ are reserved for the runtime, as in Lambda; rename it, e.g. APP_"+strings.TrimPrefix(e.name, "AWS_"))
		case slices.Contains(reservedEnv, e.name):
			p.add(e.key, ep, e.name+" is set by the runtime; choose another name")
		}
		switch {
		case isNull(e.val):
			p.add(e.val, ep, "no value; write "+e.name+": \"\" for an empty one")
		case e.val.Kind != yaml.ScalarNode:
			p.add(e.val, ep, fmt.Sprintf("a %s where a single value belongs; variables hold text, e.g. %s: orders", kindName(e.val), e.name))
		case strings.ContainsRune(e.val.Value, 0):
			p.add(e.val, ep, "the value contains a NUL byte, which no environment can hold; remove it")
		default:
			env[e.name] = e.val.Value
			size += len(e.name) + len(e.val.Value)
		}
	}
	if size > MaxEnvSize {
		p.add(n, sp, fmt.Sprintf("the variables take %d bytes, more than the %d allowed (as in Lambda); move large values to files or a table", size, MaxEnvSize))
	}
	if len(env) == 0 {
		return nil
	}
	return env
}
