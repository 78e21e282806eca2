package node

import (
	"context"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
)

// A joiner that is not a member yet receives the chains it needs, but an
// address hint among them without its body: hints are for members.
func TestJoinerGetsHintsOnlyAsMember(t *testing.T) {
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
	for _, member := range []bool{false, true} {
		found := false
		for _, raw := range n.membershipEntries(member) {
			e, err := crdt.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != crdt.KindAddressHint {
				continue
			}
			found = true
			if e.Withheld == member {
				t.Errorf("member %v: hint withheld %v", member, e.Withheld)
			}
		}
		if !found {
			t.Errorf("member %v: the hint (part of the chain) is not handed over", member)
		}
	}
}
