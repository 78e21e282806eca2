package testnet

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// StepKind names what a step does.
type StepKind string

// The step kinds. Every driver realises each one (or says it cannot: drops
// with real processes).
const (
	StepWrite     StepKind = "write"     // Node writes Count requests, the product's way
	StepBulk      StepKind = "bulk"      // Count pre-signed entries ingested at Node (volume)
	StepPartition StepKind = "partition" // the network splits into Groups
	StepHeal      StepKind = "heal"      // every node can reach every other again
	StepKill      StepKind = "kill"      // Node dies without warning
	StepRestart   StepKind = "restart"   // Node starts again on its data directory
	StepDrop      StepKind = "drop"      // receivers drop Fraction of live-path messages, until changed
	StepDuplicate StepKind = "duplicate" // Count entries Node holds are delivered again to it and its side
	StepWait      StepKind = "wait"      // until the running nodes of each side agree
	StepExchange  StepKind = "exchange"  // a courier's round trip of files from Node to To and back (sneakernet.go)
	StepReplay    StepKind = "replay"    // a bundle carried earlier is imported again where it arrived
)

// Step is one event of a scenario. Which fields matter depends on Kind.
type Step struct {
	Kind     StepKind `json:"kind"`
	Node     int      `json:"node"`
	Count    int      `json:"count,omitempty"`
	Groups   [][]int  `json:"groups,omitempty"`
	Fraction float64  `json:"fraction,omitempty"`
	// Exchange: the node the courier goes to (Node is where the trip
	// starts), whether the answer is split into parts, which leg's
	// courier never arrives (1 to 3; 0: none), and how the last leg's
	// export is chosen ("for": the bundle received; "org": what To's
	// organisation is known to hold).
	To    int    `json:"to,omitempty"`
	Split bool   `json:"split,omitempty"`
	Lost  int    `json:"lost,omitempty"`
	Via   string `json:"via,omitempty"`
}

// Write: node writes count requests through the node's own write path
// (node.NewRequest in-process, `murmur request new` with processes). A
// node that is down writes too: every command works offline.
func Write(node, count int) Step { return Step{Kind: StepWrite, Node: node, Count: count} }

// Bulk: count entries, signed by a writer organisation that belongs to node
// (admitted when the network is founded, with no node of its own), are
// ingested at node in batches. Far faster than Write, for volume; they
// travel by reconciliation only, as a bundle imported at that node would.
func Bulk(node, count int) Step { return Step{Kind: StepBulk, Node: node, Count: count} }

// Partition splits the network: nodes in different groups cannot reach
// each other. Every node is in exactly one group.
func Partition(groups ...[]int) Step { return Step{Kind: StepPartition, Groups: groups} }

// Heal ends any partition.
func Heal() Step { return Step{Kind: StepHeal} }

// Kill stops node without warning (SIGKILL for a process).
func Kill(node int) Step { return Step{Kind: StepKill, Node: node} }

// Restart starts a killed node again on the same data directory.
func Restart(node int) Step { return Step{Kind: StepRestart, Node: node} }

// Drop makes every receiver ignore fraction (0 to 1) of the live-path
// messages it is offered, until the next Drop. Reconciliation repairs them.
func Drop(fraction float64) Step { return Step{Kind: StepDrop, Fraction: fraction} }

// Duplicate delivers count entries that node already holds again, to node
// and to every running node on its side.
func Duplicate(node, count int) Step { return Step{Kind: StepDuplicate, Node: node, Count: count} }

// Wait lets the network settle: it returns once the running nodes of each
// side hold the same entries (bounded by Options.SettleTimeout).
func Wait() Step { return Step{Kind: StepWait} }

func (s Step) String() string {
	switch s.Kind {
	case StepWrite, StepBulk, StepDuplicate:
		return fmt.Sprintf("%s(node %d, %d)", s.Kind, s.Node, s.Count)
	case StepKill, StepRestart:
		return fmt.Sprintf("%s(node %d)", s.Kind, s.Node)
	case StepPartition:
		var b strings.Builder
		for i, g := range s.Groups {
			if i > 0 {
				b.WriteString(" | ")
			}
			fmt.Fprint(&b, g)
		}
		return fmt.Sprintf("partition(%s)", b.String())
	case StepDrop:
		return fmt.Sprintf("drop(%.0f%%)", 100*s.Fraction)
	case StepExchange:
		var b strings.Builder
		fmt.Fprintf(&b, "exchange(node %d -> node %d, --%s", s.Node, s.To, s.Via)
		if s.Split {
			b.WriteString(", split")
		}
		if s.Lost > 0 {
			fmt.Fprintf(&b, ", leg %d lost", s.Lost)
		}
		b.WriteString(")")
		return b.String()
	case StepReplay:
		return fmt.Sprintf("replay(bundle %d)", s.Count)
	}
	return string(s.Kind) + "()"
}

// Scenario is a seeded schedule of steps over a network of Nodes nodes
// (node 0 founds it; each node is its own organisation).
type Scenario struct {
	// Name names the scenario in reports ("default", "sneakernet").
	Name  string `json:"name,omitempty"`
	Nodes int    `json:"nodes"`
	Seed  uint64 `json:"seed"`
	Steps []Step `json:"steps"`
	// Isolated: from the first partition on, no node may ever be
	// connected to a node of another group; every observation checks it.
	Isolated bool `json:"isolated,omitempty"`
}

