package sync

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// gen makes items that collide on purpose: few distinct clocks, and IDs
// that often share a long prefix with an earlier one.
//
// An ID is the hash of an entry, clock included: one ID never comes with two
// clocks, so gen never repeats an ID.
type gen struct {
	rng    *rand.Rand
	clocks int // distinct clocks to draw from; 0 = any
	bases  []crdt.ID
	seen   map[crdt.ID]bool
}

func newGen(seed uint64, clocks int) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, 0x5eed)), clocks: clocks, seen: map[crdt.ID]bool{}}
}

func (g *gen) item() Item {
	var id crdt.ID
	for first := true; first || g.seen[id]; first = false {
		for i := range id {
			id[i] = byte(g.rng.Uint32())
		}
		if len(g.bases) > 0 && g.rng.IntN(4) == 0 {
			base := g.bases[g.rng.IntN(len(g.bases))]
			n := 32 - 1 - g.rng.IntN(8) // share 24 to 31 bytes
			copy(id[:n], base[:n])
		}
	}
	g.seen[id] = true
	if len(g.bases) < 64 {
		g.bases = append(g.bases, id)
	}
	c := crdt.Clock(g.rng.Uint64())
	if g.clocks > 0 {
		c = crdt.ClockAt(1_700_000_000_000) + crdt.Clock(g.rng.IntN(g.clocks))
	}
	return Item{Clock: c, ID: id}
}

// model is the obvious implementation: a sorted slice.
type model []Item

func (m *model) add(it Item) bool {
	i, found := slices.BinarySearchFunc(*m, it, compareItems)
	if found {
		return false
	}
	*m = slices.Insert(*m, i, it)
	return true
}

func (m *model) remove(it Item) bool {
	i, found := slices.BinarySearchFunc(*m, it, compareItems)
	if !found {
		return false
	}
	*m = slices.Delete(*m, i, i+1)
	return true
}

// rangeOf returns the model's items in [lo, hi) by bounds (lo may be the
// zero bound, standing for -inf).
func (m model) rangeOf(lo, hi bound) []Item {
	var out []Item
	for _, it := range m {
		if (lo == bound{} || !lo.above(it)) && hi.above(it) {
			out = append(out, it)
		}
	}
	return out
}

// testKey keys the fingerprints the index tests compare.
var testKey = setKey{1, 2, 3}

func fingerprintOf(items []Item) fingerprint {
	var s idSum
	for i := range items {
		s.add(&items[i].ID)
	}
	return s.fingerprint(&testKey, len(items))
}

func contents(x *Index) []Item {
	var out []Item
	x.each(x.begin(), x.end(), func(it Item) { out = append(out, it) })
	return out
}

// checkBlocks verifies the block invariants: sorted, none empty, none over
// capacity, sums right.
func checkBlocks(t *testing.T, x *Index) {
	t.Helper()
	n := 0
	for bi, b := range x.blocks {
		if len(b.items) == 0 || len(b.items) > blockCap {
			t.Fatalf("block %d has %d items", bi, len(b.items))
		}
		var s idSum
		for i := range b.items {
			s.add(&b.items[i].ID)
			if i > 0 && !b.items[i-1].Less(b.items[i]) {
				t.Fatalf("block %d out of order at %d", bi, i)
			}
		}
		if s != b.sum {
			t.Fatalf("block %d: stale sum", bi)
		}
		if bi > 0 && !x.blocks[bi-1].last().Less(b.items[0]) {
			t.Fatalf("blocks %d and %d overlap", bi-1, bi)
		}
		n += len(b.items)
	}
	if n != x.n {
		t.Fatalf("Len %d, blocks hold %d", x.n, n)
	}
	if len(x.lasts) != len(x.blocks) {
		t.Fatalf("%d lasts for %d blocks", len(x.lasts), len(x.blocks))
	}
	for bi, b := range x.blocks {
		if x.lasts[bi] != b.last() {
			t.Fatalf("lasts[%d] is stale", bi)
		}
	}
}

// randomBound returns a bound near an item of m (or anywhere): the item's
// own key, a separator, or +inf.
func randomBound(rng *rand.Rand, m model) bound {
	if len(m) < 2 || rng.IntN(10) == 0 {
		return bound{inf: true}
	}
	i := 1 + rng.IntN(len(m)-1)
	if rng.IntN(2) == 0 {
		return separator(m[i-1], m[i])
	}
	it := m[i]
	u := bound{clock: it.Clock, minClock: it.Clock, plen: uint8(1 + rng.IntN(32)), id: it.ID}
	clear(u.id[u.plen:])
	return u
}

