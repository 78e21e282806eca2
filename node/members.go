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
	if n.knownMember(p) {
		return true
	}
	// After a repair, until the first sync: the peers named with --peer
	// (repair.go).
	return n.recovering != nil && n.vouched[p] && !n.formerPeer(p)
}

// knownMember reports whether the state knows p as the node of a device
// with standing. The caller holds n.mu.
func (n *Node) knownMember(p peer.ID) bool {
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

// inviteOpenTo reports whether p may connect to this node to present an
// invite (and do nothing else): this device issued an invite that stands,
// has not expired by this node's clock, and is either unused or was used
// by p (an organisation that awaits more stewards' approval, or whose
// answer was lost, asks again). An invite code carries its inviter's
// addresses, so the joiner dials the inviter's node and no other: every
// other member's node refuses strangers whatever invites are open
// elsewhere in the network, and once an invite is used only its user is
// let in (as a private network's door does). The caller holds n.mu.
func (n *Node) inviteOpenTo(p peer.ID) bool {
	k, known := peerDevice(p)
	now := uint64(n.now().UnixMilli())
	for _, iv := range n.state.Invites() {
		if iv.Author != n.device || iv.Expires <= now {
			continue
		}
		if iv.UsedBy == "" || known && (iv.UsedBy == crdt.OrgIDFor(k).String() || iv.UsedBy == k.String()) {
			return true
		}
	}
	return false
}

// Admissible reports whether a peer may connect at all: a member device,
// or a stranger while an invite this device issued is open to it
// (inviteOpenTo: to present it, and nothing else) —
// except a device of the network that lost its standing (revoked): it is
// no stranger, and is refused from the moment its revocation is known.
func (n *Node) Admissible(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.admissible(p)
}

// admissible is Admissible; the caller holds n.mu.
func (n *Node) admissible(p peer.ID) bool {
	if n.memberPeer(p) {
		return true
	}
	return !n.formerPeer(p) && n.inviteOpenTo(p)
}

// formerPeer reports whether p is the node of a device the network knows
// but that has no standing: revoked. The caller holds n.mu.
func (n *Node) formerPeer(p peer.ID) bool {
	k, ok := peerDevice(p)
	if !ok {
		return false
	}
	_, known := n.state.DeviceOrg(k)
	_, stands := n.state.Standing(k)
	return known && !stands
}

// PeerMember is the organisation and the device (their IDs) whose node p
// is; member is false if the device has no standing (device is still
// its key, if p names one).
func (n *Node) PeerMember(p peer.ID) (org, device string, member bool) {
	k, ok := peerDevice(p)
	if !ok {
		return "", "", false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	o, ok := n.state.Standing(k)
	if !ok {
		return "", k.String(), false
	}
	return o.String(), k.String(), true
}
