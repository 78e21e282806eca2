//go:build unix

package node

import (
	"os"
	"syscall"
)

// runLock is an advisory lock held while a node runs on a directory. The
// operating system releases it when the process dies, however it dies.
type runLock struct{ f *os.File }

func acquireRunLock(path string) (*runLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return &runLock{f}, nil
}

func (l *runLock) release() {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// processAlive reports whether process pid still exists: a node killed
// without warning leaves a run file that looks fresh for a few seconds.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// stopProcess asks process pid to stop (SIGTERM), or kills it.
func stopProcess(pid int, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(pid, sig)
}
