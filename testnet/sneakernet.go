package testnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// The sneakernet scenario: one region cut off entirely, synced only by
// couriers carrying bundle files on a seeded schedule (issue 13).
//
// A courier's trip (StepExchange) is the round trip the bundles were made
// for, with files in a directory that stands for the USB stick:
//
//  1. the node where the trip starts writes its summary; the courier
//     carries it to the other node;
//  2. that node exports what the summary says is lacking (--for SUMMARY,
//     perhaps --split into parts); the courier carries the files back and
//     the first node imports them (split parts in a shuffled order, all at
//     once or one at a time);
//  3. the first node exports what the other lacks (--for the bundle it
//     received, which carries the other's summary, or --org: what the
//     other organisation's node is known to hold) and the courier carries
//     it to the other node, which imports it.
//
// A lost courier (Lost = 1, 2 or 3) never arrives with that leg, and the
// trip ends there. StepReplay imports a bundle carried earlier once more
// where it arrived: it must store nothing new.

// SplitSize is the part size of a split export in the sneakernet scenario:
// just above the smallest part an export allows (sync.MinBundleSize,
// 64 KiB), so that a few thousand entries fill several parts.
const SplitSize = 70_000

// Courier is what a driver does for a courier: the bundle commands, run on
// a node's data directory while the node runs (the store serialises the
// writers). Files are paths in a directory Run owns.
type Courier interface {
	// Summary writes node's summary into file and returns its size.
	Summary(ctx context.Context, node int, file string) (int64, error)
	// Export writes node's bundle into file (or numbered parts of it).
	Export(ctx context.Context, node int, file string, o ExportChoice) (Exported, error)
	// Import takes files in at node, in the order given.
	Import(ctx context.Context, node int, files []string) (Imported, error)
}

// ExportChoice says what an export writes: what the maker of the file For
// lacks, or what the organisation Org (an ID) is known to lack; Split > 0
// writes parts of at most that many bytes.
type ExportChoice struct {
	For   string
	Org   string
	Split int64
}

// Exported is what an export wrote.
type Exported struct {
	Entries int
	Bytes   int64
	Files   []string
}

// Imported is what an import took in.
type Imported struct {
	New, Held, Refused int
}

// Carried is one file (or set of parts) a courier carried, or set out with.
type Carried struct {
	Step    int    `json:"step"`
	Leg     int    `json:"leg"` // 1: summary out; 2: the answer back; 3: the reply; 0: a replay
	What    string `json:"what"`
	From    int    `json:"from"`
	To      int    `json:"to"`
	Choice  string `json:"choice,omitempty"` // how the export chose its entries
	Parts   int    `json:"parts"`
	Bytes   int64  `json:"bytes"`
	Entries int    `json:"entries"` // in the bundle; 0 for a summary
	Lost    bool   `json:"lost,omitempty"`
	// What the import at To made of it (bundles that arrived).
	New     int `json:"new"`
	Held    int `json:"held"`
	Refused int `json:"refused"`
}

