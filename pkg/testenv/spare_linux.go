package testenv

import (
	"errors"
	"os/exec"
	"syscall"
)

// canDieWithParent tells whether dieWithParent works here.
const canDieWithParent = true

// dieWithParent has the kernel kill cmd's process when the thread that
// starts it ends.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// alive tells whether a process pid runs.
func alive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
