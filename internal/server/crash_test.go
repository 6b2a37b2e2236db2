package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/testutil"
)

// childNode is a gureum node running as a child process, so that a test can
// kill it with SIGKILL.
type childNode struct {
	t     *testing.T
	bin   string
	data  string
	addr  string
	cmd   *exec.Cmd
	token string
	logs  *bytes.Buffer
}

// buildGureum builds the gureum binary once per test binary.
var buildGureum = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gureum-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gureum")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gureum")
	cmd.Dir = testutil.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startChild(t *testing.T, data, addr string) *childNode {
	t.Helper()
	bin, err := buildGureum()
	if err != nil {
		t.Fatal(err)
	}
	c := &childNode{t: t, bin: bin, data: data, addr: addr, logs: &bytes.Buffer{}}
	c.cmd = exec.Command(bin, "up", "--listen", addr, "--s3-listen", "127.0.0.1:0", "--data", data)
	c.cmd.Env = append(os.Environ(), "GUREUM_ASYNC_RETRY_BASE=100ms")
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	testutil.Eventually(t, 60*time.Second, "child node healthy", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	tok, err := os.ReadFile(filepath.Join(data, "token"))
	if err != nil {
		t.Fatal(err)
	}
	c.token = strings.TrimSpace(string(tok))
	return c
}

// kill sends SIGKILL: no drain, no flush, no goodbye.
func (c *childNode) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// call makes one admin API request.
func (c *childNode) call(method, path string, in, out any, hdr ...string) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+c.addr+admin.Prefix+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// drainQueue receives and deletes every message of a queue.
func (c *childNode) drainQueue(name string) []admin.Message {
	var all []admin.Message
	empty := 0
	for empty < 2 {
		var rr admin.ReceiveResponse
		if _, err := c.call(http.MethodPost, "/queues/"+name+"/receive", admin.ReceiveRequest{Max: 10, WaitSeconds: 1}, &rr); err != nil {
			c.t.Fatalf("receive: %v", err)
		}
		if len(rr.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		receipts := make([]string, len(rr.Messages))
		for i, m := range rr.Messages {
			receipts[i] = m.ReceiptHandle
		}
		all = append(all, rr.Messages...)
		if _, err := c.call(http.MethodPost, "/queues/"+name+"/delete", admin.DeleteMessagesRequest{ReceiptHandles: receipts}, nil); err != nil {
			c.t.Fatalf("delete: %v", err)
		}
	}
	return all
}

// TestKillNineLosesNothingAcknowledged kills a node with SIGKILL while
// thousands of queue sends and asynchronous invocations are in flight, then
// restarts it on the same data directory: every send and every async
// invocation that was acknowledged before the kill is still there, and
// every acknowledged invocation runs.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs gureum as a child process")
	}
	data := t.TempDir()
	addr := freeAddr(t)
	c := startChild(t, data, addr)

	dir := project(t, "crash", `
  job:
    build: EVENTFN
    async: {onSuccess: "queue:done"}
queues:
  inbox: {}
  done: {}
`)
	deploy := exec.Command(c.bin, "deploy", dir, "--url", "http://"+addr, "--token", c.token)
	if out, err := deploy.CombinedOutput(); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}

	var (
		mu        sync.Mutex
		sent      = map[string]bool{} // acknowledged queue message bodies
		accepted  = map[string]bool{} // acknowledged async request ids
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		killAfter = 3000 // acknowledged sends before the kill
	)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				entries := make([]admin.SendEntry, 10)
				for k := range entries {
					entries[k] = admin.SendEntry{Body: fmt.Sprintf("m-%d-%d-%d", g, i, k)}
				}
				var res admin.SendResponse
				if _, err := c.call(http.MethodPost, "/queues/inbox/messages", admin.SendRequest{Entries: entries}, &res); err != nil {
					return // the node is gone
				}
				mu.Lock()
				for k, r := range res.Results {
					if r.Error == nil && r.MessageID != "" {
						sent[entries[k].Body] = true
					}
				}
				mu.Unlock()
			}
		}()
	}
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var acc admin.AsyncAccepted
				payload := map[string]string{"msg": fmt.Sprintf("a-%d-%d", g, i)}
				code, err := c.call(http.MethodPost, "/functions/job/invocations", payload, &acc, admin.HeaderInvocationType, "Event")
				if err != nil || code != http.StatusAccepted {
					return
				}
				mu.Lock()
				accepted[acc.RequestID] = true
				mu.Unlock()
			}
		}()
	}
	testutil.Eventually(t, 120*time.Second, "sends in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) >= killAfter && len(accepted) >= 100
	})
	c.kill()
	close(stop)
	wg.Wait()
	t.Logf("killed after %d acknowledged sends and %d accepted async invocations", len(sent), len(accepted))

	c2 := startChild(t, data, addr)
	got := map[string]bool{}
	for _, m := range c2.drainQueue("inbox") {
		got[m.Body] = true
	}
	lost := 0
	for body := range sent {
		if !got[body] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost across kill -9", lost, len(sent))
	}

	// Every accepted async invocation runs; its success record reaches done.
	done := map[string]bool{}
	testutil.Eventually(t, 120*time.Second, "every accepted invocation ran", func() bool {
		for _, m := range c2.drainQueue("done") {
			var rec struct {
				RequestContext struct {
					RequestID string `json:"requestId"`
				} `json:"requestContext"`
			}
			if json.Unmarshal([]byte(m.Body), &rec) == nil {
				done[rec.RequestContext.RequestID] = true
			}
		}
		for id := range accepted {
			if !done[id] {
				return false
			}
		}
		return true
	})
}
