package testnet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
	msync "github.com/murmurnet/murmur/sync"
)

// The simulation (make sim): many short runs of an in-process network,
// each decided entirely by its seed, where the network is as bad as it
// gets — partitions, lost and duplicated and reordered messages, clocks up
// to a day apart, nodes stopped and started again — and every run must
// end with every node holding the same entries (the same digest).
//
// A run is one goroutine and no real time: nodes are node.Node on their
// own data directories (SQLite, as in production), their clocks are
// virtual and skewed, the live path is a queue of messages delivered in
// a random order through node.IngestFromPeer (the path every entry from
// a peer takes), and reconciliation is the sync package's own sessions
// (msync.Session), run message by message between two nodes' indexes,
// the entries they push delivered the same way; a session may be cut
// short, its entries delivered only in part. A stopped node is closed and
// opened again from its directory (a process killed with SIGKILL is the
// soak's job, make soak). The same seed replays the same run: every
// choice is drawn from it, in order.

// SimOptions shape the runs.
type SimOptions struct {
	// Steps per run before the network heals and settles (default 200).
	Steps int
	// Dir holds each run's data directories, removed after the run;
	// empty: the system's temporary directory.
	Dir string
}

// SimRun is what one run did.
type SimRun struct {
	Seed       uint64
	Nodes      int
	Entries    int            // accepted entries each node holds at the end
	Events     map[string]int // what happened, by kind
	Converged  bool
	Digests    []string // each node's, at the end
	SettleSync int      // reconciliations needed to converge after healing
}

func (r SimRun) String() string {
	var ev []string
	for _, k := range slices.Sorted(maps.Keys(r.Events)) {
		ev = append(ev, fmt.Sprintf("%s %d", k, r.Events[k]))
	}
	return fmt.Sprintf("seed %d: %d nodes, %d entries, converged=%t after %d reconciliations (%s)", r.Seed, r.Nodes, r.Entries, r.Converged, r.SettleSync, strings.Join(ev, ", "))
}

// MaxSkew is the largest gap between a node's clock and true time.
const MaxSkew = 24 * time.Hour

// simEpoch is the runs' true time at the start.
var simEpoch = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

type simNode struct {
	n      *node.Node // nil while stopped
	dir    string
	peer   peer.ID
	device string
	skew   time.Duration
	side   int
}

type simMsg struct {
	from, to int
	raw      []byte
}

type sim struct {
	ctx     context.Context
	rng     *rand.Rand
	now     time.Time // true time
	nodes   []*simNode
	queue   []simMsg // the live path's messages in flight
	revoked bool     // a device was revoked in this run
	drop    float64  // the fraction of live-path messages lost
	dup     float64  // the fraction delivered twice
	run     *SimRun
}

