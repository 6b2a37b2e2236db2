package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpServesQuickstart runs the README's first command as a user would: the
// real binary, `gureum up examples/quickstart`, then a request, then SIGTERM.
func TestUpServesQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "gureum")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	data := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "up", "--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0", "--data", data, "examples/quickstart")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	gatewayLine := regexp.MustCompile(`gateway\s+(http://\S+)`)
	lines := bufio.NewScanner(stdout)
	var base string
	var routes bool
	for lines.Scan() {
		line := lines.Text()
		t.Log(line)
		if m := gatewayLine.FindStringSubmatch(line); m != nil {
			base = m[1]
		}
		if strings.Contains(line, "/hello") && strings.Contains(line, "→ hello") {
			routes = true
			break
		}
	}
	if base == "" || !routes {
		t.Fatalf("gureum up did not print its gateway address and routes")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	resp, err := http.Get(base + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello, world") {
		t.Fatalf("GET /hello: %d %s", resp.StatusCode, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("gureum up after SIGTERM: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "token")); err != nil {
		t.Fatalf("admin token not created: %v", err)
	}
}
