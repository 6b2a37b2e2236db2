//go:build linux

package process

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the cgroup v2 hierarchy is normally mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupParent is the cgroup v2 group under which instances get their own.
type cgroupParent struct {
	dir    string
	memory bool // the memory controller is enabled for children
	pids   bool // the pids controller is enabled for children
}

// cgroup is one instance's cgroup.
type cgroup struct {
	dir string
	fd  int // O_PATH descriptor, for clone3's CLONE_INTO_CGROUP
}

// openCgroupParent interprets Config.Cgroup; nil means rlimits.
func openCgroupParent(setting string) (*cgroupParent, error) {
	switch setting {
	case CgroupOff:
		return nil, nil
	case "":
		return detectCgroupParent(), nil
	}
	if err := os.Mkdir(setting, 0o755); err != nil && !os.IsExist(err) {
		return nil, err
	}
	return newCgroupParent(setting, true)
}

// detectCgroupParent returns /sys/fs/cgroup/gureum when the machine's
// cgroup v2 hierarchy is writable and can give it the memory controller,
// and nil otherwise.
func detectCgroupParent() *cgroupParent {
	if !isCgroup2(cgroupRoot) || !hasWord(readFile(filepath.Join(cgroupRoot, "cgroup.controllers")), "memory") {
		return nil
	}
	ctl := filepath.Join(cgroupRoot, "cgroup.subtree_control")
	if !hasWord(readFile(ctl), "memory") && os.WriteFile(ctl, []byte("+memory"), 0) != nil {
		return nil // a cgroup with processes of its own cannot delegate
	}
	dir := filepath.Join(cgroupRoot, "gureum")
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return nil
	}
	p, err := newCgroupParent(dir, true)
	if err != nil {
		return nil
	}
	return p
}

// newCgroupParent checks dir and enables the controllers instances need.
func newCgroupParent(dir string, requireMemory bool) (*cgroupParent, error) {
	if !isCgroup2(dir) {
		return nil, fmt.Errorf("%s is not in a cgroup v2 hierarchy", dir)
	}
	controllers := readFile(filepath.Join(dir, "cgroup.controllers"))
	p := &cgroupParent{dir: dir, memory: hasWord(controllers, "memory"), pids: hasWord(controllers, "pids")}
	if requireMemory && !p.memory {
		return nil, fmt.Errorf("the memory controller is not available in %s; delegate it from the parent group", dir)
	}
	var enable []string
	if p.memory {
		enable = append(enable, "+memory")
	}
	if p.pids {
		enable = append(enable, "+pids")
	}
	if len(enable) > 0 {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0); err != nil {
			return nil, fmt.Errorf("enable controllers in %s (a group with processes of its own cannot delegate them; give gureum an empty group): %w", dir, err)
		}
	}
	probe, err := p.create(fmt.Sprintf("probe-%d", os.Getpid()), 64<<20)
	if err != nil {
		return nil, err
	}
	probe.remove()
	return p, nil
}

// create makes an instance's cgroup with its memory limit: memory.max,
// no swap, and memory.oom.group so an OOM kill takes the whole instance,
// as on Lambda.
func (p *cgroupParent) create(name string, memBytes uint64) (*cgroup, error) {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\n' || r == 0 {
			return '_'
		}
		return r
	}, name)
	dir := filepath.Join(p.dir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	var settings [][2]string
	if p.memory {
		settings = append(settings, [2]string{"memory.max", strconv.FormatUint(memBytes, 10)},
			[2]string{"memory.swap.max", "0"}, [2]string{"memory.oom.group", "1"})
	}
	if p.pids {
		settings = append(settings, [2]string{"pids.max", "1024"}) // Lambda's limit on processes and threads
	}
	for _, s := range settings {
		err := os.WriteFile(filepath.Join(dir, s[0]), []byte(s[1]), 0)
		if err != nil && !(s[0] == "memory.swap.max" && errors.Is(err, os.ErrNotExist)) {
			os.Remove(dir)
			return nil, fmt.Errorf("set %s of cgroup %s: %w", s[0], dir, err)
		}
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return &cgroup{dir: dir, fd: fd}, nil
}

// kill kills every process in the cgroup, including those that left the
// instance's process group.
func (c *cgroup) kill() {
	if os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0) == nil {
		return
	}
	// Before Linux 5.14 there is no cgroup.kill.
	for _, f := range strings.Fields(readFile(filepath.Join(c.dir, "cgroup.procs"))) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// oomKilled reports whether the kernel's OOM killer ran in the cgroup.
func (c *cgroup) oomKilled() bool {
	sc := bufio.NewScanner(bytes.NewReader([]byte(readFile(filepath.Join(c.dir, "memory.events")))))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		if (k == "oom_kill" || k == "oom_group_kill") && v != "0" {
			return true
		}
	}
	return false
}

// remove deletes the cgroup once its killed processes are gone.
func (c *cgroup) remove() {
	unix.Close(c.fd)
	for range 200 {
		err := unix.Rmdir(c.dir)
		if err != unix.EBUSY {
			return
		}
		c.kill()
		time.Sleep(5 * time.Millisecond)
	}
}

func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
