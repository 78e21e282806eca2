package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/murmurnet/murmur/crdt"
)

// The in-memory store's answers to a crdt State's questions: plain walks
// over every record (it is for tests), answering as the SQLite store's
// indexes do.

// each copies, under the read lock, the records keep selects, and calls fn
// for each with no lock held.
func (m *memory) each(ctx context.Context, op string, keep func(*Record) bool, fn func(Record) error) error {
	recs, err := m.selectRecs(ctx, op, keep)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *memory) selectRecs(ctx context.Context, op string, keep func(*Record) bool) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var out []Record
	for _, e := range m.ordered {
		if keep(&e.rec) {
			out = append(out, readBack(e.rec))
		}
	}
	return out, nil
}

func accepted(r *Record) bool { return r.Status == crdt.StatusAccepted }

func byIDOrder(a, b Record) int { return bytes.Compare(a.ID[:], b.ID[:]) }

func (m *memory) Authored(ctx context.Context, author crdt.DeviceKey, fn func(Record) error) error {
	return m.each(ctx, "authored", func(r *Record) bool { return r.Author == author }, fn)
}

func (m *memory) AcceptedHead(ctx context.Context, author crdt.DeviceKey) (Record, bool, error) {
	recs, err := m.selectRecs(ctx, "head", func(r *Record) bool { return r.Author == author && accepted(r) })
	if err != nil || len(recs) == 0 {
		return Record{}, false, err
	}
	best := recs[0]
	for _, r := range recs[1:] {
		if r.Seq > best.Seq || r.Seq == best.Seq && r.ID.Less(best.ID) {
			best = r
		}
	}
	return best, true, nil
}

func (m *memory) Device(ctx context.Context, author crdt.DeviceKey) (int, bool, error) {
	recs, err := m.selectRecs(ctx, "device", func(r *Record) bool { return r.Author == author && accepted(r) })
	if err != nil {
		return 0, false, err
	}
	seqs := map[uint64]bool{}
	forked := false
	for _, r := range recs {
		forked = forked || seqs[r.Seq]
		seqs[r.Seq] = true
	}
	return len(recs), forked, nil
}

func (m *memory) View(ctx context.Context, v crdt.View, fn func(Record) error) error {
	return m.each(ctx, "view", func(r *Record) bool { return accepted(r) && v != crdt.ViewNone && r.Keys.View == v }, fn)
}

func (m *memory) Refs(ctx context.Context, v crdt.View, ref crdt.ID, fn func(Record) error) error {
	return m.each(ctx, "refs", func(r *Record) bool {
		return accepted(r) && v != crdt.ViewNone && r.Keys.View == v && ref != (crdt.ID{}) && r.Keys.Ref == ref
	}, fn)
}

func (m *memory) Referenced(ctx context.Context, v crdt.View, refs []crdt.ID, fn func(crdt.ID)) error {
	want := map[crdt.ID]bool{}
	for _, ref := range refs {
		if ref != (crdt.ID{}) {
			want[ref] = true
		}
	}
	found := map[crdt.ID]bool{}
	// (Records read back carry no ref: it is read here.)
	if _, err := m.selectRecs(ctx, "referenced", func(r *Record) bool {
		if accepted(r) && v != crdt.ViewNone && r.Keys.View == v && want[r.Keys.Ref] {
			found[r.Keys.Ref] = true
		}
		return false
	}); err != nil {
		return err
	}
	for ref := range found {
		fn(ref)
	}
	return nil
}

func (m *memory) Grants(ctx context.Context, token [32]byte, fn func(Record) error) error {
	return m.each(ctx, "grants", func(r *Record) bool {
		return accepted(r) && r.Keys.View != crdt.ViewNone && slices.Contains(r.Keys.Tokens, token)
	}, fn)
}

func (m *memory) Withheld(ctx context.Context, fn func(crdt.ID) bool) error {
	recs, err := m.selectRecs(ctx, "withheld", func(r *Record) bool { return accepted(r) && r.Withheld })
	if err != nil {
		return err
	}
	slices.SortFunc(recs, byIDOrder)
	for _, r := range recs {
		if !fn(r.ID) {
			break
		}
	}
	return nil
}

