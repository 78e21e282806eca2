package node

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// statsByWalk is the statistics as the node computed them before the
// store kept totals: every request read, with its answers walked afresh
// (State.RequestStat), summed here. The test's oracle.
func statsByWalk(t *testing.T, n *Node) map[string]StatsRow {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	now := uint64(n.now().UnixMilli())
	rows := map[string]*StatsRow{}
	get := func(kind, region string) *StatsRow {
		k := kind + "/" + region
		if rows[k] == nil {
			rows[k] = &StatsRow{Kind: kind, Region: region}
		}
		return rows[k]
	}
	get("*", "*") // (the total is there, even of nothing)
	firsts := map[*StatsRow][]float64{}
	for _, rv := range n.state.RequestPage(0, false, nil, 1<<20) {
		req := rv.Request
		if req == nil {
			continue
		}
		kind := req.Type.String()
		st, _ := n.state.RequestStat(rv.ID) // (the rule, computed afresh)
		answered := st.Answered
		first, created := st.First.Millis(), rv.Clock.Millis()
		for _, row := range []*StatsRow{get(kind, req.Region), get(kind, "*"), get("*", "*")} {
			row.Requests++
			if answered {
				row.Answered++
				firsts[row] = append(firsts[row], float64(first-min(first, created)))
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
				if !rv.Closed {
					row.UnansweredOverdue++
				}
			}
		}
	}
	out := map[string]StatsRow{}
	for k, r := range rows {
		if f := firsts[r]; len(f) > 0 {
			slices.Sort(f)
			m := (f[(len(f)-1)/2] + f[len(f)/2]) / 2 / float64(time.Hour/time.Millisecond)
			r.MedianFirstResponseHours = &m
		}
		out[k] = *r
	}
	return out
}

// sameStats fails unless the statistics the node gives are the oracle's:
// the counts exactly, the medians within 1% (or a minute).
func sameStats(t *testing.T, n *Node, stage string) Stats {
	t.Helper()
	got, err := n.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := statsByWalk(t, n)
	all := append(append(slices.Clone(got.Rows), got.Kinds...), got.Total)
	if len(all) != len(want) {
		t.Fatalf("%s: %d rows, want %d", stage, len(all), len(want))
	}
	for _, r := range all {
		w, ok := want[r.Kind+"/"+r.Region]
		if !ok {
			t.Fatalf("%s: a row %s/%s the oracle has not", stage, r.Kind, r.Region)
		}
		if r.Requests != w.Requests || r.Answered != w.Answered || r.Due != w.Due || r.OnTime != w.OnTime || r.UnansweredOverdue != w.UnansweredOverdue {
			t.Fatalf("%s: row %s/%s:\n got %+v\nwant %+v", stage, r.Kind, r.Region, r, w)
		}
		switch gm, wm := r.MedianFirstResponseHours, w.MedianFirstResponseHours; {
		case (gm == nil) != (wm == nil):
			t.Fatalf("%s: row %s/%s: median %v, want %v", stage, r.Kind, r.Region, gm, wm)
		case gm != nil && math.Abs(*gm-*wm) > 0.011**wm+1.0/60:
			t.Fatalf("%s: row %s/%s: median %.4f h, want %.4f h", stage, r.Kind, r.Region, *gm, *wm)
		}
	}
	return got
}

// TestStatsAreTheWalksTotals: the statistics, read from the totals the
// store keeps as entries arrive, are those a walk of every request and
// its answers gives: answers from the requester's own organisation left
// out, an earlier answer that arrives later taking the place of the
// first, deadlines passing, a close, a redaction, and after the totals
// are thrown away and filled in again.
func TestStatsAreTheWalksTotals(t *testing.T) {
	ForEachStore(t, testStatsAreTheWalksTotals)
}

