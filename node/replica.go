package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	msync "github.com/murmurnet/murmur/sync"
)

// replica is the node as reconciliation sees it.
type replica struct{ n *Node }

var _ msync.Replica = replica{}

func (r replica) WithIndex(fn func(x *msync.Index)) {
	r.n.mu.Lock()
	defer r.n.mu.Unlock()
	fn(r.n.index)
}

func (r replica) Entries(ids []crdt.ID) [][]byte {
	r.n.mu.Lock()
	defer r.n.mu.Unlock()
	out := make([][]byte, 0, len(ids))
	for _, id := range ids {
		if e, st, ok := r.n.state.Entry(id); ok && st == crdt.StatusAccepted {
			out = append(out, e.Raw())
		}
	}
	return out
}

func (r replica) Ingest(ctx context.Context, from peer.ID, raws [][]byte) (int, error) {
	rep, err := r.n.ingestFromPeer(ctx, from, raws)
	return len(rep.Refused), err
}

// validate is the gossip validator: the same checks as every other path.
// from is the peer that sent the entry, this node for its own entries.
func (n *Node) validate(ctx context.Context, self, from peer.ID, raw []byte) (msync.Verdict, *crdt.Entry) {
	e, err := crdt.Verify(raw)
	if err != nil {
		return msync.Reject, nil
	}
	local := from == self
	n.mu.Lock()
	_, held := n.state.Has(e.ID())
	_, device := n.state.DeviceOrg(e.Author)
	mayWait := device || n.memberPeer(from) // see ingestFromPeer
	st, _ := n.state.Check(e)
	n.mu.Unlock()
	switch {
	case held && !local:
		// A replay of an entry this node holds (pubsub drops repeats of
		// recent messages before asking; this is an older one): forwarding
		// it would let anyone make the network send its history again.
		return msync.Ignore, nil
	case st == crdt.StatusAccepted:
		return msync.Accept, e
	case st == crdt.StatusWaiting && mayWait:
		// Merely not applicable yet: kept (what it waits for is usually on
		// its way), not forwarded.
		n.IngestVerified(ctx, []*crdt.Entry{e})
		return msync.Ignore, nil
	case st == crdt.StatusWaiting, st == crdt.StatusHeld:
		// Signed by a key this node does not know as a device and sent by a
		// node that is not a member's (junk, or ahead of its author's
		// admission: reconciliation brings it in order), or by a member
		// device without standing here: neither kept nor forwarded, and the
		// sender is not blamed.
		return msync.Ignore, nil
	}
	return msync.Reject, nil
}
