package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

// meshNode is one node of an in-process network on go-libp2p's mock net.
type meshNode struct {
	n *node.Node
	r *p2p.Runner
}

// mesh founds a network of size nodes, each its own admitted organisation,
// linked on a mock network, running, and connected to each other; their
// entries are kept in kind.
func mesh(t *testing.T, kind node.StoreKind, size int, opt p2p.RunOptions) ([]*meshNode, mocknet.Mocknet) {
	t.Helper()
	opts := make([]p2p.RunOptions, size)
	for i := range opts {
		opts[i] = opt
	}
	return meshOf(t, kind, opts)
}

// meshOf is mesh with options of each node's own.
func meshOf(t *testing.T, kind node.StoreKind, opts []p2p.RunOptions) ([]*meshNode, mocknet.Mocknet) {
	t.Helper()
	ctx := context.Background()
	founder, err := node.Init(ctx, kind.Dir(t), node.InitOptions{Org: "Org 0"})
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*meshNode{{n: founder}}
	for i := 1; i < len(opts); i++ {
		m, err := node.Provision(ctx, kind.Dir(t), node.ProvisionOptions{Genesis: founder.Genesis()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := founder.Append(ctx, &crdt.Admission{Device: m.Device(), Name: fmt.Sprintf("Org %d", i)}); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &meshNode{n: m})
	}
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	for i, m := range nodes {
		key, err := m.n.HostKey()
		if err != nil {
			t.Fatal(err)
		}
		h, err := mn.AddPeer(key, ma.StringCast(fmt.Sprintf("/ip4/10.0.0.%d/tcp/4721", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		o := opts[i]
		o.Host = h
		if m.r, err = p2p.Start(t.Context(), m.n, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.r.Close(); m.n.Close() })
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	return nodes, mn
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	// within is what a quiet machine needs; a busy one gets more, for
	// the deadline only turns a hang into a failure.
	within = max(3*within, time.Minute)
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		<-tick.C
	}
	return time.Since(start)
}

func converged(nodes []*meshNode) bool {
	first := nodes[0].n.Status()
	for _, m := range nodes[1:] {
		if st := m.n.Status(); st.Digest != first.Digest || st.Entries != first.Entries {
			return false
		}
	}
	return true
}

func TestTwoNodesExchangeEntries(t *testing.T) {
	node.ForEachStore(t, testTwoNodesExchangeEntries)
}

func testTwoNodesExchangeEntries(t *testing.T, kind node.StoreKind) {
	nodes, _ := mesh(t, kind, 2, p2p.RunOptions{SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	waitFor(t, 20*time.Second, "admission reaches the second node", func() bool { return nodes[1].n.Status().Admitted })
	ctx := context.Background()
	req, err := nodes[0].n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "Does anyone know this applicant?"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "request reaches the second node", func() bool {
		_, err := nodes[1].n.Request(req.ID().String())
		return err == nil
	})
	if _, err := nodes[1].n.Respond(ctx, node.ResponseInput{Request: req.ID().String(), Type: "vouch"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the two nodes converge", func() bool { return converged(nodes) })
}

// An entry written by a CLI command (another process, modelled by a second
// handle on the data directory) travels on the live path: with periodic
// reconciliation off, only gossip can carry it.
func TestEntryWrittenByAnotherProcessIsSent(t *testing.T) {
	node.ForEachStore(t, testEntryWrittenByAnotherProcessIsSent)
}

func testEntryWrittenByAnotherProcessIsSent(t *testing.T, kind node.StoreKind) {
	// The runners' clock moves while the network settles (the
	// reconciliations after a busy one, and after gossip's warm-up, are
	// due a second or more later), and then by less than a second, in
	// steps of the store poll's period: no reconciliation follows, neither
	// the periodic one nor another after the warm-up or a busy one. Only
	// the live path can carry the entry, once the gossip mesh has formed.
	start := time.Now()
	clock := p2p.NewManualClock(start)
	nodes, _ := mesh(t, kind, 3, p2p.RunOptions{SyncEvery: time.Hour, PollEvery: 50 * time.Millisecond, Clock: clock})
	meshed := func() bool {
		return nodes[1].r.InMesh(nodes[2].r.Host().ID()) || (nodes[1].r.InMesh(nodes[0].r.Host().ID()) && nodes[0].r.InMesh(nodes[2].r.Host().ID()))
	}
	waitFor(t, 30*time.Second, "the network settles and the gossip mesh forms", func() bool {
		clock.Advance(500 * time.Millisecond)
		return converged(nodes) && nodes[2].n.Status().Admitted && meshed() && clock.Now().Sub(start) > 10*time.Second
	})
	ctx := context.Background()
	cli, err := node.Open(ctx, nodes[1].n.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := cli.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	req, err := cli.NewRequest(ctx, node.RequestInput{Kind: "alert", Title: "Office raided", Region: "NI"})
	if err != nil {
		t.Fatal(err)
	}
	written := clock.Now()
	took := waitFor(t, 20*time.Second, "the CLI's entry reaches a third node", func() bool {
		if clock.Now().Sub(written) < 900*time.Millisecond {
			clock.Advance(50 * time.Millisecond) // (the node polls its store)
		}
		_, err := nodes[2].n.Request(req.ID().String())
		return err == nil
	})
	t.Logf("written by another process, received by a peer after %v", took)
}

func TestPartitionHealConverges(t *testing.T) {
	node.ForEachStore(t, testPartitionHealConverges)
}

func testPartitionHealConverges(t *testing.T, kind node.StoreKind) {
	nodes, mn := mesh(t, kind, 5, p2p.RunOptions{SyncEvery: 2 * time.Second, PollEvery: 20 * time.Millisecond})
	waitFor(t, 30*time.Second, "the network settles", func() bool { return converged(nodes) })
	left, right := nodes[:3], nodes[3:]
	for _, a := range left {
		for _, b := range right {
			mn.UnlinkPeers(a.r.Host().ID(), b.r.Host().ID())
			mn.DisconnectPeers(a.r.Host().ID(), b.r.Host().ID())
		}
	}
	ctx := context.Background()
	for i, m := range nodes {
		for k := 0; k < 10; k++ {
			if _, err := m.n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: fmt.Sprintf("side write %d.%d", i, k)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 30*time.Second, "each side converges on its own", func() bool { return converged(left) && converged(right) })
	if converged(nodes) {
		t.Fatal("the two sides agree across a partition")
	}
	for _, a := range left {
		for _, b := range right {
			if _, err := mn.LinkPeers(a.r.Host().ID(), b.r.Host().ID()); err != nil {
				t.Fatal(err)
			}
			if _, err := mn.ConnectPeers(a.r.Host().ID(), b.r.Host().ID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	took := waitFor(t, 60*time.Second, "all five converge after the heal", func() bool { return converged(nodes) })
	t.Logf("converged %v after the heal; %d entries", took, nodes[0].n.Status().Entries)
	if got := nodes[4].n.Status().Entries; got != 1+1+4+50+5 {
		t.Fatalf("%d entries, want genesis + the secret's check + 4 admissions + 50 requests + 5 organisations' keys", got)
	}
}

// Close takes back every protocol handler the runner registered: on a host
// the caller keeps, none goes on calling into the stopped node.
func TestCloseRemovesItsHandlers(t *testing.T) {
	nodes, _ := mesh(t, node.SQLiteStore, 2, p2p.RunOptions{})
	r := nodes[0].r
	h := r.Host()
	net := nodes[0].n.Network().String()
	ours := func() []string {
		var ps []string
		for _, p := range h.Mux().Protocols() {
			if strings.Contains(string(p), net) || strings.Contains(string(p), "sub/") {
				ps = append(ps, string(p))
			}
		}
		return ps
	}
	if len(ours()) < 5 {
		t.Fatalf("the fixture: the running node serves %v", ours())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if left := ours(); len(left) > 0 {
		t.Fatalf("after Close the host still serves %v", left)
	}
}
