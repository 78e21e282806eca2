package p2p

import (
	"context"
	"strings"
	"testing"
	"time"

	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
)

// Review 10: what a member's node advertised over identify went into the
// peerstore and was dialled as it was — a rogue's host name looked up at
// every redial, its LAN addresses tried. Every address this node's host
// dials now passes the rule its contacts and hints pass, and no name is
// ever looked up.
func TestEveryDialPassesTheAddressRule(t *testing.T) {
	r := &Runner{peerAddrs: []peer.AddrInfo{{Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4722")}}}}
	g := gater{dialable: r.dialableByHost}
	p := peer.ID("x")
	for s, want := range map[string]bool{
		"/ip4/203.0.113.7/tcp/4721":                              true,
		"/ip4/203.0.113.7/udp/4721/quic-v1":                      true,
		"/ip6/2001:db8::7/tcp/4721":                              true,
		"/ip4/192.168.1.20/tcp/4721":                             true, // a LAN: where members meet
		"/dns4/roguemarker.example/tcp/4721":                     false,
		"/dns/roguemarker.example/udp/4721/quic-v1":              false,
		"/ip4/169.254.3.4/tcp/4721":                              false,
		"/ip4/255.255.255.255/tcp/4721":                          false,
		"/ip4/224.0.0.251/udp/5353/quic-v1":                      false,
		"/ip4/127.0.0.1/tcp/4721":                                false, // (this node listens beyond loopback)
		"/ip4/127.0.0.1/tcp/4722":                                true,  // (--peer named it)
		"/ip4/203.0.113.7/tcp/4721/ws":                           false,
		"/ip4/203.0.113.9/tcp/4721/p2p/12D3KooWA/p2p-circuit":    true,
		"/dns4/relay.example/tcp/4721/p2p/12D3KooWA/p2p-circuit": false,
	} {
		a, err := ma.NewMultiaddr(strings.ReplaceAll(s, "12D3KooWA", "12D3KooWGRUVh5hHL6AqNjUjkAi9nY2MmBkvZULDWyRR1k9mJi7i"))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got := g.InterceptAddrDial(p, a); got != want {
			t.Errorf("%s: dialled %v, want %v", s, got, want)
		}
	}
	// A node on loopback alone dials loopback.
	if !(gater{dialable: (&Runner{loopbackOnly: true}).dialableByHost}).InterceptAddrDial(p, ma.StringCast("/ip4/127.0.0.1/tcp/4721")) {
		t.Error("a loopback-only node does not dial loopback")
	}
}

func TestNoNameIsLookedUp(t *testing.T) {
	key, _, err := lpcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHost(key, []string{"/ip4/127.0.0.1/tcp/0"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	other, _, _ := lpcrypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPrivateKey(other)
	h.Peerstore().AddAddr(id, ma.StringCast("/dns4/localhost/tcp/1"), peerstore.TempAddrTTL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := namesRefused.Load()
	if err = h.Connect(ctx, peer.AddrInfo{ID: id}); err == nil {
		t.Fatal("a host name was dialled")
	}
	if namesRefused.Load() == before {
		t.Fatal("the host's resolver is not the one that looks nothing up")
	}
}
