//go:build unix

package node

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// A node killed without warning leaves a run file that still looks
// fresh; status must not say it runs because of it: the process named
// there is gone.
func TestRunFileOfAKilledNodeIsNotRunning(t *testing.T) {
	dir := t.TempDir()
	write := func(pid int) {
		b, err := json.Marshal(runFile{PID: pid, Updated: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, runFileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(os.Getpid())
	if _, fresh := readRunFile(dir); !fresh {
		t.Fatal("a fresh run file of a live process is not taken as running")
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	write(gone.Process.Pid)
	if _, fresh := readRunFile(dir); fresh {
		t.Fatal("a fresh run file of a process that is gone is taken as running")
	}
}
