package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
)

// peerDevice is the device key a peer ID stands for: a node's libp2p
// identity is its device key.
func peerDevice(p peer.ID) (crdt.DeviceKey, bool) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return crdt.DeviceKey{}, false
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != len(crdt.DeviceKey{}) {
		return crdt.DeviceKey{}, false
	}
	return crdt.DeviceKey(raw), true
}

// memberPeer reports whether p is the node of a device with standing: a
// device of an admitted organisation, not revoked. The caller holds n.mu.
func (n *Node) memberPeer(p peer.ID) bool {
	k, ok := peerDevice(p)
	if !ok {
		return false
	}
	_, ok = n.state.Standing(k)
	return ok
}

// MemberPeer is memberPeer for callers that do not hold the lock.
func (n *Node) MemberPeer(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.memberPeer(p)
}

// openInvites reports whether an invite stands that is neither used nor
// expired by this node's clock: only then may a stranger connect, to
// present it. The caller holds n.mu.
func (n *Node) openInvites() bool {
	now := uint64(n.now().UnixMilli())
	for _, iv := range n.state.Invites() {
		if iv.UsedBy == "" && iv.Expires > now {
			return true
		}
	}
	return false
}

// Admissible reports whether a peer may connect at all: a member device,
// or anyone while an invite is open (to present it, and nothing else).
func (n *Node) Admissible(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.memberPeer(p) || n.openInvites()
}
