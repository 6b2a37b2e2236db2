package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/registry"
)

// fn returns a wasm function with the defaults applied, built from ./name.
func fn(name string, line int) *Function {
	return &Function{Name: name, Runtime: RuntimeWasm, Build: name, Memory: DefaultMemory, Timeout: DefaultTimeout, Snapshot: DefaultWasmSnapshot, Line: line}
}

func with(f *Function, change func(*Function)) *Function {
	change(f)
	return f
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		file string // default gureum.yaml
		yaml string
		want *Project
	}{
		{
			name: "minimal, defaults applied",
			yaml: "app: shop\nfunctions:\n  api:\n    build: ./api\n",
			want: &Project{App: "shop", Dir: ".", File: "gureum.yaml", Functions: []*Function{fn("api", 3)}},
		},
		{
			name: "snapshot",
			yaml: `app: shop
functions:
  api:
    build: ./api
    snapshot: true
  off:
    build: ./off
    snapshot: false
  default:
    build: ./default
  warm:
    build: ./warm
    snapshot:
      warmup: {path: /orders, httpMethod: GET, queryStringParameters: {limit: 10}, headers: null}
  text:
    build: ./text
    snapshot: {warmup: ping}
  list:
    build: ./list
    snapshot: {warmup: [1, "2", true]}
  empty-map:
    build: ./empty-map
    snapshot: {}
  proc:
    runtime: process
    handler: ./bootstrap
  proc-off:
    runtime: process
    handler: ./bootstrap
    snapshot: false
`,
			want: &Project{App: "shop", Dir: ".", File: "gureum.yaml", Functions: []*Function{
				with(fn("api", 3), func(f *Function) { f.Snapshot = true }),
				with(fn("off", 6), func(f *Function) { f.Snapshot = false }),
				with(fn("default", 9), func(f *Function) { f.Snapshot = DefaultWasmSnapshot }),
				with(fn("warm", 11), func(f *Function) {
					f.Snapshot = true
					f.SnapshotWarmup = json.RawMessage(`{"path":"/orders","httpMethod":"GET","queryStringParameters":{"limit":10},"headers":null}`)
				}),
				with(fn("text", 15), func(f *Function) { f.Snapshot, f.SnapshotWarmup = true, json.RawMessage(`"ping"`) }),
				with(fn("list", 18), func(f *Function) { f.Snapshot, f.SnapshotWarmup = true, json.RawMessage(`[1,"2",true]`) }),
				with(fn("empty-map", 21), func(f *Function) { f.Snapshot = true }),
				{Name: "proc", Runtime: RuntimeProcess, Handler: "bootstrap", Memory: DefaultMemory, Timeout: DefaultTimeout, Line: 24, handlerName: "bootstrap"},
				{Name: "proc-off", Runtime: RuntimeProcess, Handler: "bootstrap", Memory: DefaultMemory, Timeout: DefaultTimeout, Line: 27, handlerName: "bootstrap"},
			}},
		},
		{
			name: "design sketch with the supported keys",
			yaml: `app: shop
functions:
  api:
    runtime: wasm            # wasm | process
    build: ./api             # Go package built to wasm
    memory: 128              # MiB
    timeout: 10s
    concurrency: 100         # most instances at once
    provisioned: 1           # instances kept warm
    env: {TABLE: orders}
    permissions: {}
    events:
      - http: {method: GET, path: "/orders/{id}", auth: none}
`,
			want: &Project{App: "shop", Dir: ".", File: "gureum.yaml", Functions: []*Function{with(fn("api", 3), func(f *Function) {
				f.Timeout = 10 * time.Second
				f.Concurrency, f.Provisioned = 100, 1
				f.Env = map[string]string{"TABLE": "orders"}
				f.Events = []Event{{Line: 13, HTTP: &HTTPEvent{Method: "GET", Path: "/orders/{id}", Auth: AuthNone}}}
			})}},
		},
		{
			name: "http shorthands and defaults",
			yaml: `app: shop
functions:
  api:
    build: ./api
    events:
      - http: get /hello
      - http: /any
      - http: {path: /x}
      - http: {method: Post, path: /x}
      - http:
          method: DELETE
          path: /orders/{id}
      - http: GET /
      - http: GET /files/{path+}
      - http: GET /files/{name}
      - http: GET /files/latest
      - http: ANY /files/latest
`,
			want: &Project{App: "shop", Dir: ".", File: "gureum.yaml", Functions: []*Function{with(fn("api", 3), func(f *Function) {
				f.Events = []Event{
					{Line: 6, HTTP: &HTTPEvent{Method: "GET", Path: "/hello", Auth: "none"}},
					{Line: 7, HTTP: &HTTPEvent{Method: "ANY", Path: "/any", Auth: "none"}},
					{Line: 8, HTTP: &HTTPEvent{Method: "ANY", Path: "/x", Auth: "none"}},
					{Line: 9, HTTP: &HTTPEvent{Method: "POST", Path: "/x", Auth: "none"}},
					{Line: 10, HTTP: &HTTPEvent{Method: "DELETE", Path: "/orders/{id}", Auth: "none"}},
					{Line: 13, HTTP: &HTTPEvent{Method: "GET", Path: "/", Auth: "none"}},
					{Line: 14, HTTP: &HTTPEvent{Method: "GET", Path: "/files/{path+}", Auth: "none"}},
					{Line: 15, HTTP: &HTTPEvent{Method: "GET", Path: "/files/{name}", Auth: "none"}},
					{Line: 16, HTTP: &HTTPEvent{Method: "GET", Path: "/files/latest", Auth: "none"}},
					{Line: 17, HTTP: &HTTPEvent{Method: "ANY", Path: "/files/latest", Auth: "none"}},
				}
			})}},
		},
		{
			name: "runtimes and code locations, in file order",
			file: "proj/gureum.yaml",
			yaml: `app: shop-2
functions:
  z-first:
    runtime: process
    handler: ./bin/bootstrap
    memory: 10240
  a_second:
    runtime: process
    build: ./cmd/worker
  Module:
    artifact: ../shared/module.wasm
    memory: 4096
`,
			want: &Project{App: "shop-2", Dir: "proj", File: "proj/gureum.yaml", Functions: []*Function{
				{Name: "z-first", Runtime: RuntimeProcess, Handler: "proj/bin/bootstrap", Memory: 10240, Timeout: DefaultTimeout, Line: 3, handlerName: "bin/bootstrap"},
				{Name: "a_second", Runtime: RuntimeProcess, Build: "proj/cmd/worker", Memory: DefaultMemory, Timeout: DefaultTimeout, Line: 7},
				{Name: "Module", Runtime: RuntimeWasm, Artifact: "shared/module.wasm", Memory: 4096, Timeout: DefaultTimeout, Snapshot: DefaultWasmSnapshot, Line: 10},
			}},
		},
		{
			name: "timeout forms",
			yaml: `app: t
functions:
  a: {build: ./a, timeout: 90}
  b: {build: ./b, timeout: 1m30s}
  c: {build: ./c, timeout: 1500ms}
  d: {build: ./d, timeout: 15m}
  e: {build: ./e, timeout: 1s}
  f: {build: ./f, timeout: 900}
`,
			want: &Project{App: "t", Dir: ".", File: "gureum.yaml", Functions: []*Function{
				with(fn("a", 3), func(f *Function) { f.Timeout = 90 * time.Second }),
				with(fn("b", 4), func(f *Function) { f.Timeout = 90 * time.Second }),
				with(fn("c", 5), func(f *Function) { f.Timeout = 1500 * time.Millisecond }),
				with(fn("d", 6), func(f *Function) { f.Timeout = 15 * time.Minute }),
				with(fn("e", 7), func(f *Function) { f.Timeout = time.Second }),
				with(fn("f", 8), func(f *Function) { f.Timeout = 15 * time.Minute }),
			}},
		},
		{
			name: "env values keep their YAML text",
			yaml: `app: t
functions:
  a:
    build: ./a
    env:
      PORT: 8080
      DEBUG: true
      RATIO: 0.50
      HEX: 0x10
      QUOTED: "x: y"
      EMPTY: ""
      _private: yes
      MULTI: |
        line one
        line two
`,
			want: &Project{App: "t", Dir: ".", File: "gureum.yaml", Functions: []*Function{with(fn("a", 3), func(f *Function) {
				f.Env = map[string]string{"PORT": "8080", "DEBUG": "true", "RATIO": "0.50", "HEX": "0x10", "QUOTED": "x: y", "EMPTY": "", "_private": "yes", "MULTI": "line one\nline two\n"}
			})}},
		},
		{
			name: "counts: concurrency 0 is the node default and does not bound provisioned",
			yaml: `app: t
functions:
  a: {build: ./a, concurrency: 0, provisioned: 5}
  b: {build: ./b, concurrency: 5, provisioned: 5}
`,
			want: &Project{App: "t", Dir: ".", File: "gureum.yaml", Functions: []*Function{
				with(fn("a", 3), func(f *Function) { f.Provisioned = 5 }),
				with(fn("b", 4), func(f *Function) { f.Concurrency, f.Provisioned = 5, 5 }),
			}},
		},
		{
			name: "anchors, merges and x- keys",
			yaml: `app: t
x-defaults: &defaults
  memory: 512
  timeout: 30s
  env: &env {STAGE: dev}
functions:
  a:
    <<: *defaults
    build: ./a
  b:
    <<: [*defaults]
    build: ./b
    memory: 256
    env: *env
`,
			want: &Project{App: "t", Dir: ".", File: "gureum.yaml", Functions: []*Function{
				with(fn("a", 7), func(f *Function) {
					f.Memory, f.Timeout, f.Env = 512, 30*time.Second, map[string]string{"STAGE": "dev"}
				}),
				with(fn("b", 10), func(f *Function) {
					f.Memory, f.Timeout, f.Env = 256, 30*time.Second, map[string]string{"STAGE": "dev"}
				}),
			}},
		},
		{
			name: "empty optional sections",
			yaml: "app: t\nfunctions:\n  a:\n    build: ./a\n    env: {}\n    permissions:\n    events: []\n",
			want: &Project{App: "t", Dir: ".", File: "gureum.yaml", Functions: []*Function{fn("a", 3)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == "" {
				file = "gureum.yaml"
			}
			got, err := Parse(file, []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

func dump(p *Project) string {
	var b strings.Builder
	b.WriteString(p.App + " " + p.Dir + " " + p.File)
	for _, f := range p.Functions {
		b.WriteString("\n  ")
		b.WriteString(fmt.Sprintf("%+v", *f))
		for _, e := range f.Events {
			if e.HTTP != nil {
				b.WriteString("\n    " + fmt.Sprintf("%+v", *e.HTTP))
			}
		}
	}
	return b.String()
}

func TestProjectFunction(t *testing.T) {
	p, err := Parse("gureum.yaml", []byte("app: t\nfunctions:\n  a: {build: ./a}\n  b: {build: ./b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := p.Function("b"); f == nil || f.Name != "b" {
		t.Errorf(`Function("b") = %v`, f)
	}
	if f := p.Function("c"); f != nil {
		t.Errorf(`Function("c") = %v, want nil`, f)
	}
}

// TestParseInvalid checks single rules by the path and line of the problem;
// the golden files hold the full messages.
func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
		path, msg  string // msg: a substring
	}{
		{"wasm memory cap", "app: t\nfunctions:\n  a:\n    build: ./a\n    memory: 4097\n", 5, "functions.a.memory", "wasm32"},
		{"apikey refused", "app: t\nfunctions:\n  a:\n    build: ./a\n    events:\n      - http: {path: /x, auth: apikey}\n", 6, "functions.a.events[0].http.auth", "not supported by this version of gureum yet"},
		{"workflows refused", "app: t\nfunctions: {a: {build: ./a}}\nworkflows: {}\n", 3, "workflows", "not supported by this version of gureum yet"},
		{"bucket name", "app: t\nfunctions: {a: {build: ./a}}\nbuckets: {Up: {}}\n", 3, "buckets.Up", "S3's rule"},
		{"bucket event overlap in one function", "app: t\nfunctions:\n  a:\n    build: ./a\n    events:\n      - bucket: {name: up1, prefix: a/}\n      - bucket: {name: up1, prefix: a/b/}\n", 7, "functions.a.events[1].bucket", "to function a (line 6)"},
		{"bucket events without overlap", "app: t\nfunctions:\n  a:\n    build: ./a\n    events:\n      - bucket: {name: up1, prefix: a/}\n      - bucket: {name: up1, prefix: b/}\n      - bucket: {name: up1, prefix: a/, on: [removed]}\n      - bucket: {name: up1, prefix: a/, suffix: .png, on: [removed]}\n", 9, "functions.a.events[3].bucket", "removed events of keys starting with \"a/\" to function a (line 8)"},
		{"bucket notification overlaps a function's", "app: t\nfunctions:\n  a: {build: ./a, events: [{bucket: {name: up1, suffix: .png}}]}\nbuckets:\n  up1: {events: [{queue: q, suffix: x.png}]}\n", 5, "buckets.up1.events[0]", "to function a (line 3)"},
		{"stream event refused", "app: t\nfunctions:\n  a:\n    build: ./a\n    events:\n      - stream: clicks\n", 6, "functions.a.events[0].stream", "not supported by this version of gureum yet"},
		{"grant needs a mode", "app: t\nfunctions:\n  a:\n    build: ./a\n    permissions: {tables: [orders]}\n", 5, "functions.a.permissions.tables[0]", "write orders:rw (read and write), orders:r or orders:w"},
		{"kv and tables", "app: t\nfunctions:\n  a:\n    build: ./a\n    permissions: {kv: [a:r], tables: [b:r]}\n", 5, "functions.a.permissions.tables", "keep one"},
		{"table grant names a bucket", "app: t\nfunctions:\n  a:\n    build: ./a\n    permissions: {tables: [up1:r]}\nbuckets: {up1: {}}\n", 5, "functions.a.permissions.tables[0]", "up1 is a bucket in this manifest, not a table"},
		{"http grant with a scheme", "app: t\nfunctions:\n  a:\n    build: ./a\n    permissions: {http: [\"https://x.example.com/a\"]}\n", 5, "functions.a.permissions.http[0]", "http: [x.example.com]"},
		{"secrets refused", "app: t\nfunctions:\n  a:\n    build: ./a\n    permissions: {secrets: [db]}\n", 5, "functions.a.permissions.secrets", "not supported by this version of gureum yet"},
		{"dlq is itself", "app: t\nfunctions: {a: {build: ./a}}\nqueues:\n  q: {dlq: q}\n", 4, "queues.q.dlq", "its own dlq"},
		{"maxReceives without dlq", "app: t\nfunctions: {a: {build: ./a}}\nqueues:\n  q: {maxReceives: 3}\n", 4, "queues.q.maxReceives", "needs a dlq"},
		{"visibility under timeout", "app: t\nfunctions:\n  a:\n    build: ./a\n    timeout: 31s\n    events: [{queue: q}]\nqueues: {q: {}}\n", 6, "functions.a.events[0].queue", "shorter than the timeout"},
		{"visibility under timeout, queue declared first", "app: t\nqueues: {q: {visibility: 5s}}\nfunctions:\n  a:\n    build: ./a\n    timeout: 6s\n    events:\n      - queue: {name: q}\n", 8, "functions.a.events[0].queue.name", "visibility: 36s"},
		{"one consumer per queue", "app: t\nfunctions:\n  a: {build: ./a, events: [{queue: q}]}\n  b: {build: ./b, events: [{queue: q}]}\n", 4, "functions.b.events[0].queue", "already triggers function a"},
		{"destination kind", "app: t\nfunctions:\n  a: {build: ./a, async: {onSuccess: \"queue:x\"}}\ntopics: {x: {}}\n", 3, "functions.a.async.onSuccess", "x is a topic in this manifest, not a queue"},
		{"permission kind", "app: t\nfunctions:\n  a: {build: ./a, permissions: {send: [x]}}\ntopics: {x: {}}\n", 3, "functions.a.permissions.send[0]", "not a queue"},
		{"subscription kind", "app: t\nfunctions: {a: {build: ./a}}\ntopics:\n  t:\n    subscriptions: [{queue: t2}]\n  t2: {}\n", 5, "topics.t.subscriptions[0].queue", "t2 is a topic"},
		{"big batch needs a window", "app: t\nfunctions:\n  a:\n    build: ./a\n    events: [{queue: {name: q, batch: 11}}]\n", 5, "functions.a.events[0].queue.batch", "window"},
		{"env permission refused", "app: t\nfunctions:\n  a:\n    build: ./a\n    permissions: {env: [HOME]}\n", 5, "functions.a.permissions.env", "not supported by this version of gureum yet"},
		{"snapshot on a process function", "app: t\nfunctions:\n  a:\n    runtime: process\n    handler: ./h\n    snapshot: {warmup: 1}\n", 6, "functions.a.snapshot", "wasm functions only"},
		{"snapshot warm-up too large", "app: t\nfunctions:\n  a:\n    build: ./a\n    snapshot:\n      warmup: " + strings.Repeat("x", registry.MaxSnapshotWarmup-1) + "\n", 6, "functions.a.snapshot.warmup", "262145 bytes as JSON, more than the 262144 allowed"},
		{"typo suggestion", "app: t\nfunctions:\n  a:\n    build: ./a\n    timout: 3s\n", 5, "functions.a.timout", "did you mean timeout?"},
		{"route conflict across functions", "app: t\nfunctions:\n  a:\n    build: ./a\n    events:\n      - http: GET /o/{id}\n  b:\n    build: ./b\n    events:\n      - http: GET /o/{key}\n", 10, "functions.b.events[0].http", "function a (line 6)"},
		{"reserved prefix", "app: t\nfunctions:\n  a:\n    build: ./a\n    events: [{http: GET /metrics/x}]\n", 5, "functions.a.events[0].http", "reserves"},
		{"AWS_ env", "app: t\nfunctions:\n  a:\n    build: ./a\n    env: {AWS_KEY: x}\n", 5, "functions.a.env.AWS_KEY", "reserved"},
		{"env too large", "app: t\nfunctions:\n  a:\n    build: ./a\n    env:\n      A: " + strings.Repeat("x", MaxEnvSize) + "\n", 6, "functions.a.env", "4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("gureum.yaml", []byte(tt.yaml))
			var merr *Error
			if !errors.As(err, &merr) {
				t.Fatalf("Parse error = %v, want *Error", err)
			}
			for _, p := range merr.Problems {
				if p.Line == tt.line && p.Path == tt.path && strings.Contains(p.Message, tt.msg) {
					return
				}
			}
			t.Errorf("no problem at line %d, %s, containing %q; got:\n%v", tt.line, tt.path, tt.msg, err)
		})
	}
}

// TestAllProblems checks that problems in different places are all
// reported, in file order.
func TestAllProblems(t *testing.T) {
	_, err := Parse("gureum.yaml", []byte("app: Bad\nfunctions:\n  b:\n    build: ./b\n    memory: 1\n  a:\n    timeout: 0s\n"))
	var merr *Error
	if !errors.As(err, &merr) {
		t.Fatalf("Parse error = %v, want *Error", err)
	}
	var lines []int
	for _, p := range merr.Problems {
		lines = append(lines, p.Line)
		if p.File != "gureum.yaml" || p.Column < 1 {
			t.Errorf("problem %+v: want file gureum.yaml and a column", p)
		}
	}
	if want := []int{1, 5, 6, 7}; !reflect.DeepEqual(lines, want) {
		t.Errorf("problem lines = %v, want %v:\n%v", lines, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(merr.Problems) {
		t.Errorf("Error() has %d lines for %d problems", n, len(merr.Problems))
	}
}

func TestAliasBomb(t *testing.T) {
	// Each level doubles the values the walk visits; the budget stops it.
	var b strings.Builder
	b.WriteString("app: t\nx-0: &e0 {A: x}\n")
	for i := 1; i <= 25; i++ {
		b.WriteString("x-" + strconv.Itoa(i) + ": &e" + strconv.Itoa(i) + " {<<: [*e" + strconv.Itoa(i-1) + ", *e" + strconv.Itoa(i-1) + "]}\n")
	}
	b.WriteString("functions:\n  a:\n    build: ./a\n    env: *e25\n")
	_, err := Parse("gureum.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand") {
		t.Fatalf("Parse error = %v, want the alias budget problem", err)
	}
}

// TestSnapshotWarmupLimit checks that a warm-up event of exactly
// registry.MaxSnapshotWarmup bytes of JSON is accepted.
func TestSnapshotWarmupLimit(t *testing.T) {
	text := strings.Repeat("x", registry.MaxSnapshotWarmup-2) // quoted in JSON
	p, err := Parse("gureum.yaml", []byte("app: t\nfunctions:\n  a:\n    build: ./a\n    snapshot: {warmup: "+text+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Function("a").SnapshotWarmup); got != registry.MaxSnapshotWarmup {
		t.Errorf("warm-up of %d bytes, want %d", got, registry.MaxSnapshotWarmup)
	}
}
