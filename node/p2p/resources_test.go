package p2p

import (
	"testing"

	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/murmurnet/murmur/crdt"
)

// The hosts the runner creates carry the per-peer limits: checked on the
// scope of a peer as go-libp2p's resource manager sees it.
func TestHostHasPerPeerLimits(t *testing.T) {
	_, p := testDevice(t, 7) // a peer it has never seen
	priv, err := lpcrypto.UnmarshalEd25519PrivateKey(crdt.KeyFromSeed(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHost(priv, []string{"/ip4/127.0.0.1/tcp/0"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = h.Network().ResourceManager().ViewPeer(p, func(s network.PeerScope) error {
		l := s.(rcmgr.ResourceScopeLimiter).Limit()
		t.Logf("per peer: %d connections (%d inbound), %d streams (%d inbound, %d outbound), %d MiB",
			l.GetConnTotalLimit(), l.GetConnLimit(network.DirInbound), l.GetStreamTotalLimit(),
			l.GetStreamLimit(network.DirInbound), l.GetStreamLimit(network.DirOutbound), l.GetMemoryLimit()>>20)
		if l.GetConnLimit(network.DirInbound) != peerLimit.ConnsInbound || l.GetConnTotalLimit() != peerLimit.Conns ||
			l.GetStreamLimit(network.DirInbound) != peerLimit.StreamsInbound || l.GetStreamTotalLimit() != peerLimit.Streams {
			t.Errorf("the peer scope's limits are not the runner's")
		}
		if l.GetMemoryLimit() < peerLimit.Memory {
			t.Errorf("per-peer memory %d, below the base %d", l.GetMemoryLimit(), peerLimit.Memory)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
