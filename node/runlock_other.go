//go:build !unix

package node

import "os"

// runLock, where advisory locks are not available here, is an exclusively
// created file: a node killed without warning leaves it behind, and the
// next start removes it once the run file has gone stale.
type runLock struct{ path string }

func acquireRunLock(path string) (*runLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if _, fresh := readRunFile(dirOf(path)); fresh {
			return nil, err
		}
		os.Remove(path)
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return nil, err
		}
	}
	f.Close()
	return &runLock{path}, nil
}

func (l *runLock) release() { os.Remove(l.path) }

// processAlive cannot tell here: the run file's freshness decides.
func processAlive(int) bool { return true }

// stopProcess stops process pid. Without signals to ask with, it is killed.
func stopProcess(pid int, _ bool) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
