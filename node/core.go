package node

// The state and the store move together (issue 14). The state keeps in
// memory only what its rules need at every step (membership, entries not
// accepted, the network-describing kinds); everything else is asked of
// the store through crdt.Facts. So every change goes through one path,
// write: inside one exclusive store transaction, the state is first
// brought up to what the store holds (another process on the same data
// directory may have written since: the store's mark says so), then it
// takes its step, and the store takes what the step decided (a
// crdt.Ready) in the same transaction. What a step changed then comes
// back as a value (after): the reconciliation index, the entries of this
// device to publish, the gate to look again — never observers firing in
// the middle of a transaction.

import (
	"context"
	"errors"
	"fmt"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
)

// newState is an empty state over the node's store.
func (n *Node) newState() *crdt.State {
	return crdt.NewStateOn(n.network, crdt.DefaultLimits(), store.Facts(context.Background(), n.store))
}

// load makes the state anew from what the store holds at mark at: the
// entries it keeps in memory, never the whole log; without pool, not the
// entries waiting (or held) either, as a state that only reads needs none
// of them (crdt's RestoreForReading). It returns the status
// corrections the state found (none, for a store this release wrote), for
// the caller to store. Entries that other processes stored since the
// state last matched the store are looked at: this device's, to publish;
// others', as news for the peers. If those are all that changed (the
// mark's Changed has not moved), they are added to the reconciliation
// index; otherwise it is built again when next needed. The caller holds
// n.mu.
func (n *Node) load(ctx context.Context, at store.Mark, pool bool) (store.Batch, error) {
	s := n.newState()
	var ready crdt.Ready
	var err error
	if pool {
		ready, err = s.Restore()
	} else if ready, err = s.RestoreForReading(); err == nil && !store.BatchOf(ready).Empty() {
		// Corrections to store (a store another release wrote): they are
		// judged with the pool.
		s, pool = n.newState(), true
		ready, err = s.Restore()
	}
	if err != nil {
		return store.Batch{}, err
	}
	old := n.mark
	n.state, n.mark, n.pool = s, at, pool
	if old.Cursor == 0 || at.Changed != old.Changed || at.Cursor < old.Cursor {
		n.setIndex(nil)
	}
	if old.Cursor > 0 && at.Cursor > old.Cursor {
		if _, err := n.store.Scan(ctx, old.Cursor, func(_ int64, r store.Record) error {
			if r.Status != crdt.StatusAccepted {
				return nil
			}
			n.indexChange(msync.Item{Clock: r.Clock, ID: r.ID}, true)
			if r.Author != n.device {
				n.polledNews++
			} else if n.onOwn != nil {
				if e, err := crdt.Trusted(r.Raw); err == nil {
					n.onOwn(e)
				}
			}
			return nil
		}); err != nil {
			n.setIndex(nil)
			return store.Batch{}, err
		}
	}
	fixes := store.BatchOf(ready)
	if !fixes.Empty() {
		n.setIndex(nil) // (corrections: none, for a store this release wrote)
	}
	return fixes, nil
}

// withPool loads the state whole if it was restored for reading only:
// for what judges an entry or lists those waiting. The caller holds n.mu.
func (n *Node) withPool(ctx context.Context) error {
	if n.pool && n.state != nil {
		return nil
	}
	n.pool, n.mark = true, store.Mark{}
	return n.refresh(ctx)
}

// LoadPool loads the state whole, waiting pool included, if it was
// restored for reading only, and keeps it so: a running node judges
// entries all the time.
func (n *Node) LoadPool(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.withPool(ctx)
}

// reload loads the state again after a write failed (the state may be
// ahead of the disk), storing the corrections it finds. Not with ctx: a
// session cancelled mid-write (superseded by the peer's, or the node
// stopping) would leave the state unusable until the next poll. The
// caller holds n.mu.
func (n *Node) reload(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	n.mark = store.Mark{}
	at, err := n.store.Mark(ctx)
	if err != nil {
		return err
	}
	fixes, err := n.load(ctx, at, n.pool)
	if err != nil || fixes.Empty() {
		return err
	}
	n.mark, err = n.store.Update(ctx, func(now store.Mark) (store.Batch, error) {
		if now != at {
			return store.Batch{}, nil // someone wrote: the next write looks again
		}
		return fixes, nil
	})
	return err
}

// write runs step inside one store transaction, with the state brought
// up to what the store holds, and stores what the step decided. If the
// transaction fails, or step does, the state is loaded again from the
// store. Inside atomically, the step joins that transaction. The caller
// holds n.mu.
func (n *Node) write(ctx context.Context, step func() (crdt.Ready, error)) (crdt.Ready, error) {
	var ready crdt.Ready
	err := n.atomically(ctx, func() error {
		r, err := step()
		if err == nil {
			err = n.state.Err()
		}
		if err != nil {
			return err
		}
		ready = r
		n.tx.batch.Add(store.BatchOf(r))
		n.tx.readies = append(n.tx.readies, r)
		return nil
	})
	return ready, err
}

// txState is what the steps inside one atomically have decided, to store
// when it ends.
type txState struct {
	batch   store.Batch
	readies []crdt.Ready
}

