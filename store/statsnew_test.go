package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// A batch's new requests' inputs are inserted many to a statement: across
// several statements, with some answered and some not, and one whose
// inputs were stored before (replaced, counted once), both stores keep
// the same inputs and totals.
func TestStatsNewManyAtOnce(t *testing.T) {
	ctx := context.Background()
	const n = 2*statsChunk + 21
	req := func(i int) Record {
		r := testRecord(i, testKey(i%5), uint64(i), crdt.ClockAt(1_700_000_000_000+uint64(i)*1000))
		r.Kind, r.Keys = crdt.KindRequest, crdt.Keys{View: crdt.ViewRequest, Tag: uint64(crdt.Verification)}
		return r
	}
	stat := func(i int) crdt.RequestStat {
		st := crdt.RequestStat{ID: testID(i), Kind: crdt.RequestType(1 + i%3), Region: fmt.Sprint("R", i%4),
			Created: crdt.ClockAt(1_700_000_000_000 + uint64(i)*1000), Open: i%6 != 0}
		if i%5 == 0 {
			st.RespondBy = 1_700_000_000_000 + uint64(i)*1000 + 3_600_000
		}
		if i%3 == 0 {
			st.Answered, st.First, st.FirstID = true, crdt.ClockAt(1_700_000_000_000+uint64(i)*1000+uint64(i)*60_000), testID(10_000+i)
		}
		return st
	}
	for name, s := range map[string]Store{
		"sqlite": openTemp(t, filepath.Join(t.TempDir(), "murmur.db")),
		"memory": NewMemory(),
	} {
		t.Run(name, func(t *testing.T) {
			// Request 1 is stored first, with other inputs.
			early := stat(1)
			early.Kind, early.Open = crdt.Funding, false
			if _, err := s.Update(ctx, func(Mark) (Batch, error) {
				return Batch{Put: []Record{req(1)}, StatsNew: []crdt.RequestStat{early}}, nil
			}); err != nil {
				t.Fatal(err)
			}
			var b Batch
			want := map[crdt.ID]crdt.RequestStat{}
			for i := 1; i <= n; i++ {
				if i > 1 {
					b.Put = append(b.Put, req(i))
				}
				b.StatsNew = append(b.StatsNew, stat(i))
				want[testID(i)] = stat(i)
			}
			if _, err := s.Update(ctx, func(Mark) (Batch, error) { return b, nil }); err != nil {
				t.Fatal(err)
			}
			for id, w := range want {
				got, ok, err := s.Stat(ctx, id)
				if err != nil || !ok || got != w {
					t.Fatalf("%v: stored %+v (%v, %v), want %+v", id, got, ok, err, w)
				}
			}
			totals, err := s.StatsTotals(ctx, 1_800_000_000_000)
			if err != nil {
				t.Fatal(err)
			}
			oracle := NewMemory()
			var ob Batch
			for i := 1; i <= n; i++ {
				ob.Put, ob.StatsNew = append(ob.Put, req(i)), append(ob.StatsNew, stat(i))
			}
			if _, err := oracle.Update(ctx, func(Mark) (Batch, error) { return ob, nil }); err != nil {
				t.Fatal(err)
			}
			wantTotals, err := oracle.StatsTotals(ctx, 1_800_000_000_000)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(totals, wantTotals) {
				t.Fatalf("totals:\n%+v\nwant:\n%+v", totals, wantTotals)
			}
			requests := 0
			for _, g := range totals {
				requests += g.Requests
			}
			if requests != n {
				t.Fatalf("the totals count %d requests, want %d", requests, n)
			}
		})
	}
}

// OpenByDeadline lists the open requests that are not alerts in the
// inbox's order on both stores, from any place in it, and across its
// chunks and its two parts (with a deadline, then without).
func TestOpenByDeadlineIsTheInboxOrder(t *testing.T) {
	ctx := context.Background()
	const n = 3*openChunk + 7
	var b Batch
	var want []OpenRequest
	for i := 1; i <= n; i++ {
		r := testRecord(i, testKey(i%5), uint64(i), crdt.ClockAt(1_700_000_000_000+uint64(i%50)*1000))
		kind := crdt.RequestType(1 + i%5) // (alerts among them)
		r.Kind, r.Keys = crdt.KindRequest, crdt.Keys{View: crdt.ViewRequest, Tag: uint64(kind)}
		st := crdt.RequestStat{ID: r.ID, Kind: kind, Region: "TZ", Created: r.Clock, Open: i%7 != 0}
		if i%3 != 0 {
			st.RespondBy = 1_800_000_000_000 + uint64(i%11)*3_600_000 // (many the same)
		}
		b.Put, b.StatsNew = append(b.Put, r), append(b.StatsNew, st)
		if st.Open && kind != crdt.Alert {
			want = append(want, OpenRequest{ID: r.ID, Created: st.Created, RespondBy: st.RespondBy})
		}
	}
	slices.SortFunc(want, func(a, b OpenRequest) int {
		if a.Before(b) {
			return -1
		}
		return 1
	})
	if want[len(want)-1].RespondBy != 0 || want[0].RespondBy == 0 {
		t.Fatal("the test lacks requests with and without deadlines")
	}
	for name, s := range map[string]Store{
		"sqlite": openTemp(t, filepath.Join(t.TempDir(), "murmur.db")),
		"memory": NewMemory(),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Update(ctx, func(Mark) (Batch, error) { return b, nil }); err != nil {
				t.Fatal(err)
			}
			list := func(after *OpenRequest, max int) []OpenRequest {
				var out []OpenRequest
				if err := s.OpenByDeadline(ctx, 0, after, func(o OpenRequest) bool { out = append(out, o); return len(out) < max }); err != nil {
					t.Fatal(err)
				}
				return out
			}
			if got := list(nil, n); !slices.Equal(got, want) {
				t.Fatalf("the open requests:\n%v\nwant\n%v", got, want)
			}
			for i := range want {
				if got := list(&want[i], 3); !slices.Equal(got, want[i+1:min(len(want), i+4)]) {
					t.Fatalf("after %d: %v, want %v", i, got, want[i+1:min(len(want), i+4)])
				}
			}
			var funding []OpenRequest
			if err := s.OpenByDeadline(ctx, crdt.Funding, nil, func(o OpenRequest) bool { funding = append(funding, o); return true }); err != nil {
				t.Fatal(err)
			}
			for _, o := range funding {
				if st, _, _ := s.Stat(ctx, o.ID); st.Kind != crdt.Funding {
					t.Fatalf("a %v among the funding requests", st.Kind)
				}
			}
			if len(funding) == 0 {
				t.Fatal("no funding requests listed")
			}
		})
	}
}
