package node

import (
	"context"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// unsaved is what the gossip validator applied to the state and the store
// loop has not stored yet: the entries it kept, and the entries whose
// status an apply changed. It holds IDs only: what is stored is what the
// state says of each when it is stored, so a later change (made by the
// validator, by reconciliation, or by the store poll) is never overwritten
// by an earlier one, and an entry the state no longer holds is not stored.
// r.n.mu guards it.
type unsaved struct {
	entries []crdt.ID
	changed map[crdt.ID]crdt.Status // → the status stored before, as far as known
	// closed: the store loop has stored the last of it and stopped; the
	// validator takes nothing more in.
	closed bool
	wake   chan struct{} // (buffered 1) there is something to store
}

func newUnsaved() unsaved {
	return unsaved{changed: map[crdt.ID]crdt.Status{}, wake: make(chan struct{}, 1)}
}

// add notes an entry the validator applied (kept with status st, or not
// kept if st is StatusNone) and the status changes the apply made.
func (u *unsaved) add(e *crdt.Entry, st crdt.Status, changes []crdt.Change) {
	if st != crdt.StatusNone {
		u.entries = append(u.entries, e.ID())
	}
	for _, c := range changes {
		if _, ok := u.changed[c.ID]; !ok {
			u.changed[c.ID] = c.From
		}
	}
	if len(u.entries) > 0 || len(u.changed) > 0 {
		select {
		case u.wake <- struct{}{}:
		default: // the store loop is due already
		}
	}
}

// storeBatch is how many entries the store loop stores in one transaction
// at most: the validator waits on n.mu meanwhile.
const storeBatch = 512

// storeOnClose bounds the last write of the store loop as the runner
// stops, within Close's wait.
const storeOnClose = 4 * time.Second

// storeLoop stores what the live path took in (see validate), in batches.
// Until then the state holds entries the disk does not: they are served to
// peers (an entry is forwarded once accepted, as before), but a failed
// write rebuilds the state from the disk, and the runner stores what it
// took in before it stops.
func (r *Runner) storeLoop() {
	// A write is not cut short by the runner stopping: what was taken in
	// is stored, or the state is rebuilt without it.
	ctx := context.WithoutCancel(r.ctx)
	for {
		select {
		case <-r.ctx.Done():
			r.n.mu.Lock()
			r.unsaved.closed = true
			r.n.mu.Unlock()
			last, cancel := context.WithTimeout(ctx, storeOnClose)
			err := r.storeApplied(last)
			cancel()
			if err != nil {
				r.opt.Logf("storing entries from the network: %v", err)
			}
			return
		case <-r.unsaved.wake:
		}
		if err := r.storeApplied(ctx); err != nil {
			r.opt.Logf("storing entries from the network: %v", err)
		}
	}
}

// storeApplied stores what the validator applied, as the state has it now.
func (r *Runner) storeApplied(ctx context.Context) error {
	for {
		more, err := r.storeSome(ctx)
		if err != nil || !more {
			return err
		}
	}
}

// storeSome stores up to storeBatch of the unsaved entries, and every
// unsaved status change, in one transaction, and reports whether entries
// are left.
func (r *Runner) storeSome(ctx context.Context) (more bool, err error) {
	n, u := r.n, &r.unsaved
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(u.entries) == 0 && len(u.changed) == 0 {
		return false, nil
	}
	take := u.entries[:min(len(u.entries), storeBatch)]
	recs := make([]store.Record, 0, len(take))
	for _, id := range take {
		// The state's entry, which a redaction may have stripped of its
		// body since, with its status now.
		if e, st, ok := n.state.Entry(id); ok && st != crdt.StatusNone {
			recs = append(recs, recordOf(e, st))
		}
		// (Not held any more: pushed out of the waiting pool, or the state
		// was rebuilt from the disk since. Not stored.)
	}
	changes := make([]crdt.Change, 0, len(u.changed))
	for id, from := range u.changed {
		// Of an entry the disk does not hold yet, a change is a no-op: it
		// is stored with its status as it is then.
		now, _ := n.state.Has(id) // StatusNone: dropped, deleted from the disk
		changes = append(changes, crdt.Change{ID: id, From: from, To: now})
	}
	if _, err := n.store.Put(ctx, recs, changes); err != nil {
		u.entries, u.changed = nil, map[crdt.ID]crdt.Status{}
		return false, n.rebuild(ctx, err)
	}
	u.entries = u.entries[len(take):]
	clear(u.changed)
	if err := n.flushRedactions(ctx); err != nil {
		return false, err
	}
	return len(u.entries) > 0, nil
}
