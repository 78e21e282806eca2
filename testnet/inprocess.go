package testnet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
	msync "github.com/murmurnet/murmur/sync"
)

// InProcess runs every node in this process on go-libp2p's mock network,
// each with its own data directory.
//
//   - Partition unlinks (and disconnects) every pair of nodes in different
//     groups; Heal links and connects every pair again.
//   - Kill takes the node off the mock network (its connections drop, as a
//     dead process's would), then closes its runner and node and nothing
//     else; Restart opens the data directory again, unlocks it and starts a
//     runner on the same mock host, which is linked and connected again to
//     the nodes of its side.
//   - Drop: every node's gossip filter (sync.GossipOptions.Filter) refuses
//     the current fraction of messages, chosen by a generator seeded from
//     the scenario's seed.
//   - Duplicate: entries read from the node's store are ingested again by
//     it and by the running nodes of its side — node.Ingest is the path
//     every entry from a peer takes.
type InProcess struct {
	// Dir holds the data directories; empty: a temporary directory that
	// Close removes.
	Dir string
	// SyncEvery is each node's anti-entropy period (default 1 s: the
	// repair of dropped messages is what scenarios exercise).
	SyncEvery time.Duration
	// PollEvery is how often a node looks for entries written by others on
	// its data directory (default 50 ms).
	PollEvery time.Duration

	mn       mocknet.Mocknet
	nw       *foundedNetwork
	nodes    []*memberNode
	group    []int         // side of each node
	drop     atomic.Uint64 // math.Float64bits of the fraction dropped
	rngMu    gosync.Mutex
	rng      *rand.Rand
	ownDir   bool
	closeErr error
	once     gosync.Once
}

// memberNode is one node of an in-process network.
type memberNode struct {
	n    *node.Node
	r    *p2p.Runner // nil while down
	h    host.Host
	base node.Traffic // sent before its last restart
}

var _ Driver = (*InProcess)(nil)

// Mode names the driver in reports.
func (d *InProcess) Mode() string { return "in-process (mock network)" }

// Start founds the network and starts every node, linked to all others.
func (d *InProcess) Start(ctx context.Context, nodes int, seed uint64, bulk bool) (err error) {
	if d.SyncEvery == 0 {
		d.SyncEvery = time.Second
	}
	if d.PollEvery == 0 {
		d.PollEvery = 50 * time.Millisecond
	}
	d.rng = rand.New(rand.NewPCG(seed, 0x64726f70)) // "drop"
	if d.Dir == "" {
		if d.Dir, err = os.MkdirTemp("", "murmur-testnet-"); err != nil {
			return err
		}
		d.ownDir = true
	}
	nw, opened, err := found(ctx, d.Dir, nodes, seed, bulk)
	if err != nil {
		return err
	}
	d.nw = nw
	d.mn = mocknet.New()
	d.group = make([]int, nodes)
	for _, n := range opened {
		d.nodes = append(d.nodes, &memberNode{n: n})
	}
	for i, m := range d.nodes {
		key, err := m.n.HostKey()
		if err != nil {
			return err
		}
		if m.h, err = d.mn.AddPeer(key, ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4721", i>>16&255, i>>8&255, i&255+1))); err != nil {
			return err
		}
		if m.r, err = p2p.Start(ctx, m.n, d.runOptions(m.h)); err != nil {
			return err
		}
	}
	return d.wire()
}

func (d *InProcess) runOptions(h host.Host) p2p.RunOptions {
	return p2p.RunOptions{
		Host:      h,
		SyncEvery: d.SyncEvery,
		PollEvery: d.PollEvery,
		Gossip:    msync.GossipOptions{Filter: d.admit},
	}
}

// admit is every node's gossip filter: it refuses the current fraction.
func (d *InProcess) admit(peer.ID) bool {
	f := math.Float64frombits(d.drop.Load())
	if f == 0 {
		return true
	}
	d.rngMu.Lock()
	x := d.rng.Float64()
	d.rngMu.Unlock()
	return x >= f
}

