package p2p

import (
	"context"
	"fmt"
	"slices"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// The relay serves member devices only, on both ends of a circuit.
func TestRelayACL(t *testing.T) {
	ctx := context.Background()
	n, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Exile"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	self, _ := node.PeerID(n.Device())
	stranger, _ := node.PeerID(crdt.DeviceKey(crdt.KeyFromSeed(make([]byte, 32))[32:]))
	acl := relayACL{n}
	if !acl.AllowReserve(self, nil) {
		t.Error("a member device may not reserve")
	}
	for _, c := range []struct {
		name string
		ok   bool
		got  bool
	}{
		{"a stranger reserves", false, acl.AllowReserve(stranger, nil)},
		{"a stranger connects to a member", false, acl.AllowConnect(stranger, nil, self)},
		{"a member connects to a stranger", false, acl.AllowConnect(self, nil, stranger)},
	} {
		if c.got != c.ok {
			t.Errorf("%s: allowed %v, want %v", c.name, c.got, c.ok)
		}
	}
}

// A dial-back goes to the IP address the request came from, whatever the
// asker names: a member cannot aim it at another host.
func TestReachCandidatesOnlyTheAskersIP(t *testing.T) {
	remote := ma.StringCast("/ip4/203.0.113.9/tcp/50123")
	asked := []string{
		"/ip4/10.0.0.5/tcp/22",
		"/ip4/192.168.1.1/udp/4721/quic-v1",
		"/ip4/203.0.113.9/tcp/4721",
		"not a multiaddr",
		"/dns4/example.org/tcp/80",
	}
	var got []string
	for _, a := range reachCandidates(asked, remote, false) {
		got = append(got, a.String())
	}
	want := []string{"/ip4/203.0.113.9/tcp/22", "/ip4/203.0.113.9/udp/4721/quic-v1", "/ip4/203.0.113.9/tcp/4721"}
	if !slices.Equal(got, want) {
		t.Errorf("candidates %v, want %v", got, want)
	}
	// A private network is TCP only.
	if got := reachCandidates(asked[1:2], remote, true); len(got) != 0 {
		t.Errorf("a private network dials back over QUIC: %v", got)
	}
	// A relayed connection has no IP of its own: nothing is dialled.
	relayed := ma.StringCast("/ip4/198.51.100.1/tcp/4721/p2p/12D3KooWPdgptK9Fq8BdgjLmc1F6Yh2YHzbb1gvghtqJ7BRANcAw/p2p-circuit")
	if got := reachCandidates(asked, relayed, false); len(got) != 0 {
		t.Errorf("a relayed request is dialled back at %v", got)
	}
	// At most maxReachAddrs.
	many := make([]string, 50)
	for i := range many {
		many[i] = fmt.Sprintf("/ip4/10.0.0.1/tcp/%d", 1000+i)
	}
	if got := reachCandidates(many, remote, false); len(got) != maxReachAddrs {
		t.Errorf("%d candidates from 50 asked, want %d", len(got), maxReachAddrs)
	}
}

// Members' dial-back keeps a node's hint true: reached addresses replace
// it, and a node they cannot reach takes back the addresses it announced.
func TestHintFollowsReachability(t *testing.T) {
	ctx := context.Background()
	n, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Exile"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	self, _ := node.PeerID(n.Device())
	mine := func() []string {
		var out []string
		for _, h := range n.AddressHints(n.Now()) {
			if h.Device == self {
				for _, a := range h.Addrs {
					out = append(out, a.String())
				}
			}
		}
		return out
	}
	entries := func() int { return n.Status().Entries }

	// An address announced once.
	if err := n.PublishAddressHint([]ma.Multiaddr{ma.StringCast("/ip4/203.0.113.7/tcp/4721")}, false); err != nil {
		t.Fatal(err)
	}
	// Members reach it elsewhere: that replaces it (loopback is not published).
	reached := []ma.Multiaddr{ma.StringCast("/ip4/198.51.100.9/tcp/4721"), ma.StringCast("/ip4/127.0.0.1/tcp/4721")}
	if err := n.HintFromReach(ReachPublic, reached, false); err != nil {
		t.Fatal(err)
	}
	if got := mine(); !slices.Equal(got, []string{"/ip4/198.51.100.9/tcp/4721"}) {
		t.Fatalf("after members reached it: %v", got)
	}
	// The same again writes nothing.
	before := entries()
	if err := n.HintFromReach(ReachPublic, reached, false); err != nil {
		t.Fatal(err)
	}
	if entries() != before {
		t.Error("an unchanged reachability wrote a new hint")
	}
	// Members cannot reach it any more: the hint is taken back, once.
	if err := n.HintFromReach(ReachBehindNAT, nil, false); err != nil {
		t.Fatal(err)
	}
	if got := mine(); len(got) != 0 {
		t.Fatalf("behind NAT, the hint still names %v", got)
	}
	before = entries()
	if err := n.HintFromReach(ReachBehindNAT, nil, false); err != nil {
		t.Fatal(err)
	}
	if entries() != before {
		t.Error("a node still behind NAT wrote another empty hint")
	}
	// Unknown changes nothing.
	if err := n.HintFromReach(ReachUnknown, nil, false); err != nil || entries() != before {
		t.Errorf("unknown reachability wrote something (%v)", err)
	}
}
