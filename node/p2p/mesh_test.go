package p2p_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

// The fixtures of the runtime's tests that run it on real nodes, as
// node's tests have them (node/run_test.go, node/node_test.go): nodes kept
// in SQLite stores in temporary directories, through node's exported API.

// meshNode is one node of an in-process network on go-libp2p's mock net.
type meshNode struct {
	n *node.Node
	r *p2p.Runner
}

// mesh founds a network of size nodes, each its own admitted organisation,
// linked on a mock network, running, and connected to each other.
func mesh(t *testing.T, size int, opt p2p.RunOptions) ([]*meshNode, mocknet.Mocknet) {
	t.Helper()
	opts := make([]p2p.RunOptions, size)
	for i := range opts {
		opts[i] = opt
	}
	return meshOf(t, opts)
}

// meshOf is mesh with options of each node's own.
func meshOf(t *testing.T, opts []p2p.RunOptions) ([]*meshNode, mocknet.Mocknet) {
	t.Helper()
	ctx := context.Background()
	founder, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Org 0"})
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*meshNode{{n: founder}}
	for i := 1; i < len(opts); i++ {
		m, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: founder.Genesis()})
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

// outsider writes the entries another organisation's device would write,
// with its own key made from a fixed seed, and delivers them the way any
// other process on the data directory would: straight into the store, for
// the node to pick up with Refresh.
type outsider struct {
	name  string
	priv  []byte
	key   crdt.DeviceKey
	seq   uint64
	head  crdt.ID
	clock crdt.Clock
}

func newOutsider(name string, seed byte) *outsider {
	s := bytes.Repeat([]byte{seed}, 32)
	priv := crdt.KeyFromSeed(s)
	return &outsider{name: name, priv: priv, key: crdt.PublicKeyOf(priv)}
}

// admit has n's organisation (a steward) admit o.
func (o *outsider) admit(t *testing.T, n *node.Node) {
	t.Helper()
	if _, err := n.Append(context.Background(), &crdt.Admission{Device: o.key, Name: o.name}); err != nil {
		t.Fatalf("admitting %s: %v", o.name, err)
	}
}

// deliver has n take entries in, as from a bundle.
func deliver(t *testing.T, n *node.Node, es ...*crdt.Entry) {
	t.Helper()
	ctx := context.Background()
	raws := make([][]byte, len(es))
	for i, e := range es {
		raws[i] = e.Raw()
	}
	rep, err := n.Ingest(ctx, raws)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	if len(rep.Refused) > 0 {
		t.Fatalf("ingest refused %d entries: %v", len(rep.Refused), rep.Refused[0])
	}
}
