package node

import (
	"strings"
	"testing"
	"time"
)

// Close returns, with an error that says so, when a task of the runner
// does not stop: a service manager kills a process that takes longer.
func TestCloseReturnsWhenATaskHangs(t *testing.T) {
	_, fr := founded(t, SQLiteStore, 1)
	oldWait, oldAfter := closeWait, closeAfterHost
	closeWait, closeAfterHost = 50*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() { closeWait, closeAfterHost = oldWait, oldAfter })
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	fr.spawn(func() { <-stuck })
	if err := fr.Close(); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("Close with a task that does not stop: %v", err)
	}
}
