package testnet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Driver realises a scenario's steps on some kind of network. Node numbers
// are 0..nodes-1; Run calls the methods from one goroutine, only in orders
// Scenario.Validate allows.
type Driver interface {
	// Mode names the driver in reports.
	Mode() string
	// Start founds a network of nodes organisations (node 0 founds it and
	// admits the others; with bulk, also one bulk writer organisation per
	// node), starts every node and connects them all.
	Start(ctx context.Context, nodes int, seed uint64, bulk bool) error
	Write(ctx context.Context, node, count int) error
	Bulk(ctx context.Context, node, count int) error
	// Partition leaves only nodes of the same group able to reach each
	// other; Heal lets every node reach every other.
	Partition(ctx context.Context, groups [][]int) error
	Heal(ctx context.Context) error
	Kill(ctx context.Context, node int) error
	Restart(ctx context.Context, node int) error
	// Drop sets the fraction of live-path messages receivers drop; ok is
	// false if the driver cannot.
	Drop(ctx context.Context, fraction float64) (ok bool, err error)
	// Duplicate delivers count entries node holds again, to node and the
	// running nodes of its side, and returns how many deliveries were
	// recognised as duplicates.
	Duplicate(ctx context.Context, node, count int, side []int) (int, error)
	// Observe reads the state of the given running nodes.
	Observe(ctx context.Context, nodes []int) ([]Observation, error)
	// Close stops every node and releases everything Start made. It is
	// safe to call twice, and after a failed Start.
	Close() error
}

// Observation is one node's state as read by a driver.
type Observation struct {
	Node    int
	Org     string // organisation ID
	Peer    string // libp2p peer ID
	Entries int    // accepted entries
	Digest  string // hex
	Peers   int    // connected peers
	PeerIDs []string
	Secret  bool // holds the network secret (bundles are sealed under it)
	// Bytes this node sent since the network started, over all its runs:
	// reconciliation streams and gossip RPCs.
	SyncSent, GossipSent int64
}

