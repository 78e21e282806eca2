package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
	msync "github.com/murmurnet/murmur/sync"
)

// catchUpOrgs is how many admitted organisations write the entries a fresh
// node catches up on.
const catchUpOrgs = 5

// catchUpRounds is how many fresh nodes catch up, one after another.
const catchUpRounds = 3

// catchUp measures how long a fresh node (holding only the genesis entry)
// takes to pull entries from a peer that holds them, both running real
// libp2p hosts on loopback, and the bytes reconciliation and gossip cost
// per entry. It prints them beside the machine's floor (ed25519 verify and
// SQLite insert of the same entries, on all cores: a node verifies on all
// cores too) and the entries' encoded size.
//
// sealPer is what sealing one entry at rest costs (store.MeasureSealing);
// if not zero, the share of the catch-up it makes is printed too.
func catchUp(ctx context.Context, w io.Writer, entries int, sealPer time.Duration) error {
	tmp, err := os.MkdirTemp("", "murmur-catchup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// A network whose founder admitted a few organisations and the fresh
	// node's; the full node is the founder's.
	now := time.Now()
	full, err := node.Init(ctx, filepath.Join(tmp, "full"), node.InitOptions{Org: "Catch-up founders", Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	defer full.Close()
	// One fresh node a round.
	freshes := make([]*node.Node, catchUpRounds)
	for r := range freshes {
		fresh, err := node.Provision(ctx, filepath.Join(tmp, fmt.Sprintf("fresh%d", r)), node.ProvisionOptions{Genesis: full.Genesis()})
		if err != nil {
			return err
		}
		defer fresh.Close()
		if _, err := full.Append(ctx, &crdt.Admission{Device: fresh.Device(), Name: fmt.Sprintf("Fresh %d", r)}); err != nil {
			return err
		}
		freshes[r] = fresh
	}
	type writer struct {
		priv  []byte
		seq   uint64
		head  crdt.ID
		clock crdt.Clock
	}
	writers := make([]*writer, catchUpOrgs)
	for i := range writers {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(1000+i))
		writers[i] = &writer{priv: crdt.KeyFromSeed(seed)}
		if _, err := full.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(writers[i].priv), Name: fmt.Sprintf("Writer %d", i)}); err != nil {
			return err
		}
	}

	// Entries signed elsewhere, each with a 200-byte body, after the
	// admissions; the full node takes them in as from any peer.
	raws := make([][]byte, entries)
	var encoded int64
	start := uint64(now.UnixMilli()) + 1
	for i := range raws {
		a := writers[i%len(writers)]
		e, err := crdt.Sign(a.priv, crdt.Draft{Network: full.Network(), Seq: a.seq + 1, Prev: a.head,
			Clock: crdt.NextClock(a.clock, full.State().MaxClock(), start+uint64(i)), Kind: crdt.KindRequest, Body: body(i)})
		if err != nil {
			return err
		}
		a.seq, a.head, a.clock = e.Seq, e.ID(), e.Clock
		raws[i] = e.Raw()
		encoded += int64(len(raws[i]))
	}
	const batch = 1000
	for lo := 0; lo < len(raws); lo += batch {
		rep, err := full.Ingest(ctx, raws[lo:min(lo+batch, len(raws))])
		if err != nil {
			return err
		}
		if rep.Accepted != min(batch, len(raws)-lo) {
			return fmt.Errorf("catch-up: the full node took in %+v", rep)
		}
	}
	var wantIDs []crdt.ID
	full.State().Accepted(func(e *crdt.Entry) { wantIDs = append(wantIDs, e.ID()) })

	fullR, err := p2p.Start(ctx, full, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return err
	}
	defer fullR.Close()
	// Rounds: the floor, then a pull by a fresh node; the medians are
	// shown, as a shared machine's speed swings from one minute to the
	// next.
	var tooks []time.Duration
	var floors, ratios []float64
	var tr node.Traffic
	n := float64(entries)
	for r, fresh := range freshes {
		holdsAll := func() bool { // (the fresh node also writes its organisation's key when admitted)
			for _, id := range wantIDs {
				if !fresh.Has(id) {
					return false
				}
			}
			return true
		}
		floor, err := measureFloor(filepath.Join(tmp, fmt.Sprintf("floor%d.db", r)), raws, batch, runtime.GOMAXPROCS(0))
		if err != nil {
			return err
		}
		took, t, err := pull(ctx, fullR, fresh, holdsAll, entries)
		if err != nil {
			return err
		}
		tooks, floors, ratios, tr = append(tooks, took), append(floors, floor), append(ratios, took.Seconds()*floor/n), t
	}
	took, floor, ratio := median(tooks), median(floors), median(ratios)
	wire := tr.Sync.SentBytes + tr.Sync.RecvBytes + tr.GossipSent + tr.GossipRecv
	floorTime := n / floor
	fmt.Fprintf(w, "catch-up: a fresh node pulls %d entries from a peer on loopback  %.1f s  (%.0f entries/s, %.2fx the floor); %.0f bytes on the wire per entry, %.2fx the encoded size\n",
		entries, took.Seconds(), n/took.Seconds(), ratio, float64(wire)/n, float64(wire)/float64(encoded))
	fmt.Fprintf(w, "  floor: ed25519 verify + SQLite insert on all %d cores, %.1f s for these entries; %.0f bytes encoded per entry; medians of %d rounds, each a floor then a pull by a new node\n",
		runtime.GOMAXPROCS(0), floorTime, float64(encoded)/n, catchUpRounds)
	fmt.Fprintf(w, "  wire: reconciliation %d bytes received, %d sent in %d session(s) of %d round(s); gossip %d received, %d sent (stream payloads, before libp2p's framing and encryption)\n",
		tr.Sync.RecvBytes, tr.Sync.SentBytes, tr.Sync.Sessions, tr.Sync.Rounds, tr.GossipRecv, tr.GossipSent)
	if sealPer > 0 {
		sealed := n * sealPer.Seconds()
		fmt.Fprintf(w, "  sealing at rest: %.1f µs per entry, %.1f%% of the catch-up: %.3fx the time it would take without (the cipher's work; ARCHITECTURE.md has the whole measured)\n",
			sealPer.Seconds()*1e6, 100*sealed/took.Seconds(), took.Seconds()/(took.Seconds()-sealed))
	}
	fmt.Fprintf(w, "  targets: within 2x the floor, at most 1.2x the encoded size (for scale: ipfs/go-ds-crdt took 207 s to catch up 10,000 keys)\n")
	return nil
}

