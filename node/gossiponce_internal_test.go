package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// An entry that arrives by gossip is judged by the state once: the
// validator's judgement is the one that counts, and the store loop stores
// what it took without judging it again. A membership entry's judgement
// replays the whole membership, so a second one is not cheap.
func TestGossipJudgesEachEntryOnce(t *testing.T) {
	ctx := context.Background()
	a, b := apart(t, SQLiteStore)
	exchange(t, a, b)
	// The runners' clock moves while the two connect, reconcile and form
	// the gossip mesh, and then stands still: no reconciliation follows,
	// so only the live path carries what Alpha writes next.
	start := time.Now()
	clk := NewManualClock(start)
	ra, err := a.Start(t.Context(), RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Clock: clk, SyncEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ra.Close() })
	rb, err := b.Start(t.Context(), RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: ra.Addrs(), Clock: clk, SyncEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	eventually(t, 20*time.Second, "the two nodes converge and the gossip mesh forms", func() bool {
		if clk.Now().Sub(start) < 10*time.Second {
			clk.Advance(500 * time.Millisecond)
		}
		return clk.Now().Sub(start) >= 10*time.Second && a.Status().Digest == b.Status().Digest && ra.InMesh(rb.h.ID())
	})

	var mu gosync.Mutex
	judged := map[crdt.ID][]string{}
	b.mu.Lock()
	b.judged = func(where string, id crdt.ID) {
		mu.Lock()
		judged[id] = append(judged[id], where)
		mu.Unlock()
	}
	b.mu.Unlock()

	// A membership entry (an admission) and requests.
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var gamma crdt.DeviceKey
	copy(gamma[:], pub)
	adm, err := a.Append(ctx, &crdt.Admission{Device: gamma, Name: "Gamma"})
	if err != nil {
		t.Fatal(err)
	}
	sent := map[crdt.ID]string{adm.ID(): "an admission"}
	for i := range 3 {
		req, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: fmt.Sprintf("Live %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		sent[req.ID()] = fmt.Sprintf("request %d", i)
	}
	eventually(t, 20*time.Second, "Beta's node stores what Alpha's wrote", func() bool {
		for id := range sent {
			if _, err := b.store.Get(ctx, id); err != nil {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for id, what := range sent {
		if w := judged[id]; len(w) != 1 || w[0] != judgedLive {
			t.Errorf("%s was judged %d times, by %s; want once, by %s", what, len(w), strings.Join(w, ", "), judgedLive)
		}
	}
}

// What the live path takes in is stored in the transaction in which the
// state takes it; if the write fails, the state is loaded again and does
// not believe in entries the disk does not hold, and the validator is told
// it was not taken (not that it is invalid).
func TestLiveEntriesStoredOrForgotten(t *testing.T) {
	ctx := context.Background()
	a, b := apart(t, SQLiteStore)
	exchange(t, a, b)
	r := &Runner{n: b, opt: RunOptions{Logf: t.Logf}}
	write := func(title string) *crdt.Entry {
		e, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: title})
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
		_, err := b.store.Get(ctx, id)
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
	if c, err := b.store.Counts(ctx); err != nil || c.Accepted != b.Status().Entries {
		t.Fatalf("the store counts %+v (%v), the state %d entries", c, err, b.Status().Entries)
	}
}