// Options tune Run.
type Options struct {
	// SettleTimeout bounds the initial settling, each Wait step and the
	// final convergence; default 60 s.
	SettleTimeout time.Duration
	// PollEvery is how often agreement is checked; default 50 ms.
	PollEvery time.Duration
	// Logf receives one line per step; nil discards them.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.SettleTimeout == 0 {
		o.SettleTimeout = time.Minute
	}
	if o.PollEvery == 0 {
		o.PollEvery = 50 * time.Millisecond
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Run plays sc on d, which it starts but does not close, and reports the
// outcome. An error means the harness could not do its work (a process
// would not start); a network that does not converge is a report whose
// verdict fails.
func Run(ctx context.Context, d Driver, sc Scenario, opt Options) (*Report, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	opt.defaults()
	t0 := time.Now()
	name := sc.Name
	if name == "" {
		name = "default"
	}
	rep := &Report{Scenario: name, Mode: d.Mode(), Nodes: sc.Nodes, Seed: sc.Seed}
	drv := d // what Run observes through: with Isolated, every look is checked
	var watch *watched
	if sc.Isolated {
		watch = &watched{Driver: d}
		drv = watch
	}
	var courier *carrier
	defer func() {
		if courier != nil {
			courier.close()
		}
	}()
	// event records step k (0: the start) as it happened, and logs it.
	event := func(k int, what string, began time.Time, note string) {
		ev := Event{Step: k, What: what, AtMillis: ms(began.Sub(t0)), TookMillis: ms(time.Since(began)), Note: note}
		rep.Events = append(rep.Events, ev)
		label := what
		if k > 0 {
			label = fmt.Sprintf("%2d %s", k, what)
		}
		line := fmt.Sprintf("%8.3fs  %-30s %8.3fs", began.Sub(t0).Seconds(), label, time.Since(began).Seconds())
		if note != "" {
			line += "  " + note
		}
		opt.Logf("%s", line)
	}

	began := time.Now()
	if err := d.Start(ctx, sc.Nodes, sc.Seed, sc.usesBulk()); err != nil {
		return nil, err
	}
	all := make([]int, sc.Nodes)
	for i := range all {
		all[i] = i
	}
	// Genesis, one admission per organisation, one per bulk writer, each
	// node's organisation key (published once it knows it is admitted), and
	// the founder's secret check.
	rep.Expected = 2*sc.Nodes + 1
	if sc.usesBulk() {
		rep.Expected += sc.Nodes
	}
	// Every node must hold the admissions before anyone writes: a device
	// writes only once it knows it is a member.
	if _, ok, err := waitAgree(ctx, drv, [][]int{all}, opt); err != nil {
		return nil, err
	} else if !ok {
		rep.Failures = append(rep.Failures, fmt.Sprintf("the network did not settle within %v of starting", opt.SettleTimeout))
		rep.ConvergedFrom = "the start"
		event(0, "start", began, "did not settle")
		return finish(ctx, d, drv, rep, all, t0, time.Now(), opt)
	}
	event(0, "start and settle", began, fmt.Sprintf("%d nodes, %d entries each", sc.Nodes, rep.Expected))
	if sc.usesCourier() {
		c, ok := d.(Courier)
		if !ok {
			return nil, errNoCourier
		}
		// Every node must hold the network secret before any region is
		// cut off: it comes only from a member's node, over the network,
		// and no bundle can be read or written without it.
		began := time.Now()
		obs, ok, err := waitSecret(ctx, d, all, opt)
		if err != nil {
			return nil, err
		}
		if !ok {
			rep.Failures = append(rep.Failures, fmt.Sprintf("not every node received the network secret within %v of settling", opt.SettleTimeout))
			rep.ConvergedFrom = "the start"
			return finish(ctx, d, drv, rep, all, t0, time.Now(), opt)
		}
		event(0, "every node holds the secret", began, "")
		orgs := map[int]string{}
		for _, o := range obs {
			orgs[o.Node] = o.Org
		}
		if courier, err = newCarrier(c, sc.Seed, orgs); err != nil {
			return nil, err
		}
	}
	if watch != nil {
		obs, err := d.Observe(ctx, all)
		if err != nil {
			return nil, err
		}
		watch.peerOf = map[string]int{}
		for _, o := range obs {
			watch.peerOf[o.Peer] = o.Node
		}
	}

	groups := [][]int{all}
	up := make([]bool, sc.Nodes)
	for i := range up {
		up[i] = true
	}
	wroteSince := map[int]bool{} // nodes written at since the last partition
	lastHeal := time.Time{}
	for i, s := range sc.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		began := time.Now()
		what := s.String()
		note := ""
		if watch != nil {
			watch.step = i + 1
		}
		var err error
		switch s.Kind {
		case StepWrite:
			err = d.Write(ctx, s.Node, s.Count)
			rep.Expected += s.Count
			wroteSince[s.Node] = true
		case StepBulk:
			err = d.Bulk(ctx, s.Node, s.Count)
			rep.Expected += s.Count
			wroteSince[s.Node] = true
		case StepPartition:
			groups = s.Groups
			clear(wroteSince)
			err = d.Partition(ctx, s.Groups)
			if watch != nil {
				watch.groups = groups // from now on, no link across
			}
		case StepHeal:
			groups = [][]int{all}
			err = d.Heal(ctx)
			// Convergence is timed from when the heal is in place: for
			// processes, once the restarted side listens again.
			lastHeal = time.Now()
		case StepKill:
			up[s.Node] = false
			err = d.Kill(ctx, s.Node)
		case StepRestart:
			up[s.Node] = true
			err = d.Restart(ctx, s.Node)
		case StepDrop:
			var ok bool
			if ok, err = d.Drop(ctx, s.Fraction); err == nil && !ok {
				note = "skipped: " + d.Mode() + " cannot drop live-path messages (in-process only)"
				rep.Notes = append(rep.Notes, fmt.Sprintf("step %d %v %s", i+1, s, note))
			}
		case StepDuplicate:
			var dups int
			side := running(sideOf(groups, s.Node), up)
			if dups, err = d.Duplicate(ctx, s.Node, s.Count, side); err == nil {
				note = fmt.Sprintf("%d deliveries recognised as duplicates", dups)
			}
		case StepWait:
			live := make([][]int, 0, len(groups))
			for _, g := range groups {
				if r := running(g, up); len(r) > 0 {
					live = append(live, r)
				}
			}
			var took time.Duration
			var ok bool
			if took, ok, err = waitAgree(ctx, drv, live, opt); err == nil {
				if !ok {
					rep.Failures = append(rep.Failures, fmt.Sprintf("step %d %v: the sides did not each agree within %v", i+1, s, opt.SettleTimeout))
					note = "did not settle"
				} else {
					note = fmt.Sprintf("settled in %v", took.Round(time.Millisecond))
					if leak, err2 := partitionLeaked(ctx, drv, live, wroteSince); err2 != nil {
						err = err2
					} else if leak != "" {
						rep.Failures = append(rep.Failures, fmt.Sprintf("step %d: %s", i+1, leak))
						note += "; " + leak
					}
				}
			}
		case StepExchange:
			var carried []Carried
			var failures []string
			carried, failures, err = courier.exchange(ctx, i+1, s)
			rep.Carried = append(rep.Carried, carried...)
			rep.Failures = append(rep.Failures, failures...)
			note = tripNote(carried)
		case StepReplay:
			var c *Carried
			var failure string
			if c, failure, err = courier.replay(ctx, i+1, s.Count); err == nil {
				if c == nil {
					note = "no bundle has arrived yet: nothing to replay"
				} else {
					rep.Carried = append(rep.Carried, *c)
					note = fmt.Sprintf("node %d: %d new, %d held, %d refused", c.To, c.New, c.Held, c.Refused)
				}
				if failure != "" {
					rep.Failures = append(rep.Failures, failure)
				}
			}
		}
		if err == nil && watch != nil && watch.groups != nil {
			_, err = drv.Observe(ctx, running(all, up)) // a look after every step, for the cut
		}
		if err != nil {
			event(i+1, what, began, "error: "+err.Error())
			return nil, fmt.Errorf("testnet: step %d, %v: %w", i+1, s, err)
		}
		event(i+1, what, began, note)
	}
	from := lastHeal
	rep.ConvergedFrom = "the last heal"
	if from.IsZero() { // no heal: time the convergence from the last step
		from = time.Now()
		rep.ConvergedFrom = "the last step"
	}
	return finish(ctx, d, drv, rep, all, t0, from, opt)
}

