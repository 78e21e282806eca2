//go:build !unix

package testnet

import "os/exec"

// Without process groups or SIGTERM, the node process itself is killed.

func setProcessGroup(*exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

func terminate(cmd *exec.Cmd) error { return cmd.Process.Kill() }
