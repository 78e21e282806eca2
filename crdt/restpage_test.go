package crdt

import (
	"fmt"
	"slices"
	"testing"
)

// closeLookups counts the views a State builds: each reads the closes of
// its request once.
type closeLookups struct {
	*MemoryFacts
	n int
}

func (c *closeLookups) Page(v View, tag uint64, ref *ID, after *Cursor, limit int) ([]*Entry, error) {
	if v == ViewClose {
		c.n++
	}
	return c.MemoryFacts.Page(v, tag, ref, after, limit)
}

// TestRestPageLeavesOutOpenAlerts: the rest of a list (what follows the
// open alerts) is every request of the kind but the open alerts, newest
// first, closed ones merged in their place; a page of it builds the views
// of no more than it could show, however many open alerts it passes
// (review 6: each open alert cost every later page half a millisecond).
func TestRestPageLeavesOutOpenAlerts(t *testing.T) {
	a, b := newDev(1), newDev(2)
	n := newNet(t, a, 1)
	n.admit(a, b, "Beta", false)
	var ids []ID
	for i := range 12 {
		ids = append(ids, n.write(a, &Request{Type: Verification, Title: fmt.Sprintf("request %d", i)}).ID())
		if i%4 == 1 {
			ids = append(ids, n.write(b, &Request{Type: Alert, Title: fmt.Sprintf("early alert %d", i), Region: "TZ"}).ID())
		}
	}
	for i := range 300 {
		ids = append(ids, n.write(b, &Request{Type: Alert, Title: fmt.Sprintf("alert %d", i), Region: "TZ"}).ID())
	}
	// Two requests closed, and two alerts (an early one and a late one).
	for _, c := range []struct {
		by *tdev
		i  int
	}{{a, 0}, {b, 2}, {a, 5}, {b, 200}} {
		n.write(c.by, &RequestClosed{Request: ids[c.i]}, ids[c.i])
	}
	facts := &closeLookups{MemoryFacts: NewMemoryFacts()}
	s := NewStateOn(n.network, DefaultLimits(), facts)
	step := stepper(t, s, facts.MemoryFacts)
	step(n.all...)

	for _, tc := range []struct {
		kind RequestType
		open bool
	}{{0, false}, {0, true}, {Alert, false}, {Alert, true}, {Verification, false}, {Verification, true}} {
		var want []ID // the list, but its open alerts
		for _, rv := range s.RequestPage(tc.kind, tc.open, nil, 1<<20) {
			if rv.Closed || rv.Request.Type != Alert {
				want = append(want, rv.ID)
			}
		}
		if tc.kind == Alert && !tc.open && len(want) != 2 {
			t.Fatalf("%d closed alerts, want 2", len(want))
		}
		for _, size := range []int{1, 3, 5, len(want) + 1} {
			var got []ID
			var after *Cursor
			for range len(want) + 2 {
				facts.n = 0
				page := s.RestPage(tc.kind, tc.open, after, size)
				if facts.n > 2*size {
					t.Fatalf("kind %v open %v: a page of %d built %d views", tc.kind, tc.open, size, facts.n)
				}
				if len(page) == 0 {
					break
				}
				for _, rv := range page {
					got = append(got, rv.ID)
				}
				last := page[len(page)-1]
				after = &Cursor{Clock: last.Clock, ID: last.ID}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("kind %v open %v, pages of %d: %d requests, want %d", tc.kind, tc.open, size, len(got), len(want))
			}
		}
	}
}
