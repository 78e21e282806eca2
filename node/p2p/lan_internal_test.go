package p2p

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"

	"github.com/murmurnet/murmur/store"
)

// lanPair founds a network of two organisations on disk, the second
// admitted by the first; neither runs.
func lanPair(t *testing.T) (a, b *node.Node) {
	t.Helper()
	ctx := context.Background()
	a, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Alpha", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	psk, err := a.NetworkKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err = node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: a.Genesis(), NetworkKey: psk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := a.Append(ctx, &crdt.Admission{Device: b.Device(), Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func runLoopback(t *testing.T, n *node.Node, port int) *Runner {
	t.Helper()
	r, err := Start(t.Context(), n, RunOptions{Listen: []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}, SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// mDNS tells of a node once while its announcement lives. When the one dial
// that follows fails (here: the node found is not listening yet), the
// finder dials again with backoff, and the two offices meet.
func TestFoundOnLANIsDialledAgain(t *testing.T) {
	a, b := lanPair(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	pb, err := node.PeerID(b.Device())
	if err != nil {
		t.Fatal(err)
	}
	ra := runLoopback(t, a, 0)
	// a hears of b on the LAN before b listens: the first dial fails.
	mdnsNotifee{ra}.HandlePeerFound(peer.AddrInfo{ID: pb, Addrs: []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))}})
	deadline := time.Now().Add(20 * time.Second)
	for {
		ra.book.mu.Lock()
		d := ra.book.dials[pb]
		failed := d != nil && !d.inflight && d.backoff > dialBackoffMin
		ra.book.mu.Unlock()
		if failed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a never dialled b, which mDNS found")
		}
		time.Sleep(20 * time.Millisecond)
	}
	runLoopback(t, b, port) // b knows no address of a: only a can dial
	deadline = time.Now().Add(60 * time.Second)
	for !b.Status().Admitted || ra.h.Network().Connectedness(pb) != network.Connected {
		if time.Now().After(deadline) {
			t.Fatal("a did not dial b again after the failed dial: b never learned of its admission")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two nodes that find each other at once do not dial each other at once:
// the one with the lower peer ID dials now, the other later.
func TestFoundOnLANOneDialsFirst(t *testing.T) {
	a, b := lanPair(t)
	ra, rb := runLoopback(t, a, 0), runLoopback(t, b, 0)
	lo, hi := ra, rb
	if ra.h.ID() > rb.h.ID() {
		lo, hi = rb, ra
	}
	now := time.Now()
	// (The dial loop may already have dialled by the time it is read:
	// dialling the higher ID early is what this test looks for, so the
	// lower one's entry is read only for being due.)
	hi.h.Peerstore().AddAddrs(lo.h.ID(), lo.h.Addrs(), time.Minute)
	lo.h.Peerstore().AddAddrs(hi.h.ID(), hi.h.Addrs(), time.Minute)
	hi.dialFoundOnLAN(lo.h.ID())
	hi.book.mu.Lock()
	next := hi.book.dials[lo.h.ID()].next
	hi.book.mu.Unlock()
	if !next.After(now.Add(lanDialDelay / 4)) {
		t.Errorf("the node with the higher peer ID dials at once (due %v after it found the other)", next.Sub(now))
	}
	lo.dialFoundOnLAN(hi.h.ID())
	deadline := time.Now().Add(30 * time.Second)
	for !b.Status().Admitted {
		if time.Now().After(deadline) {
			t.Fatal("the two nodes never met")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A node awaiting admission dials members' nodes at least every 10 s:
// they refuse it until the stewards approve, and it must not sit out a
// 5-minute backoff once they have (a newcomer's joiner stayed "not admitted
// yet" until it was restarted).
func TestPendingNodeKeepsDialling(t *testing.T) {
	ctx := context.Background()
	a, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: a.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rb := runLoopback(t, b, 0)
	if got := rb.backoffMax(); got != pendingBackoffMax {
		t.Fatalf("awaiting admission: backoff up to %v, want %v", got, pendingBackoffMax)
	}
	if _, err := a.Append(ctx, &crdt.Admission{Device: b.Device(), Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	if _, err := a.Store().Scan(ctx, 0, func(_ int64, r store.Record) error {
		raws = append(raws, r.Raw)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ingest(ctx, raws); err != nil {
		t.Fatal(err)
	}
	if got := rb.backoffMax(); got != dialBackoffMax {
		t.Fatalf("admitted: backoff up to %v, want %v", got, dialBackoffMax)
	}
}

// The LAN name: every member computes the same one; it changes with the
// day, and is nothing like another network's. On a private network it is
// keyed with the network key: the network's ID alone (in clear in every
// member's murmur.json) does not give it.
func TestLANServiceName(t *testing.T) {
	ctx := context.Background()
	f, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Founders", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	psk, err := f.NetworkKey()
	if err != nil || psk == nil {
		t.Fatal(psk, err)
	}
	netID := f.Network()
	day := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	member := lanServiceName(lanKey(netID, psk), day)
	if again := lanServiceName(lanKey(netID, append([]byte(nil), psk...)), day); again != member {
		t.Fatalf("two members of one network announce %q and %q", member, again)
	}
	if late := lanServiceName(lanKey(netID, psk), day.Add(11*time.Hour)); late != member {
		t.Errorf("the name changed within the day: %q, then %q", member, late)
	}
	if next := lanServiceName(lanKey(netID, psk), day.Add(24*time.Hour)); next == member {
		t.Errorf("the name did not change with the day: %q", next)
	}
	for _, k := range [][]byte{netID[:], netID[:lanPrefixLen], lanKey(netID, nil)} {
		if lanServiceName(k, day) == member {
			t.Errorf("the network's ID alone gives the name of a private network: %q", member)
		}
	}
	other := netID
	other[0] ^= 1
	if o := lanServiceName(lanKey(other, psk), day); o == member {
		t.Errorf("another network has the same name %q", o)
	}
	if o := lanServiceName(lanKey(other, nil), day); o == lanServiceName(lanKey(netID, nil), day) {
		t.Errorf("two open networks have the same name %q", o)
	}
	if len(member) != len("_")+14+len("._udp") || strings.Contains(member, hex.EncodeToString(netID[:4])) {
		t.Errorf("the name %q is not 14 hex digits of a hash", member)
	}
}