func TestIndexMatchesModel(t *testing.T) {
	for seed := range uint64(40) {
		g := newGen(seed, []int{0, 4, 50, 1000}[seed%4])
		rng := rand.New(rand.NewPCG(seed, 1))
		x, m := NewIndex(), model{}
		var added []Item
		for op := range 3000 {
			switch r := rng.IntN(10); {
			case r < 6:
				it := g.item()
				if got, want := x.Add(it), m.add(it); got != want {
					t.Fatalf("seed %d op %d: Add = %t, model %t", seed, op, got, want)
				}
				added = append(added, it)
			case r < 7 && len(added) > 0:
				it := added[rng.IntN(len(added))] // again: must be refused
				if got, want := x.Add(it), m.add(it); got != want {
					t.Fatalf("seed %d op %d: re-Add = %t, model %t", seed, op, got, want)
				}
			case len(added) > 0:
				it := added[rng.IntN(len(added))]
				if rng.IntN(8) == 0 {
					it = g.item() // probably absent
				}
				if got, want := x.Remove(it), m.remove(it); got != want {
					t.Fatalf("seed %d op %d: Remove = %t, model %t", seed, op, got, want)
				}
			}
			if op%100 != 0 {
				continue
			}
			checkBlocks(t, x)
			if !slices.Equal(contents(x), m) || x.Len() != len(m) {
				t.Fatalf("seed %d op %d: contents differ from the model", seed, op)
			}
			for range 5 {
				lo, hi := randomBound(rng, m), randomBound(rng, m)
				if compareBounds(&lo, &hi) > 0 {
					lo, hi = hi, lo
				}
				if lo.inf {
					lo = bound{}
				}
				want := m.rangeOf(lo, hi)
				a, b := x.seek(lo), x.seek(hi)
				sum, n := x.span(a, b)
				if n != len(want) || sum.fingerprint(&testKey, n) != fingerprintOf(want) || x.count(a, b) != n {
					t.Fatalf("seed %d op %d: range of %d items, model %d or fingerprint differs", seed, op, n, len(want))
				}
				if got := x.appendIDs(nil, a, b); len(got) != len(want) {
					t.Fatalf("seed %d op %d: appendIDs gave %d IDs, want %d", seed, op, len(got), len(want))
				}
				if len(want) > 0 {
					k := rng.IntN(len(want))
					c, s := x.advance(a, k)
					if k < len(want) && x.at(c) != want[k] {
						t.Fatalf("seed %d op %d: advance(%d) is at the wrong item", seed, op, k)
					}
					if s.fingerprint(&testKey, k) != fingerprintOf(want[:k]) {
						t.Fatalf("seed %d op %d: advance(%d) summed wrong", seed, op, k)
					}
					if k > 0 && x.before(c) != want[k-1] {
						t.Fatalf("seed %d op %d: before is wrong", seed, op)
					}
				}
			}
		}
	}
}

func TestIndexOrderIrrelevant(t *testing.T) {
	for seed := range uint64(10) {
		g := newGen(seed, 20)
		items := make([]Item, 5000)
		for i := range items {
			items[i] = g.item()
		}
		build := func(order []Item) *Index {
			x := NewIndex()
			for _, it := range order {
				x.Add(it)
			}
			return x
		}
		sorted := slices.Clone(items)
		slices.SortFunc(sorted, compareItems)
		reversed := slices.Clone(sorted)
		slices.Reverse(reversed)
		shuffled := slices.Clone(items)
		rand.New(rand.NewPCG(seed, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

		want := build(items)
		for name, order := range map[string][]Item{"sorted": sorted, "reversed": reversed, "shuffled": shuffled} {
			x := build(order)
			checkBlocks(t, x)
			if !slices.Equal(contents(x), contents(want)) || !sameSet(x, want) {
				t.Fatalf("seed %d: %s insertion gives a different index", seed, name)
			}
		}
	}
}

func TestIndexRandomInsertsAndRemoves(t *testing.T) {
	const n = 200_000
	g := newGen(7, 0)
	items := make([]Item, n)
	for i := range items {
		items[i] = g.item()
	}
	x := NewIndex()
	for _, it := range items {
		x.Add(it)
	}
	checkBlocks(t, x)
	if x.Len() != n {
		t.Fatalf("Len = %d, want %d", x.Len(), n)
	}
	// Remove all but every 100th: the blocks must merge back.
	for i, it := range items {
		if i%100 != 0 && !x.Remove(it) {
			t.Fatalf("Remove of item %d failed", i)
		}
	}
	checkBlocks(t, x)
	if x.Len() != n/100 {
		t.Fatalf("Len = %d, want %d", x.Len(), n/100)
	}
	if len(x.blocks) > 4*n/100/blockCap+2 {
		t.Errorf("%d blocks left for %d items", len(x.blocks), x.Len())
	}
}

func TestSeparator(t *testing.T) {
	g := newGen(3, 3)
	for range 10_000 {
		a, b := g.item(), g.item()
		switch compareItems(a, b) {
		case 0:
			continue
		case 1:
			a, b = b, a
		}
		u := separator(a, b)
		for _, c := range []crdt.Clock{u.minClock, u.clock, u.minClock + (u.clock-u.minClock)/2} {
			v := u
			v.clock, v.minClock = c, c
			if !v.above(a) || v.above(b) {
				t.Fatalf("separator(%v, %v) with clock %v does not separate them", a, b, c)
			}
		}
		if u.plen > 0 && u.id[u.plen-1] == 0 {
			t.Fatalf("separator prefix ends in zero")
		}
	}
}

func BenchmarkIndexAddRandom(b *testing.B) {
	const n = 1_000_000
	g := newGen(1, 0)
	items := make([]Item, n)
	for i := range items {
		items[i] = g.item()
	}
	b.ResetTimer()
	for b.Loop() {
		x := NewIndex()
		for _, it := range items {
			x.Add(it)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/add")
}

func BenchmarkIndexAddSorted(b *testing.B) {
	const n = 1_000_000
	items := make([]Item, n)
	for i := range items {
		items[i] = tableItem(i)
	}
	b.ResetTimer()
	for b.Loop() {
		x := NewIndex()
		for _, it := range items {
			x.Add(it)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/add")
}

func BenchmarkFingerprintRange(b *testing.B) {
	x := NewIndex()
	var m model
	for i := range 1_000_000 {
		it := tableItem(i)
		x.Add(it)
		if i%1000 == 0 {
			m = append(m, it)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		i := rng.IntN(len(m) - 1)
		j := i + 1 + rng.IntN(len(m)-1-i)
		lo, hi := bound{clock: m[i].Clock, minClock: m[i].Clock}, separator(m[j-1], m[j])
		sum, n := x.span(x.seek(lo), x.seek(hi))
		_ = sum.fingerprint(&testKey, n)
	}
}
