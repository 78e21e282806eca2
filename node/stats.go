package node

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// Response times, so the network can see silence and fix it. A request is
// answered when another organisation first responds to it (any response,
// a comment included); its time to first response is the gap between the
// request's clock and that response's. A request with a deadline counts
// toward the on-time share once it is decided: answered (on time or not),
// or its deadline passed unanswered. One still within its deadline and
// unanswered is not counted either way yet.

// StatsRow is one kind of request in one region ("" region: none given;
// "*": all regions; kind "*": all kinds).
type StatsRow struct {
	Kind     string `json:"kind"`
	Region   string `json:"region"`
	Requests int    `json:"requests"`
	Answered int    `json:"answered"`
	// Due counts the requests with a deadline that are decided; OnTime
	// those of them answered by the deadline. OnTimeShare is OnTime/Due
	// (null when Due is 0).
	Due         int      `json:"due"`
	OnTime      int      `json:"on_time"`
	OnTimeShare *float64 `json:"on_time_share"`
	// UnansweredOverdue: open, unanswered, past the deadline — the silence.
	UnansweredOverdue int `json:"unanswered_overdue"`
	// MedianFirstResponseHours: over the answered requests (null if
	// none), within 1% (or a minute, below a minute).
	MedianFirstResponseHours *float64 `json:"median_first_response_hours"`

	hist map[int]int // answered ones by time to first response (store.BucketMillis)
}

// Stats is what `murmur stats` prints.
type Stats struct {
	Rows  []StatsRow `json:"rows"`  // per kind and region, by kind then region
	Kinds []StatsRow `json:"kinds"` // per kind, all regions
	Total StatsRow   `json:"total"`
	At    string     `json:"at"` // the time the shares were computed at
}

// Stats computes response statistics over every request this node holds,
// from the totals the store keeps (store.StatsTotals): its cost is the
// number of kinds and regions, not of requests. The first time, on a data
// directory written before the totals were kept, it fills them in
// (buildStats), once.
func (n *Node) Stats(ctx context.Context) (Stats, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.buildStats(ctx); err != nil {
		return Stats{}, err
	}
	now := uint64(n.now().UnixMilli())
	groups, err := n.store.StatsTotals(ctx, now)
	if err != nil {
		return Stats{}, err
	}
	out := Stats{Rows: []StatsRow{}, Kinds: []StatsRow{}, At: formatMillis(now)}
	total := &StatsRow{Kind: "*", Region: "*", hist: map[int]int{}}
	byKind := map[string]*StatsRow{}
	var kinds []string
	for _, g := range groups {
		kind := g.Kind.String()
		row := &StatsRow{Kind: kind, Region: g.Region, hist: map[int]int{}}
		if byKind[kind] == nil {
			byKind[kind] = &StatsRow{Kind: kind, Region: "*", hist: map[int]int{}}
			kinds = append(kinds, kind)
		}
		for _, r := range []*StatsRow{row, byKind[kind], total} {
			r.add(g)
		}
		out.Rows = append(out.Rows, row.finish())
	}
	for _, k := range kinds {
		out.Kinds = append(out.Kinds, byKind[k].finish())
	}
	order := func(a, b StatsRow) int {
		if c := kindOrder(a.Kind) - kindOrder(b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	}
	slices.SortFunc(out.Rows, order)
	slices.SortFunc(out.Kinds, order)
	out.Total = total.finish()
	return out, nil
}

// add counts the requests of g in r.
func (r *StatsRow) add(g store.StatsGroup) {
	r.Requests += g.Requests
	r.Answered += g.Answered
	r.Due += g.DueAnswered + g.PastDue
	r.OnTime += g.OnTime
	r.UnansweredOverdue += g.PastDueOpen
	for b, k := range g.Hist {
		r.hist[b] += k
	}
}

// statsBuildPage is how many requests buildStats reads in one write.
const statsBuildPage = 1024

// buildStats fills in the statistics' inputs of every request, unless the
// store has them all (store.StatsBuilt): once, on a data directory written
// before they were kept. A page of requests at a time, each in one write
// with the state brought up to what the store holds, so that another
// process's writes meanwhile (which store the inputs of the requests they
// change) are neither lost nor overwritten with older ones. The caller
// holds n.mu.
func (n *Node) buildStats(ctx context.Context) error {
	built, err := n.store.StatsBuilt(ctx)
	if err != nil || built {
		return err
	}
	var after *crdt.Cursor
	for first := true; ; first = false {
		done := false
		err := n.atomically(ctx, func() error {
			b := store.Batch{StatsReset: first}
			_, next := n.state.RequestPageOf(0, false, after, statsBuildPage, func(id crdt.ID, _ crdt.Clock, _ crdt.OrgID, _ *crdt.Request) bool {
				if st, ok := n.state.RequestStat(id); ok {
					b.Stats = append(b.Stats, st)
				}
				return false
			})
			if err := n.state.Err(); err != nil {
				return err
			}
			after, done = next, next == nil
			b.StatsBuilt = done
			n.tx.batch.Add(b)
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

func kindOrder(k string) int {
	if t, ok := crdt.ParseRequestType(k); ok {
		return int(t)
	}
	return 1 << 20
}

func (r *StatsRow) finish() StatsRow {
	if r.Due > 0 {
		s := float64(r.OnTime) / float64(r.Due)
		r.OnTimeShare = &s
	}
	if r.Answered > 0 {
		// The median of the histogram: the middle one's bucket, or the
		// mean of the two middle ones'.
		buckets := slices.Sorted(maps.Keys(r.hist))
		at := func(rank int) float64 {
			for _, b := range buckets {
				if rank < r.hist[b] {
					return store.BucketMillis(b)
				}
				rank -= r.hist[b]
			}
			return 0
		}
		med := (at((r.Answered-1)/2) + at(r.Answered/2)) / 2
		h := med / float64(time.Hour/time.Millisecond)
		r.MedianFirstResponseHours = &h
	}
	return *r
}