// atomically runs fn inside one store transaction, with the state first
// brought up to what the store holds: a workflow's checks (is the request
// closed already? has this organisation signed?) and the entry it then
// writes see the same store, and no other process writes between them.
// The steps fn takes (write) are stored when it returns nil; if it fails,
// nothing is, and the state is loaded again. Nested calls join the outer
// one. The caller holds n.mu.
func (n *Node) atomically(ctx context.Context, fn func() error) error {
	if n.tx != nil {
		return fn()
	}
	tx := &txState{}
	mark, err := n.store.Update(ctx, func(at store.Mark) (store.Batch, error) {
		if at != n.mark || n.state == nil || !n.pool {
			fixes, err := n.load(ctx, at, true)
			if err != nil {
				return store.Batch{}, err
			}
			tx.batch.Add(fixes)
		}
		n.tx = tx
		defer func() { n.tx = nil }()
		if err := fn(); err != nil {
			return store.Batch{}, err
		}
		return tx.batch, nil
	})
	if err != nil {
		if rerr := n.reload(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	n.mark = mark
	for _, r := range tx.readies {
		n.after(r)
	}
	return nil
}

// step gives entries to the state and stores what it decided (write).
func (n *Node) step(ctx context.Context, es []*crdt.Entry) ([]crdt.Result, error) {
	var results []crdt.Result
	_, err := n.write(ctx, func() (crdt.Ready, error) {
		var r crdt.Ready
		results, r = n.state.Step(es)
		return r, nil
	})
	return results, err
}

// catchUp brings the state up to what the store holds, if another
// process wrote since it last matched. The caller holds n.mu.
func (n *Node) catchUp(ctx context.Context) error {
	at, err := n.store.Mark(ctx)
	if err != nil {
		return err
	}
	if at == n.mark && n.state != nil {
		return nil
	}
	_, err = n.write(ctx, func() (crdt.Ready, error) { return crdt.Ready{}, nil })
	return err
}

// after acts on what a step changed: the reconciliation index follows
// the accepted set, this device's newly accepted entries are published,
// and the gate looks again when membership changed. The caller holds
// n.mu.
func (n *Node) after(r crdt.Ready) {
	membership := false
	accepted := func(e *crdt.Entry, in bool) {
		n.indexChange(msync.Item{Clock: e.Clock, ID: e.ID()}, in)
		if in && e.Author == n.device && n.onOwn != nil {
			n.onOwn(e)
		}
		membership = membership || e.Kind.Membership()
	}
	for _, st := range r.Stored {
		if st.Status == crdt.StatusAccepted {
			accepted(st.Entry, true)
		}
	}
	for _, c := range r.Changes {
		if c.From != crdt.StatusAccepted && c.To != crdt.StatusAccepted {
			continue
		}
		e, _, ok := n.state.Entry(c.ID)
		if !ok { // (an accepted entry is never dropped; if it were, rebuild)
			n.setIndex(nil)
			continue
		}
		accepted(e, c.To == crdt.StatusAccepted)
	}
	if membership && n.onMembership != nil {
		n.onMembership()
	}
}

// indexNow is the reconciliation index, built from the store's clear
// columns when first needed (a command that does not sync never builds
// it). The caller holds n.mu.
func (n *Node) indexNow(ctx context.Context) (*msync.Index, error) {
	if n.index != nil {
		return n.index, nil
	}
	// Added as the store lists them (about the order they arrived, so
	// mostly at the end): no second copy of a million items to sort.
	x := msync.NewIndex()
	if err := n.store.AcceptedItems(ctx, func(c crdt.Clock, id crdt.ID) error {
		x.Add(msync.Item{Clock: c, ID: id})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("building the reconciliation index: %w", err)
	}
	n.setIndex(x)
	return x, nil
}

// The reconciliation index changes under n.mu and indexMu both: it is
// read under either (indexMu by verifyEntries, which must not wait for a
// write to end).

// setIndex replaces the index (nil: built again when next needed). The
// caller holds n.mu.
func (n *Node) setIndex(x *msync.Index) {
	n.indexMu.Lock()
	defer n.indexMu.Unlock()
	n.index = x
}

// indexChange adds it to the index, or removes it, if the index is built.
// The caller holds n.mu.
func (n *Node) indexChange(it msync.Item, in bool) {
	n.indexMu.Lock()
	defer n.indexMu.Unlock()
	if n.index == nil {
		return
	}
	if in {
		n.index.Add(it)
	} else {
		n.index.Remove(it)
	}
}

// reindex gives every entry of a store written before the state lived in
// it (store migration 4) the keys the state decides, and its status: the
// log is replayed once, in memory, as every open did before. An entry the
// state no longer keeps is dropped, as the open that replayed it would
// have dropped it.
func (n *Node) reindex(ctx context.Context) error {
	s := crdt.NewState(n.network, crdt.DefaultLimits())
	var (
		es   []*crdt.Entry
		seen []crdt.ID
	)
	const batch = 4096
	if _, err := n.store.Scan(ctx, 0, func(_ int64, r store.Record) error {
		e, err := crdt.Trusted(r.Raw)
		if err != nil {
			return fmt.Errorf("stored entry %v no longer decodes: %w: %w", r.ID, store.ErrCorrupt, err)
		}
		seen = append(seen, r.ID)
		if es = append(es, e); len(es) == batch {
			s.ApplyBatch(es)
			es = es[:0]
		}
		return nil
	}); err != nil {
		return err
	}
	s.ApplyBatch(es)
	kept := make(map[crdt.ID]bool, len(seen))
	var recs []store.Record
	s.Facts().Each(func(st crdt.Stored) {
		kept[st.Entry.ID()] = true
		recs = append(recs, store.StoredRecord(st))
	})
	for _, id := range seen {
		if !kept[id] {
			recs = append(recs, store.Record{ID: id, Status: crdt.StatusNone})
		}
	}
	return n.store.SetKeys(ctx, recs)
}
