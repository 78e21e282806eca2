package store

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// TestUpgradeKeysRequestsOpenOrClosed: a store written by format 4 keyed
// every request open. Opened by this release, its requests lose their
// keys if a close was ever accepted (the node replays its log once to key
// them again), and keep them if none was: nothing is replayed.
func TestUpgradeKeysRequestsOpenOrClosed(t *testing.T) {
	ctx := context.Background()
	for _, closes := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "murmur.db")
		s := openTemp(t, path)
		a := testKey(1)
		req := testRecord(1, a, 1, 10)
		req.Keys = crdt.Keys{View: crdt.ViewRequest, Tag: 1}
		recs := []Record{req}
		if closes {
			c := testRecord(2, a, 2, 20)
			c.Kind, c.Keys = crdt.KindRequestClosed, crdt.Keys{View: crdt.ViewClose, Ref: req.ID}
			recs = append(recs, c)
		}
		if _, err := s.Update(ctx, func(Mark) (Batch, error) { return Batch{Put: recs}, nil }); err != nil {
			t.Fatal(err)
		}
		// As format 4 left it: no index of the rows without a ref.
		for _, q := range []string{`DROP INDEX entries_bare`, `DROP INDEX entries_bare_tag`, `DROP INDEX entries_ref_tag`,
			`DROP TABLE request_stats`, `DROP TABLE stats_groups`, `DROP TABLE stats_totals`, `DROP TABLE stats_hist`, `PRAGMA user_version = 4`} {
			if _, err := s.writer.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s = openTemp(t, path)
		if !slices.Equal(s.applied, []int{5, 6, 7, 8, 9, 10, 11}) {
			t.Fatalf("applied %v, want [5 6 7 8 9 10 11]", s.applied)
		}
		needs, err := s.NeedsKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.Count(ctx, crdt.ViewRequest, 0, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		open := &crdt.ID{}
		o, err := s.Count(ctx, crdt.ViewRequest, 0, open, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case closes && (!needs || n != 0 || o != 0):
			t.Fatalf("with a close: needs keys %v, %d requests listed (%d open): want the request keyless", needs, n, o)
		case !closes && (needs || n != 1 || o != 1):
			t.Fatalf("with no close: needs keys %v, %d requests listed (%d open): want the request listed open", needs, n, o)
		}
		if closes {
			// The replay's keys: the request closed.
			req.Keys.Ref = crdt.ClosedRef
			if err := s.SetKeys(ctx, []Record{req}); err != nil {
				t.Fatal(err)
			}
			if n, _ := s.Count(ctx, crdt.ViewRequest, 0, nil, nil); n != 1 {
				t.Fatalf("%d requests listed after the keys are set, want 1", n)
			}
			if o, _ := s.Count(ctx, crdt.ViewRequest, 0, open, nil); o != 0 {
				t.Fatalf("%d open requests after the keys are set, want 0", o)
			}
		}
		s.Close()
	}
}
