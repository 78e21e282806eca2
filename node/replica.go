package node

import (
	"context"
	"time"

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

// validate is the gossip validator: the same checks as every other path,
// and the live path's rate limit on members (live). from is the peer that
// sent the entry, this node for its own entries (paced before publishing);
// now is the runner's clock, which the rate limit runs on.
func (n *Node) validate(ctx context.Context, self, from peer.ID, raw []byte, live *throttle, now time.Time) (msync.Verdict, *crdt.Entry) {
	e, err := crdt.Verify(raw)
	if err != nil {
		return msync.Reject, nil
	}
	local := from == self
	n.mu.Lock()
	_, held := n.state.Has(e.ID())
	_, device := n.state.DeviceOrg(e.Author)
	mayWait := device || n.memberPeer(from) // see ingestFromPeer
	if held && !local {
		// A replay of an entry this node holds (pubsub drops repeats of
		// recent messages before asking; this is an older one, or one
		// reconciliation brought first): forwarding it would let anyone
		// make the network send its history again. It counts against what
		// the sender may send (see throttle.replayed).
		if mayWait && e.Network == n.network {
			live.replayed(from, e.Author, device, now)
		}
		n.mu.Unlock()
		return msync.Ignore, nil
	}
	if !local && mayWait && e.Network == n.network && !live.admit(from, e.Author, device, now) {
		// Beyond its author's rate (or its sender's): valid or not, it is
		// neither checked further, kept nor forwarded. If valid,
		// reconciliation brings it, at its own pace.
		n.mu.Unlock()
		return msync.Ignore, nil
	}
	st, _ := n.state.Check(e)
	n.mu.Unlock()
	switch {
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