func (m *memory) AcceptedIDs(ctx context.Context, fn func(crdt.ID) error) error {
	recs, err := m.selectRecs(ctx, "accepted", accepted)
	if err != nil {
		return err
	}
	slices.SortFunc(recs, byIDOrder)
	for _, r := range recs {
		if err := fn(r.ID); err != nil {
			return err
		}
	}
	return nil
}

func (m *memory) MaxClock(ctx context.Context) (crdt.Clock, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: max clock: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	return m.maxClk, nil
}

// listed reports whether r is an accepted record of view v (of tag, if
// tag != 0).
func listed(r *Record, v crdt.View, tag uint64) bool {
	return accepted(r) && v != crdt.ViewNone && r.Keys.View == v && (tag == 0 || r.Keys.Tag == tag)
}

func (m *memory) Page(ctx context.Context, v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor, limit int) ([]Record, error) {
	recs, err := m.selectRecs(ctx, "page", func(r *Record) bool {
		return listed(r, v, tag) && (ref == nil || r.Keys.Ref == *ref) && olderThan(r, after)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recs, func(a, b Record) int {
		if a.Clock != b.Clock {
			if a.Clock > b.Clock {
				return -1
			}
			return 1
		}
		return -byIDOrder(a, b)
	})
	if len(recs) > max(limit, 0) {
		recs = recs[:max(limit, 0)]
	}
	return recs, nil
}

// olderThan reports whether r comes after cursor in a list newest first.
func olderThan(r *Record, after *crdt.Cursor) bool {
	return after == nil || r.Clock < after.Clock || r.Clock == after.Clock && r.ID.Less(after.ID)
}

func (m *memory) Count(ctx context.Context, v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor) (int, error) {
	recs, err := m.selectRecs(ctx, "count", func(r *Record) bool {
		return listed(r, v, tag) && (ref == nil || r.Keys.Ref == *ref) && olderThan(r, after)
	})
	return len(recs), err
}

func (m *memory) CountUpTo(ctx context.Context, v crdt.View, tag uint64, ref crdt.ID, max int) (int, error) {
	n, err := m.Count(ctx, v, tag, &ref, nil)
	return min(n, max), err
}

func (m *memory) Range(ctx context.Context, v crdt.View, lo, hi crdt.ID, limit int) ([]Record, error) {
	recs, err := m.selectRecs(ctx, "range", func(r *Record) bool {
		return (v == crdt.ViewNone && accepted(r) || listed(r, v, 0)) && bytes.Compare(r.ID[:], lo[:]) >= 0 && bytes.Compare(r.ID[:], hi[:]) <= 0
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recs, byIDOrder)
	if len(recs) > max(limit, 0) {
		recs = recs[:max(limit, 0)]
	}
	return recs, nil
}

func (m *memory) StoredBetween(ctx context.Context, lo, hi crdt.ID, limit int, fn func(crdt.ID, crdt.Kind, crdt.Status)) error {
	recs, err := m.selectRecs(ctx, "stored between", func(r *Record) bool {
		return bytes.Compare(r.ID[:], lo[:]) >= 0 && bytes.Compare(r.ID[:], hi[:]) <= 0
	})
	if err != nil {
		return err
	}
	slices.SortFunc(recs, byIDOrder)
	for _, r := range recs[:min(len(recs), max(limit, 0))] {
		fn(r.ID, r.Kind, r.Status)
	}
	return nil
}

func (m *memory) Resident(ctx context.Context, pool bool, fn func(Record) error) error {
	return m.each(ctx, "resident", func(r *Record) bool { return pool && !accepted(r) || accepted(r) && crdt.ResidentKind(r.Kind) }, fn)
}

// NeedsKeys is always false: the in-memory store was never written by a
// release that did not keep keys.
func (m *memory) NeedsKeys(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("store: needs keys: %w", err)
	}
	return false, nil
}

func (m *memory) SetKeys(ctx context.Context, recs []Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: set keys: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.gen++
	for _, r := range recs {
		e := m.byID[r.ID]
		if e == nil {
			continue
		}
		m.noteChange(e.rec.Status, r.Status)
		if r.Status == crdt.StatusNone {
			m.deleteLocked(e)
			continue
		}
		e.rec.Status, e.rec.Keys, e.rec.Withheld = r.Status, cloneKeys(r.Keys), r.Withheld
	}
	m.writeStatsLocked(Batch{StatsReset: true})
	return nil
}