// pull starts fresh on loopback, connects it to the running full node and
// measures how long it takes to hold everything (holdsAll): until the
// reconciliation that completed the set ended. It stops fresh's runner and
// returns what it sent and received.
func pull(ctx context.Context, fullR *p2p.Runner, fresh *node.Node, holdsAll func() bool, entries int) (time.Duration, node.Traffic, error) {
	// The fresh node reports each reconciliation.
	ended := make(chan msync.Stats, 16)
	freshR, err := p2p.Start(ctx, fresh, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Sync: msync.SyncOptions{OnSessionEnd: func(_ peer.ID, st msync.Stats, err error) {
		if err == nil && st.Received > 0 {
			select {
			case ended <- st:
			default:
			}
		}
	}}})
	if err != nil {
		return 0, node.Traffic{}, err
	}
	defer freshR.Close()

	t0 := time.Now()
	if err := freshR.Host().Connect(ctx, peer.AddrInfo{ID: fullR.Host().ID(), Addrs: fullR.Host().Addrs()}); err != nil {
		return 0, node.Traffic{}, fmt.Errorf("catch-up: connecting the nodes: %w", err)
	}
	// The time is when the reconciliation that completed the set ended;
	// the fresh node is asked for its state only then, so that asking does
	// not slow it down.
	var took time.Duration
	deadline := time.After(10*time.Minute + time.Duration(entries)*time.Millisecond)
	for took == 0 {
		select {
		case <-ended:
			// (Asking whether it holds everything is not the node's
			// work: the time is taken first.)
			if t := time.Since(t0); holdsAll() {
				took = t
			}
		case <-deadline:
			return 0, node.Traffic{}, fmt.Errorf("catch-up: the fresh node holds %d entries, not all %d, after %v", fresh.Status().Entries, entries, time.Since(t0))
		case <-ctx.Done():
			return 0, node.Traffic{}, ctx.Err()
		}
	}

	// Sessions still under way count once they end: stop them first.
	if err := freshR.Close(); err != nil {
		return 0, node.Traffic{}, err
	}
	return took, freshR.Traffic(), nil
}
