package process

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCgroupInstance runs an instance in a cgroup of its own. It needs a
// writable cgroup v2 hierarchy; without the memory controller it checks
// that an explicit Cgroup setting is refused with a reason, and runs the
// instance in a cgroup without a memory limit.
func TestCgroupInstance(t *testing.T) {
	var root string
	for _, dir := range []string{cgroupRoot, filepath.Join(cgroupRoot, "unified")} {
		if isCgroup2(dir) {
			root = dir
			break
		}
	}
	if root == "" {
		t.Skip("no cgroup v2 hierarchy on this machine")
	}
	dir := filepath.Join(root, fmt.Sprintf("gureum-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cgroup v2 hierarchy %s is not writable: %v", root, err)
	}
	t.Cleanup(func() { os.Remove(dir) })

	memory := hasWord(readFile(filepath.Join(dir, "cgroup.controllers")), "memory")
	cfg := Default()
	cfg.Cgroup = dir
	e, err := New(cfg)
	if !memory {
		if err == nil || !strings.Contains(err.Error(), "memory controller") {
			t.Fatalf("New with a cgroup lacking the memory controller: %v", err)
		}
		t.Logf("the memory controller is not available in %s: running without a memory limit", root)
		p, err := newCgroupParent(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		e = newEngine(t, Default())
		e.cg = p
	} else {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(context.Background()) })
	}

	fn := prepare(t, e, spec("cgfn", goBootstrap))
	in := startInstance(t, fn, io.Discard)
	if in.cg == nil {
		t.Fatal("instance has no cgroup")
	}
	cgPath := strings.TrimPrefix(in.cg.dir, root)
	self := readFile(fmt.Sprintf("/proc/%d/cgroup", in.pid))
	if !strings.Contains(self, "0::"+cgPath+"\n") {
		t.Errorf("process %d is in %q, want %s", in.pid, self, cgPath)
	}
	invokeOK(t, in, `{"action":"echo"}`)
	if memory {
		if got := strings.TrimSpace(readFile(filepath.Join(in.cg.dir, "memory.max"))); got != fmt.Sprint(128<<20) {
			t.Errorf("memory.max = %s", got)
		}
		req, _ := newRequest(`{"action":"alloc","mib":1024}`, 30*time.Second)
		if _, err := in.Invoke(context.Background(), req); err == nil || !strings.Contains(err.Error(), "out of memory") {
			t.Errorf("allocating past the limit: %v", err)
		}
	}
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in.cg.dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left behind: %v", in.cg.dir, err)
	}
}