// SneakernetScenario is what `make testnet SCENARIO=sneakernet` runs. The
// network settles connected (every node holds the admissions and the
// network secret, without which no bundle can be read or written); then
// the region of the last nodes (2 of 5; at least 2) is cut off entirely
// and the capital keeps the rest. Over several rounds nodes of both
// regions write, each region settles on its own, and a courier makes a
// trip between a node of each region, starting on either side. Which nodes
// write and how much, where trips start and end, which are split (after a
// bulk write big enough to fill several parts), which courier is lost and
// which bundle is replayed, all follow from seed. The last trip is never
// lost: after it every node must hold the same entries, with no link
// between the regions ever.
func SneakernetScenario(nodes int, seed uint64) Scenario {
	r := rand.New(rand.NewPCG(seed, 0x736e65616b6572)) // "sneaker"
	sc := Scenario{Name: "sneakernet", Nodes: nodes, Seed: seed, Isolated: true}
	add := func(s ...Step) { sc.Steps = append(sc.Steps, s...) }
	if nodes < 4 {
		return sc // Validate says why
	}
	cut := max(2, nodes*2/5)
	capital, office := make([]int, 0, nodes-cut), make([]int, 0, cut)
	for i := range nodes {
		if i < nodes-cut {
			capital = append(capital, i)
		} else {
			office = append(office, i)
		}
	}
	pick := func(side []int) int { return side[r.IntN(len(side))] }
	add(Partition(capital, office))
	rounds := 3 + r.IntN(2)
	for round := range rounds {
		last := round == rounds-1
		trip := Step{Kind: StepExchange, Node: pick(office), To: pick(capital), Via: "for"}
		if r.IntN(3) == 0 { // the capital sends a courier out
			trip.Node, trip.To = trip.To, trip.Node
		}
		if r.IntN(2) == 0 {
			trip.Via = "org"
		}
		switch v := r.IntN(4); {
		case v == 0:
			trip.Split = true
		case v == 1 && !last:
			trip.Lost = 1 + r.IntN(3)
		}
		for _, side := range [][]int{capital, office} {
			for range 1 + r.IntN(2) {
				add(Write(pick(side), 1+r.IntN(3)))
			}
		}
		if trip.Split { // enough for several parts, at the node that answers
			add(Bulk(trip.To, 1500+r.IntN(1500)))
		}
		add(Wait()) // each region agrees on its own, and not with the other
		add(trip)
		if round > 0 && r.IntN(3) == 0 {
			add(Step{Kind: StepReplay, Count: r.IntN(1000)})
		}
	}
	return sc
}

// carrier plays the trips of a scenario on a driver's Courier.
type carrier struct {
	c     Courier
	dir   string // the "USB stick"
	rng   *rand.Rand
	orgs  map[int]string // node → organisation ID
	files int
	// arrived: bundles delivered, for replays (files and where they went).
	arrived []Carried
	paths   [][]string
}

func newCarrier(c Courier, seed uint64, orgs map[int]string) (*carrier, error) {
	dir, err := os.MkdirTemp("", "murmur-sneakernet-")
	if err != nil {
		return nil, err
	}
	return &carrier{c: c, dir: dir, rng: rand.New(rand.NewPCG(seed, 0x636f7572696572)), orgs: orgs}, nil // "courier"
}

func (k *carrier) close() error { return os.RemoveAll(k.dir) }

func (k *carrier) file(what string, from int) string {
	k.files++
	return filepath.Join(k.dir, fmt.Sprintf("%03d-node%02d.%s", k.files, from, what))
}

// deliver imports files at node: split parts shuffled, all at once or
// one at a time (then parts may wait for earlier ones, imported later).
func (k *carrier) deliver(ctx context.Context, node int, files []string, c *Carried) error {
	files = slices.Clone(files)
	k.rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	batches := [][]string{files}
	if len(files) > 1 && k.rng.IntN(2) == 0 {
		batches = nil
		for _, f := range files {
			batches = append(batches, []string{f})
		}
		c.Choice += ", parts imported one at a time"
	}
	for _, b := range batches {
		im, err := k.c.Import(ctx, node, b)
		if err != nil {
			return err
		}
		c.New += im.New
		c.Held += im.Held
		c.Refused += im.Refused
	}
	k.arrived = append(k.arrived, *c)
	k.paths = append(k.paths, files)
	return nil
}

