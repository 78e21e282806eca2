package p2p

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Close returns, with an error that says so, when a task of the runner
// does not stop: a service manager kills a process that takes longer.
func TestCloseReturnsWhenATaskHangs(t *testing.T) {
	_, fr := founded(t, 1)
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

// The runner lives no longer than the context it was started with: once
// it ends, every task of the runner stops, and Close still returns
// without error (TestCloseRemovesItsHandlers: and takes back the handlers).
func TestRunnerStopsWithItsContext(t *testing.T) {
	a, b := apart(t)
	exchange(t, a, b)
	ra := loopbackNode(t, a)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rb, err := Start(ctx, b, RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: ra.Addrs(), SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	eventually(t, 20*time.Second, "the two nodes connect", func() bool { return len(rb.Peers()) > 0 })
	cancel()
	stopped := make(chan struct{})
	go func() { rb.wg.Wait(); close(stopped) }()
	eventually(t, 20*time.Second, "every task of the runner stops", func() bool {
		select {
		case <-stopped:
			return true
		default:
			return false
		}
	})
	if err := rb.Close(); err != nil {
		t.Fatalf("Close after the context ended: %v", err)
	}
}