// usesBulk says whether the network needs bulk writer organisations.
func (sc Scenario) usesBulk() bool {
	return slices.ContainsFunc(sc.Steps, func(s Step) bool { return s.Kind == StepBulk })
}

// usesCourier says whether the scenario carries bundles.
func (sc Scenario) usesCourier() bool {
	return slices.ContainsFunc(sc.Steps, func(s Step) bool { return s.Kind == StepExchange || s.Kind == StepReplay })
}

// Validate checks that the scenario can run: node numbers in range, a
// partition covers every node exactly once, only running nodes are killed
// and only killed ones restarted, and every node runs at the end (the
// final check compares all of them).
func (sc Scenario) Validate() error {
	if sc.Nodes < 2 {
		return fmt.Errorf("testnet: a network needs at least 2 nodes, not %d", sc.Nodes)
	}
	down := make([]bool, sc.Nodes)
	for i, s := range sc.Steps {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("testnet: step %d, %v: %s", i+1, s, fmt.Sprintf(format, args...))
		}
		switch s.Kind {
		case StepWrite, StepBulk, StepDuplicate, StepKill, StepRestart, StepExchange:
			if s.Node < 0 || s.Node >= sc.Nodes {
				return bad("no node %d in a network of %d", s.Node, sc.Nodes)
			}
		}
		switch s.Kind {
		case StepWrite, StepBulk, StepDuplicate:
			if s.Count < 1 {
				return bad("the count must be positive")
			}
		case StepKill:
			if down[s.Node] {
				return bad("node %d is already down", s.Node)
			}
			down[s.Node] = true
		case StepRestart:
			if !down[s.Node] {
				return bad("node %d is running", s.Node)
			}
			down[s.Node] = false
		case StepPartition:
			seen := make([]bool, sc.Nodes)
			n := 0
			for _, g := range s.Groups {
				for _, x := range g {
					if x < 0 || x >= sc.Nodes || seen[x] {
						return bad("node %d is out of range or in two groups", x)
					}
					seen[x] = true
					n++
				}
			}
			if n != sc.Nodes || len(s.Groups) < 2 {
				return bad("the groups must cover all %d nodes, in two or more groups", sc.Nodes)
			}
		case StepDrop:
			if s.Fraction < 0 || s.Fraction >= 1 {
				return bad("the fraction must be in [0, 1)")
			}
		case StepExchange:
			if s.To < 0 || s.To >= sc.Nodes || s.To == s.Node {
				return bad("the courier must go to another node of the network, not %d", s.To)
			}
			if down[s.Node] || down[s.To] {
				return bad("both ends of a trip must be running")
			}
			if s.Lost < 0 || s.Lost > 3 {
				return bad("a trip has legs 1 to 3, not %d", s.Lost)
			}
			if s.Via != "for" && s.Via != "org" {
				return bad("the last leg's export is --for or --org, not %q", s.Via)
			}
		case StepReplay:
			if s.Count < 0 {
				return bad("no bundle %d", s.Count)
			}
		case StepHeal, StepWait:
		default:
			return bad("unknown step kind %q", s.Kind)
		}
	}
	if sc.Isolated && !slices.ContainsFunc(sc.Steps, func(s Step) bool { return s.Kind == StepPartition }) {
		return fmt.Errorf("testnet: an isolated scenario needs a partition to keep (the sneakernet scenario needs at least 4 nodes, 2 per region)")
	}
	for i, d := range down {
		if d {
			return fmt.Errorf("testnet: node %d is still down at the end; restart it so the final check can compare it", i)
		}
	}
	return nil
}

// DefaultScenario is what `make testnet` runs: writes everywhere; a
// partition into two sides with writes on both; on one side a node killed,
// written to while down, and restarted while the partition lasts; live-path
// drops and duplicate deliveries on both sides; then a heal. Which nodes
// write and how much, the split and the victim all follow from seed.
func DefaultScenario(nodes int, seed uint64) Scenario {
	r := rand.New(rand.NewPCG(seed, 0x74657374_6e6574)) // "testnet"
	sc := Scenario{Nodes: nodes, Seed: seed}
	add := func(s ...Step) { sc.Steps = append(sc.Steps, s...) }
	if nodes < 2 {
		return sc // Validate says why
	}
	for i := range nodes {
		add(Write(i, 1+r.IntN(3)))
	}
	add(Wait())

	perm := r.Perm(nodes)
	a, b := perm[:nodes/2], perm[nodes/2:] // b is the larger side: the victim has company
	slices.Sort(a)
	slices.Sort(b)
	pick := func(side []int) int { return side[r.IntN(len(side))] }
	add(Partition(a, b))
	add(Drop(0.1 * float64(2+r.IntN(3)))) // 20-40%
	for range 2 {
		add(Write(pick(a), 2+r.IntN(4)), Write(pick(b), 2+r.IntN(4)))
	}
	victim := pick(b)
	add(Kill(victim))
	for _, x := range b {
		if x != victim {
			add(Write(x, 1+r.IntN(4))) // news the victim misses
		}
	}
	add(Write(victim, 1+r.IntN(2))) // written offline, sent after the restart
	add(Duplicate(pick(a), 3+r.IntN(6)))
	add(Write(pick(a), 1+r.IntN(3)))
	add(Restart(victim))
	add(Duplicate(pick(b), 3+r.IntN(6)))
	add(Wait()) // each side agrees on its own, the victim caught up
	add(Drop(0))
	add(Write(pick(a), 1+r.IntN(3)), Write(pick(b), 1+r.IntN(3)))
	add(Heal())
	return sc
}