// exchange makes the trip of step s (number step); it returns what was
// carried, and a failure in words if a bundle was refused.
func (k *carrier) exchange(ctx context.Context, step int, s Step) ([]Carried, []string, error) {
	var out []Carried
	var failures []string
	a, b := s.Node, s.To
	summary := k.file("summary", a)
	n, err := k.c.Summary(ctx, a, summary)
	if err != nil {
		return out, nil, err
	}
	out = append(out, Carried{Step: step, Leg: 1, What: "summary", From: a, To: b, Parts: 1, Bytes: n, Lost: s.Lost == 1})
	if s.Lost == 1 {
		return out, nil, nil
	}

	o := ExportChoice{For: summary}
	choice := "--for the summary"
	if s.Split {
		o.Split = SplitSize
		choice += fmt.Sprintf(", --split %dKB", SplitSize/1000)
	}
	answer := k.file("bundle", b)
	ex, err := k.c.Export(ctx, b, answer, o)
	if err != nil {
		return out, nil, err
	}
	c := Carried{Step: step, Leg: 2, What: "bundle", From: b, To: a, Choice: choice, Parts: len(ex.Files), Bytes: ex.Bytes, Entries: ex.Entries, Lost: s.Lost == 2}
	if s.Lost == 2 {
		return append(out, c), nil, nil
	}
	if err := k.deliver(ctx, a, ex.Files, &c); err != nil {
		return out, nil, err
	}
	out = append(out, c)
	if c.Refused > 0 || c.New+c.Held != c.Entries {
		failures = append(failures, fmt.Sprintf("step %d: node %d took %d new, %d held, %d refused of the %d entries node %d sent", step, a, c.New, c.Held, c.Refused, c.Entries, b))
	}

	o = ExportChoice{For: ex.Files[0]} // every part carries its maker's summary
	choice = "--for the bundle received"
	if s.Via == "org" {
		o = ExportChoice{Org: k.orgs[b]}
		choice = "--org (what the other's organisation is known to hold)"
	}
	reply := k.file("bundle", a)
	ex, err = k.c.Export(ctx, a, reply, o)
	if err != nil {
		return out, failures, err
	}
	c = Carried{Step: step, Leg: 3, What: "bundle", From: a, To: b, Choice: choice, Parts: len(ex.Files), Bytes: ex.Bytes, Entries: ex.Entries, Lost: s.Lost == 3}
	if s.Lost == 3 {
		return append(out, c), failures, nil
	}
	if err := k.deliver(ctx, b, ex.Files, &c); err != nil {
		return out, failures, err
	}
	out = append(out, c)
	if c.Refused > 0 || c.New+c.Held != c.Entries {
		failures = append(failures, fmt.Sprintf("step %d: node %d took %d new, %d held, %d refused of the %d entries node %d sent", step, b, c.New, c.Held, c.Refused, c.Entries, a))
	}
	return out, failures, nil
}

// replay imports the which-th bundle delivered so far (modulo their
// number) again where it arrived: everything in it must be held already.
func (k *carrier) replay(ctx context.Context, step, which int) (*Carried, string, error) {
	if len(k.arrived) == 0 {
		return nil, "", nil
	}
	i := which % len(k.arrived)
	old := k.arrived[i]
	c := Carried{Step: step, What: "replayed bundle", From: old.From, To: old.To,
		Choice: fmt.Sprintf("the bundle of step %d leg %d again", old.Step, old.Leg), Parts: old.Parts, Bytes: old.Bytes, Entries: old.Entries}
	im, err := k.c.Import(ctx, old.To, k.paths[i])
	if err != nil {
		return nil, "", err
	}
	c.New, c.Held, c.Refused = im.New, im.Held, im.Refused
	failure := ""
	if im.New != 0 || im.Refused != 0 || im.Held != old.Entries {
		failure = fmt.Sprintf("step %d: replaying a bundle at node %d stored %d new and refused %d of %d entries (want all held)", step, old.To, im.New, im.Refused, old.Entries)
	}
	return &c, failure, nil
}

// crossings names the connections between nodes of different groups in
// obs (peerOf maps a peer ID to its node).
func crossings(obs []Observation, groups [][]int, peerOf map[string]int) []string {
	group := map[int]int{}
	for g, members := range groups {
		for _, x := range members {
			group[x] = g
		}
	}
	var out []string
	for _, o := range obs {
		for _, p := range o.PeerIDs {
			if y, ok := peerOf[p]; ok && group[y] != group[o.Node] {
				out = append(out, fmt.Sprintf("node %d is connected to node %d across the cut", o.Node, y))
			}
		}
	}
	return out
}

// errNoCourier is returned for a trip on a driver that cannot carry files.
var errNoCourier = errors.New("testnet: this driver cannot carry bundles")
