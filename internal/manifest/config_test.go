package manifest

import (
	"reflect"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/registry"
)

func TestConfig(t *testing.T) {
	p, err := Parse("proj/gureum.yaml", []byte(`app: shop
functions:
  api:
    build: ./api
    memory: 256
    timeout: 1m
    concurrency: 10
    provisioned: 2
    env: {TABLE: orders}
    events:
      - http: get /orders/{id}
      - http: /any
  proc:
    runtime: process
    handler: ./bin/../bin/bootstrap
`))
	if err != nil {
		t.Fatal(err)
	}
	want := registry.FunctionConfig{
		Name: "api", Runtime: "wasm", MemoryMiB: 256, Timeout: registry.Duration(time.Minute),
		Concurrency: 10, Provisioned: 2, Snapshot: DefaultWasmSnapshot, Env: map[string]string{"TABLE": "orders"},
		Routes: []registry.Route{{Method: "GET", Path: "/orders/{id}", Auth: "none"}, {Method: "ANY", Path: "/any", Auth: "none"}},
	}
	api := p.Function("api")
	got := api.Config()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("api Config() =\n%+v\nwant\n%+v", got, want)
	}
	got.Env["TABLE"] = "changed"
	if api.Env["TABLE"] != "orders" {
		t.Error("Config shares the function's env map")
	}
	want = registry.FunctionConfig{Name: "proc", Runtime: "process", Handler: "bin/bootstrap", MemoryMiB: 128, Timeout: registry.Duration(3 * time.Second)}
	if got := p.Function("proc").Config(); !reflect.DeepEqual(got, want) {
		t.Errorf("proc Config() =\n%+v\nwant\n%+v", got, want)
	}
}

// TestConfigSnapshot checks that the snapshot setting reaches the deployed
// configuration explicitly, the default resolved, and the warm-up event
// as compact JSON that the configuration does not share.
func TestConfigSnapshot(t *testing.T) {
	p, err := Parse("gureum.yaml", []byte(`app: shop
functions:
  default: {build: ./default}
  off: {build: ./off, snapshot: false}
  warm:
    build: ./warm
    snapshot:
      warmup:
        path: /orders
        body: "{\"id\": 1}"
  proc: {runtime: process, handler: ./bootstrap}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		snapshot bool
		warmup   string
	}{
		{"default", DefaultWasmSnapshot, ""},
		{"off", false, ""},
		{"warm", true, `{"path":"/orders","body":"{\"id\": 1}"}`},
		{"proc", false, ""},
	} {
		f := p.Function(tc.name)
		cfg := f.Config()
		if cfg.Snapshot != tc.snapshot || string(cfg.SnapshotWarmup) != tc.warmup {
			t.Errorf("%s: Config() snapshot %t, warm-up %q; want %t, %q", tc.name, cfg.Snapshot, cfg.SnapshotWarmup, tc.snapshot, tc.warmup)
		}
		if tc.warmup == "" && cfg.SnapshotWarmup != nil {
			t.Errorf("%s: warm-up %q, want nil", tc.name, cfg.SnapshotWarmup)
		}
		if len(cfg.SnapshotWarmup) > 0 {
			cfg.SnapshotWarmup[0] = 'X'
			if f.SnapshotWarmup[0] != '{' {
				t.Errorf("%s: Config shares the warm-up event", tc.name)
			}
		}
	}
}
