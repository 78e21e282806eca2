package store

import (
	"context"
	"slices"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// GetMany returns the stored records among many IDs (more than one
// query's worth), once each, leaving out the unknown ones.
func TestGetManyReturnsWhatIsStored(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		var recs []Record
		var ids []crdt.ID
		for i := 1; i <= 150; i++ {
			r := testRecord(i, a, uint64(i), crdt.Clock(i))
			recs = append(recs, r)
			if i%3 != 0 {
				ids = append(ids, r.ID)
			}
		}
		if _, err := s.Put(ctx, recs, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, testID(9999), ids[0]) // unknown, and repeated
		got, err := s.GetMany(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, r := range got {
			gotIDs = append(gotIDs, r.ID.String())
			if !sameRecord(r, recs[int(r.Seq)-1]) {
				t.Fatalf("record %d read back otherwise", r.Seq)
			}
		}
		slices.Sort(gotIDs)
		if len(slices.Compact(slices.Clone(gotIDs))) != len(gotIDs) {
			t.Fatal("a record returned twice")
		}
		if len(gotIDs) != 100 {
			t.Fatalf("%d records, want the 100 stored ones named", len(gotIDs))
		}
	})
}
