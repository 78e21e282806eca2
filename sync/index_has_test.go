package sync

import (
	"math/rand/v2"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// Has agrees with what was added and removed, across block splits.
func TestIndexHas(t *testing.T) {
	x := NewIndex()
	rng := rand.New(rand.NewPCG(1, 2))
	in := map[Item]bool{}
	var all []Item
	for i := 0; i < 5000; i++ {
		var id crdt.ID
		for j := range id {
			id[j] = byte(rng.Uint32())
		}
		it := Item{Clock: crdt.Clock(rng.IntN(300)), ID: id}
		all = append(all, it)
		if rng.IntN(4) > 0 {
			x.Add(it)
			in[it] = true
		}
	}
	for _, it := range all[:1000] {
		if in[it] && rng.IntN(2) == 0 {
			x.Remove(it)
			delete(in, it)
		}
	}
	for _, it := range all {
		if got := x.Has(it); got != in[it] {
			t.Fatalf("Has(%v) = %v, want %v", it, got, in[it])
		}
	}
	if NewIndex().Has(all[0]) {
		t.Fatal("an empty index has an item")
	}
}
