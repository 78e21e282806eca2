package p2p_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/libp2p/go-libp2p/core/network"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	relayclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

// A member's node dials this one back from a port of its own: on loopback
// it gets through, so both say they can be reached.
func TestMembersDialBack(t *testing.T) {
	ns := orgsNet(t, 2)
	steward, other := ns[0], ns[1]
	opt := p2p.RunOptions{SyncEvery: time.Second, PollEvery: 20 * time.Millisecond, NATEvery: 200 * time.Millisecond}
	sr, stewardAddr := runLoopback(t, steward, opt)
	opt.Peers = []string{stewardAddr.Addrs[0].String() + "/p2p/" + stewardAddr.ID.String()}
	or, _ := runLoopback(t, other, opt)
	if got := or.NAT().Reachability; got != p2p.ReachUnknown {
		t.Fatalf("before any member answered, reachability is %q", got)
	}
	waitFor(t, 30*time.Second, "both nodes learn that the other can dial them back", func() bool {
		return or.NAT().Reachability == p2p.ReachPublic && sr.NAT().Reachability == p2p.ReachPublic
	})
	if len(or.NAT().Confirmed) == 0 {
		t.Error("reachable, but with no confirmed address")
	}
}

// Offices that cannot reach each other directly meet through a member's
// relay: the relay takes reservations from members, and a node that learns
// of the relay from its address hint reaches, through it, a member it has
// no address for.
func TestRelayIntroducesMembers(t *testing.T) {
	ctx := context.Background()
	ns := orgsNet(t, 3)
	exile, offices := ns[0], ns[1:]
	opt := p2p.RunOptions{SyncEvery: time.Second, PollEvery: 20 * time.Millisecond, NATEvery: 200 * time.Millisecond}
	ropt := opt
	ropt.Relay = true
	er, exileAddr := runLoopback(t, exile, ropt)
	if err := exile.PublishAddressHint(exileAddr.Addrs, true); err != nil {
		t.Fatal(err)
	}
	opt.Peers = []string{exileAddr.Addrs[0].String() + "/p2p/" + exileAddr.ID.String()}
	// The offices' dial loops stay off: B's would dial A again directly,
	// at the address it remembers, as soon as the test closes their
	// connection, and could win the race with the relayed dial (it did
	// under -race).
	opt.NoDial = true
	ar, _ := runLoopback(t, offices[0], opt)
	br, _ := runLoopback(t, offices[1], opt)
	waitFor(t, 30*time.Second, "both offices hold the exile's relay hint", func() bool {
		return len(ar.NAT().Relays) == 1 && len(br.NAT().Relays) == 1
	})
	if !er.NAT().Relaying {
		t.Error("the exile node does not say it relays")
	}

	// A member's node may reserve a slot on the relay.
	if _, err := relayclient.Reserve(ctx, ar.Host(), exileAddr); err != nil {
		t.Fatalf("a member's reservation on the relay: %v", err)
	}
	// B has no address for A but the relay's: it reaches A through it.
	aID := ar.Host().ID()
	br.Host().Peerstore().ClearAddrs(aID)
	if err := br.Host().Network().ClosePeer(aID); err != nil {
		t.Fatal(err)
	}
	circuit, err := ma.NewMultiaddr(exileAddr.Addrs[0].String() + "/p2p/" + exileAddr.ID.String() + "/p2p-circuit")
	if err != nil {
		t.Fatal(err)
	}
	// (B's own attempts through the relay, before A reserved a slot, put
	// A in the swarm's dial backoff.)
	br.Host().Network().(*swarm.Swarm).Backoff().Clear(aID)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := br.Host().Connect(cctx, peer.AddrInfo{ID: aID, Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("office B through the relay to office A: %v", err)
	}
	// B had no address for A but the relay's, and neither office dials
	// members by itself: whatever connects them came through the relay,
	// the relayed connection itself or the direct one DCUtR punched after
	// it (B's introductions through the relay can do that first, on a
	// loaded machine).
	if c := br.Host().Network().Connectedness(aID); c != network.Connected && c != network.Limited {
		t.Fatal("office B is not connected to office A after dialling it through the relay")
	}
	for _, c := range br.Host().Network().ConnsToPeer(aID) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
			return
		}
	}
	t.Log("the relayed connection was replaced by a direct one (DCUtR)")
}

// Too many addresses to announce are refused with a plain error, and the
// node that could not start stops cleanly.
func TestAnnounceTooManyAddresses(t *testing.T) {
	n := foundNetwork(t, node.InitOptions{})
	var addrs []ma.Multiaddr
	for i := range 9 {
		addrs = append(addrs, ma.StringCast(fmt.Sprintf("/ip4/203.0.113.7/tcp/%d", 4721+i)))
	}
	r, err := p2p.Start(t.Context(), n, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Announce: addrs})
	if err == nil {
		r.Close()
		t.Fatal("nine addresses announced")
	}
	if !errors.Is(err, node.ErrInput) {
		t.Errorf("%v is not an input error", err)
	}
}
