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
		Concurrency: 10, Provisioned: 2, Env: map[string]string{"TABLE": "orders"},
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
