package p2p_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	gosync "sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
	msync "github.com/murmurnet/murmur/sync"
)

// A member's node gone rogue floods the live path at 100 times the rate
// the network allows an author (2 entries a second), with entries that are
// valid: signed by its admitted device, each next in its chain. Meanwhile
// four honest nodes write at a human pace and a fifth writes 300 entries
// in a tight loop (an import, say). The flooder must be throttled, then
// ignored (its score below the graylist threshold at every honest node);
// no honest node may lose score, not even the bulk writer, whose node
// paces its own publishing; every honest entry must reach every honest
// node; nothing may pile up; and once the flood is over every honest node
// must hold everything — the flooder's entries included, since they are
// valid: throttling changes the flooder's speed, not the state.
func TestFloodingMemberIsThrottledThenIgnored(t *testing.T) {
	const (
		normalRate = 2                // entries a second an author may send, sustained (node.authorRate)
		floodRate  = 100 * normalRate // the flooder's
		bulk       = 300              // entries the bulk writer writes in a tight loop
	)
	const flood = 10 * floodRate // 10 s of it
	ctx := context.Background()
	hn := startHonest(t, 5)
	honest := hn.nodes
	honestPeers := map[peer.ID]int{}
	for i, m := range honest {
		honestPeers[m.r.Host().ID()] = i
	}
	base := honest[0].n.Status().Entries
	// Devices of the network: the five nodes', and startHonest's four
	// keys that run no node. The throttle keeps buckets for no others.
	const devices = 5 + 4

	// The flooder: a host with an admitted device's key that publishes
	// on the topic as fast as it likes, to every peer (flood publishing),
	// and answers reconciliations with what it has published so far.
	as := hn.rogueKeys[0]
	fl := newRogue(t, hn, as, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(), pubsub.WithMessageIdFn(hashID), pubsub.WithFloodPublish(true))
	flooder := fl.h.ID()
	published := &floodReplica{x: msync.NewIndex(), raws: map[crdt.ID][]byte{}}
	syncer := msync.NewSyncer(fl.h, honest[0].n.Network(), published, msync.SyncOptions{})
	t.Cleanup(func() { syncer.Close() })
	for _, m := range honest {
		if _, err := hn.mn.LinkPeers(flooder, m.r.Host().ID()); err != nil {
			t.Fatal(err)
		}
		if _, err := hn.mn.ConnectPeers(flooder, m.r.Host().ID()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "the flooder sees every honest node on the topic", func() bool {
		peers := fl.topic.ListPeers()
		return !slices.ContainsFunc(honest, func(m *meshNode) bool { return !slices.Contains(peers, m.r.Host().ID()) })
	})

	// The flood, signed beforehand: the next entries of the device's chain.
	// (The nodes run: their states are not read here.)
	floodEntries := make([]*crdt.Entry, 0, flood)
	for i := range flood {
		e, err := crdt.Sign(as.priv, crdt.Draft{Network: honest[0].n.Network(), Seq: as.seq + 1, Prev: as.head,
			Clock: crdt.NextClock(as.clock, 0, uint64(time.Now().UnixMilli())), Kind: crdt.KindRequest, Body: requestBody(t, fmt.Sprintf("Flood %d", i))})
		if err != nil {
			t.Fatal(err)
		}
		as.seq, as.head, as.clock = e.Seq, e.ID(), e.Clock
		floodEntries = append(floodEntries, e)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse

	var (
		wg        gosync.WaitGroup
		mu        gosync.Mutex
		honestIDs []crdt.ID
		floodTook time.Duration
	)
	wrote := func(e *crdt.Entry, err error) {
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		honestIDs = append(honestIDs, e.ID())
		mu.Unlock()
	}
	start := time.Now()
	done := make(chan struct{})
	wg.Add(1)
	go func() { // the flooder, 10 entries every 50 ms
		defer wg.Done()
		defer close(done)
		const batch = 10
		tick := time.NewTicker(time.Second * batch / floodRate)
		defer tick.Stop()
		for lo := 0; lo < flood; lo += batch {
			<-tick.C
			for _, e := range floodEntries[lo : lo+batch] {
				published.add(e)
				if err := fl.topic.Publish(ctx, e.Raw()); err != nil {
					t.Errorf("flooding: %v", err)
					return
				}
			}
		}
		floodTook = time.Since(start)
	}()
	wg.Add(1)
	go func() { // the bulk writer
		defer wg.Done()
		for k := range bulk {
			wrote(honest[0].n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: fmt.Sprintf("Imported %d", k)}))
		}
	}()
	for i, m := range honest[1:] {
		wg.Add(1)
		go func() { // the others, at a human pace (for a test)
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for k := 0; ; k++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				wrote(m.n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: fmt.Sprintf("Written by node %d, %d", i+1, k)}))
			}
		}()
	}

	// Watch while it lasts, and until the network has settled.
	lowest := make([]float64, len(honest)) // the flooder's lowest score at each honest node
	var (
		trajectory  []string // the flooder's score at node 1, once a second
		honestBelow []string
		maxPending  int
		maxStats    p2p.ThrottleStats
		heapPeak    uint64
		nextSample  = start
	)
	watch := func() {
		for i, m := range honest {
			for p, s := range m.r.PeerScores() {
				if p == flooder {
					lowest[i] = min(lowest[i], s)
					if now := time.Now(); i == 1 && !now.Before(nextSample) {
						trajectory = append(trajectory, fmt.Sprintf("%v: %.0f", now.Sub(start).Round(100*time.Millisecond), s))
						nextSample = now.Add(time.Second)
					}
				} else if j, ok := honestPeers[p]; ok && s < 0 && len(honestBelow) < 10 {
					honestBelow = append(honestBelow, fmt.Sprintf("node %d scores honest node %d %v", i, j, s))
				}
			}
			st := m.n.Status()
			maxPending = max(maxPending, st.Waiting+st.Held)
			ts := m.r.Throttle()
			maxStats.Authors = max(maxStats.Authors, ts.Authors)
			maxStats.Senders = max(maxStats.Senders, ts.Senders)
			maxStats.Penalised = max(maxStats.Penalised, ts.Penalised)
		}
		runtime.ReadMemStats(&ms)
		heapPeak = max(heapPeak, ms.HeapInuse)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for flooding := true; flooding; {
		select {
		case <-done:
			flooding = false
		case <-tick.C:
		}
		watch()
	}
	wg.Wait()
	floodEnd := time.Now()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("the flooder sent %d entries in %v (%.0f/s); the honest nodes wrote %d", flood, floodTook.Round(time.Millisecond), float64(flood)/floodTook.Seconds(), len(honestIDs))

	holdsAll := func(m *meshNode, ids []crdt.ID) bool {
		for _, id := range ids {
			if _, err := m.n.Request(id.String()); err != nil {
				return false
			}
		}
		return true
	}
	// (Polled at the watch's pace: each look reads every node's state. The
	// deadlines only turn a hang into a failure: under -race on a loaded
	// machine the first took up to 73 s, against 1 to 2 s on a quiet one.)
	poll := func(within time.Duration, what string, cond func() bool) time.Duration {
		t.Helper()
		for {
			watch()
			if cond() {
				return time.Since(floodEnd)
			}
			if time.Since(floodEnd) > within {
				t.Fatalf("%s: not within %v of the end of the flood", what, within)
			}
			<-tick.C
		}
	}
	took := poll(3*time.Minute, "every honest entry reaches every honest node", func() bool {
		return !slices.ContainsFunc(honest, func(m *meshNode) bool { return !holdsAll(m, honestIDs) })
	})
	t.Logf("every honest entry held by every honest node %v after the flood ended", took.Round(time.Millisecond))
	want := base + len(honestIDs) + flood
	took = poll(3*time.Minute, "every honest node holds everything, the flood included", func() bool {
		return converged(honest) && honest[0].n.Status().Entries == want
	})
	t.Logf("the honest nodes converged on %d entries %v after the flood ended", want, took.Round(time.Millisecond))
	poll(took+10*time.Second, "the honest nodes' scores of the flooder go below the graylist threshold", func() bool {
		return !slices.ContainsFunc(lowest, func(s float64) bool { return s >= msync.GraylistThreshold })
	})
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapAfter := ms.HeapInuse

	t.Logf("the flooder's score at node 1, from the start of the flood: %v", trajectory)
	t.Logf("its lowest score at each honest node: %.0f", lowest)
	for i := range honest {
		sc := honest[i].r.PeerScores()
		ts := honest[i].r.Throttle()
		taken := 0
		for _, s := range hn.traces[i].all() {
			if s.from == flooder && s.event == "validate" {
				taken++
			}
		}
		t.Logf("node %d: took in %d of the %d flooding messages; throttled %d entries, blamed %d; the flooder now scores %.0f", i, taken, flood, ts.Throttled, ts.Blamed, sc[flooder])
		// Under the race detector every commit is several times slower,
		// so more of the flood is queued for validation before the
		// flooder is graylisted (each validator waits for its entry to be
		// stored: node/commit.go); the bound is looser there. How much is
		// taken in before the flooder is graylisted depends on the
		// machine's load against the flooder's pace: alone under -race a
		// node takes in 650 to 830 of 2000; within make check, beside
		// other packages' race tests on two cores, one took in 1337. (A
		// bound that does not depend on load would count what is taken in
		// after the flooder's score crosses the graylist threshold.)
		bound := flood / 2
		if raceDetector {
			bound = flood * 3 / 4
		}
		if taken > bound {
			t.Errorf("node %d took in %d of the flooder's %d messages: it was not ignored", i, taken, flood)
		}
		if sc[flooder] >= 0 {
			t.Errorf("node %d: the flooder's score is back to %v already", i, sc[flooder])
		}
	}
	for _, s := range honestBelow {
		t.Error(s)
	}
	// Entries wait when the live path drops their predecessors (and,
	// briefly, while reconciliation brings a chain out of order); once
	// the network has settled, none is left.
	t.Logf("at most %d entries waiting or held at an honest node; throttle at most %d author buckets, %d sender buckets, %d peers penalised", maxPending, maxStats.Authors, maxStats.Senders, maxStats.Penalised)
	if maxPending > flood/2 {
		t.Errorf("%d entries pending at one node", maxPending)
	}
	for i, m := range honest {
		if st := m.n.Status(); st.Waiting+st.Held > 0 {
			t.Errorf("node %d: %d entries waiting and %d held once settled", i, st.Waiting, st.Held)
		}
	}
	if maxStats.Authors > devices || maxStats.Senders > len(honest)*(devices+1) || maxStats.Penalised > 1 {
		t.Errorf("the throttle grew to %+v: more than the network's %d devices, or an honest peer penalised", maxStats, devices)
	}
	const mib = 1 << 20
	t.Logf("heap in use: %d MiB before the flood, %d MiB at most during it (garbage included), %d MiB after (the whole test)", heapBefore/mib, heapPeak/mib, heapAfter/mib)
	// The flood is in every node's state by now (2,000 entries of about
	// 400 bytes, five times): a few MiB.
	if heapAfter > heapBefore+64*mib {
		t.Errorf("heap in use grew from %d MiB to %d MiB", heapBefore/mib, heapAfter/mib)
	}
}

