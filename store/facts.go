package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/murmurnet/murmur/crdt"
)

// Facts adapts a Store to the crdt.Facts a State reads, under ctx: each
// question is one of the store's indexed queries, and each record read is
// decoded with crdt.Trusted (the store holds only entries this node
// verified). The caller persists each Step's Ready into the store (Put
// with StoredRecord and the Changes, Rewrite for each Rewritten) before
// asking the State anything else.
func Facts(ctx context.Context, s Store) crdt.Facts { return &facts{ctx: ctx, s: s} }

type facts struct {
	ctx context.Context
	s   Store
}

var _ crdt.Facts = (*facts)(nil)

// withheldRaw reports whether raw is an entry stored without its body.
// Bytes that are not an entry are not withheld.
func withheldRaw(raw []byte) bool {
	e, err := crdt.Decode(raw)
	return err == nil && e.Withheld
}

func decode(r Record) (*crdt.Entry, error) {
	e, err := crdt.Trusted(r.Raw)
	if err != nil {
		return nil, fmt.Errorf("store: entry %s does not decode: %w", r.ID, err)
	}
	if e.ID() != r.ID {
		return nil, fmt.Errorf("%w: entry %s is stored under %s", ErrCorrupt, e.ID(), r.ID)
	}
	return e, nil
}

func entries(fn func(*crdt.Entry) error) func(Record) error {
	return func(r Record) error {
		e, err := decode(r)
		if err != nil {
			return err
		}
		return fn(e)
	}
}

func (f *facts) Get(id crdt.ID) (*crdt.Entry, crdt.Status, bool, error) {
	r, err := f.s.Get(f.ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, crdt.StatusNone, false, nil
	}
	if err != nil {
		return nil, crdt.StatusNone, false, err
	}
	e, err := decode(r)
	if err != nil {
		return nil, crdt.StatusNone, false, err
	}
	return e, r.Status, true, nil
}

func (f *facts) Status(id crdt.ID) (crdt.Status, bool, bool, error) {
	return f.s.Status(f.ctx, id)
}

func (f *facts) Referenced(v crdt.View, refs []crdt.ID, fn func(crdt.ID)) error {
	return f.s.Referenced(f.ctx, v, refs, fn)
}

func (f *facts) Statuses(ids []crdt.ID, fn func(crdt.ID, crdt.Status, bool)) error {
	return f.s.Statuses(f.ctx, ids, fn)
}

func (f *facts) Authored(author crdt.DeviceKey, fn func(*crdt.Entry, crdt.Status) error) error {
	return f.s.Authored(f.ctx, author, func(r Record) error {
		e, err := decode(r)
		if err != nil {
			return err
		}
		return fn(e, r.Status)
	})
}

func (f *facts) Head(author crdt.DeviceKey) (*crdt.Entry, error) {
	r, ok, err := f.s.AcceptedHead(f.ctx, author)
	if err != nil || !ok {
		return nil, err
	}
	return decode(r)
}

func (f *facts) Device(author crdt.DeviceKey) (int, bool, error) {
	return f.s.Device(f.ctx, author)
}

func (f *facts) View(v crdt.View, fn func(*crdt.Entry) error) error {
	return f.s.View(f.ctx, v, entries(fn))
}

func (f *facts) Refs(v crdt.View, ref crdt.ID, fn func(*crdt.Entry) error) error {
	return f.s.Refs(f.ctx, v, ref, entries(fn))
}

func (f *facts) Grants(token [32]byte, fn func(*crdt.Entry) error) error {
	return f.s.Grants(f.ctx, token, entries(fn))
}

func (f *facts) Withheld(fn func(crdt.ID) bool) error { return f.s.Withheld(f.ctx, fn) }

func (f *facts) Accepted(fn func(crdt.ID) error) error { return f.s.AcceptedIDs(f.ctx, fn) }

func (f *facts) Counts() (crdt.Counts, error) {
	c, err := f.s.Counts(f.ctx)
	if err != nil {
		return crdt.Counts{}, err
	}
	return crdt.Counts{Accepted: c.Accepted, Waiting: c.Waiting, Held: c.Held, Unknown: c.Unknown}, nil
}

func (f *facts) MaxClock() (crdt.Clock, error) { return f.s.MaxClock(f.ctx) }

func (f *facts) Stat(id crdt.ID) (crdt.RequestStat, bool, error) { return f.s.Stat(f.ctx, id) }

func (f *facts) Page(v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor, limit int) ([]*crdt.Entry, error) {
	recs, err := f.s.Page(f.ctx, v, tag, ref, after, limit)
	if err != nil {
		return nil, err
	}
	return decodeAll(recs)
}

func (f *facts) Range(v crdt.View, lo, hi crdt.ID, limit int) ([]*crdt.Entry, error) {
	recs, err := f.s.Range(f.ctx, v, lo, hi, limit)
	if err != nil {
		return nil, err
	}
	return decodeAll(recs)
}

func decodeAll(recs []Record) ([]*crdt.Entry, error) {
	out := make([]*crdt.Entry, 0, len(recs))
	for _, r := range recs {
		e, err := decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (f *facts) Count(v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor) (int, error) {
	return f.s.Count(f.ctx, v, tag, ref, after)
}

func (f *facts) CountUpTo(v crdt.View, tag uint64, ref crdt.ID, max int) (int, error) {
	return f.s.CountUpTo(f.ctx, v, tag, ref, max)
}

func (f *facts) Resident(pool bool, fn func(*crdt.Entry, crdt.Status) error) error {
	return f.s.Resident(f.ctx, pool, func(r Record) error {
		e, err := decode(r)
		if err != nil {
			return err
		}
		return fn(e, r.Status)
	})
}
