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

func (r replica) Ingest(ctx context.Context, _ peer.ID, raws [][]byte) (int, error) {
	rep, err := r.n.Ingest(ctx, raws)
	return len(rep.Refused), err
}

// validate is the gossip validator: the same checks as every other path.
// An entry that is merely not applicable yet is kept (its predecessor is
// usually on its way) but not forwarded.
func (n *Node) validate(ctx context.Context, raw []byte) (msync.Verdict, *crdt.Entry) {
	e, err := crdt.Verify(raw)
	if err != nil {
		return msync.Reject, nil
	}
	n.mu.Lock()
	st, _ := n.state.Check(e)
	n.mu.Unlock()
	switch st {
	case crdt.StatusAccepted:
		return msync.Accept, e
	case crdt.StatusWaiting:
		n.IngestVerified(ctx, []*crdt.Entry{e})
		return msync.Ignore, nil
	case crdt.StatusHeld:
		return msync.Ignore, nil // signed by a member device, but without standing here
	}
	return msync.Reject, nil
}
