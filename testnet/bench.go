package testnet

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"time"

	"github.com/murmurnet/murmur/crdt"
	msync "github.com/murmurnet/murmur/sync"
)

// Bench measures, on in-process networks of 20 nodes, how long a healed
// partition takes to converge and how fast a new entry reaches every node,
// and prints the results with their units. It is not part of `make test`;
// the bench command (or `murmur-testnet -bench`) calls it.
func Bench(ctx context.Context, w io.Writer) error {
	conv, err := MeasureConvergence(ctx, 20, 1000, 1)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "testnet convergence: %d nodes in process, partitioned in two halves, %d entries written on each side, then healed\n", conv.Nodes, conv.PerSide)
	fmt.Fprintf(w, "  %-44s %10.1f ms   (%d entries on every node; %d bytes sent after the heal)\n", "heal → identical digests on all nodes", ms(conv.Took), conv.Entries, conv.BytesAfterHeal)
	lat, err := MeasureLatency(ctx, 20, 200, 50*time.Millisecond, 1)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "testnet live propagation: %d nodes in process, %d entries written one at a time (one every %v) on random nodes\n", lat.Nodes, lat.Entries, lat.Every)
	fmt.Fprintf(w, "  %-44s p50 %7.1f ms   p99 %7.1f ms   max %7.1f ms\n", "write → held by all nodes", ms(lat.P50), ms(lat.P99), ms(lat.Max))
	return nil
}

// ConvergenceResult is one MeasureConvergence.
type ConvergenceResult struct {
	Nodes, PerSide int
	Entries        int           // on every node at the end
	Took           time.Duration // from the heal to identical digests everywhere
	BytesAfterHeal int64         // sent by all nodes between the heal and convergence
}

// MeasureConvergence partitions an in-process network of nodes into two
// halves, writes perSide entries on each side (spread over the side's
// nodes, pre-signed and ingested: volume, not the write path, is the
// point), lets each side settle, heals, and times the convergence.
func MeasureConvergence(ctx context.Context, nodes, perSide int, seed uint64) (ConvergenceResult, error) {
	res := ConvergenceResult{Nodes: nodes, PerSide: perSide}
	opt := Options{SettleTimeout: 2 * time.Minute}
	opt.defaults()
	d := &InProcess{}
	defer d.Close()
	if err := d.Start(ctx, nodes, seed, true); err != nil {
		return res, err
	}
	all := make([]int, nodes)
	for i := range all {
		all[i] = i
	}
	if err := mustAgree(ctx, d, [][]int{all}, opt, "the network settles"); err != nil {
		return res, err
	}
	sides := [][]int{all[:nodes/2], all[nodes/2:]}
	if err := d.Partition(ctx, sides); err != nil {
		return res, err
	}
	for _, side := range sides {
		for k, x := range side {
			count := perSide / len(side)
			if k < perSide%len(side) {
				count++
			}
			if err := d.Bulk(ctx, x, count); err != nil {
				return res, err
			}
		}
	}
	if err := mustAgree(ctx, d, sides, opt, "each side settles"); err != nil {
		return res, err
	}
	before, err := d.Observe(ctx, all)
	if err != nil {
		return res, err
	}
	healed := time.Now()
	if err := d.Heal(ctx); err != nil {
		return res, err
	}
	took, ok, err := waitAgreeSince(ctx, d, [][]int{all}, healed, Options{SettleTimeout: opt.SettleTimeout, PollEvery: 5 * time.Millisecond})
	if err != nil {
		return res, err
	}
	if !ok {
		return res, fmt.Errorf("testnet: %d nodes did not converge within %v of the heal", nodes, opt.SettleTimeout)
	}
	after, err := d.Observe(ctx, all)
	if err != nil {
		return res, err
	}
	res.Took, res.Entries = took, after[0].Entries
	if want := 3*nodes + 1 + 2*perSide; res.Entries != want { // genesis and admissions, bulk writers, organisation keys, the secret's check, the writes
		return res, fmt.Errorf("testnet: converged on %d entries, want %d", res.Entries, want)
	}
	for k := range after {
		res.BytesAfterHeal += after[k].SyncSent + after[k].GossipSent - before[k].SyncSent - before[k].GossipSent
	}
	return res, d.Close()
}

