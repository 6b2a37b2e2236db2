package server_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/pool"
	"github.com/gureum/gureum/internal/testutil"
)

// project writes a gureum.yaml whose functions build the shared test function.
func project(t *testing.T, app, functions string) string {
	t.Helper()
	return testutil.Project(t, app, functions)
}

func TestDeployInvokeVersionsRemove(t *testing.T) {
	n := testutil.StartServer(t)
	dir := project(t, "demo", `
  echo:
    build: BUILD
    env: {GREETING: hi}
    events:
      - http: {method: POST, path: /echo}
`)
	out := n.Deploy(dir)
	if !strings.Contains(out.Stdout, "deployed echo version 1") {
		t.Fatalf("deploy output: %s", out.Stdout)
	}

	r := n.CLI("invoke", "echo", "--data", `{"op":"echo","msg":"one"}`)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"msg":"one"`) || !strings.Contains(r.Stdout, `"env":"hi"`) {
		t.Fatalf("invoke: %+v", r)
	}

	// Through the gateway: a plain object result becomes a 200 JSON body.
	resp, body := n.Do(http.MethodPost, "/echo", []byte(`{"op":"echo","msg":"via http"}`), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("POST /echo: %d %s", resp.StatusCode, body)
	}

	// Same manifest: nothing changes.
	if out := n.Deploy(dir); !strings.Contains(out.Stdout, "unchanged echo version 1") {
		t.Fatalf("redeploy output: %s", out.Stdout)
	}
	// A changed environment makes version 2; version 1 stays as it was.
	dir2 := project(t, "demo", `
  echo:
    build: BUILD
    env: {GREETING: hello}
    events:
      - http: {method: POST, path: /echo}
`)
	if out := n.Deploy(dir2); !strings.Contains(out.Stdout, "deployed echo version 2") {
		t.Fatalf("deploy v2 output: %s", out.Stdout)
	}
	if r := n.CLI("invoke", "echo", "--data", `{"op":"echo"}`); !strings.Contains(r.Stdout, `"env":"hello"`) {
		t.Fatalf("v2 invoke: %+v", r)
	}
	if r := n.CLI("invoke", "echo", "-q", "1", "--data", `{"op":"echo"}`); !strings.Contains(r.Stdout, `"env":"hi"`) {
		t.Fatalf("v1 invoke: %+v", r)
	}
	r = n.CLI("versions", "echo")
	if r.Code != 0 || !strings.Contains(r.Stdout, "$LATEST") || strings.Count(r.Stdout, "\n") != 3 {
		t.Fatalf("versions: %+v", r)
	}
	if r := n.CLI("ls"); r.Code != 0 || !strings.Contains(r.Stdout, "echo") || !strings.Contains(r.Stdout, "POST /echo") {
		t.Fatalf("ls: %+v", r)
	}

	// Logs carry the function's output tagged with request ids.
	var logs testutil.CLIResult
	testutil.Eventually(t, 5*time.Second, "logs", func() bool {
		logs = n.CLI("logs", "echo")
		return strings.Contains(logs.Stdout, "echo one") && strings.Contains(logs.Stdout, "REPORT RequestId:")
	})

	if r := n.CLI("rm", "echo"); r.Code != 0 {
		t.Fatalf("rm: %+v", r)
	}
	if r := n.CLI("invoke", "echo"); r.Code == 0 || !strings.Contains(r.Stderr, "not found") {
		t.Fatalf("invoke after rm: %+v", r)
	}
	if resp, _ := n.Do(http.MethodPost, "/echo", []byte(`{}`), nil); resp.StatusCode != 404 {
		t.Fatalf("route after rm: %d", resp.StatusCode)
	}
}

func TestRestartKeepsDeployedFunctions(t *testing.T) {
	data := t.TempDir()
	n := testutil.StartServer(t, func(c *config.Config) { c.DataDir = data })
	n.Deploy(project(t, "keep", `
  greet:
    build: BUILD
    env: {GREETING: persisted}
    events:
      - http: GET /greet
`))
	token := n.Server.Token()
	n.Stop()

	n2 := testutil.StartServer(t, func(c *config.Config) { c.DataDir = data })
	if n2.Server.Token() != token {
		t.Fatalf("token changed across restart")
	}
	resp, body := n2.Get("/greet")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "persisted") {
		t.Fatalf("GET /greet after restart: %d %s", resp.StatusCode, body)
	}
	if r := n2.CLI("versions", "greet"); !strings.Contains(r.Stdout, "$LATEST") {
		t.Fatalf("versions after restart: %+v", r)
	}
}

func TestFailuresAreContained(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy(project(t, "failures", `
  f:
    build: BUILD
    timeout: 2s
    memory: 128
    events:
      - http: POST /f
  small:
    build: BUILD
    memory: 128
    timeout: 60s
    events:
      - http: POST /small
  big:
    build: BUILD
    memory: 512
    timeout: 60s
`))
	cases := []struct {
		name   string
		path   string
		event  string
		status int
		code   string
	}{
		{"returned error", "/f", `{"op":"fail","msg":"x"}`, 502, "FunctionError"},
		{"panic", "/f", `{"op":"panic"}`, 502, "FunctionError"},
		{"infinite loop stopped at timeout", "/f", `{"op":"loop"}`, 504, "FunctionTimeout"},
		{"sleep past timeout", "/f", `{"op":"sleep","ms":5000}`, 504, "FunctionTimeout"},
		// A long timeout, so that only the memory cap can stop it.
		{"memory over the cap", "/small", `{"op":"hog","mb":200}`, 502, "FunctionError"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := n.Do(http.MethodPost, c.path, []byte(c.event), nil)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			var e struct{ Code, RequestID string }
			if err := json.Unmarshal(body, &e); err != nil || e.Code != c.code {
				t.Fatalf("error body %s (want code %s)", body, c.code)
			}
			// The function and the node keep working.
			resp, body = n.Do(http.MethodPost, c.path, []byte(`{"op":"echo","msg":"still here"}`), nil)
			if resp.StatusCode != 200 || !strings.Contains(string(body), "still here") {
				t.Fatalf("after failure: %d %s", resp.StatusCode, body)
			}
		})
	}
	// The CLI exits non-zero on a function error and says which request failed.
	if r := n.CLI("invoke", "f", "--data", `{"op":"fail","msg":"cli"}`); r.Code != 1 || !strings.Contains(r.Stdout, "failed on purpose: cli") || !strings.Contains(r.Stderr, "request id") {
		t.Fatalf("invoke fail: %+v", r)
	}
	// The same allocation fits in a function with more memory.
	if r := n.CLI("invoke", "big", "--data", `{"op":"hog","mb":200}`); r.Code != 0 || !strings.Contains(r.Stdout, `"held":200`) {
		t.Fatalf("hog with 512 MiB: %+v", r)
	}
	// No grant, no file system.
	if r := n.CLI("invoke", "f", "--data", `{"op":"files"}`); r.Code != 0 || strings.Contains(r.Stdout, `"err":"\u003cnil\u003e"`) || strings.Contains(r.Stdout, `"err":"<nil>"`) {
		t.Fatalf("file system visible: %+v", r)
	}
}

func TestConcurrencyLimitThrottles(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy(project(t, "throttle", `
  one:
    build: BUILD
    concurrency: 1
    timeout: 10s
    events:
      - http: POST /one
`))
	var wg sync.WaitGroup
	wg.Add(1)
	var slowStatus int
	go func() {
		defer wg.Done()
		resp, _ := n.Do(http.MethodPost, "/one", []byte(`{"op":"sleep","ms":1500}`), nil)
		slowStatus = resp.StatusCode
	}()
	testutil.Eventually(t, 10*time.Second, "the first invocation to be running", func() bool {
		return stats(n, pool.Key{Function: "one", Version: "1"}).Busy == 1
	})
	resp, body := n.Do(http.MethodPost, "/one", []byte(`{"op":"echo"}`), nil)
	if resp.StatusCode != 429 || !strings.Contains(string(body), "Throttled") {
		t.Fatalf("second invocation: %d %s", resp.StatusCode, body)
	}
	wg.Wait()
	if slowStatus != 200 {
		t.Fatalf("first invocation: %d", slowStatus)
	}
}

func TestScaleToZeroAndProvisioned(t *testing.T) {
	n := testutil.StartServer(t, func(c *config.Config) { c.IdleTimeout = 300 * time.Millisecond })
	n.Deploy(project(t, "scale", `
  ondemand:
    build: BUILD
  warm:
    build: BUILD
    provisioned: 2
`))
	onDemand := pool.Key{Function: "ondemand", Version: "1"}
	warm := pool.Key{Function: "warm", Version: "1"}
	testutil.Eventually(t, 20*time.Second, "2 provisioned instances", func() bool {
		return stats(n, warm).Idle == 2
	})
	r := n.CLI("invoke", "warm", "-v", "--data", `{"op":"count"}`)
	if r.Code != 0 || !strings.Contains(r.Stderr, "warm") || strings.Contains(r.Stderr, "cold") {
		t.Fatalf("first call of a provisioned function should be warm: %+v", r)
	}
	r = n.CLI("invoke", "ondemand", "-v", "--data", `{"op":"count"}`)
	if r.Code != 0 || !strings.Contains(r.Stderr, "cold") {
		t.Fatalf("first call of an on-demand function should be cold: %+v", r)
	}
	r = n.CLI("invoke", "ondemand", "-v", "--data", `{"op":"count"}`)
	if !strings.Contains(r.Stdout, `"count":2`) || strings.Contains(r.Stderr, "cold") {
		t.Fatalf("second call should reuse the warm instance: %+v", r)
	}
	testutil.Eventually(t, 20*time.Second, "the idle on-demand instance to be reaped", func() bool {
		return stats(n, onDemand).Idle == 0
	})
	if st := stats(n, warm); st.Idle != 2 {
		t.Fatalf("provisioned instances reaped: %+v", st)
	}
}

func TestAdminAPIRequiresToken(t *testing.T) {
	n := testutil.StartServer(t)
	resp, body := n.Get("/_gureum/v1/functions")
	if resp.StatusCode != 401 || !strings.Contains(string(body), "Unauthorized") {
		t.Fatalf("no token: %d %s", resp.StatusCode, body)
	}
	resp, _ = n.Do(http.MethodGet, "/_gureum/v1/functions", nil, http.Header{"Authorization": {"Bearer wrong"}})
	if resp.StatusCode != 401 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	resp, _ = n.Do(http.MethodGet, "/_gureum/v1/functions", nil, http.Header{"Authorization": {"Bearer " + n.Server.Token()}})
	if resp.StatusCode != 200 {
		t.Fatalf("right token: %d", resp.StatusCode)
	}
	if resp, _ := n.Get("/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	if resp, _ := n.Get("/nothing/here"); resp.StatusCode != 404 {
		t.Fatalf("unknown route: %d", resp.StatusCode)
	}
}

func TestBrokenManifestChangesNothing(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy(project(t, "stable", `
  a:
    build: BUILD
    events:
      - http: GET /a
`))
	dir := project(t, "stable", `
  a:
    build: BUILD
    memory: lots
    events:
      - http: GET /a
  b:
    build: BUILD
`)
	r := n.CLI("deploy", dir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "gureum.yaml:") || !strings.Contains(r.Stderr, "memory") {
		t.Fatalf("broken manifest: %+v", r)
	}
	if r := n.CLI("versions", "a"); strings.Count(r.Stdout, "\n") != 2 {
		t.Fatalf("versions after a rejected deploy: %+v", r)
	}
	if r := n.CLI("invoke", "b"); r.Code == 0 {
		t.Fatalf("function b exists after a rejected deploy")
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy(project(t, "drain", `
  slow:
    build: BUILD
    timeout: 10s
    events:
      - http: POST /slow
`))
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(n.URL+"/slow", "application/json", strings.NewReader(`{"op":"sleep","ms":1000}`))
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	testutil.Eventually(t, 10*time.Second, "the invocation to be running", func() bool {
		return stats(n, pool.Key{Function: "slow", Version: "1"}).Busy == 1
	})
	n.Stop()
	if code := <-done; code != 200 {
		t.Fatalf("in-flight invocation during shutdown: %d", code)
	}
}

func stats(n *testutil.Node, key pool.Key) pool.Stats {
	st, _ := n.Server.Pools().StatsOf(key)
	return st
}

func TestSnapshotColdStartsThroughTheNode(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy(project(t, "snap", `
  snappy:
    build: BUILD
    snapshot: true
    timeout: 10s
    env: {GREETING: restored}
`))
	// The first cold start initializes normally or restores the snapshot
	// taken at deploy; either way it is a fresh instance.
	r := n.CLI("invoke", "snappy", "-v", "--data", `{"op":"count"}`)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"count":1`) || !strings.Contains(r.Stderr, "cold") {
		t.Fatalf("first invocation: %+v", r)
	}
	// The node takes the snapshot when the version is deployed, in the
	// background, or at the first cold start.
	testutil.Eventually(t, 30*time.Second, "the snapshot to be ready", func() bool {
		return stats(n, pool.Key{Function: "snappy", Version: "1"}).Snapshot.State == "ready"
	})
	snaps, _ := filepath.Glob(filepath.Join(n.Config.DataDir, "cache", "wasm", "snapshots", "*"))
	if len(snaps) == 0 {
		t.Fatalf("no snapshot stored under the data directory")
	}
	// Keep that instance busy, so the next invocation starts another one,
	// from the snapshot: it must behave as a fresh instance.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.CLI("invoke", "snappy", "--data", `{"op":"sleep","ms":1500}`)
	}()
	testutil.Eventually(t, 10*time.Second, "the first instance to be busy", func() bool {
		return stats(n, pool.Key{Function: "snappy", Version: "1"}).Busy == 1
	})
	r = n.CLI("invoke", "snappy", "-v", "--data", `{"op":"count"}`)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"count":1`) || !strings.Contains(r.Stderr, "cold") {
		t.Fatalf("restored instance: %+v", r)
	}
	if r := n.CLI("invoke", "snappy", "--data", `{"op":"echo","msg":"x"}`); !strings.Contains(r.Stdout, `"env":"restored"`) {
		t.Fatalf("environment after restore: %+v", r)
	}
	wg.Wait()
}

// TestSnapshotWarmupAndStatusThroughTheNode: snapshots are on by default; a
// warm-up event runs before the snapshot, so restored instances start with
// its effects; gureum ls reports where each function's snapshot stands,
// with the reason when a warm-up fails.
func TestSnapshotWarmupAndStatusThroughTheNode(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy(project(t, "warm", `
  plain:
    build: BUILD
  warmed:
    build: BUILD
    timeout: 10s
    snapshot:
      warmup: {op: echo, msg: warm}
  broken:
    build: BUILD
    snapshot:
      warmup: {op: fail, msg: in warm-up}
  nosnap:
    build: BUILD
    snapshot: false
