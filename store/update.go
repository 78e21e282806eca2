package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/murmurnet/murmur/crdt"
)

// Mark is where a store stands: its generation, which every write of
// entries moves (by any process on the same file); the cursor of the last
// entry stored; and Changed, which moves with every write that changes
// the accepted set otherwise than by storing accepted entries (an entry
// accepted, or no longer, after it was stored). A node that keeps part of
// its state in memory compares marks to know whether someone else wrote
// since it last did, and, when Changed has not moved, finds everything
// that changed among the entries stored after its cursor.
type Mark struct {
	Gen, Cursor, Changed int64
}

// Batch is what one Update writes: new records (with their keys), status
// changes (To StatusNone drops the record), records whose stored bytes
// and keys are replaced (Rewrite), and records whose keys alone are
// (Rekey).
type Batch struct {
	Put     []Record
	Changes []crdt.Change
	Rewrite []Record
	Rekey   []crdt.Rekey
	// The statistics' inputs (stats.go): those to store in place of what
	// was (Stats), and those to forget (StatsGone). StatsReset forgets
	// them all first, and StatsBuilt marks them complete (StatsBuilt).
	Stats      []crdt.RequestStat
	StatsNew   []crdt.RequestStat // (of requests with none stored)
	StatsGone  []crdt.ID
	StatsReset bool
	StatsBuilt bool
}

// Empty reports whether b writes nothing.
func (b Batch) Empty() bool {
	return len(b.Put)+len(b.Changes)+len(b.Rewrite)+len(b.Rekey)+len(b.Stats)+len(b.StatsNew)+len(b.StatsGone) == 0 && !b.StatsReset && !b.StatsBuilt
}

// BatchOf is the batch that persists what a State's Step decided.
func BatchOf(r crdt.Ready) Batch {
	var b Batch
	for _, st := range r.Stored {
		b.Put = append(b.Put, StoredRecord(st))
	}
	b.Changes = r.Changes
	for _, st := range r.Rewritten {
		b.Rewrite = append(b.Rewrite, StoredRecord(st))
	}
	b.Rekey = r.Rekeyed
	b.Stats, b.StatsNew, b.StatsGone = r.Stats, r.StatsNew, r.StatsGone
	return b
}

// Add appends o to b.
func (b *Batch) Add(o Batch) {
	b.Put = append(b.Put, o.Put...)
	b.Changes = append(b.Changes, o.Changes...)
	b.Rewrite = append(b.Rewrite, o.Rewrite...)
	b.Rekey = append(b.Rekey, o.Rekey...)
	if o.StatsReset { // (what came before is forgotten)
		b.Stats, b.StatsNew, b.StatsGone, b.StatsReset = nil, nil, nil, true
	}
	b.Stats = append(b.Stats, o.Stats...)
	b.StatsNew = append(b.StatsNew, o.StatsNew...)
	b.StatsGone = append(b.StatsGone, o.StatsGone...)
	b.StatsBuilt = b.StatsBuilt || o.StatsBuilt
}

const (
	// markQuery reads the whole mark in one statement.
	markQuery = `SELECT COALESCE((SELECT value FROM marks WHERE name = 'gen'), 0),
		COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'entries'), 0),
		COALESCE((SELECT value FROM marks WHERE name = 'changed'), 0)`
)

func readMark(ctx context.Context, q querier) (Mark, error) {
	var m Mark
	if err := q.QueryRowContext(ctx, markQuery).Scan(&m.Gen, &m.Cursor, &m.Changed); err != nil {
		return Mark{}, err
	}
	return m, nil
}

// Mark implements Store.
func (s *SQLite) Mark(ctx context.Context) (Mark, error) {
	if s.closed.Load() {
		return Mark{}, ErrClosed
	}
	m, err := readMark(ctx, s.read)
	if err != nil {
		return Mark{}, s.fail("mark", err)
	}
	return m, nil
}

// Update implements Store.
func (s *SQLite) Update(ctx context.Context, fn func(at Mark) (Batch, error)) (Mark, error) {
	var (
		fnErr   error // fn's error, returned as it is
		after   Mark
		dropped bool
		groups  map[string]string // the statistics' groups stored
	)
	err := s.write(ctx, "update", func(tx *sql.Tx) error {
		w := s.newTxWriter(ctx, tx)
		defer w.close()
		at, err := readMark(ctx, w)
		if err != nil {
			return err
		}
		var b Batch
		if b, fnErr = fn(at); fnErr != nil {
			return fnErr
		}
		if b.Empty() {
			after = at
			return nil
		}
		for _, r := range b.Put {
			nr, err := s.sealRow(r)
			if err != nil {
				return err
			}
			if _, err := w.insert(nr); err != nil {
				return err
			}
		}
		if err := w.writeStatsGone(b); err != nil {
			return err
		}
		for _, c := range b.Changes {
			if _, err := w.change(c.ID, c.To); err != nil {
				return err
			}
		}
		for _, r := range b.Rewrite {
			d, err := w.rewrite(r.ID, r.Raw, r.Keys)
			if err != nil {
				return err
			}
			dropped = dropped || d
		}
		for _, k := range b.Rekey {
			if err := w.rekey(k.ID, k.Keys); err != nil {
				return err
			}
		}
		if err := w.writeStats(b); err != nil {
			return err
		}
		groups = w.newGroups
		if err := w.finish(); err != nil {
			return err
		}
		after, err = readMark(ctx, w)
		return err
	})
	if fnErr != nil {
		return Mark{}, fnErr
	}
	if err != nil {
		return Mark{}, err
	}
	s.rememberGroups(groups)
	if dropped {
		if err := s.checkpoint(ctx, "update"); err != nil {
			return after, err
		}
	}
	return after, nil
}

