package p2p_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

// A rogue member's node advertises host names over identify (one it runs
// the DNS of, one for a service on the other node's own computer): they
// are not remembered as where to reach it, so no node looks them up or
// dials them at its next start (review 9, M1).
func TestRogueAdvertisedNamesAreNotRemembered(t *testing.T) {
	ns := orgsNet(t, 2)
	a, b := ns[0], ns[1]
	ra := runOn(t, a, 0, p2p.RunOptions{})
	key, err := b.HostKey()
	if err != nil {
		t.Fatal(err)
	}
	extra := []ma.Multiaddr{ma.StringCast("/dns4/rogue-tracker.example/tcp/4721"), ma.StringCast("/dns4/localhost/tcp/22"),
		ma.StringCast("/ip4/255.255.255.255/udp/9/quic-v1"), ma.StringCast("/ip4/127.0.0.1/tcp/4721/tls/sni/evil.example/ws")}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.AddrsFactory(func(as []ma.Multiaddr) []ma.Multiaddr { return append(as, extra...) }))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rb, err := p2p.Start(t.Context(), b, p2p.RunOptions{Host: h, Peers: ra.Addrs(), SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	waitFor(t, 60*time.Second, "a connected to b", func() bool { return connected(ra, peerOf(t, b)) })
	// The rogue's node is remembered where it really listens, and nowhere
	// else.
	var got []ma.Multiaddr
	waitFor(t, 30*time.Second, "a remembers where b's node listens", func() bool {
		cs, err := a.Contacts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, c := range cs {
			if m, err := ma.NewMultiaddrBytes(c.Addr); err == nil {
				got = append(got, m)
			}
		}
		return len(got) > 0
	})
	for _, m := range got {
		if _, err := manet.ToIP(m); err != nil || len(m) != 2 {
			t.Errorf("a remembers b's node at %s, which b's node only advertised", m)
		}
	}
}

// A rogue member answers "can you reach me?" with this node's port at an
// IP of its choosing: the node neither believes it is reachable nor
// publishes that address for every member to dial (review 9, H1).
func TestRogueReachAnswerIsNotBelieved(t *testing.T) {
	ns := orgsNet(t, 2)
	a, b := ns[0], ns[1]
	rb := runOn(t, b, 0, p2p.RunOptions{})
	answered := make(chan struct{}, 100)
	lieAboutReach(rb, b, answered)
	ra := runOn(t, a, 0, p2p.RunOptions{Peers: rb.Addrs(), NATEvery: 500 * time.Millisecond})
	waitFor(t, 60*time.Second, "the rogue answers a's question", func() bool { return len(answered) >= 1 })
	waitFor(t, 30*time.Second, "a takes the answer for what it is", func() bool { return ra.NAT().Reachability == p2p.ReachBehindNAT })
	for _, h := range b.AddressHints(time.Now()) {
		for _, m := range h.Addrs {
			if ip, err := manet.ToIP(m); err == nil && ip.Equal(net.ParseIP("198.51.100.66")) {
				t.Fatalf("a published the address the rogue named: %v", h.Addrs)
			}
		}
	}
}

// Review 10: the two members a non-own IP needs must be two
// organisations. One rogue organisation with two devices, both naming
// the same address the asker does not have, is one member: the asker
// neither believes it nor publishes it.
func TestRogueOrgsTwoDevicesAreOneWitness(t *testing.T) {
	ctx := context.Background()
	ns := orgsNet(t, 2)
	a, b := ns[0], ns[1]
	b2, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: a.Genesis(), Org: b.Org()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	if err := b2.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, &crdt.DeviceAdded{Device: b2.Device(), Org: b.Org(), Label: "second laptop"}); err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{}, 100)
	rb := runOn(t, b, 0, p2p.RunOptions{})
	lieAboutReach(rb, b, answered)
	rb2 := runOn(t, b2, 0, p2p.RunOptions{Peers: rb.Addrs()})
	lieAboutReach(rb2, b2, answered)
	ra := runOn(t, a, 0, p2p.RunOptions{Peers: append(rb.Addrs(), rb2.Addrs()...), NATEvery: 300 * time.Millisecond, ReachEvery: 100 * time.Millisecond})
	waitFor(t, 60*time.Second, "a is connected to both of the rogue's devices", func() bool {
		return ra.Host().Network().Connectedness(rb.Host().ID()) == network.Connected && ra.Host().Network().Connectedness(rb2.Host().ID()) == network.Connected && a.MemberPeer(rb2.Host().ID())
	})
	// Three answers from here on: asked both devices in one round, as it
	// used to, a would have finished a round with both of them.
	// At no moment does a believe it is reachable.
	believed := func() {
		if st := ra.NAT(); st.Reachability == p2p.ReachPublic {
			t.Fatalf("two devices of one organisation made a believe it is reachable: %+v", st)
		}
	}
	before := len(answered)
	waitFor(t, 60*time.Second, "a asks the rogue a few times", func() bool { believed(); return len(answered) >= before+3 })
	waitFor(t, 30*time.Second, "a takes the answers for what they are", func() bool { believed(); return ra.NAT().Reachability == p2p.ReachBehindNAT })
	for _, h := range a.AddressHints(time.Now()) {
		for _, m := range h.Addrs {
			if ip, err := manet.ToIP(m); err == nil && ip.Equal(net.ParseIP("198.51.100.66")) {
				t.Fatalf("a published the address the rogue named: %v", h.Addrs)
			}
		}
	}
}

// A --peer that names a host is refused in words: no name is looked up
// (review 11: it was ignored without a word).
func TestPeerGivenAsAHostNameIsRefused(t *testing.T) {
	ns := orgsNet(t, 2)
	id, err := node.PeerID(ns[1].Device())
	if err != nil {
		t.Fatal(err)
	}
	_, err = p2p.Start(t.Context(), ns[0], p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: []string{"/dns4/peer.example/tcp/4721/p2p/" + id.String()}})
	if err == nil || !strings.Contains(err.Error(), "Murmur dials IP addresses only") {
		t.Fatalf("a --peer naming a host: %v", err)
	}
}

// lieAboutReach makes r, n's runner, a rogue that answers every dial-back
// question with the asker's ports at 198.51.100.66, an IP the asker does
// not have, and says so on answered.
func lieAboutReach(r *p2p.Runner, n *node.Node, answered chan<- struct{}) {
	r.Host().SetStreamHandler(protocol.ID("/murmur/reach/1/"+n.Network().String()), func(s network.Stream) {
		defer s.Close()
		var req struct {
			Addrs []string `json:"addrs"`
		}
		if json.NewDecoder(io.LimitReader(s, 4<<10)).Decode(&req) != nil {
			return
		}
		var lies []string
		for _, str := range req.Addrs {
			if port, err := ma.StringCast(str).ValueForProtocol(ma.P_TCP); err == nil {
				lies = append(lies, "/ip4/198.51.100.66/tcp/"+port) // the asker's port, elsewhere
			}
		}
		json.NewEncoder(s).Encode(map[string][]string{"reached": lies})
		answered <- struct{}{}
	})
}
