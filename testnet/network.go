package testnet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/store"
)

// foundedNetwork is what both drivers prepare before any node runs: one data
// directory per organisation, all of the same network.
type foundedNetwork struct {
	id    crdt.ID
	dirs  []string
	orgs  []crdt.OrgID
	peers []peer.ID
	bulk  []*bulkWriter // per node; nil without bulk steps
}

// found founds a network in root: node 0 with node.Init (no passphrase),
// the others with node.Provision, each admitted by the founder as its own
// organisation; with bulk, also one writer organisation per node. There is
// no invite yet: the admissions are written before the network starts and
// reach the other nodes by reconciliation. It returns the nodes open and
// unlocked; on error it closes what it opened.
func found(ctx context.Context, root string, nodes int, seed uint64, bulk bool) (_ *foundedNetwork, opened []*node.Node, err error) {
	defer func() {
		if err != nil {
			for _, n := range opened {
				n.Close()
			}
			opened = nil
		}
	}()
	nw := &foundedNetwork{}
	founder, err := node.Init(ctx, filepath.Join(root, nodeDirName(0)), node.InitOptions{Org: "Org 0", Network: fmt.Sprintf("testnet seed %d", seed)})
	if err != nil {
		return nil, nil, err
	}
	opened = append(opened, founder)
	for i := 1; i < nodes; i++ {
		m, err := node.Provision(ctx, filepath.Join(root, nodeDirName(i)), node.ProvisionOptions{Genesis: founder.Genesis(), Seed: derive(seed, "device", i)})
		if err != nil {
			return nil, opened, err
		}
		opened = append(opened, m)
		if _, err := founder.Append(ctx, &crdt.Admission{Device: m.Device(), Name: fmt.Sprintf("Org %d", i)}); err != nil {
			return nil, opened, err
		}
	}
	if bulk {
		for i := range nodes {
			w := &bulkWriter{key: crdt.KeyFromSeed(derive(seed, "bulk writer", i))}
			if _, err := founder.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(w.key), Name: fmt.Sprintf("Org %d bulk writer", i)}); err != nil {
				return nil, opened, err
			}
			nw.bulk = append(nw.bulk, w)
		}
	}
	nw.id = founder.Network()
	for _, n := range opened {
		p, err := node.PeerID(n.Device())
		if err != nil {
			return nil, opened, err
		}
		nw.dirs = append(nw.dirs, n.Dir())
		nw.orgs = append(nw.orgs, n.Org())
		nw.peers = append(nw.peers, p)
	}
	return nw, opened, nil
}

func nodeDirName(i int) string { return fmt.Sprintf("node-%02d", i) }

// derive is a 32-byte seed for the i-th key of a kind: the same scenario
// seed gives the same devices, so peer IDs repeat between runs.
func derive(seed uint64, kind string, i int) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "murmur testnet %s\x00", kind)
	binary.Write(h, binary.BigEndian, seed)
	binary.Write(h, binary.BigEndian, uint64(i))
	return h.Sum(nil)
}

// bulkWriter signs a chain of requests as an organisation with no node.
type bulkWriter struct {
	key   []byte
	seq   uint64
	head  crdt.ID
	clock crdt.Clock
}

func (b *bulkWriter) sign(network crdt.ID, node, count int) ([][]byte, error) {
	raws := make([][]byte, 0, count)
	now := uint64(time.Now().UnixMilli())
	for range count {
		body, err := crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf("bulk at node %d, #%d", node, b.seq+1)})
		if err != nil {
			return nil, err
		}
		e, err := crdt.Sign(b.key, crdt.Draft{Network: network, Seq: b.seq + 1, Prev: b.head, Clock: crdt.NextClock(b.clock, 0, now), Kind: crdt.KindRequest, Body: body})
		if err != nil {
			return nil, err
		}
		b.seq, b.head, b.clock = e.Seq, e.ID(), e.Clock
		raws = append(raws, e.Raw())
	}
	return raws, nil
}

// ingestAll ingests raws in batches of 1,000 (one transaction each) and
// fails if any is refused outright.
func ingestAll(ctx context.Context, n *node.Node, raws [][]byte) (node.IngestReport, error) {
	var sum node.IngestReport
	for lo := 0; lo < len(raws); lo += 1000 {
		rep, err := n.Ingest(ctx, raws[lo:min(lo+1000, len(raws))])
		if err != nil {
			return sum, err
		}
		if len(rep.Refused) > 0 {
			return sum, fmt.Errorf("testnet: node refused %d entries: %v", len(rep.Refused), rep.Refused[0])
		}
		sum.Accepted += rep.Accepted
		sum.Waiting += rep.Waiting
		sum.Held += rep.Held
		sum.Duplicate += rep.Duplicate
	}
	return sum, nil
}

// accepted returns the encodings of the accepted entries in the store.
func accepted(ctx context.Context, st store.Store) ([][]byte, error) {
	var all [][]byte
	_, err := st.Scan(ctx, 0, func(_ int64, rec store.Record) error {
		if rec.Status == crdt.StatusAccepted {
			all = append(all, rec.Raw)
		}
		return nil
	})
	return all, err
}

// choose returns count of raws (all, if fewer), picked by r.
func choose(raws [][]byte, count int, r *rand.Rand) [][]byte {
	r.Shuffle(len(raws), func(i, j int) { raws[i], raws[j] = raws[j], raws[i] })
	return raws[:min(count, len(raws))]
}
