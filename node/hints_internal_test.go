package node

import (
	"context"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
)

// A joiner receives the chains it needs, an address hint among them with
// its body (a joiner that is not a member yet receives nothing: see
// TestPendingJoinerReceivesNothing).
func TestJoinerGetsTheHintsOfTheChains(t *testing.T) {
	ctx := context.Background()
	n, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.PublishAddressHint([]ma.Multiaddr{ma.StringCast("/ip4/203.0.113.7/tcp/4721")}, false); err != nil {
		t.Fatal(err)
	}
	// A membership entry after the hint: the hint is part of the chain a
	// joiner needs.
	if _, err := n.Append(ctx, &crdt.Invite{Key: [32]byte{1}, Expires: 1 << 60, Purpose: crdt.InviteOrganisation}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, raw := range n.membershipEntries() {
		e, err := crdt.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != crdt.KindAddressHint {
			continue
		}
		found = true
		if e.Withheld {
			t.Error("the hint is withheld")
		}
	}
	if !found {
		t.Error("the hint (part of the chain) is not handed over")
	}
}
