package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// TestUpdateWritesOneBatchAndMovesTheMark: an Update writes what fn
// returns in one transaction, with the mark as it stood; every write of
// entries by any means moves the generation; an error from fn writes
// nothing and is returned as it is.
func TestUpdateWritesOneBatchAndMovesTheMark(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		m0, err := s.Mark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r1, r2 := testRecord(1, a, 1, 10), testRecord(2, a, 2, 20)
		r2.Status = crdt.StatusWaiting
		m1, err := s.Update(ctx, func(at Mark) (Batch, error) {
			if at != m0 {
				t.Errorf("update saw mark %+v, want %+v", at, m0)
			}
			return Batch{Put: []Record{r1, r2}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if m1.Gen == m0.Gen || m1.Cursor <= m0.Cursor || m1.Changed != m0.Changed {
			t.Fatalf("new entries: mark %+v then %+v (Changed moves only when stored entries are accepted or no longer)", m0, m1)
		}
		if now, _ := s.Mark(ctx); now != m1 {
			t.Fatalf("mark %+v after the update, %+v said", now, m1)
		}
		// A change and a rewrite in one batch.
		r1b := r1
		r1b.Raw = []byte("the same entry, without its body")
		m2, err := s.Update(ctx, func(at Mark) (Batch, error) {
			if at != m1 {
				t.Errorf("update saw mark %+v, want %+v", at, m1)
			}
			return Batch{Changes: []crdt.Change{{ID: r2.ID, From: crdt.StatusWaiting, To: crdt.StatusAccepted}}, Rewrite: []Record{r1b}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if m2.Gen == m1.Gen || m2.Cursor != m1.Cursor || m2.Changed == m1.Changed {
			t.Fatalf("a batch of no new entry, one accepted: mark %+v then %+v", m1, m2)
		}
		if got := mustGet(t, s, r2.ID); got.Status != crdt.StatusAccepted {
			t.Fatalf("status %v after the update", got.Status)
		}
		if got := mustGet(t, s, r1.ID); string(got.Raw) != string(r1b.Raw) {
			t.Fatalf("rewritten to %q", got.Raw)
		}
		// fn's error aborts.
		boom := errors.New("boom")
		if _, err := s.Update(ctx, func(Mark) (Batch, error) {
			return Batch{Put: []Record{testRecord(3, a, 3, 30)}}, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("update returned %v, want fn's error", err)
		}
		if _, err := s.Get(ctx, testID(3)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an aborted update stored its batch: %v", err)
		}
		if now, _ := s.Mark(ctx); now != m2 {
			t.Fatalf("an aborted update moved the mark: %+v, was %+v", now, m2)
		}
		// An empty batch writes nothing; a Put does move the mark.
		if m, err := s.Update(ctx, func(Mark) (Batch, error) { return Batch{}, nil }); err != nil || m != m2 {
			t.Fatalf("empty batch: mark %+v, %v", m, err)
		}
		mustPut(t, s, nil, []crdt.Change{{ID: r2.ID, From: crdt.StatusAccepted, To: crdt.StatusHeld}})
		if now, _ := s.Mark(ctx); now.Gen == m2.Gen {
			t.Fatal("a Put did not move the generation")
		}
		// The chain head, whatever the status, and the accepted items.
		h, maxClock, err := s.ChainHead(ctx, a)
		if err != nil || h.Seq != 2 || h.ID != r2.ID || maxClock != 20 {
			t.Fatalf("chain head %+v, max clock %v, %v", h, maxClock, err)
		}
		var items []crdt.ID
		if err := s.AcceptedItems(ctx, func(c crdt.Clock, id crdt.ID) error {
			if id == r1.ID && c != 10 {
				t.Errorf("clock %v", c)
			}
			items = append(items, id)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(items, []crdt.ID{r1.ID}) {
			t.Fatalf("accepted items %v", items)
		}
	})
}

// TestMarkSeesAnotherHandle: a write through another handle on the same
// file (another process) moves the mark this handle reads.
func TestMarkSeesAnotherHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "murmur.db")
	a, b := openTemp(t, path), openTemp(t, path)
	ctx := context.Background()
	before, err := a.Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, func(Mark) (Batch, error) {
		return Batch{Put: []Record{testRecord(1, testKey(1), 1, 10)}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	after, err := a.Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatalf("the other handle's write left the mark at %+v", after)
	}
}

// An Update of many records stores each once:
// records stored before and an ID given twice are counted once, in the
// counts, the device's entries and the view.
func TestUpdateManyRecordsCountsEachOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		var recs []Record
		for i := range 101 {
			recs = append(recs, keyed(i, a, uint64(i+1), crdt.Clock(i+1), crdt.Keys{View: crdt.ViewRequest, Tag: 2}))
		}
		mustPut(t, s, recs[:10], nil) // stored before
		// (Twice within one statement, and in the rows left over.)
		batch := slices.Concat(recs[:20], []Record{recs[12], recs[3]}, recs[20:], []Record{recs[40], recs[len(recs)-1]})
		if _, err := s.Update(ctx, func(Mark) (Batch, error) { return Batch{Put: batch}, nil }); err != nil {
			t.Fatal(err)
		}
		c := mustCounts(t, s)
		if c.Accepted != len(recs) {
			t.Fatalf("%d accepted, want %d", c.Accepted, len(recs))
		}
		if n, _, err := s.Device(ctx, a); err != nil || n != len(recs) {
			t.Fatalf("the device has %d entries (%v), want %d", n, err, len(recs))
		}
		if n, err := s.Count(ctx, crdt.ViewRequest, 2, nil, nil); err != nil || n != len(recs) {
			t.Fatalf("the view counts %d (%v), want %d", n, err, len(recs))
		}
		for _, r := range recs {
			if got := mustGet(t, s, r.ID); got.Seq != r.Seq {
				t.Fatalf("record %v read back as %+v", r.ID, got)
			}
		}
	})
}