// ChainHead implements Store.
func (s *SQLite) ChainHead(ctx context.Context, author crdt.DeviceKey) (Head, crdt.Clock, error) {
	if s.closed.Load() {
		return Head{}, 0, ErrClosed
	}
	h, err := readHead(ctx, s.readers, s.seal.author(author))
	if err != nil {
		return Head{}, 0, s.fail("head", err)
	}
	c, err := s.MaxClock(ctx)
	return h, c, err
}

// AcceptedItems implements Store: a scan of the clear columns, in
// (clock, ID) order as SQL orders them (a clock of 2^63 and more sorts
// first: the caller's index orders itself).
func (s *SQLite) AcceptedItems(ctx context.Context, fn func(crdt.Clock, crdt.ID) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	for after := int64(0); ; {
		rows, err := s.read.QueryContext(ctx, `SELECT cursor, clock, id FROM entries WHERE cursor > ? AND status = 1 ORDER BY cursor LIMIT ?`, after, scanPage*10)
		if err != nil {
			return s.fail("accepted items", err)
		}
		n := 0
		for rows.Next() {
			var clock int64
			var id []byte
			if err := rows.Scan(&after, &clock, &id); err != nil {
				rows.Close()
				return s.fail("accepted items", err)
			}
			var x crdt.ID
			if err := copy32(x[:], id, "id"); err != nil {
				rows.Close()
				return s.fail("accepted items", err)
			}
			n++
			if err := fn(crdt.Clock(uint64(clock)), x); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return s.fail("accepted items", err)
		}
		if n < scanPage*10 {
			return nil
		}
	}
}

// Mark implements Store.
func (m *memory) Mark(ctx context.Context) (Mark, error) {
	if err := ctx.Err(); err != nil {
		return Mark{}, fmt.Errorf("store: mark: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Mark{}, ErrClosed
	}
	return Mark{Gen: m.gen, Cursor: m.last, Changed: m.changed}, nil
}

// Update implements Store.
func (m *memory) Update(ctx context.Context, fn func(at Mark) (Batch, error)) (Mark, error) {
	if err := ctx.Err(); err != nil {
		return Mark{}, fmt.Errorf("store: update: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	at, err := m.Mark(ctx)
	if err != nil {
		return Mark{}, err
	}
	b, err := fn(at)
	if err != nil {
		return Mark{}, err
	}
	if b.Empty() {
		return at, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Mark{}, ErrClosed
	}
	m.putLocked(b.Put, b.Changes)
	for _, r := range b.Rewrite {
		m.rewriteLocked(r.ID, r.Raw, r.Keys)
	}
	for _, k := range b.Rekey {
		if e := m.byID[k.ID]; e != nil {
			e.rec.Keys = cloneKeys(k.Keys)
		}
	}
	if len(b.Rekey) > 0 {
		m.gen++
	}
	m.writeStatsLocked(b)
	return Mark{Gen: m.gen, Cursor: m.last, Changed: m.changed}, nil
}

// ChainHead implements Store.
func (m *memory) ChainHead(ctx context.Context, author crdt.DeviceKey) (Head, crdt.Clock, error) {
	if err := ctx.Err(); err != nil {
		return Head{}, 0, fmt.Errorf("store: head: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Head{}, 0, ErrClosed
	}
	var head Head
	found := false
	for _, e := range m.ordered {
		r := &e.rec
		if r.Author == author && (!found || r.Seq > head.Seq || r.Seq == head.Seq && r.ID.Less(head.ID)) {
			head = Head{Seq: r.Seq, ID: r.ID, Clock: r.Clock}
			found = true
		}
	}
	return head, m.maxClk, nil
}

// AcceptedItems implements Store.
func (m *memory) AcceptedItems(ctx context.Context, fn func(crdt.Clock, crdt.ID) error) error {
	recs, err := m.selectRecs(ctx, "accepted items", func(r *Record) bool { return accepted(r) })
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := fn(r.Clock, r.ID); err != nil {
			return err
		}
	}
	return nil
}