// Simulate plays the run of seed. An error is a failure of the harness
// (a node that does not open); a run that does not converge returns
// Converged false.
func Simulate(ctx context.Context, seed uint64, opt SimOptions) (run SimRun, err error) {
	if opt.Steps == 0 {
		opt.Steps = 200
	}
	root, err := os.MkdirTemp(opt.Dir, "murmur-sim-")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(root)
	s := &sim{ctx: ctx, rng: rand.New(rand.NewPCG(seed, 0x73696d)), now: simEpoch, run: &run}
	run.Seed, run.Events = seed, map[string]int{}
	run.Nodes = 3 + s.rng.IntN(3)
	nw, opened, err := found(ctx, root, run.Nodes, seed, false)
	if err != nil {
		return run, err
	}
	for i, n := range opened {
		sn := &simNode{n: n, dir: nw.dirs[i], peer: nw.peers[i], device: n.Device().String()}
		s.nodes = append(s.nodes, sn)
		s.setSkew(sn, time.Duration(s.rng.Int64N(int64(2*MaxSkew)+1))-MaxSkew)
	}
	defer func() {
		for _, sn := range s.nodes {
			if sn.n != nil {
				sn.n.Close()
			}
		}
	}()
	// The founding entries reach everyone first, as a founder's node
	// brings them to each node it admits.
	for i := range s.nodes {
		for j := range s.nodes {
			if i != j {
				if err := s.reconcile(i, j, false); err != nil {
					return run, err
				}
			}
		}
	}

	for range opt.Steps {
		if err := ctx.Err(); err != nil {
			return run, err
		}
		s.now = s.now.Add(time.Duration(s.rng.Int64N(int64(10 * time.Minute))))
		if err := s.step(); err != nil {
			return run, fmt.Errorf("seed %d: %w", seed, err)
		}
	}

	// Heal: everyone up, one side, no loss; what is in flight arrives;
	// then reconciliation between every pair until nothing moves.
	s.drop, s.dup = 0, 0
	for i, sn := range s.nodes {
		sn.side = 0
		if sn.n == nil {
			if err := s.start(i); err != nil {
				return run, err
			}
		}
	}
	for len(s.queue) > 0 {
		if err := s.deliver(0); err != nil {
			return run, err
		}
	}
	for round := 0; round < 2*len(s.nodes); round++ {
		moved := false
		for i := range s.nodes {
			for j := range s.nodes {
				if i == j {
					continue
				}
				before := s.held(j)
				if err := s.reconcile(i, j, false); err != nil {
					return run, err
				}
				run.SettleSync++
				moved = moved || s.held(j) != before
			}
		}
		if !moved {
			break
		}
	}
	run.Converged = true
	for _, sn := range s.nodes {
		st := sn.n.Status()
		run.Digests = append(run.Digests, st.Digest)
		run.Entries = st.Entries
		if st.Digest != run.Digests[0] {
			run.Converged = false
		}
	}
	return run, nil
}

// held is how many entries node i holds, in any status.
func (s *sim) held(i int) int {
	st := s.nodes[i].n.Status()
	return st.Entries + st.Waiting + st.Held
}

func (s *sim) setSkew(sn *simNode, d time.Duration) {
	sn.skew = d
	if sn.n != nil {
		sn.n.SetClock(func() time.Time { return s.now.Add(sn.skew) })
	}
}

// step does one thing, drawn from the seed.
func (s *sim) step() error {
	x := s.rng.IntN(100)
	switch {
	case x < 30:
		return s.write(s.rng.IntN(len(s.nodes)))
	case x < 60:
		return s.deliver(s.rng.IntN(len(s.queue) + 1))
	case x < 75:
		i, j := s.rng.IntN(len(s.nodes)), s.rng.IntN(len(s.nodes))
		if i == j || s.nodes[i].n == nil || s.nodes[j].n == nil || s.nodes[i].side != s.nodes[j].side {
			return nil
		}
		return s.reconcile(i, j, s.rng.IntN(4) == 0)
	case x < 80:
		// A partition into two sides, or healed.
		s.run.Events["partition"]++
		heal := s.rng.IntN(3) == 0
		for _, sn := range s.nodes {
			sn.side = 0
			if !heal {
				sn.side = s.rng.IntN(2)
			}
		}
	case x < 85:
		i := s.rng.IntN(len(s.nodes))
		if s.nodes[i].n != nil {
			s.run.Events["stop"]++
			return s.stop(i)
		}
		s.run.Events["start"]++
		return s.start(i)
	case x < 90:
		s.drop = []float64{0, 0.1, 0.5, 0.9}[s.rng.IntN(4)]
		s.dup = []float64{0, 0.1, 0.5}[s.rng.IntN(3)]
		s.run.Events["loss and duplication changed"]++
	case x < 94:
		sn := s.nodes[s.rng.IntN(len(s.nodes))]
		s.setSkew(sn, time.Duration(s.rng.Int64N(int64(2*MaxSkew)+1))-MaxSkew)
		s.run.Events["clock changed"]++
	case x < 95:
		// The founder's organisation revokes another node's device (a
		// seized laptop), once a run at most, while that node may go on
		// writing on the other side of a partition.
		if s.revoked || s.rng.IntN(4) != 0 {
			return nil
		}
		s.revoked = true
		victim := 1 + s.rng.IntN(len(s.nodes)-1)
		founder := s.nodes[0].n
		if founder == nil {
			var err error
			if founder, err = s.open(s.nodes[0]); err != nil {
				return err
			}
			defer founder.Close()
		}
		e, err := founder.ForceRevokeDevice(s.ctx, s.nodes[victim].device, nil)
		if err != nil {
			return fmt.Errorf("revoking node %d's device: %w", victim, err)
		}
		s.run.Events["device revoked"]++
		if s.nodes[0].n != nil {
			s.gossip(0, e.Raw())
		}
	default:
		// A copy of an entry a node holds, sent again to a node of its side
		// (a replay).
		i, j := s.rng.IntN(len(s.nodes)), s.rng.IntN(len(s.nodes))
		if s.nodes[i].n == nil || i == j {
			return nil
		}
		rs := s.requests(s.nodes[i].n)
		if len(rs) > 0 {
			id, err := crdt.ParseID(rs[s.rng.IntN(len(rs))].ID)
			if err != nil {
				return err
			}
			for _, raw := range s.nodes[i].n.AcceptedEntries([]crdt.ID{id}) {
				s.queue = append(s.queue, simMsg{from: i, to: j, raw: raw})
			}
			s.run.Events["replay"]++
		}
	}
	return nil
}

