package sync

import (
	"context"
	gosync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
)

// memReplica is a replica that trusts everything it is given: the stream
// is under test here, validation is the node's.
type memReplica struct {
	mu   gosync.Mutex
	x    *Index
	raws map[crdt.ID][]byte
}

func newMemReplica(es []*crdt.Entry) *memReplica {
	r := &memReplica{x: NewIndex(), raws: map[crdt.ID][]byte{}}
	for _, e := range es {
		r.add(e)
	}
	return r
}

func (r *memReplica) add(e *crdt.Entry) {
	if r.x.Add(Item{Clock: e.Clock, ID: e.ID()}) {
		r.raws[e.ID()] = e.Raw()
	}
}

func (r *memReplica) WithIndex(fn func(*Index)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.x)
}

func (r *memReplica) Entries(ids []crdt.ID) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, id := range ids {
		if raw, ok := r.raws[id]; ok {
			out = append(out, raw)
		}
	}
	return out
}

func (r *memReplica) Ingest(_ context.Context, _ peer.ID, raws [][]byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	refused := 0
	for _, raw := range raws {
		e, err := crdt.Verify(raw)
		if err != nil {
			refused++
			continue
		}
		r.add(e)
	}
	return refused, nil
}

func (r *memReplica) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.x.Len()
}

func syncPair(t *testing.T, a, b *memReplica) Stats {
	t.Helper()
	hosts, _ := gossipMesh(t, 2)
	network := crdt.ID{1}
	sa := NewSyncer(hosts[0], network, a, SyncOptions{})
	sb := NewSyncer(hosts[1], network, b, SyncOptions{})
	defer sa.Close()
	defer sb.Close()
	if err := hosts[0].Connect(context.Background(), peer.AddrInfo{ID: hosts[1].ID(), Addrs: hosts[1].Addrs()}); err != nil {
		t.Fatal(err)
	}
	st, err := sa.Sync(context.Background(), hosts[1].ID())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStreamIdenticalSetsOneRoundTrip(t *testing.T) {
	_, es := testEntries(t, 2000)
	st := syncPair(t, newMemReplica(es), newMemReplica(es))
	if st.Rounds != 1 || st.Pushed != 0 || st.Received != 0 {
		t.Fatalf("identical sets: %+v", st)
	}
	if total := st.SentBytes + st.RecvBytes; total >= 100 {
		t.Fatalf("identical sets cost %d bytes on the stream", total)
	}
	t.Logf("identical sets of %d: %d bytes sent, %d received, %d message", len(es), st.SentBytes, st.RecvBytes, st.Rounds)
}

func TestStreamFreshCatchUpCostsTheEntries(t *testing.T) {
	_, es := testEntries(t, 10000)
	fresh, full := newMemReplica(nil), newMemReplica(es)
	st := syncPair(t, fresh, full)
	if fresh.len() != len(es) {
		t.Fatalf("caught up %d of %d", fresh.len(), len(es))
	}
	var encoded int64
	for _, e := range es {
		encoded += int64(len(e.Raw()))
	}
	ratio := float64(st.SentBytes+st.RecvBytes) / float64(encoded)
	t.Logf("catch-up of %d entries: %.3fx their encoded size on the stream", len(es), ratio)
	if ratio > 1.05 {
		t.Fatalf("catch-up cost %.3fx the entries' size", ratio)
	}
}

func TestStreamBothSidesConverge(t *testing.T) {
	_, es := testEntries(t, 3000)
	var left, right []*crdt.Entry
	for i, e := range es {
		switch i % 3 {
		case 0:
			left = append(left, e)
		case 1:
			right = append(right, e)
		default:
			left, right = append(left, e), append(right, e)
		}
	}
	a, b := newMemReplica(left), newMemReplica(right)
	syncPair(t, a, b)
	if a.len() != len(es) || b.len() != len(es) {
		t.Fatalf("after one session: %d and %d of %d", a.len(), b.len(), len(es))
	}
}

// A peer starting reconciliations back to back gets SessionsPerMinute of
// them, then one as each comes due: the rest are reset unread.
func TestStreamSessionsPerPeerAreCapped(t *testing.T) {
	_, es := testEntries(t, 100)
	hosts, _ := gossipMesh(t, 2)
	network := crdt.ID{1}
	const perMinute = 5
	sa := NewSyncer(hosts[0], network, newMemReplica(es), SyncOptions{})
	sb := NewSyncer(hosts[1], network, newMemReplica(es), SyncOptions{SessionsPerMinute: perMinute})
	defer sa.Close()
	defer sb.Close()
	if err := hosts[0].Connect(context.Background(), peer.AddrInfo{ID: hosts[1].ID(), Addrs: hosts[1].Addrs()}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	served := 0
	for range 4 * perMinute {
		if _, err := sa.Sync(context.Background(), hosts[1].ID()); err == nil {
			served++
		}
	}
	// One more comes due every 60/perMinute s.
	due := perMinute + int(time.Since(start)/(time.Minute/perMinute))
	t.Logf("%d sessions started back to back: %d served", 4*perMinute, served)
	if served < perMinute || served > due {
		t.Fatalf("%d sessions served, want %d to %d", served, perMinute, due)
	}
	// The other direction is not capped by it.
	if _, err := sb.Sync(context.Background(), hosts[0].ID()); err != nil {
		t.Fatalf("the capped side's own session: %v", err)
	}
}
