package node

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// IngestReport says what became of a batch of entries from elsewhere.
type IngestReport struct {
	Accepted, Waiting, Held, Duplicate int
	Refused                            []error // one per entry refused outright
}

// Ingest takes entries signed elsewhere (from a peer, a bundle file): it
// decodes and verifies them (in parallel), validates them against the
// state, and stores what the state keeps, all in one durable transaction.
// Entries refused outright are reported and not stored.
func (n *Node) Ingest(ctx context.Context, raws [][]byte) (IngestReport, error) {
	var rep IngestReport
	entries := make([]*crdt.Entry, len(raws))
	errs := make([]error, len(raws))
	verifyAll(raws, entries, errs) // before locking: verification is the slow part
	valid := entries[:0:0]
	for i, e := range entries {
		if errs[i] != nil {
			rep.Refused = append(rep.Refused, errs[i])
			continue
		}
		valid = append(valid, e)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ingest(ctx, valid, rep)
}

// IngestVerified is Ingest for entries whose signatures were already checked
// (by the gossip validator, which runs the same checks).
func (n *Node) IngestVerified(ctx context.Context, es []*crdt.Entry) (IngestReport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ingest(ctx, es, IngestReport{})
}

func (n *Node) ingest(ctx context.Context, valid []*crdt.Entry, rep IngestReport) (IngestReport, error) {
	results, changes := n.state.ApplyBatch(valid)
	recs := make([]store.Record, 0, len(valid))
	for i, res := range results {
		switch {
		case res.Duplicate:
			rep.Duplicate++
			continue
		case res.Status == crdt.StatusNone:
			rep.Refused = append(rep.Refused, res.Reason)
			continue
		case res.Status == crdt.StatusAccepted:
			rep.Accepted++
		case res.Status == crdt.StatusWaiting:
			rep.Waiting++
		case res.Status == crdt.StatusHeld:
			rep.Held++
		}
		recs = append(recs, recordOf(valid[i], res.Status))
	}
	if len(recs) == 0 && len(changes) == 0 {
		return rep, nil
	}
	if _, err := n.store.Put(ctx, recs, changes); err != nil {
		// The state is now ahead of the disk: rebuild it from what is stored.
		n.resetState()
		changes, rerr := n.refresh(ctx)
		if rerr == nil {
			rerr = n.persist(ctx, changes)
		}
		return rep, errors.Join(err, rerr)
	}
	return rep, nil
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
