package p2p_test

import (
	"context"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
)

// sessionLog records the reconciliations a node took part in.
type sessionLog struct {
	mu   gosync.Mutex
	ends []sessionEnd
}

type sessionEnd struct {
	peer  peer.ID
	stats msync.Stats
	err   error
}

func (l *sessionLog) record(p peer.ID, st msync.Stats, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ends = append(l.ends, sessionEnd{p, st, err})
}

func (l *sessionLog) all() []sessionEnd {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sessionEnd(nil), l.ends...)
}

// received sums what the sessions from the i-th on brought, and counts
// those that brought anything.
func (l *sessionLog) received(from int) (entries int, bytes int64, sessions int) {
	for _, e := range l.all()[from:] {
		entries += e.stats.Received
		bytes += e.stats.RecvBytes
		if e.stats.Received > 0 {
			sessions++
		}
	}
	return entries, bytes, sessions
}

// signMany has the writers sign count request entries between them, in
// parallel (signing is most of the cost of making them), each writer's
// chain in order, all later than clock after (their admissions).
func signMany(t *testing.T, network crdt.ID, after crdt.Clock, writers []*outsider, count int) []*crdt.Entry {
	t.Helper()
	out := make([][]*crdt.Entry, len(writers))
	errs := make([]error, len(writers))
	var wg gosync.WaitGroup
	for w, o := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < count; k += len(writers) {
				raw, err := crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf("Applicant %d", k), Region: "TZ"})
				if err != nil {
					errs[w] = err
					return
				}
				e, err := crdt.Sign(o.priv, crdt.Draft{Network: network, Seq: o.seq + 1, Prev: o.head,
					Clock: crdt.NextClock(o.clock, after, after.Millis()+1+uint64(k)), Kind: crdt.KindRequest, Body: raw})
				if err != nil {
					errs[w] = err
					return
				}
				o.seq, o.head, o.clock = e.Seq, e.ID(), e.Clock
				out[w] = append(out[w], e)
			}
		}()
	}
	wg.Wait()
	var all []*crdt.Entry
	for w, es := range out {
		if errs[w] != nil {
			t.Fatal(errs[w])
		}
		all = append(all, es...)
	}
	return all
}

// A fresh node pulling a peer's entries loses its connection half way;
// the next reconciliation, once they reconnect, brings only the rest:
// every ENTRIES frame is stored as it arrives.
func TestPullResumesAfterCut(t *testing.T) {
	total := 20_000
	if raceDetector {
		total = 5_000
	}
	ctx := context.Background()
	full, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Full"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { full.Close() })
	fresh, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: full.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	if _, err := full.Append(ctx, &crdt.Admission{Device: fresh.Device(), Name: "Fresh"}); err != nil {
		t.Fatal(err)
	}
	writers := make([]*outsider, 8)
	for i := range writers {
		writers[i] = newOutsider(fmt.Sprintf("Writer %d", i), byte(i+1))
		writers[i].admit(t, full)
	}
	entries := signMany(t, full.Network(), full.State().MaxClock(), writers, total)
	deliver(t, full, entries...) // stored as the writers' nodes would have
	want := full.Status().Entries
	var wantIDs []crdt.ID
	full.State().Accepted(func(e *crdt.Entry) { wantIDs = append(wantIDs, e.ID()) })
	held := func() int { // of the full node's entries (the fresh node also writes its organisation's key)
		n := 0
		for _, id := range wantIDs {
			if fresh.Has(id) {
				n++
			}
		}
		return n
	}
	size := map[crdt.ID]int{}
	if _, err := full.Store().Scan(ctx, 0, func(_ int64, r store.Record) error { size[r.ID] = len(r.Raw); return nil }); err != nil {
		t.Fatal(err)
	}

	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	var freshLog sessionLog
	start := func(n *node.Node, ip int, opt p2p.RunOptions) *p2p.Runner {
		key, err := n.HostKey()
		if err != nil {
			t.Fatal(err)
		}
		h, err := mn.AddPeer(key, ma.StringCast(fmt.Sprintf("/ip4/10.0.0.%d/tcp/4721", ip)))
		if err != nil {
			t.Fatal(err)
		}
		opt.Host, opt.SyncEvery = h, time.Hour // only connecting starts a reconciliation
		r, err := p2p.Start(t.Context(), n, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	if err := full.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	// The full node pushes in batches of 1,024 entries, the least it may,
	// so that the cut falls near the middle.
	a := start(full, 1, p2p.RunOptions{Sync: msync.SyncOptions{Session: msync.Options{MaxPush: 1024}}}).Host().ID()
	b := start(fresh, 2, p2p.RunOptions{Sync: msync.SyncOptions{OnSessionEnd: freshLog.record}}).Host().ID()
	connect := func() {
		if _, err := mn.LinkPeers(a, b); err != nil {
			t.Fatal(err)
		}
		if _, err := mn.ConnectPeers(a, b); err != nil {
			t.Fatal(err)
		}
	}

	connect()
	waitFor(t, 30*time.Second, "half the entries arrive", func() bool { return fresh.Status().Entries >= want/2 })
	if err := mn.UnlinkPeers(a, b); err != nil {
		t.Fatal(err)
	}
	if err := mn.DisconnectPeers(a, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the cut session ends", func() bool {
		_, _, n := freshLog.received(0)
		return n > 0
	})
	first := freshLog.all()
	have := held()
	missing := want - have
	cutGot, _, _ := freshLog.received(0)
	t.Logf("cut after %d of %d entries had arrived (%d received)", have, want, cutGot)
	if have == want {
		t.Fatal("the whole transfer ended before the cut: nothing to resume")
	}
	var missingBytes int64
	if _, err := fresh.Store().Scan(ctx, 0, func(_ int64, r store.Record) error { delete(size, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, n := range size {
		missingBytes += int64(n)
	}

	connect()
	took := waitFor(t, 30*time.Second, "the rest arrives", func() bool { return held() == want })
	waitFor(t, 10*time.Second, "the session that brought it ends", func() bool {
		_, _, n := freshLog.received(len(first))
		return n > 0
	})
	got, gotBytes, sessions := freshLog.received(len(first))
	t.Logf("after reconnecting: %d entries missing (%d bytes); %d received (%d bytes on the stream) in %v by %d session(s)",
		missing, missingBytes, got, gotBytes, took.Round(time.Millisecond), sessions)
	if got < missing || float64(got) > 1.2*float64(missing) {
		t.Errorf("the reconciliation after the cut received %d entries; %d were missing", got, missing)
	}
	if got > want*3/4 {
		t.Errorf("the reconciliation after the cut received %d entries of %d: it started over", got, want)
	}
	if float64(gotBytes) > 1.2*float64(missingBytes) {
		t.Errorf("the reconciliation after the cut read %d bytes for %d bytes of missing entries", gotBytes, missingBytes)
	}
	if !converged([]*meshNode{{n: full}, {n: fresh}}) {
		t.Error("the two nodes differ")
	}
}