func mustAgree(ctx context.Context, d Driver, groups [][]int, opt Options, what string) error {
	_, ok, err := waitAgree(ctx, d, groups, opt)
	if err == nil && !ok {
		err = fmt.Errorf("testnet: %s: not within %v", what, opt.SettleTimeout)
	}
	return err
}

// LatencyResult is one MeasureLatency.
type LatencyResult struct {
	Nodes, Entries int
	Every          time.Duration // between writes
	P50, P99, Max  time.Duration // from the write to every node holding the entry
}

// MeasureLatency connects an in-process network of nodes, lets it settle
// past gossip's warm-up, then writes entries one at a time, every so
// often, on nodes chosen by seed, and measures for each the time from the
// start of the write until every node holds it. Nodes reconcile every 30 s,
// the product's default, so the times are the live path's (a message it
// loses shows as a long tail, as it would in use).
func MeasureLatency(ctx context.Context, nodes, entries int, every time.Duration, seed uint64) (LatencyResult, error) {
	res := LatencyResult{Nodes: nodes, Entries: entries, Every: every}
	opt := Options{SettleTimeout: 2 * time.Minute}
	opt.defaults()
	d := &InProcess{SyncEvery: 30 * time.Second}
	defer d.Close()
	if err := d.Start(ctx, nodes, seed, false); err != nil {
		return res, err
	}
	all := make([]int, nodes)
	for i := range all {
		all[i] = i
	}
	if err := mustAgree(ctx, d, [][]int{all}, opt, "the network settles"); err != nil {
		return res, err
	}
	// GossipSub may drop what is published just after peers meet: measure
	// the live path once it is warm, as it is in use.
	warm := time.NewTimer(msync.GossipWarmUp + time.Second)
	select {
	case <-ctx.Done():
		warm.Stop()
		return res, ctx.Err()
	case <-warm.C:
	}

	type inFlight struct {
		id   crdt.ID
		at   time.Time
		have []bool
		left int
	}
	var (
		mu        gosync.Mutex
		pending   []*inFlight
		latencies []time.Duration
	)
	// The watcher checks pending entries every millisecond with Node.Has,
	// a map lookup, so watching does not slow the nodes it watches.
	stop := make(chan struct{})
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			pending = slices.DeleteFunc(pending, func(p *inFlight) bool {
				for i, m := range d.nodes {
					if !p.have[i] && m.n.Has(p.id) {
						p.have[i] = true
						p.left--
					}
				}
				if p.left == 0 {
					latencies = append(latencies, time.Since(p.at))
					return true
				}
				return false
			})
			mu.Unlock()
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	r := rand.New(rand.NewPCG(seed, 0x6c6174)) // "lat"
	pace := time.NewTicker(every)
	defer pace.Stop()
	for range entries {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-pace.C:
		}
		at := time.Now()
		es, err := d.write(ctx, r.IntN(nodes), 1)
		if err != nil {
			return res, err
		}
		mu.Lock()
		pending = append(pending, &inFlight{id: es[0].ID(), at: at, have: make([]bool, nodes), left: nodes})
		mu.Unlock()
	}
	deadline := time.Now().Add(opt.SettleTimeout)
	for {
		mu.Lock()
		n := len(latencies)
		mu.Unlock()
		if n == entries {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("testnet: %d of %d entries reached every node within %v", n, entries, opt.SettleTimeout)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-pace.C:
		}
	}
	mu.Lock()
	slices.Sort(latencies)
	res.P50, res.P99, res.Max = percentile(latencies, 0.50), percentile(latencies, 0.99), latencies[len(latencies)-1]
	mu.Unlock()
	return res, nil
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	k := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}