// finish waits for every node to agree, reads them (through drv), and
// writes the verdict.
func finish(ctx context.Context, d, drv Driver, rep *Report, all []int, t0, from time.Time, opt Options) (*Report, error) {
	took, ok, err := waitAgreeSince(ctx, drv, [][]int{all}, from, opt)
	if err != nil {
		return nil, err
	}
	if ok {
		rep.Converged = true
		rep.ConvergedMillis = ms(took)
	}
	if f, ok := d.(interface {
		freshTraffic(context.Context, []int) error
	}); ok { // processes report their traffic every second: wait for this second's
		if err := f.freshTraffic(ctx, all); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("bytes sent may lag by up to a second: %v", err))
		}
	}
	obs, err := drv.Observe(ctx, all)
	if err != nil {
		return nil, err
	}
	rep.fill(obs)
	if w, ok := drv.(*watched); ok {
		rep.Looks = w.looks
		rep.Failures = append(rep.Failures, w.crossed...)
	}
	rep.ElapsedMillis = ms(time.Since(t0))
	rep.judge()
	return rep, nil
}

// waitAgree polls until the nodes of each group agree among themselves.
func waitAgree(ctx context.Context, d Driver, groups [][]int, opt Options) (time.Duration, bool, error) {
	return waitAgreeSince(ctx, d, groups, time.Now(), opt)
}

// waitAgreeSince is waitAgree with the deadline counted from start. The
// time it returns runs to the end of the read that found agreement: an
// upper bound, within one poll (with processes a read runs `murmur
// status` on every node, which takes tens of milliseconds itself).
func waitAgreeSince(ctx context.Context, d Driver, groups [][]int, start time.Time, opt Options) (time.Duration, bool, error) {
	var nodes []int
	for _, g := range groups {
		nodes = append(nodes, g...)
	}
	tick := time.NewTicker(opt.PollEvery)
	defer tick.Stop()
	deadline := start.Add(opt.SettleTimeout)
	for {
		obs, err := d.Observe(ctx, nodes)
		if err != nil {
			return 0, false, err
		}
		if agree(obs, groups) {
			return time.Since(start), true, nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), false, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-tick.C:
		}
	}
}

