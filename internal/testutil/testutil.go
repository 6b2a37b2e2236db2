// Package testutil starts whole gureum nodes in-process for end-to-end tests:
// an embedded NATS JetStream, the runtimes, the gateway and the admin API, on
// random ports in a temporary directory.
package testutil

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/apiclient"
	"github.com/gureum/gureum/internal/cli"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/server"
)

// Node is a running node under test.
type Node struct {
	T       testing.TB
	Server  *server.Server
	Config  config.Config
	URL     string // http://127.0.0.1:PORT
	Client  *apiclient.Client
	stopped bool
}

// StartServer starts a node on a random port in a fresh temp dir and stops it
// when the test ends. mutate, if given, adjusts the config first.
func StartServer(t testing.TB, mutate ...func(*config.Config)) *Node {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.S3Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.DrainTimeout = 10 * time.Second
	cfg.Env = os.Environ()
	for _, m := range mutate {
		m(&cfg)
	}
	return StartWithConfig(t, cfg)
}

// StartWithConfig starts a node with exactly cfg.
func StartWithConfig(t testing.TB, cfg config.Config) *Node {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, server.WithLogger(logger))
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start server: %v", err)
	}
	n := &Node{T: t, Server: srv, Config: cfg, URL: "http://" + srv.Addr()}
	n.Client = apiclient.New("http://"+srv.AdminAddr(), srv.Token())
	t.Cleanup(func() { n.Stop() })
	return n
}

// Stop shuts the node down (idempotent).
func (n *Node) Stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Server.Shutdown(ctx); err != nil {
		n.T.Errorf("shutdown: %v", err)
	}
}

// CLIResult is what one CLI run printed.
type CLIResult struct {
	Code   int
	Stdout string
	Stderr string
}

// CLI runs the gureum command line in-process against this node.
func (n *Node) CLI(args ...string) CLIResult {
	n.T.Helper()
	return n.CLIStdin(nil, args...)
}

// CLIStdin runs the command line with stdin.
func (n *Node) CLIStdin(stdin io.Reader, args ...string) CLIResult {
	n.T.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	env := append(os.Environ(), "GUREUM_URL=http://"+n.Server.AdminAddr(), "GUREUM_TOKEN="+n.Server.Token())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := cli.Run(ctx, args, cli.IO{Stdin: stdin, Stdout: &out, Stderr: &errb, Env: env})
	return CLIResult{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

// Deploy deploys a project dir with the CLI and fails the test if it fails.
func (n *Node) Deploy(dir string) CLIResult {
	n.T.Helper()
	r := n.CLI("deploy", dir)
	if r.Code != 0 {
		n.T.Fatalf("deploy %s: exit %d\nstdout: %s\nstderr: %s", dir, r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// Get fetches a path from the node's gateway.
func (n *Node) Get(path string) (*http.Response, []byte) {
	n.T.Helper()
	return n.Do(http.MethodGet, path, nil, nil)
}

// Do sends one request to the gateway and reads the whole answer.
func (n *Node) Do(method, path string, body []byte, hdr http.Header) (*http.Response, []byte) {
	n.T.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, n.URL+path, r)
	if err != nil {
		n.T.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		n.T.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, data
}

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// Project writes a gureum.yaml for app into a fresh directory under the
// calling test's testdata/ (inside the module, so that functions build against
// this checkout's SDK) and returns it. In functions, BUILD stands for the
// shared test function (testdata/fn of this package), which picks its
// behaviour from the event: echo, count, fail, panic, loop, sleep, hog, files;
// EVENTFN stands for the event test function (testdata/eventfn), which logs
// one line per queue, topic, schedule or async event it receives. Top-level
// sections (queues:, topics:) may follow the functions, unindented.
func Project(t testing.TB, app, functions string) string {
	t.Helper()
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "project-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := filepath.Rel(abs, filepath.Join(RepoRoot(), "internal", "testutil", "testdata", "fn"))
	if err != nil {
		t.Fatal(err)
	}
	evfn, err := filepath.Rel(abs, filepath.Join(RepoRoot(), "internal", "testutil", "testdata", "eventfn"))
	if err != nil {
		t.Fatal(err)
	}
	functions = strings.ReplaceAll(functions, "EVENTFN", filepath.ToSlash(evfn))
	body := "app: " + app + "\nfunctions:\n" + strings.ReplaceAll(functions, "BUILD", filepath.ToSlash(fn))
	if err := os.WriteFile(filepath.Join(dir, "gureum.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
