package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/node"
	msync "github.com/murmurnet/murmur/sync"
)

// The periodic reconciliation runs on the runner's clock: an entry that
// only it can carry (Beta's node ignores the live path) crosses once the
// clock passes the period (jittered between half and one and a half of
// SyncEvery), and not before.
func TestPeriodicSyncFollowsTheRunnersClock(t *testing.T) {
	ctx := context.Background()
	a, b := apart(t)
	exchange(t, a, b)
	const every = time.Hour
	start := time.Now()
	clk := NewManualClock(start)
	ra, err := Start(t.Context(), a, RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Clock: clk, SyncEvery: every, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ra.Close() })
	rb, err := Start(t.Context(), b, RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: ra.Addrs(), Clock: clk, SyncEvery: every, PollEvery: 20 * time.Millisecond,
		Gossip: msync.GossipOptions{Filter: func(peer.ID) bool { return false }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	// The reconciliations on connecting, after gossip's warm-up and after
	// a busy one run while the clock moves its first seconds.
	eventually(t, 20*time.Second, "the two nodes connect and converge", func() bool {
		if clk.Now().Sub(start) < 10*time.Second {
			clk.Advance(500 * time.Millisecond)
		}
		return len(rb.h.Network().Peers()) > 0 && clk.Now().Sub(start) >= 10*time.Second && a.Status().Digest == b.Status().Digest
	})
	req, err := a.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "Carried by the periodic sync"})
	if err != nil {
		t.Fatal(err)
	}
	periodic := func() int { // the runners' periodic timers, set and not yet due
		k := 0
		for _, d := range clk.Pending() {
			if d >= every/2 {
				k++
			}
		}
		return k
	}

	// Just short of the shortest period: neither runner's periodic timer
	// is due, and Beta's node lacks the entry.
	clk.Advance(start.Add(every/2 - time.Second).Sub(clk.Now()))
	if k := periodic(); k != 2 {
		t.Fatalf("%d periodic reconciliations pending %v after the start, want one on each node (timers pending: %v)", k, clk.Now().Sub(start), clk.Pending())
	}
	if b.Has(req.ID()) {
		t.Fatal("the entry crossed before a periodic reconciliation")
	}

	// Past the longest period: a periodic reconciliation carries it, and
	// each runner sets the next one.
	clk.Advance(start.Add(3*every/2 + time.Second).Sub(clk.Now()))
	eventually(t, 20*time.Second, "the periodic reconciliation carries the entry", func() bool { return b.Has(req.ID()) })
	eventually(t, 20*time.Second, "each runner sets its next periodic reconciliation", func() bool { return periodic() == 2 })
}