// waitSecret polls until every node holds the network secret, and returns
// the last observation.
func waitSecret(ctx context.Context, d Driver, nodes []int, opt Options) ([]Observation, bool, error) {
	tick := time.NewTicker(opt.PollEvery)
	defer tick.Stop()
	deadline := time.Now().Add(opt.SettleTimeout)
	for {
		obs, err := d.Observe(ctx, nodes)
		if err != nil {
			return nil, false, err
		}
		if !slices.ContainsFunc(obs, func(o Observation) bool { return !o.Secret }) {
			return obs, true, nil
		}
		if time.Now().After(deadline) {
			return obs, false, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-tick.C:
		}
	}
}

// agree: within each group, the same digest and entry count.
func agree(obs []Observation, groups [][]int) bool {
	by := map[int]Observation{}
	for _, o := range obs {
		by[o.Node] = o
	}
	for _, g := range groups {
		for _, x := range g[1:] {
			if by[x].Digest != by[g[0]].Digest || by[x].Entries != by[g[0]].Entries {
				return false
			}
		}
	}
	return true
}

// partitionLeaked says if two sides that each wrote since the partition
// nonetheless agree: entries crossed a partition that should hold them.
func partitionLeaked(ctx context.Context, d Driver, groups [][]int, wrote map[int]bool) (string, error) {
	var firsts []int
	for _, g := range groups {
		if slices.ContainsFunc(g, func(x int) bool { return wrote[x] }) {
			firsts = append(firsts, g[0])
		}
	}
	if len(firsts) < 2 {
		return "", nil
	}
	obs, err := d.Observe(ctx, firsts)
	if err != nil {
		return "", err
	}
	seen := map[string]int{}
	for _, o := range obs {
		if other, ok := seen[o.Digest]; ok {
			return fmt.Sprintf("nodes %d and %d agree across the partition", other, o.Node), nil
		}
		seen[o.Digest] = o.Node
	}
	return "", nil
}

func sideOf(groups [][]int, node int) []int {
	for _, g := range groups {
		if slices.Contains(g, node) {
			return g
		}
	}
	return []int{node}
}

func running(g []int, up []bool) []int {
	var out []int
	for _, x := range g {
		if up[x] {
			out = append(out, x)
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// errNotStarted is returned by a driver used before Start.
var errNotStarted = errors.New("testnet: the driver has not started")

// watched is a driver whose every observation is checked for connections
// across the groups of the current partition (nil: none yet).
type watched struct {
	Driver
	groups  [][]int
	peerOf  map[string]int
	step    int      // the step being played, for the failures
	looks   int      // observations checked
	crossed []string // each crossing seen, once
}

func (w *watched) Observe(ctx context.Context, nodes []int) ([]Observation, error) {
	obs, err := w.Driver.Observe(ctx, nodes)
	if err != nil || w.groups == nil {
		return obs, err
	}
	w.looks++
	for _, c := range crossings(obs, w.groups, w.peerOf) {
		c = fmt.Sprintf("step %d: %s", w.step, c)
		if !slices.Contains(w.crossed, c) {
			w.crossed = append(w.crossed, c)
		}
	}
	return obs, nil
}

// tripNote sums up a trip for the step's log line.
func tripNote(carried []Carried) string {
	var parts []string
	for _, c := range carried {
		if c.Lost {
			parts = append(parts, fmt.Sprintf("leg %d: the courier with the %s never arrived", c.Leg, c.What))
			continue
		}
		if c.What == "summary" {
			parts = append(parts, fmt.Sprintf("leg 1: summary %d B", c.Bytes))
			continue
		}
		parts = append(parts, fmt.Sprintf("leg %d: %d entries, %d B in %d file(s), %d new", c.Leg, c.Entries, c.Bytes, c.Parts, c.New))
	}
	return strings.Join(parts, "; ")
}
