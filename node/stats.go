package node

import (
	"slices"
	"strings"
	"time"

	"github.com/murmurnet/murmur/crdt"
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
	// MedianFirstResponseHours: over the answered requests (null if none).
	MedianFirstResponseHours *float64 `json:"median_first_response_hours"`

	firsts []uint64 // ms to first response, of the answered ones
}

// Stats is what `murmur stats` prints.
type Stats struct {
	Rows  []StatsRow `json:"rows"`  // per kind and region, by kind then region
	Kinds []StatsRow `json:"kinds"` // per kind, all regions
	Total StatsRow   `json:"total"`
	At    string     `json:"at"` // the time the shares were computed at
}

// Stats computes response statistics over every request this node holds.
// (It reads them all: the one command whose cost grows with the log.)
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := uint64(n.now().UnixMilli())
	rows := map[[2]string]*StatsRow{}
	total := &StatsRow{Kind: "*", Region: "*"}
	get := func(m map[[2]string]*StatsRow, kind, region string) *StatsRow {
		k := [2]string{kind, region}
		if m[k] == nil {
			m[k] = &StatsRow{Kind: kind, Region: region}
		}
		return m[k]
	}
	byKind := map[[2]string]*StatsRow{}
	// A page of requests at a time: the time is the number of requests
	// (each read, with its responses: no view of it is built), the memory
	// one page and a duration per answered request. The open ones are
	// told from the closed by the index of the open.
	open := map[crdt.ID]bool{}
	n.eachRequest(0, true, func(id crdt.ID, _ crdt.Clock, _ crdt.OrgID, _ *crdt.Request) bool {
		open[id] = true
		return false
	}, func(crdt.RequestView) bool { return true })
	n.eachRequest(0, false, func(id crdt.ID, clock crdt.Clock, _ crdt.OrgID, req *crdt.Request) bool {
		if req == nil {
			return false
		}
		kind := req.Type.String()
		at, answered := n.state.FirstAnswer(id)
		first := at.Millis()
		created := clock.Millis()
		for _, row := range []*StatsRow{get(rows, kind, req.Region), get(byKind, kind, "*"), total} {
			row.Requests++
			if answered {
				row.Answered++
				row.firsts = append(row.firsts, first-min(first, created))
			}
			if req.RespondBy == 0 {
				continue
			}
			switch {
			case answered:
				row.Due++
				if first <= req.RespondBy {
					row.OnTime++
				}
			case now > req.RespondBy:
				row.Due++
				if open[id] {
					row.UnansweredOverdue++
				}
			}
		}
		return false
	}, func(crdt.RequestView) bool { return true })
	out := Stats{Rows: []StatsRow{}, Kinds: []StatsRow{}, At: formatMillis(now)}
	for _, r := range rows {
		out.Rows = append(out.Rows, r.finish())
	}
	for _, r := range byKind {
		out.Kinds = append(out.Kinds, r.finish())
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
	return out
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
	if len(r.firsts) > 0 {
		slices.Sort(r.firsts)
		m := len(r.firsts) / 2
		med := float64(r.firsts[m])
		if len(r.firsts)%2 == 0 {
			med = (float64(r.firsts[m-1]) + float64(r.firsts[m])) / 2
		}
		h := med / float64(time.Hour/time.Millisecond)
		r.MedianFirstResponseHours = &h
	}
	return *r
}