// write has node i write something, through the node's own write path
// (a stopped node writes too: every command works offline), and sends it
// on the live path to the nodes of its side.
func (s *sim) write(i int) error {
	sn := s.nodes[i]
	n := sn.n
	if n == nil {
		var err error
		if n, err = s.open(sn); err != nil {
			return err
		}
		defer n.Close()
	}
	var e *crdt.Entry
	var err error
	title := fmt.Sprintf("sim %d", s.rng.Uint32())
	switch s.rng.IntN(5) {
	case 0, 1:
		e, err = n.NewRequest(s.ctx, node.RequestInput{Kind: []string{"verification", "referral", "funding", "letter"}[s.rng.IntN(4)], Title: title, RespondBy: []string{"", "3d", "72h"}[s.rng.IntN(3)]})
		s.run.Events["request"]++
	case 2, 3:
		rs := s.requests(n)
		if len(rs) == 0 {
			return nil
		}
		r := rs[s.rng.IntN(len(rs))]
		typ := map[string][]string{"verification": {"vouch", "concern", "unknown", "comment"}, "referral": {"accept", "decline", "comment"},
			"funding": {"pledge", "withdraw", "comment"}, "letter": {"sign", "comment"}}[r.Kind]
		if len(typ) == 0 {
			typ = []string{"comment"}
		}
		t := typ[s.rng.IntN(len(typ))]
		in := node.ResponseInput{Request: r.ID, Type: t, Body: title}
		if t == "pledge" {
			in.Amount, in.Currency = fmt.Sprint(1+s.rng.IntN(5000)), "USD"
		}
		if r.Org == n.Org().String() && s.rng.IntN(3) == 0 {
			e, err = n.CloseRequest(s.ctx, r.ID)
			s.run.Events["close"]++
		} else {
			e, err = n.Respond(s.ctx, in)
			s.run.Events["response"]++
		}
	default:
		regions := []string{"KE", "TZ", "UG", "NI"}[:1+s.rng.IntN(4)]
		e, err = n.SetDirectory(s.ctx, node.DirectoryInput{Regions: &regions})
		s.run.Events["directory"]++
	}
	if err != nil {
		// A refusal (answering a closed request, signing twice): the node
		// said no, as it would to a person. Not a failure of the run.
		var refusal *ident.Refusal
		if errors.As(err, &refusal) || errors.Is(err, node.ErrInput) {
			s.run.Events["refused"]++
			return nil
		}
		return fmt.Errorf("node %d writing: %w", i, err)
	}
	if sn.n == nil {
		return nil // written offline: it travels when the node is started again
	}
	s.gossip(i, e.Raw())
	return nil
}

// gossip offers raw from node i to every other node of its side, each
// copy lost or duplicated as the network is now.
func (s *sim) gossip(i int, raw []byte) {
	for j, sn := range s.nodes {
		if j == i || sn.side != s.nodes[i].side {
			continue
		}
		if s.rng.Float64() < s.drop {
			s.run.Events["message lost"]++
			continue
		}
		s.queue = append(s.queue, simMsg{from: i, to: j, raw: raw})
		if s.rng.Float64() < s.dup {
			s.queue = append(s.queue, simMsg{from: i, to: j, raw: raw})
			s.run.Events["message duplicated"]++
		}
	}
}

