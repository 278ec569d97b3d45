//go:build unix

package webtest

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the browser in its own process group so that
// every helper process it forks can be ended with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup ends any helper the browser left behind (only the group
// this helper started).
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil && cmd.Process.Pid > 0 {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
