package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// Statuses answers as Status does for each ID, stored or not, in chunks
// of getManyChunk, on both stores.
func TestStatusesAnswerAsStatus(t *testing.T) {
	for name, s := range map[string]Store{
		"sqlite": openTemp(t, filepath.Join(t.TempDir(), "murmur.db")),
		"memory": NewMemory(),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var recs []Record
			var ids []crdt.ID
			for i := 1; i <= 3*getManyChunk; i++ {
				ids = append(ids, testID(i))
				if i%3 == 0 {
					continue // not stored
				}
				r := testRecord(i, testKey(i%5), uint64(i), crdt.Clock(i))
				if i%7 == 0 {
					r.Status = crdt.StatusWaiting
				}
				recs = append(recs, r)
			}
			if _, err := s.Update(ctx, func(Mark) (Batch, error) { return Batch{Put: recs}, nil }); err != nil {
				t.Fatal(err)
			}
			got := map[crdt.ID]crdt.Status{}
			if err := s.Statuses(ctx, ids, func(id crdt.ID, st crdt.Status, _ bool) { got[id] = st }); err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				st, _, ok, err := s.Status(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if g, found := got[id]; found != ok || g != st {
					t.Fatalf("%v: Statuses says %v (%v), Status %v (%v)", id, g, found, st, ok)
				}
			}
			if len(got) != len(recs) {
				t.Fatalf("%d answers for %d stored", len(got), len(recs))
			}
		})
	}
}