`))
	// The snapshots are taken when the versions are deployed, before any
	// request; gureum ls reports them.
	states := map[string]admin.SnapshotInfo{}
	testutil.Eventually(t, 60*time.Second, "the snapshots taken at deploy", func() bool {
		var infos []admin.FunctionInfo
		r := n.CLI("ls", "-o", "json")
		if err := json.Unmarshal([]byte(r.Stdout), &infos); err != nil {
			t.Fatalf("ls -o json: %v: %+v", err, r)
		}
		clear(states)
		for _, f := range infos {
			if f.Snapshot != nil {
				states[f.Name] = *f.Snapshot
			}
		}
		// Each ready snapshot keeps a standby instance for the first
		// cold start.
		return states["plain"].State == "ready" && states["warmed"].State == "ready" && states["broken"].State == "failed" &&
			states["plain"].Standby && states["warmed"].Standby
	})
	if states["broken"].Standby {
		t.Error("a failed snapshot reports a standby instance")
	}
	if !strings.Contains(states["broken"].Reason, "failed on purpose: in warm-up") {
		t.Errorf("broken: reason %q", states["broken"].Reason)
	}
	if r := n.CLI("ls"); !strings.Contains(r.Stdout, "failed: warm-up invocation") || !strings.Contains(r.Stdout, "ready") {
		t.Errorf("ls:\n%s", r.Stdout)
	}

	for _, fn := range []string{"plain", "warmed", "broken", "nosnap"} {
		if r := n.CLI("invoke", fn, "--data", `{"op":"echo"}`); r.Code != 0 {
			t.Fatalf("invoke %s: %+v", fn, r)
		}
	}
	// The first instance of warmed was restored: the warm-up's call is in
	// its count, then the echo, then this one.
	if r := n.CLI("invoke", "warmed", "--data", `{"op":"count"}`); !strings.Contains(r.Stdout, `"count":3`) {
		t.Fatalf("count on the first instance: %+v", r)
	}
	if r := n.CLI("ls", "-o", "json"); !strings.Contains(r.Stdout, `"state": "off"`) {
		t.Errorf("nosnap is not reported off: %s", r.Stdout)
	}

	// A restored instance of warmed starts where the warm-up left off.
	var wg sync.WaitGroup
	wg.Go(func() { n.CLI("invoke", "warmed", "--data", `{"op":"sleep","ms":1500}`) })
	testutil.Eventually(t, 10*time.Second, "the first instance to be busy", func() bool {
		return stats(n, pool.Key{Function: "warmed", Version: "1"}).Busy == 1
	})
	if r := n.CLI("invoke", "warmed", "-v", "--data", `{"op":"count"}`); !strings.Contains(r.Stdout, `"count":2`) || !strings.Contains(r.Stderr, "cold") {
		t.Fatalf("restored instance: %+v", r)
	}
	wg.Wait()
}