// floodReplica is the flooder's side of reconciliation: what it published
// so far, and whatever it is sent.
type floodReplica struct {
	mu   gosync.Mutex
	x    *msync.Index
	raws map[crdt.ID][]byte
}

var _ msync.Replica = (*floodReplica)(nil)

func (f *floodReplica) add(e *crdt.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.x.Add(msync.Item{Clock: e.Clock, ID: e.ID()}) {
		f.raws[e.ID()] = e.Raw()
	}
}

func (f *floodReplica) WithIndex(fn func(*msync.Index)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.x)
}

func (f *floodReplica) Entries(ids []crdt.ID) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]byte
	for _, id := range ids {
		if raw, ok := f.raws[id]; ok {
			out = append(out, raw)
		}
	}
	return out
}

// floodBatch is a batch the flooder was sent, not checked until stored.
type floodBatch [][]byte

func (b floodBatch) Len() int { return len(b) }

func (f *floodReplica) Verify(raws [][]byte) msync.Verified { return floodBatch(raws) }

func (f *floodReplica) Ingest(_ context.Context, _ peer.ID, v msync.Verified) (int, error) {
	refused := 0
	for _, raw := range v.(floodBatch) {
		e, err := crdt.Verify(raw)
		if err != nil {
			refused++
			continue
		}
		f.add(e)
	}
	return refused, nil
}
