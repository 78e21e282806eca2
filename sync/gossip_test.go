package sync

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/murmurnet/murmur/crdt"
)

// testEntries signs n entries of one author in a fresh network.
func testEntries(t testing.TB, n int) (crdt.ID, []*crdt.Entry) {
	t.Helper()
	key := crdt.KeyFromSeed(make([]byte, 32))
	body, _ := crdt.EncodeBody(&crdt.Genesis{NetworkName: "n", OrgName: "o", Quorum: 1})
	g, err := crdt.Sign(key, crdt.Draft{Seq: 1, Clock: 1, Kind: crdt.KindGenesis, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	out := []*crdt.Entry{g}
	prev := g
	for i := 0; i < n; i++ {
		b, _ := crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf("r%d", i)})
		e, err := crdt.Sign(key, crdt.Draft{Network: g.ID(), Seq: prev.Seq + 1, Prev: prev.ID(), Clock: prev.Clock + 1, Kind: crdt.KindRequest, Body: b})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
		prev = e
	}
	return g.ID(), out
}

func gossipMesh(t *testing.T, n int) ([]host.Host, mocknet.Mocknet) {
	t.Helper()
	mn, err := mocknet.FullMeshLinked(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mn.Close() })
	return mn.Hosts(), mn
}

func TestGossipDeliversAcceptedEntries(t *testing.T) {
	network, es := testEntries(t, 3)
	hosts, mn := gossipMesh(t, 3)
	got := make(chan crdt.ID, 16)
	var gs []*Gossip
	for i, h := range hosts {
		i := i
		g, err := JoinGossip(context.Background(), h, network,
			func(_ peer.ID, raw []byte) (Verdict, *crdt.Entry) {
				e, err := crdt.Verify(raw)
				if err != nil {
					return Reject, nil
				}
				return Accept, e
			},
			func(_ peer.ID, e *crdt.Entry) {
				if i == 2 {
					got <- e.ID()
				}
			}, GossipOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		gs = append(gs, g)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(gs[0].Peers()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no topic peers")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// GossipSub drops what is published before its mesh forms (its
	// warm-up); the node covers that window with a second reconciliation.
	// Here the live path alone is under test: wait for the mesh.
	for !gs[0].InMesh(hosts[2].ID()) {
		if time.Now().After(deadline) {
			t.Fatal("the mesh never formed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := gs[0].Publish(context.Background(), es[1].Raw()); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != es[1].ID() {
			t.Fatal("wrong entry")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not delivered")
	}
}
