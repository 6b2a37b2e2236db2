//go:build unix && !linux

package process

import (
	"errors"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// Outside Linux, process functions run without memory limits or cgroups:
// Lambda's executables are Linux programs, so this serves scripts on a
// developer's machine.

func supported() error { return nil }

func canExecute(path string) error { return unix.Access(path, unix.X_OK) }

func readFD(fd uintptr, p []byte) (int, error) { return unix.Read(int(fd), p) }

func killGroup(pid int) { _ = unix.Kill(-pid, unix.SIGKILL) }

// waitExit reaps the process, then calls beforeReap to kill what is left of
// its group. Without waitid's WNOWAIT the group id may in principle be reused
// in between.
func waitExit(cmd *exec.Cmd, beforeReap func()) error {
	err := cmd.Wait()
	beforeReap()
	if cmd.ProcessState != nil {
		return errors.New(cmd.ProcessState.String())
	}
	return err
}

func (e *Engine) spawn(cmd *exec.Cmd, _ *cgroup, _ uint64) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}
