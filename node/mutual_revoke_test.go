package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node"
)

// Two steward organisations, apart, each revoke the other's only device.
// When the path comes back, each node's gate takes the other for revoked,
// so the two never reconnect (the issue-12 review saw them split so). A
// third member's node, linked to both, hears of both revocations and
// decides: the winner syncs with it, and the loser is told. (With no third
// member, the two stay apart: ARCHITECTURE.md, known limits.)
func TestMutualRevocationApartHealsThroughAThirdMember(t *testing.T) {
	nodes, mn := mesh(t, 3, node.RunOptions{SyncEvery: time.Second, PollEvery: 20 * time.Millisecond, RecheckEvery: 100 * time.Millisecond})
	ctx := context.Background()
	a, b := nodes[0], nodes[1]
	waitFor(t, 20*time.Second, "the network settles", func() bool { return converged(nodes) && b.n.Status().Admitted })
	if _, err := a.n.ChangeSteward(ctx, b.n.Org().String(), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "both know both stewards", func() bool { return converged(nodes) && b.n.Status().Steward })
	pa, pb := a.r.Host().ID(), b.r.Host().ID()
	if err := mn.UnlinkPeers(pa, pb); err != nil {
		t.Fatal(err)
	}
	if err := mn.DisconnectPeers(pa, pb); err != nil {
		t.Fatal(err)
	}
	if _, err := a.n.ForceRevokeDevice(ctx, b.n.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.n.ForceRevokeDevice(ctx, a.n.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := mn.LinkPeers(pa, pb); err != nil {
		t.Fatal(err)
	}
	mn.ConnectPeers(pa, pb) // (a gate may refuse it: the nodes dial again themselves)
	c := nodes[2]           // linked to both all along
	// c holds both revocations and decides; the winner and c agree, and the
	// loser is told it was revoked. Which one wins is the state's rule
	// (here the founder's revocation comes first in the replay).
	revokedAtC := func(m *meshNode) bool {
		for _, o := range c.n.Members() {
			for _, d := range o.Devices {
				if d.Device == m.n.Device().String() {
					return d.Revoked
				}
			}
		}
		return false
	}
	var winner, loser *meshNode
	waitFor(t, 30*time.Second, "c decides which revocation counts", func() bool {
		switch ra, rb := revokedAtC(a), revokedAtC(b); {
		case ra && !rb:
			winner, loser = b, a
		case rb && !ra:
			winner, loser = a, b
		default:
			return false
		}
		return true
	})
	waitFor(t, 30*time.Second, "the winner and c agree, and the loser knows it was revoked", func() bool {
		return winner.n.Status().Digest == c.n.Status().Digest && !winner.n.Status().Revoked && loser.n.Status().Revoked
	})
}
