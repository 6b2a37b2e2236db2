//go:build linux

package process

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

func supported() error { return nil }

func canExecute(path string) error { return unix.Access(path, unix.X_OK) }

func readFD(fd uintptr, p []byte) (int, error) { return unix.Read(int(fd), p) }

func killGroup(pid int) { _ = unix.Kill(-pid, unix.SIGKILL) }

// waitExit waits for the process to exit, calls beforeReap while the exited
// process still holds its pid and process group id (so signalling the group
// cannot reach a stranger that reused the id), then reaps it and returns how
// it ended.
func waitExit(cmd *exec.Cmd, beforeReap func()) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	beforeReap()
	err := cmd.Wait()
	if cmd.ProcessState != nil {
		return errors.New(cmd.ProcessState.String())
	}
	return err
}

// rlimit is a resource limit set on a new process.
type rlimit struct {
	resource int
	value    uint64
}

// spawn starts cmd in its own process group, in cg when there is one. The
// memory limit is cg's; without a cgroup it is RLIMIT_DATA, set before the
// program's first instruction (see the package documentation).
func (e *Engine) spawn(cmd *exec.Cmd, cg *cgroup, memBytes uint64) error {
	limits := []rlimit{
		{unix.RLIMIT_CORE, 0},
		{unix.RLIMIT_NOFILE, 1024},
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cg != nil {
		attr.UseCgroupFD = true
		attr.CgroupFD = cg.fd
	} else {
		limits = append(limits, rlimit{unix.RLIMIT_DATA, memBytes})
	}
	cmd.SysProcAttr = attr

	if cg == nil && !e.noPtrace.Load() {
		err := startTraced(cmd, limits)
		if err == nil || !(errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSYS)) {
			return err
		}
		// ptrace is not allowed here: fall back to limits set just after
		// the start, and do not try again.
		e.noPtrace.Store(true)
		attr.Ptrace = false
		*cmd = exec.Cmd{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: cmd.Dir,
			Stdout: cmd.Stdout, Stderr: cmd.Stderr, SysProcAttr: attr}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := setLimits(cmd.Process.Pid, limits); err != nil {
		killGroup(cmd.Process.Pid)
		_ = cmd.Wait()
		return err
	}
	return nil
}

// startTraced starts cmd stopped at its exec (PTRACE_TRACEME), sets the
// limits and lets it run. ptrace requests must come from the thread that
// started the tracee, hence the locked thread.
func startTraced(cmd *exec.Cmd, limits []rlimit) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr.Ptrace = true
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	var ws unix.WaitStatus
	var err error
	for {
		_, err = unix.Wait4(pid, &ws, unix.WALL, nil)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err != nil:
		err = fmt.Errorf("wait for the process to start: %w", err)
	case !ws.Stopped():
		// Reaped already: nothing is left to wait for.
		return fmt.Errorf("the process ended as it started (status %#x)", uint32(ws))
	default:
		err = setLimits(pid, limits)
		if err == nil {
			err = unix.PtraceDetach(pid)
		}
	}
	if err != nil {
		killGroup(pid)
		_ = cmd.Wait()
		return err
	}
	return nil
}

func setLimits(pid int, limits []rlimit) error {
	for _, l := range limits {
		var old unix.Rlimit
		if err := unix.Prlimit(pid, l.resource, nil, &old); err != nil {
			return fmt.Errorf("read limit %d: %w", l.resource, err)
		}
		v := min(l.value, old.Max) // raising a hard limit needs privileges
		if err := unix.Prlimit(pid, l.resource, &unix.Rlimit{Cur: v, Max: v}, nil); err != nil {
			return fmt.Errorf("set limit %d: %w", l.resource, err)
		}
	}
	return nil
}
