package node

import (
	"context"
	"testing"

	"github.com/murmurnet/murmur/crdt"
	msync "github.com/murmurnet/murmur/sync"
)

// TestIndexFollowsAnotherProcess: the entries another process stores on
// the node's data directory (a CLI command while the node runs) are added
// to its reconciliation index, which equals one built afresh; it is built
// again only when an entry stored before was accepted since (or no longer
// is), which the store's mark tells.
func TestIndexFollowsAnotherProcess(t *testing.T) {
	ForEachStore(t, testIndexFollowsAnotherProcess)
}

func testIndexFollowsAnotherProcess(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b := apart(t, kind)
	exchange(t, a, b)
	other, err := Open(ctx, a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if err := other.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	index := func() *msync.Index {
		t.Helper()
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		x, err := a.indexNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	sameAsStore := func(x *msync.Index) {
		t.Helper()
		n := 0
		if err := a.store.AcceptedItems(ctx, func(c crdt.Clock, id crdt.ID) error {
			n++
			if x.Add(msync.Item{Clock: c, ID: id}) {
				t.Fatalf("the index lacks accepted entry %v", id)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if x.Len() != n {
			t.Fatalf("the index holds %d items, the store %d accepted entries", x.Len(), n)
		}
	}
	x := index()
	for _, title := range []string{"Verify the lawyer", "Verify the journalist"} {
		if _, err := other.NewRequest(ctx, RequestInput{Kind: "verification", Title: title}); err != nil {
			t.Fatal(err)
		}
	}
	if y := index(); y != x {
		t.Fatal("the index was built again for entries another process stored")
	}
	sameAsStore(x)

	// Beta's two requests, the second given first: it waits for the first,
	// and is accepted with it — an entry stored before, accepted now.
	r1, err := b.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Verify the driver"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Verify the nurse"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*crdt.Entry{r2, r1} {
		if _, err := other.Ingest(ctx, [][]byte{e.Raw()}); err != nil {
			t.Fatal(err)
		}
	}
	y := index()
	if y == x {
		t.Fatal("the index was kept though an entry stored before was accepted since")
	}
	sameAsStore(y)
}

// TestVerifyEntriesLeavesOutWhatIsHeld: a batch from reconciliation whose
// entries the index holds (accepted here already) is not verified again:
// they are counted held, and the rest are verified and taken in.
func TestVerifyEntriesLeavesOutWhatIsHeld(t *testing.T) {
	ForEachStore(t, func(t *testing.T, kind StoreKind) {
		ctx := context.Background()
		a, b := apart(t, kind)
		exchange(t, a, b)
		if _, err := a.Append(ctx, &crdt.Request{Type: crdt.Verification, Title: "held", Region: "TZ"}); err != nil {
			t.Fatal(err)
		}
		held := entriesOf(a)
		if _, err := b.Ingest(ctx, held); err != nil {
			t.Fatal(err)
		}
		b.WithIndex(func(*msync.Index) {}) // built, as a running node's is
		fresh, err := a.Append(ctx, &crdt.Request{Type: crdt.Verification, Title: "new", Region: "TZ"})
		if err != nil {
			t.Fatal(err)
		}
		bad := append([]byte(nil), fresh.Raw()...)
		bad[len(bad)-1] ^= 1 // the signature no longer holds
		batch := append(append(append([][]byte{}, held...), fresh.Raw()), bad)
		v := b.VerifyEntries(batch).(*Verified)
		if v.Len() != len(batch) || v.rep.Duplicate != len(held) || len(v.valid) != 1 || len(v.rep.Refused) != 1 {
			t.Fatalf("%d entries: %d held, %d to take in, %d refused; want %d, 1, 1", v.Len(), v.rep.Duplicate, len(v.valid), len(v.rep.Refused), len(held))
		}
		refused, err := b.IngestVerifiedFromPeer(ctx, "", v)
		if err != nil || refused != 1 {
			t.Fatalf("refused %d, %v; want 1", refused, err)
		}
		if _, ok := b.State().Has(fresh.ID()); !ok {
			t.Fatal("the new entry was not taken in")
		}
	})
}
