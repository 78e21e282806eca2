package crdt

import (
	"slices"
	"testing"
)

// TestRequestPagesWalkTheList: pages of any size, each after the last one
// shown, walk the whole list of requests newest first, with nothing
// repeated or skipped, and a kind narrows them.
func TestRequestPagesWalkTheList(t *testing.T) {
	var s *State
	var all []RequestView
	for seed := uint64(1); seed < 200 && len(all) < 6; seed++ {
		n := genHistory(t, seed)
		s = NewState(n.network, DefaultLimits())
		s.ApplyBatch(n.all)
		all = s.Requests() // oldest first
	}
	slices.Reverse(all)
	if len(all) < 6 {
		t.Fatalf("histories too small: %d requests", len(all))
	}
	if got := s.RequestCount(0); got != len(all) {
		t.Fatalf("count %d, listed %d", got, len(all))
	}
	for _, size := range []int{1, 2, 7, len(all) + 1} {
		var got []ID
		var after *Cursor
		for range len(all) + 1 {
			page := s.RequestPage(0, after, size)
			if len(page) == 0 {
				break
			}
			for _, rv := range page {
				got = append(got, rv.ID)
			}
			last := page[len(page)-1]
			after = &Cursor{Clock: last.Clock, ID: last.ID}
		}
		if len(got) != len(all) {
			t.Fatalf("pages of %d: %d requests, want %d", size, len(got), len(all))
		}
		for i := range all {
			if got[i] != all[i].ID {
				t.Fatalf("pages of %d: request %d is %v, want %v", size, i, got[i], all[i].ID)
			}
		}
	}
	kinds := map[RequestType]int{}
	for _, rv := range all {
		if rv.Request != nil {
			kinds[rv.Request.Type]++
		}
	}
	for k, want := range kinds {
		page := s.RequestPage(k, nil, len(all))
		if len(page) != want || s.RequestCount(k) != want {
			t.Fatalf("kind %v: page %d, count %d, want %d", k, len(page), s.RequestCount(k), want)
		}
		for _, rv := range page {
			if rv.Request.Type != k {
				t.Fatalf("kind %v listed a %v", k, rv.Request.Type)
			}
		}
	}
}
