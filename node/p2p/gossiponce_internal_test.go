package p2p

import (
	"context"
	"errors"
	"testing"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/logs"
)

// What the live path takes in is stored in the transaction in which the
// state takes it; if the write fails, the state is loaded again and does
// not believe in entries the disk does not hold, and the validator is told
// it was not taken (not that it is invalid).
func TestLiveEntriesStoredOrForgotten(t *testing.T) {
	ctx := context.Background()
	a, b := apart(t)
	exchange(t, a, b)
	r := &Runner{core: b, log: logs.Printf(t.Logf)}
	write := func(title string) *crdt.Entry {
		e, err := a.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: title})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	take := func(ctx context.Context, es ...*crdt.Entry) []crdt.Result {
		var reqs []commitReq
		for _, e := range es {
			reqs = append(reqs, commitReq{e: e, done: make(chan crdt.Result, 1)})
		}
		r.commitSome(ctx, reqs)
		out := make([]crdt.Result, len(reqs))
		for i, req := range reqs {
			out[i] = <-req.done
		}
		return out
	}
	stored := func(id crdt.ID) bool {
		_, err := b.Store().Get(ctx, id)
		return err == nil
	}

	lost := write("Lost with the write, then taken in again")
	failed, cancel := context.WithCancel(ctx)
	cancel()
	if res := take(failed, lost); !errors.Is(res[0].Reason, errNotTaken) || res[0].Status != crdt.StatusNone {
		t.Fatalf("a write with a cancelled context: %+v", res[0])
	}
	if stored(lost.ID()) || b.Has(lost.ID()) {
		t.Fatalf("after a failed write: stored %v, held %v; want neither", stored(lost.ID()), b.Has(lost.ID()))
	}

	next := write("Stored")
	for i, res := range take(ctx, lost, next) {
		if res.Status != crdt.StatusAccepted {
			t.Fatalf("entry %d: %+v", i, res)
		}
	}
	for _, e := range []*crdt.Entry{lost, next} {
		if !stored(e.ID()) || !b.Has(e.ID()) {
			t.Fatalf("after a write: stored %v, held %v; want both", stored(e.ID()), b.Has(e.ID()))
		}
	}
	if c, err := b.Store().Counts(ctx); err != nil || c.Accepted != b.Status().Entries {
		t.Fatalf("the store counts %+v (%v), the state %d entries", c, err, b.Status().Entries)
	}
}
