package node

import (
	"context"
	"runtime"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// IngestReport says what became of a batch of entries from elsewhere.
type IngestReport struct {
	Accepted, Waiting, Held, Duplicate int
	Refused                            []error   // one per entry refused outright
	WaitingIDs                         []crdt.ID // the entries that wait
}

// Ingest takes entries signed elsewhere (from a peer, a bundle file): it
// decodes and verifies them (in parallel), validates them against the
// state, and stores what the state keeps, all in one durable transaction.
// Entries refused outright are reported and not stored.
func (n *Node) Ingest(ctx context.Context, raws [][]byte) (IngestReport, error) {
	return n.IngestVerified(ctx, Verify(raws)) // verified before locking: it is the slow part
}

// Verified is a batch of entries decoded and checked for their signatures
// (Verify), for IngestVerified: the slow part of taking entries in, which
// touches no state, so that a batch can be verified while the one before
// it is stored.
type Verified struct {
	valid []*crdt.Entry
	rep   IngestReport // the entries refused so far, and those held already
}

// Len is how many entries the batch had, refused and held ones too.
func (v *Verified) Len() int { return len(v.valid) + len(v.rep.Refused) + v.rep.Duplicate }

// Verify decodes raws and checks their signatures, on all cores.
func Verify(raws [][]byte) *Verified {
	valid, rep := verified(raws)
	return &Verified{valid: valid, rep: rep}
}

// IngestVerified is Ingest for a batch Verify checked.
func (n *Node) IngestVerified(ctx context.Context, v *Verified) (IngestReport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ingest(ctx, v.valid, v.rep)
}

// ingestFromPeer is Ingest for entries the peer from sent. An entry signed
// by a key that is not (yet) a device of the network waits for its
// author's admission only if a member's node sent it, as an honest one can
// (the admission may be on its way). Sent by anyone else, it is
// unauthorised as far as this node can tell: it is not stored (it must not
// take room in the store, or push members' waiting entries out of the
// bounded pool), nor reported as refused (it may be valid elsewhere). The
// rest of the batch is applied first, in case it admits the author, or the
// sender.
func (n *Node) ingestFromPeer(ctx context.Context, from peer.ID, v *Verified) (rep IngestReport, err error) {
	ctx = store.Relaxed(ctx) // a peer's entries: it sends them again if a power cut takes them
	valid, rep := v.valid, v.rep
	n.mu.Lock()
	defer n.mu.Unlock()
	take, later := valid, []*crdt.Entry(nil)
	if !n.memberPeer(from) {
		take, later = n.splitUnknown(valid)
	}
	for {
		if rep, err = n.ingest(ctx, take, rep); err != nil || len(later) == 0 {
			break
		}
		if n.memberPeer(from) {
			take, later = later, nil
		} else if take, later = n.splitUnknown(later); len(take) == 0 {
			break
		}
	}
	return rep, err
}

// splitUnknown sets apart this network's entries that the state does not
// hold and whose author it does not know as a device.
func (n *Node) splitUnknown(es []*crdt.Entry) (known, unknown []*crdt.Entry) {
	for _, e := range es {
		_, device := n.state.DeviceOrg(e.Author)
		_, held := n.state.Has(e.ID())
		if device || held || e.Network != n.network || e.Kind == crdt.KindGenesis {
			known = append(known, e) // the state decides (another network's is refused there)
		} else {
			unknown = append(unknown, e)
		}
	}
	return known, unknown
}

// verified decodes and verifies raws, and reports those refused.
func verified(raws [][]byte) ([]*crdt.Entry, IngestReport) {
	var rep IngestReport
	entries := make([]*crdt.Entry, len(raws))
	errs := make([]error, len(raws))
	verifyAll(raws, entries, errs)
	valid := entries[:0:0]
	for i, e := range entries {
		if errs[i] != nil {
			rep.Refused = append(rep.Refused, errs[i])
			continue
		}
		valid = append(valid, e)
	}
	return valid, rep
}

func (n *Node) ingest(ctx context.Context, valid []*crdt.Entry, rep IngestReport) (IngestReport, error) {
	if len(valid) == 0 {
		return rep, nil
	}
	results, err := n.step(ctx, valid)
	if err != nil {
		return rep, err
	}
	for i, res := range results {
		if !res.Duplicate {
			n.judging(judgedIngest, valid[i])
		}
		switch {
		case res.Duplicate:
			rep.Duplicate++
		case res.Status == crdt.StatusNone:
			rep.Refused = append(rep.Refused, res.Reason)
		case res.Status == crdt.StatusAccepted:
			rep.Accepted++
		case res.Status == crdt.StatusWaiting:
			rep.Waiting++
			rep.WaitingIDs = append(rep.WaitingIDs, valid[i].ID())
		case res.Status == crdt.StatusHeld:
			rep.Held++
		}
	}
	return rep, nil
}

// Where the state judged an entry, for the judged hook (tests).
const (
	judgedLive   = "the gossip validator"
	judgedIngest = "ingest"
)

// judging tells the judged hook, if any, that the state judged e (not
// merely found it held already). The caller holds n.mu.
func (n *Node) judging(where string, e *crdt.Entry) {
	if n.judged != nil {
		n.judged(where, e.ID())
	}
}

// verifyAll checks signatures on all cores: verification is most of the
// cost of taking in an entry.
func verifyAll(raws [][]byte, out []*crdt.Entry, errs []error) {
	workers := min(runtime.GOMAXPROCS(0), (len(raws)+63)/64)
	if workers <= 1 {
		for i, raw := range raws {
			out[i], errs[i] = crdt.Verify(raw)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(raws) + workers - 1) / workers
	for lo := 0; lo < len(raws); lo += chunk {
		hi := min(lo+chunk, len(raws))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i], errs[i] = crdt.Verify(raws[i])
			}
		}()
	}
	wg.Wait()
}
