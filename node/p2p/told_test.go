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
	"github.com/murmurnet/murmur/node/p2p"
)

// A device revoked by another organisation's steward hears of it before
// it is cut off, however the race between the gossip and the gate goes:
// its status says who revoked it, and its next write says so too.
func TestRevokedDeviceIsToldBeforeItIsCutOff(t *testing.T) {
	for round := range 5 {
		nodes, _ := mesh(t, 3, p2p.RunOptions{SyncEvery: time.Minute, PollEvery: 20 * time.Millisecond, RecheckEvery: 100 * time.Millisecond})
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
		_, err := revoked.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "after"})
		if !errors.Is(err, crdt.ErrRevoked) || err.Error() != st.RevokedNotice {
			t.Fatalf("round %d: the revoked node's write: %v", round, err)
		}
	}
}
