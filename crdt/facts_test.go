package crdt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
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
	if got := s.RequestCount(0, false, nil); got != len(all) {
		t.Fatalf("count %d, listed %d", got, len(all))
	}
	for _, size := range []int{1, 2, 7, len(all) + 1} {
		var got []ID
		var after *Cursor
		for range len(all) + 1 {
			page := s.RequestPage(0, false, after, size)
			if len(page) == 0 {
				break
			}
			for _, rv := range page {
				got = append(got, rv.ID)
			}
			last := page[len(page)-1]
			after = &Cursor{Clock: last.Clock, ID: last.ID}
			if left := s.RequestCount(0, false, after); left != len(all)-len(got) {
				t.Fatalf("pages of %d: %d left after %d shown, want %d", size, left, len(got), len(all)-len(got))
			}
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
		page := s.RequestPage(k, false, nil, len(all))
		if len(page) != want || s.RequestCount(k, false, nil) != want {
			t.Fatalf("kind %v: page %d, count %d, want %d", k, len(page), s.RequestCount(k, false, nil), want)
		}
		for _, rv := range page {
			if rv.Request.Type != k {
				t.Fatalf("kind %v listed a %v", k, rv.Request.Type)
			}
		}
	}
}

// TestTwoStatesOnOneStore: two states over the same facts (two processes
// on one data directory), each given some of the entries in turn, end as
// one state given everything — provided each, before its turn, is
// restored afresh if the other wrote since its own last turn (a node does
// it inside the store's write transaction).
func TestTwoStatesOnOneStore(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		n := genHistory(t, seed)
		limits := Limits{MaxPending: 1 << 20, MaxPendingBytes: 1 << 40}
		want := NewState(n.network, limits)
		want.ApplyBatch(n.all)

		facts := NewMemoryFacts()
		gen := 0 // bumped by every write
		type proc struct {
			s   *State
			gen int
		}
		ps := []*proc{{s: NewStateOn(n.network, limits, facts)}, {s: NewStateOn(n.network, limits, facts)}}
		catchUp := func(p *proc) {
			if p.gen == gen {
				return
			}
			p.s = NewStateOn(n.network, limits, facts)
			ready, err := p.s.Restore()
			if err != nil {
				t.Fatal(err)
			}
			facts.Persist(ready)
			p.gen = gen
		}
		rng := rand.New(rand.NewPCG(seed, 3))
		es := slices.Clone(n.all)
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		for len(es) > 0 {
			k := 1 + rng.IntN(min(len(es), 8))
			p := ps[rng.IntN(2)]
			catchUp(p)
			_, ready := p.s.Step(es[:k])
			facts.Persist(ready)
			gen++
			p.gen = gen
			es = es[k:]
		}
		for _, p := range ps {
			catchUp(p)
			if got := dump(p.s); got != dump(want) {
				t.Fatalf("seed %d: a state on a shared store differs:\n%s", seed, firstDiff(dump(want), got))
			}
			checkBooks(t, p.s)
		}
	}
}

// TestRestoreForReading: a state restored without its waiting pool, from
// facts that hold some of a history (entries waiting and held among them),
// shows every view as a state restored whole does, and judges nothing.
func TestRestoreForReading(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		n := genHistory(t, seed)
		limits := Limits{MaxPending: 1 << 20, MaxPendingBytes: 1 << 40}
		facts := NewMemoryFacts()
		es := slices.Clone(n.all)
		rng := rand.New(rand.NewPCG(seed, 5))
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		s := NewStateOn(n.network, limits, facts)
		_, ready := s.Step(es[:len(es)*2/3])
		facts.Persist(ready)

		whole := NewStateOn(n.network, limits, facts)
		if _, err := whole.Restore(); err != nil {
			t.Fatal(err)
		}
		reading := NewStateOn(n.network, limits, facts)
		ready, err := reading.RestoreForReading()
		if err != nil {
			t.Fatal(err)
		}
		if len(ready.Changes) != 0 {
			t.Fatalf("seed %d: restored for reading, it corrects %d statuses", seed, len(ready.Changes))
		}
		if got, want := dumpViews(reading), dumpViews(whole); got != want {
			t.Fatalf("seed %d: restored for reading, the views differ:\n%s", seed, firstDiff(want, got))
		}
		rest := es[len(es)*2/3:]
		if len(rest) == 0 {
			continue
		}
		if res, _ := reading.Step(rest[:1]); res[0].Status != StatusNone || !errors.Is(reading.Err(), ErrReadOnly) {
			t.Fatalf("seed %d: restored for reading, a step gave %+v (%v)", seed, res[0], reading.Err())
		}
		other := NewStateOn(n.network, limits, facts)
		if _, err := other.RestoreForReading(); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Check(rest[0]); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("seed %d: restored for reading, a check gave %v", seed, err)
		}
	}
}

// The digest is what it always was: SHA-256 over the label, the network,
// the number of accepted entries and their sorted IDs (a data directory
// upgraded across releases reports the same digest).
func TestDigestDefinition(t *testing.T) {
	n := genHistory(t, 5)
	s := NewState(n.network, DefaultLimits())
	s.ApplyBatch(n.all)
	var ids []ID
	s.Each(func(e *Entry, st Status) {
		if st == StatusAccepted {
			ids = append(ids, e.ID())
		}
	})
	slices.SortFunc(ids, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	h.Write([]byte("murmur-state-v1\n"))
	h.Write(n.network[:])
	h.Write(binary.AppendUvarint(nil, uint64(len(ids))))
	for _, id := range ids {
		h.Write(id[:])
	}
	if got := s.Digest(); !bytes.Equal(got[:], h.Sum(nil)) || len(ids) < 5 {
		t.Fatalf("digest %x over %d entries, want %x", got, len(ids), h.Sum(nil))
	}
}

// MembershipChains gives exactly the accepted entries of each author of
// an accepted membership entry up to the last such entry (what the whole
// accepted set, read, gives), each author's in chain order.
func TestMembershipChainsAreTheChainsUpToMembership(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		n := genHistory(t, seed)
		s := NewState(n.network, DefaultLimits())
		s.ApplyBatch(n.all)
		upTo := map[DeviceKey]uint64{}
		s.Accepted(func(e *Entry) {
			if e.Kind.Membership() {
				upTo[e.Author] = max(upTo[e.Author], e.Seq)
			}
		})
		want := map[ID]bool{}
		s.Accepted(func(e *Entry) {
			if e.Seq <= upTo[e.Author] {
				want[e.ID()] = true
			}
		})
		got := map[ID]bool{}
		last := map[DeviceKey]uint64{}
		s.MembershipChains(func(e *Entry) bool {
			if e.Seq < last[e.Author] {
				t.Fatalf("seed %d: %v's chain out of order", seed, e.Author)
			}
			last[e.Author] = e.Seq
			got[e.ID()] = true
			return true
		})
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d entries, want %d", seed, len(got), len(want))
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("seed %d: %v missing", seed, id)
			}
		}
	}
}
