//go:build linux

package netns

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// founded is a network prepared in data directories before any node runs.
type founded struct {
	network crdt.ID
	dirs    []string
	peers   []string
	writers [][]byte // private keys of writer organisations (admitted, with no node)
}

// found founds a network in root: names[0]'s node founds it (no
// passphrase), each other is provisioned and admitted by the founder as
// an organisation of its own, and so are writers organisations with no
// node, whose entries a scenario signs itself. The admissions reach the
// others by reconciliation once the nodes run, as in testnet.Procs.
func found(ctx context.Context, root string, names []string, seed uint64, writers int) (*founded, error) {
	return foundWith(ctx, root, names, seed, writers, false)
}

// foundWith is found, on a private network (a pre-shared key) if private.
func foundWith(ctx context.Context, root string, names []string, seed uint64, writers int, private bool) (*founded, error) {
	f := &founded{}
	founder, err := node.Init(ctx, filepath.Join(root, names[0]), node.InitOptions{Org: names[0], Network: fmt.Sprintf("netns testnet, seed %d", seed), Private: private})
	if err != nil {
		return nil, err
	}
	defer founder.Close()
	psk, err := founder.NetworkKey()
	if err != nil {
		return nil, err
	}
	opened := []*node.Node{founder}
	defer func() {
		for _, n := range opened[1:] {
			n.Close()
		}
	}()
	for i, name := range names[1:] {
		m, err := node.Provision(ctx, filepath.Join(root, name), node.ProvisionOptions{Genesis: founder.Genesis(), Seed: derive(seed, "device", i+1), NetworkKey: psk})
		if err != nil {
			return nil, err
		}
		opened = append(opened, m)
		if _, err := founder.Append(ctx, &crdt.Admission{Device: m.Device(), Name: name}); err != nil {
			return nil, err
		}
	}
	for i := range writers {
		key := crdt.KeyFromSeed(derive(seed, "writer", i))
		if _, err := founder.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(key), Name: fmt.Sprintf("Writer organisation %d", i+1)}); err != nil {
			return nil, err
		}
		f.writers = append(f.writers, key)
	}
	f.network = founder.Network()
	for _, n := range opened {
		p, err := node.PeerID(n.Device())
		if err != nil {
			return nil, err
		}
		f.dirs = append(f.dirs, n.Dir())
		f.peers = append(f.peers, p.String())
	}
	return f, nil
}

// derive is a 32-byte seed for the i-th key of a kind.
func derive(seed uint64, kind string, i int) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "murmur netns testnet %s\x00", kind)
	binary.Write(h, binary.BigEndian, seed)
	binary.Write(h, binary.BigEndian, uint64(i))
	return h.Sum(nil)
}

// words make request texts that read (and compress) like caseworkers' notes.
var words = strings.Fields(`applicant family region district office lawyer hearing detained
released threatened relocation urgent verified known unknown contact phone letter court
documents passport village clinic medical shelter grant amount transfer journalist defender
community land eviction police station report witness statement date week month travel
border camp school teacher union strike march protest arrest charge bail appeal judge`)

func text(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()
}

// dayOfWork signs a day's work of the writer organisations: per writer,
// requests then responses to other writers' requests, requests making
// four fifths of total. It returns the entries in an order a node can
// take them in one go, and their encoded size.
func dayOfWork(network crdt.ID, writers [][]byte, total int, seed uint64) ([][]byte, int, error) {
	r := rand.New(rand.NewPCG(seed, 0x646179)) // "day"
	type chain struct {
		seq   uint64
		head  crdt.ID
		clock crdt.Clock
	}
	chains := make([]chain, len(writers))
	now := uint64(time.Now().UnixMilli())
	sign := func(w int, kind crdt.Kind, body any, observed crdt.Clock, deps ...crdt.ID) (*crdt.Entry, error) {
		b, err := crdt.EncodeBody(body)
		if err != nil {
			return nil, err
		}
		c := &chains[w]
		e, err := crdt.Sign(writers[w], crdt.Draft{Network: network, Seq: c.seq + 1, Prev: c.head, Clock: crdt.NextClock(c.clock, observed, now), Deps: deps, Kind: kind, Body: b})
		if err != nil {
			return nil, err
		}
		c.seq, c.head, c.clock = e.Seq, e.ID(), e.Clock
		return e, nil
	}
	requests := total * 4 / 5
	var raws [][]byte
	var reqs []*crdt.Entry
	size := 0
	for k := range requests {
		w := k % len(writers)
		e, err := sign(w, crdt.KindRequest, &crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf("Does anyone know applicant %d?", k+1), Text: text(r, 200), Region: "TZ"}, 0)
		if err != nil {
			return nil, 0, err
		}
		reqs = append(reqs, e)
		raws = append(raws, e.Raw())
		size += len(e.Raw())
	}
	for k := range total - requests {
		w := k % len(writers)
		q := reqs[(k*7+1)%len(reqs)]
		if q.Author == crdt.PublicKeyOf(writers[w]) {
			q = reqs[(k*7+2)%len(reqs)] // answer another organisation's request
		}
		e, err := sign(w, crdt.KindResponse, &crdt.Response{Request: q.ID(), Type: crdt.Vouch, Text: text(r, 160)}, q.Clock, q.ID())
		if err != nil {
			return nil, 0, err
		}
		raws = append(raws, e.Raw())
		size += len(e.Raw())
	}
	return raws, size, nil
}

// ingest opens dir in this process, as a bundle import would while the
// node runs, and takes raws in; the running node picks them up from its
// store and sends them.
func ingest(ctx context.Context, dir string, raws [][]byte) error {
	n, err := node.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer n.Close()
	rep, err := n.Ingest(ctx, raws)
	if err != nil {
		return err
	}
	if len(rep.Refused) > 0 || rep.Accepted != len(raws) {
		return fmt.Errorf("the node took %d of %d entries (%d refused, %d waiting, %d held)", rep.Accepted, len(raws), len(rep.Refused), rep.Waiting, rep.Held)
	}
	return nil
}
