//go:build unix

package testnet

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the node in a process group of its own, so that a
// kill reaches anything it started.
func setProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killProcessGroup sends SIGKILL to the node's process group.
func killProcessGroup(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

// terminate asks the node to stop cleanly, as Ctrl-C or a service manager would.
func terminate(cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGTERM) }