// wire makes the mock network match the sides and who is up: two running
// nodes of the same side are linked and connected, every other pair is
// neither.
func (d *InProcess) wire() error {
	for i, a := range d.nodes {
		for j := i + 1; j < len(d.nodes); j++ {
			b := d.nodes[j]
			pa, pb := a.h.ID(), b.h.ID()
			linked := len(d.mn.LinksBetweenPeers(pa, pb)) > 0
			if a.r != nil && b.r != nil && d.group[i] == d.group[j] {
				if !linked {
					if _, err := d.mn.LinkPeers(pa, pb); err != nil {
						return err
					}
				}
				if a.h.Network().Connectedness(pb) != network.Connected {
					if _, err := d.mn.ConnectPeers(pa, pb); err != nil {
						return fmt.Errorf("testnet: connecting nodes %d and %d: %w", i, j, err)
					}
				}
				continue
			}
			if linked {
				if err := d.mn.UnlinkPeers(pa, pb); err != nil {
					return err
				}
			}
			// Closing either end closes the connection for both.
			if a.h.Network().Connectedness(pb) == network.Connected {
				if err := d.mn.DisconnectPeers(pa, pb); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Write has node write count requests with node.NewRequest; a node that is
// down is opened for it, as a CLI command would be.
func (d *InProcess) Write(ctx context.Context, i, count int) error {
	_, err := d.write(ctx, i, count)
	return err
}

func (d *InProcess) write(ctx context.Context, i, count int) ([]*crdt.Entry, error) {
	var out []*crdt.Entry
	err := d.with(ctx, i, true, func(n *node.Node) error {
		for k := range count {
			e, err := n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: fmt.Sprintf("testnet: node %d, write %d", i, k+1)})
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// with runs fn with node i: the running node, or for a node that is down,
// its data directory opened (and unlocked if unlock) for the time of fn.
func (d *InProcess) with(ctx context.Context, i int, unlock bool, fn func(n *node.Node) error) error {
	if d.nw == nil {
		return errNotStarted
	}
	if m := d.nodes[i]; m.r != nil {
		return fn(m.n)
	}
	n, err := node.Open(ctx, d.nw.dirs[i])
	if err != nil {
		return err
	}
	defer n.Close()
	if unlock {
		if err := n.Unlock(nil); err != nil {
			return err
		}
	}
	return fn(n)
}

// Bulk ingests count entries of node i's bulk writer at node i.
func (d *InProcess) Bulk(ctx context.Context, i, count int) error {
	raws, err := d.nw.bulk[i].sign(d.nw.id, i, count)
	if err != nil {
		return err
	}
	return d.with(ctx, i, false, func(n *node.Node) error {
		_, err := ingestAll(ctx, n, raws)
		return err
	})
}

// Partition unlinks the sides from each other.
func (d *InProcess) Partition(ctx context.Context, groups [][]int) error {
	for g, members := range groups {
		for _, x := range members {
			d.group[x] = g
		}
	}
	if err := d.wire(); err != nil {
		return err
	}
	return d.waitApart(ctx)
}

// waitApart waits (up to 10 s) until no running node lists a peer of
// another group: the mock network closes connections at once, but each
// end forgets them a little later, and a partition is in place only then.
func (d *InProcess) waitApart(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		crossed := ""
		for i, a := range d.nodes {
			for j, b := range d.nodes {
				if a.r != nil && d.group[i] != d.group[j] && slices.Contains(a.h.Network().Peers(), b.h.ID()) {
					crossed = fmt.Sprintf("nodes %d and %d", i, j)
				}
			}
		}
		if crossed == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnet: %s are still connected 10 s after the partition", crossed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Heal links everyone again.
func (d *InProcess) Heal(context.Context) error {
	clear(d.group)
	return d.wire()
}

// Kill takes node i off the network and closes it.
func (d *InProcess) Kill(_ context.Context, i int) error {
	m := d.nodes[i]
	if m.r == nil {
		return fmt.Errorf("testnet: node %d is not running", i)
	}
	r := m.r
	m.r = nil
	if err := d.wire(); err != nil { // its connections go first, as a dead process's do
		return err
	}
	t := r.Traffic()
	m.base = addTraffic(m.base, t)
	return errors.Join(r.Close(), m.n.Close())
}

// Restart opens node i's data directory again and starts it on its host.
func (d *InProcess) Restart(ctx context.Context, i int) error {
	m := d.nodes[i]
	if m.r != nil {
		return fmt.Errorf("testnet: node %d is running", i)
	}
	n, err := node.Open(ctx, d.nw.dirs[i])
	if err != nil {
		return err
	}
	if err := n.Unlock(nil); err != nil {
		n.Close()
		return err
	}
	r, err := p2p.Start(ctx, n, d.runOptions(m.h))
	if err != nil {
		n.Close()
		return err
	}
	m.n, m.r = n, r
	return d.wire()
}

// Drop sets the fraction of gossip messages every receiver refuses.
func (d *InProcess) Drop(_ context.Context, fraction float64) (bool, error) {
	d.drop.Store(math.Float64bits(fraction))
	return true, nil
}

// Duplicate ingests count of node i's entries again at i and its side.
func (d *InProcess) Duplicate(ctx context.Context, i, count int, side []int) (int, error) {
	var raws [][]byte
	err := d.with(ctx, i, false, func(n *node.Node) error {
		var err error
		raws, err = accepted(ctx, n.Store())
		return err
	})
	if err != nil {
		return 0, err
	}
	d.rngMu.Lock() // shared with the gossip filters
	raws = choose(raws, count, d.rng)
	d.rngMu.Unlock()
	to := append([]int{i}, side...)
	dups := 0
	seen := map[int]bool{}
	for _, x := range to {
		if seen[x] {
			continue
		}
		seen[x] = true
		err := d.with(ctx, x, false, func(n *node.Node) error {
			rep, err := ingestAll(ctx, n, raws)
			dups += rep.Duplicate
			return err
		})
		if err != nil {
			return dups, err
		}
	}
	return dups, nil
}

// Observe reads the running nodes' status and traffic.
func (d *InProcess) Observe(_ context.Context, nodes []int) ([]Observation, error) {
	if d.nw == nil {
		return nil, errNotStarted
	}
	out := make([]Observation, 0, len(nodes))
	for _, i := range nodes {
		m := d.nodes[i]
		if m.r == nil {
			return nil, fmt.Errorf("testnet: node %d is not running", i)
		}
		st := m.n.Status()
		t := addTraffic(m.base, m.r.Traffic())
		peers := m.r.Peers()
		ids := make([]string, len(peers))
		for k, p := range peers {
			ids[k] = p.String()
		}
		out = append(out, Observation{Node: i, Org: st.Org, Peer: st.Peer, Entries: st.Entries, Digest: st.Digest,
			Peers: len(peers), PeerIDs: ids, Secret: st.GrantSecret, SyncSent: t.Sync.SentBytes, GossipSent: t.GossipSent})
	}
	return out, nil
}

var _ Courier = (*InProcess)(nil)

// Summary writes node i's summary with the node API, beside its runner.
func (d *InProcess) Summary(ctx context.Context, i int, file string) (int64, error) {
	rep, err := d.nodes[i].n.WriteSummary(ctx, file)
	return rep.Bytes, err
}

// Export writes node i's bundle with the node API.
func (d *InProcess) Export(ctx context.Context, i int, file string, o ExportChoice) (Exported, error) {
	rep, err := d.nodes[i].n.ExportBundle(ctx, file, node.BundleOptions{For: o.For, Org: o.Org, Split: o.Split})
	return Exported{Entries: rep.Entries, Bytes: rep.Bytes, Files: rep.Files}, err
}

// Import takes bundle files in at node i with the node API.
func (d *InProcess) Import(ctx context.Context, i int, files []string) (Imported, error) {
	rep, err := d.nodes[i].n.ImportBundles(ctx, files, nil)
	return Imported{New: rep.New, Held: rep.Held, Refused: rep.Refused}, err
}

// Close stops every node, closes the mock network and removes a temporary
// directory.
func (d *InProcess) Close() error {
	d.once.Do(func() {
		var errs []error
		for _, m := range d.nodes {
			if m.r != nil {
				errs = append(errs, m.r.Close())
				m.r = nil
			}
			errs = append(errs, m.n.Close()) // safe twice: a killed node is closed already
		}
		if d.mn != nil {
			errs = append(errs, d.mn.Close())
		}
		if d.ownDir {
			errs = append(errs, os.RemoveAll(d.Dir))
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

func addTraffic(a, b node.Traffic) node.Traffic {
	a.Sync.SentBytes += b.Sync.SentBytes
	a.Sync.RecvBytes += b.Sync.RecvBytes
	a.GossipSent += b.GossipSent
	a.GossipRecv += b.GossipRecv
	return a
}