// deliver delivers the k-th message in flight (if there is one); a
// message to a stopped node, or across a partition, is lost. An entry a
// node takes in for the first time goes on to the others of its side.
func (s *sim) deliver(k int) error {
	if k >= len(s.queue) {
		return nil
	}
	m := s.queue[k]
	s.queue = slices.Delete(s.queue, k, k+1)
	to, from := s.nodes[m.to], s.nodes[m.from]
	if to.n == nil || to.side != from.side {
		s.run.Events["message lost"]++
		return nil
	}
	before := to.n.Status().Entries
	if _, err := to.n.IngestFromPeer(s.ctx, from.peer, [][]byte{m.raw}); err != nil {
		return fmt.Errorf("node %d taking in a message: %w", m.to, err)
	}
	s.run.Events["message delivered"]++
	if to.n.Status().Entries > before {
		s.gossip(m.to, m.raw) // (GossipSub forwards what it accepts)
	}
	return nil
}

// reconcile runs a reconciliation between nodes i (which starts it) and
// j, with the sync package's sessions, and delivers what each pushes to
// the other; cut, the session's entries arrive only in part.
func (s *sim) reconcile(i, j int, cut bool) error {
	a, b := s.nodes[i], s.nodes[j]
	var toB, toA []crdt.ID
	var serr error
	a.n.WithIndex(func(xa *msync.Index) {
		b.n.WithIndex(func(xb *msync.Index) {
			sides := [2]*msync.Session{msync.NewSession(xa, msync.Options{}), msync.NewSession(xb, msync.Options{})}
			msg, err := sides[0].Start()
			for turn := 1; err == nil && msg != nil; turn = 1 - turn {
				var push []crdt.ID
				msg, push, _, err = sides[turn].Receive(msg)
				if turn == 0 {
					toB = append(toB, push...)
				} else {
					toA = append(toA, push...)
				}
			}
			serr = err
		})
	})
	if serr != nil {
		return fmt.Errorf("reconciling node %d with node %d: %w", i, j, serr)
	}
	s.run.Events["reconciliation"]++
	if cut {
		s.run.Events["reconciliation cut short"]++
		toB = toB[:s.rng.IntN(len(toB)+1)]
		toA = toA[:s.rng.IntN(len(toA)+1)]
	}
	for _, d := range []struct {
		from, to *simNode
		ids      []crdt.ID
	}{{a, b, toB}, {b, a, toA}} {
		if len(d.ids) == 0 {
			continue
		}
		if _, err := d.to.n.IngestFromPeer(s.ctx, d.from.peer, d.from.n.AcceptedEntries(d.ids)); err != nil {
			return fmt.Errorf("reconciling node %d with node %d: %w", i, j, err)
		}
	}
	return nil
}

// requests are the requests n holds, in the order of their titles: drawn
// from the seed, unlike their IDs (the keys that sign them are not), so
// that a replay picks the same ones.
func (s *sim) requests(n *node.Node) []node.RequestSummary {
	rs, err := n.Requests(node.RequestFilter{})
	if err != nil {
		return nil
	}
	slices.SortFunc(rs, func(a, b node.RequestSummary) int { return strings.Compare(a.Title+a.ID, b.Title+b.ID) })
	return rs
}

func (s *sim) open(sn *simNode) (*node.Node, error) {
	n, err := node.Open(s.ctx, sn.dir)
	if err != nil {
		return nil, err
	}
	if err := n.Unlock(nil); err != nil {
		n.Close()
		return nil, err
	}
	n.SetClock(func() time.Time { return s.now.Add(sn.skew) })
	return n, nil
}

func (s *sim) stop(i int) error {
	err := s.nodes[i].n.Close()
	s.nodes[i].n = nil
	return err
}

func (s *sim) start(i int) error {
	n, err := s.open(s.nodes[i])
	if err != nil {
		return fmt.Errorf("starting node %d again: %w", i, err)
	}
	if err := n.LoadPool(s.ctx); err != nil {
		n.Close()
		return err
	}
	s.nodes[i].n = n
	return nil
}
