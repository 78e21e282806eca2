package p2p_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	mlogs "github.com/murmurnet/murmur/node/logs"
	"github.com/murmurnet/murmur/node/p2p"
)

// A device revoked by another organisation's steward hears of it before
// it is cut off, however the race between the gossip and the gate goes:
// its status says who revoked it, and its next write says so too.
func TestRevokedDeviceIsToldBeforeItIsCutOff(t *testing.T) {
	for round := range 5 {
		opt := p2p.RunOptions{SyncEvery: time.Minute, PollEvery: 20 * time.Millisecond, RecheckEvery: 100 * time.Millisecond}
		var logs [3]logLines
		opts := make([]p2p.RunOptions, 3)
		for i := range opts {
			opts[i] = opt
			opts[i].Log = mlogs.Printf(logs[i].logf)
		}
		nodes, _ := meshOf(t, opts)
		waitFor(t, 20*time.Second, "the network settles", func() bool { return converged(nodes) && nodes[2].n.Status().Admitted })
		revoked := nodes[2]
		if _, err := nodes[0].n.RevokeDevice(context.Background(), revoked.n.Device().String(), nil); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the members cut the revoked device off", func() bool {
			for _, m := range nodes[:2] {
				if m.r.Host().Network().Connectedness(revoked.r.Host().ID()) == network.Connected {
					return false
				}
			}
			return true
		})
		st := revoked.n.Status()
		if !st.Revoked || !strings.HasPrefix(st.RevokedNotice, "this device was revoked by ") {
			t.Fatalf("round %d: cut off, the revoked node was not told: revoked %v, %q", round, st.Revoked, st.RevokedNotice)
		}
		// Its log says so too, once, and by no name (a service's operator
		// reads the log; log lines are kept in clear).
		said := "this device has been revoked"
		waitFor(t, 10*time.Second, "the revoked node's log says so", func() bool { return logs[2].count(said) > 0 })
		for i := range 2 {
			if n := logs[i].count(said); n != 0 {
				t.Fatalf("round %d: node %d, not revoked, logged it was: %q", round, i, logs[i].all())
			}
		}
		time.Sleep(100 * time.Millisecond) // (a few more looks at it)
		if n := logs[2].count(said); n != 1 {
			t.Fatalf("round %d: the revocation logged %d times, want once", round, n)
		}
		for _, l := range logs[2].all() {
			if strings.Contains(l, "Org ") {
				t.Fatalf("round %d: a log line names an organisation: %q", round, l)
			}
		}
		_, err := revoked.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "after"})
		if !errors.Is(err, crdt.ErrRevoked) || err.Error() != st.RevokedNotice {
			t.Fatalf("round %d: the revoked node's write: %v", round, err)
		}
	}
}

// count is how many lines of l contain s.
func (l *logLines) count(s string) int {
	n := 0
	for _, line := range l.all() {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}
