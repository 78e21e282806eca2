package node

import (
	"context"
	"testing"
)

// An ingest whose context is cancelled while it writes (a reconciliation
// superseded by the peer's, a node stopping) leaves the state as the store
// has it, not empty: the views go on saying who is admitted.
func TestIngestCancelledMidWriteKeepsTheState(t *testing.T) {
	ForEachStore(t, testIngestCancelledMidWriteKeepsTheState)
}

func testIngestCancelledMidWriteKeepsTheState(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b := apart(t, kind)
	if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "New to Beta"}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	want := digest(a)
	if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "One more"}); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Ingest(cancelled, entriesOf(a)); err == nil {
		t.Fatal("the fixture: a cancelled ingest wrote")
	}
	if got := digest(b); got != want || !b.Status().Admitted {
		t.Fatalf("after a cancelled ingest: %s, admitted %v; want %s", got, b.Status().Admitted, want)
	}
}
