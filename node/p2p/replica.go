package p2p

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	msync "github.com/murmurnet/murmur/sync"
)

// replica is the node as reconciliation sees it.
type replica struct{ core Core }

var _ msync.Replica = replica{}

func (r replica) WithIndex(fn func(x *msync.Index)) { r.core.WithIndex(fn) }

func (r replica) Entries(ids []crdt.ID) [][]byte { return r.core.AcceptedEntries(ids) }

func (r replica) Verify(raws [][]byte) msync.Verified { return r.core.VerifyEntries(raws) }

func (r replica) Ingest(ctx context.Context, from peer.ID, v msync.Verified) (int, error) {
	return r.core.IngestVerifiedFromPeer(ctx, from, v)
}

// validate is the gossip validator: the same checks as every other path,
// and the live path's rate limit on members (r.live, on the runner's
// clock). from is the peer that sent the entry, this node for its own
// entries (paced before publishing).
//
// The state judges each entry once, here: an entry this node keeps is
// given to the state and stored by the committer (commit.go), and the
// validator answers with where it stands. Checking here and applying
// again at delivery would judge it twice, and a membership entry's
// judgement replays the whole membership.
func (r *Runner) validate(from peer.ID, raw []byte) (msync.Verdict, *crdt.Entry) {
	v, e, drop := r.judgeLive(from, raw)
	if from == r.h.ID() {
		return v, e
	}
	if v == msync.Accept {
		r.count.delivered.Add(1)
		r.count.receivedGossip.Add(1)
		r.log.Debug(fmt.Sprintf("took in entry %s from %s by gossip", short(e.ID().String()), r.core.DeviceName(from)), "entry", e.ID().String(), "peer", from.String())
		return v, e
	}
	r.count.dropped[drop].Add(1)
	if drop == DropWaiting {
		r.count.receivedGossip.Add(1) // (kept)
	}
	r.log.Debug(fmt.Sprintf("did not forward an entry from %s: %s", r.core.DeviceName(from), dropWords[drop]), "peer", from.String(), "reason", drop.String())
	return v, e
}

// dropWords says a Drop in a debug line.
var dropWords = [numDrops]string{"it is not valid", "this node holds it already", "beyond what its author may send at once (reconciliation brings it)", "it waits for what it depends on", "not stored"}

// judgeLive is validate's judgement, with why an entry is not forwarded.
func (r *Runner) judgeLive(from peer.ID, raw []byte) (msync.Verdict, *crdt.Entry, Drop) {
	e, err := crdt.Verify(raw)
	if err != nil {
		return msync.Reject, nil, DropInvalid
	}
	now := r.clock.Now()
	local := from == r.h.ID()
	st, held, device, mayWait := r.core.LiveCheck(e, from)
	netID := r.core.Network()
	switch {
	case held && local:
		// This device's own entry (written here, or by a command the
		// store poll picked up): the state holds it already.
		if st == crdt.StatusAccepted {
			return msync.Accept, e, 0
		}
		return msync.Ignore, nil, DropRepeat
	case held:
		// A replay of an entry this node holds (pubsub drops repeats of
		// recent messages before asking; this is an older one, or one
		// reconciliation brought first): forwarding it would let anyone
		// make the network send its history again. It counts against what
		// the sender may send (see throttle.replayed).
		if mayWait && e.Network == netID {
			r.live.replayed(from, e.Author, device, now)
		}
		return msync.Ignore, nil, DropRepeat
	case !local && mayWait && e.Network == netID && !r.live.admit(from, e.Author, device, now):
		// Beyond its author's rate (or its sender's): valid or not, it is
		// neither checked further, kept nor forwarded. If valid,
		// reconciliation brings it, at its own pace.
		return msync.Ignore, nil, DropRate
	case !mayWait:
		// Signed by a key this node does not know as a device, and sent
		// by a node that is not a member's: junk, or ahead of its author's
		// admission (reconciliation brings it in order). Judged without
		// being kept, so that strangers cannot fill the bounded waiting
		// pool, and the sender is blamed only for what is invalid.
		// LiveCheck judged it already (st), in the same look.
		if st == crdt.StatusNone {
			return msync.Reject, nil, DropInvalid
		}
		if st != crdt.StatusAccepted {
			return msync.Ignore, nil, DropNotKept
		}
		// (Accepted: the membership rules accept no entry of a key that
		// is not a device, but the genesis, which every node holds. Were
		// one accepted, it would be committed below, and so judged twice.)
	}
	res := r.commit(e)
	switch {
	case res.Duplicate:
		// Taken in meanwhile (by reconciliation, or another copy of it):
		// forwarded once, by whoever took it first.
		return msync.Ignore, nil, DropRepeat
	case res.Status == crdt.StatusAccepted:
		return msync.Accept, e, 0
	case res.Status == crdt.StatusWaiting, res.Status == crdt.StatusHeld:
		// Not applicable yet (what it waits for is usually on its way), or
		// by a member device without standing here: kept, as
		// reconciliation keeps it, but not forwarded, and the sender is
		// not blamed.
		return msync.Ignore, nil, DropWaiting
	case errors.Is(res.Reason, crdt.ErrPoolFull), errors.Is(res.Reason, errNotTaken):
		// Waiting, and pushed out of the full waiting pool at once; or not
		// stored (the runner stopping, a failed write): not kept, and not
		// invalid.
		return msync.Ignore, nil, DropNotKept
	}
	return msync.Reject, nil, DropInvalid
}
