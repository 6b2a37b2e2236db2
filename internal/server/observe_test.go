package server_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/cli"
	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/testutil"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogsFollowAcrossRestart(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = freeAddr(t)
	cfg.DataDir = t.TempDir()
	cfg.DrainTimeout = 10 * time.Second
	cfg.Env = os.Environ()
	n := testutil.StartWithConfig(t, cfg)
	n.Deploy(project(t, "follow", `
  echo:
    build: BUILD
`))
	if r := n.CLI("invoke", "echo", "--data", `{"op":"echo","msg":"before"}`); r.Code != 0 {
		t.Fatalf("invoke: %+v", r)
	}

	var out, errOut lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		env := append(os.Environ(), "GUREUM_URL=http://"+cfg.Listen, "GUREUM_TOKEN="+n.Server.Token())
		done <- cli.Run(ctx, []string{"logs", "echo", "-f"}, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Env: env})
	}()
	defer func() {
		cancel()
		<-done
	}()
	testutil.Eventually(t, 20*time.Second, "the line before the restart", func() bool {
		return strings.Contains(out.String(), "echo before")
	})

	n.Stop()
	n2 := testutil.StartWithConfig(t, cfg)
	if r := n2.CLI("invoke", "echo", "--data", `{"op":"echo","msg":"after"}`); r.Code != 0 {
		t.Fatalf("invoke after restart: %+v", r)
	}
	testutil.Eventually(t, 30*time.Second, "the line after the restart", func() bool {
		return strings.Contains(out.String(), "echo after")
	})
	if c := strings.Count(out.String(), "echo before"); c != 1 {
		t.Fatalf("the line before the restart was printed %d times:\n%s", c, out.String())
	}
	if !strings.Contains(errOut.String(), "node went away") {
		t.Fatalf("stderr does not say the node went away: %q", errOut.String())
	}
}
