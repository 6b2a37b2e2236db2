//go:build !unix

package process

import (
	"errors"
	"os/exec"
)

var errUnsupported = errors.New("process: the process runtime needs Linux (or another Unix-like system)")

func supported() error { return errUnsupported }

func canExecute(string) error { return errUnsupported }

func readFD(uintptr, []byte) (int, error) { return 0, errUnsupported }

func killGroup(int) {}

func waitExit(cmd *exec.Cmd, beforeReap func()) error {
	err := cmd.Wait()
	beforeReap()
	return err
}

func (e *Engine) spawn(*exec.Cmd, *cgroup, uint64) error { return errUnsupported }
