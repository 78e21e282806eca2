package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/p2p"
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
	clk := p2p.NewManualClock(start)
	ra, err := p2p.Start(t.Context(), a, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Clock: clk, SyncEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ra.Close() })
	rb, err := p2p.Start(t.Context(), b, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: ra.Addrs(), Clock: clk, SyncEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	eventually(t, 20*time.Second, "the two nodes converge and the gossip mesh forms", func() bool {
		if clk.Now().Sub(start) < 10*time.Second {
			clk.Advance(500 * time.Millisecond)
		}
		return clk.Now().Sub(start) >= 10*time.Second && a.Status().Digest == b.Status().Digest && ra.InMesh(rb.Host().ID())
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
	// (Judged is told just after the step is stored: wait for both.)
	eventually(t, 20*time.Second, "Beta's node stores and has judged what Alpha's wrote", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range sent {
			if _, err := b.store.Get(ctx, id); err != nil || len(judged[id]) == 0 {
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