func testStatsAreTheWalksTotals(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b := apart(t, kind)
	exchange(t, a, b)
	start := time.Now()
	at := func(n *Node, d time.Duration) { n.SetClock(func() time.Time { return start.Add(d) }) }
	at(a, 0)
	at(b, 0)
	if st := sameStats(t, a, "empty"); st.Total.Requests != 0 {
		t.Fatalf("stats of no request: %+v", st.Total)
	}
	var ids []string
	for i, in := range []RequestInput{
		{Kind: "verification", Title: "Verify the lawyer", Region: "TZ", RespondBy: "24h"},
		{Kind: "verification", Title: "Verify the journalist", Region: "KE", RespondBy: "2h"},
		{Kind: "referral", Title: "Needs a doctor", Region: "TZ"},
		{Kind: "letter", Title: "Joint statement", RespondBy: "48h"},
		{Kind: "alert", Title: "Office raided", Region: "TZ"},
		{Kind: "verification", Title: "Verify the driver", Region: "TZ", RespondBy: "1h"},
	} {
		at(a, time.Duration(i)*time.Minute)
		e, err := a.NewRequest(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID().String())
	}
	sameStats(t, a, "requests alone")
	// The requester's own comment is no answer.
	if _, err := a.Respond(ctx, ResponseInput{Request: ids[0], Type: "comment", Body: "Any news?"}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	respond := func(n *Node, after time.Duration, id, typ string) {
		t.Helper()
		at(n, after)
		if _, err := n.Respond(ctx, ResponseInput{Request: id, Type: typ, Body: "seen"}); err != nil {
			t.Fatal(err)
		}
	}
	respond(b, 3*time.Hour, ids[0], "vouch")
	respond(b, 30*time.Minute, ids[2], "comment")
	respond(b, 50*time.Hour, ids[3], "comment") // after the letter's deadline
	exchange(t, a, b)
	sameStats(t, a, "first answers")
	// An earlier answer that reaches a later: it is the first.
	c, err := Provision(ctx, kind.Dir(t), ProvisionOptions{Genesis: a.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	at(a, 4*time.Hour)
	if _, err := a.Append(ctx, &crdt.Admission{Device: c.Device(), Name: "Gamma"}); err != nil {
		t.Fatal(err)
	}
	shareSecret(t, a, c)
	exchange(t, a, c)
	at(c, 90*time.Minute) // (its clock is behind: it answers "earlier")
	if _, err := c.Respond(ctx, ResponseInput{Request: ids[0], Type: "concern", Body: "we know him"}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, c)
	sameStats(t, a, "an earlier answer arrives later")
	// Deadlines pass; one overdue request is closed.
	at(a, 72*time.Hour)
	st := sameStats(t, a, "deadlines passed")
	if st.Total.UnansweredOverdue != 2 {
		t.Fatalf("%d unanswered and overdue, want 2 (the journalist, the driver)", st.Total.UnansweredOverdue)
	}
	if _, err := a.CloseRequest(ctx, ids[5]); err != nil {
		t.Fatal(err)
	}
	if st := sameStats(t, a, "an overdue request closed"); st.Total.UnansweredOverdue != 1 {
		t.Fatalf("%d unanswered and overdue after the close, want 1", st.Total.UnansweredOverdue)
	}
	// A redacted request (what its redaction keeps of it counts).
	if _, err := a.Redact(ctx, ids[1], "posted by mistake"); err != nil {
		t.Fatal(err)
	}
	sameStats(t, a, "a request redacted")
	// Many answers: the median moves with them.
	for i := range 20 {
		at(a, 80*time.Hour+time.Duration(i)*time.Minute)
		e, err := a.NewRequest(ctx, RequestInput{Kind: "funding", Title: fmt.Sprint("Relocation ", i), Amount: "100", Currency: "EUR", Region: "GT"})
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, a, b)
		respond(b, 80*time.Hour+time.Duration(i*i)*time.Minute+time.Hour, e.ID().String(), "comment")
	}
	exchange(t, a, b)
	sameStats(t, a, "twenty funding requests answered")
	sameStats(t, b, "the same, on the other node")
	// Thrown away and filled in again (as on a directory written before
	// they were kept), the totals are the same.
	before, err := a.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Update(ctx, func(store.Mark) (store.Batch, error) { return store.Batch{StatsReset: true}, nil }); err != nil {
		t.Fatal(err)
	}
	if built, err := a.store.StatsBuilt(ctx); err != nil || built {
		t.Fatalf("built %v after a reset (%v)", built, err)
	}
	after := sameStats(t, a, "filled in again")
	if g, w := must(json.Marshal(after)), must(json.Marshal(before)); string(g) != string(w) {
		t.Fatalf("filled in again:\n got %s\nwant %s", g, w)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
