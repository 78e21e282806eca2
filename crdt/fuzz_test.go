package crdt

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzDecode: any bytes either fail to decode or decode to an entry whose
// encoding is exactly those bytes (one byte string per entry).
func FuzzDecode(f *testing.F) {
	for _, g := range goldenEntries(f) {
		f.Add(g.e.Raw())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := Decode(raw)
		if err != nil {
			return
		}
		if !bytes.Equal(e.encode(), raw) {
			t.Fatalf("decoded entry re-encodes differently:\n in  %x\n out %x", raw, e.encode())
		}
		if e.Kind.Known() && !e.Withheld && e.ParsedBody() == nil {
			t.Fatal("decoded a body that does not parse")
		}
		again, err := Decode(e.encode())
		if err != nil || again.ID() != e.ID() {
			t.Fatalf("second decode: %v", err)
		}
		Verify(raw) // must not panic
	})
}

// FuzzApply: arbitrary entries, signature checks skipped so that the
// fuzzer reaches validation, given to a state holding a real history.
// Nothing may panic, the state's books must stay consistent, and where
// the entry arrives among the others must not change what the state shows
// (its views, org keys and revocations included).
func FuzzApply(f *testing.F) {
	n := genHistory(f, 77)
	for _, e := range n.all {
		f.Add(e.Raw())
	}
	half := len(n.all) / 2
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := Trusted(raw)
		if err != nil {
			return
		}
		s := NewState(n.network, Limits{MaxPending: 50, MaxPendingBytes: 1 << 20})
		s.ApplyBatch(n.all[:half])
		s.Apply(e)
		s.ApplyBatch(n.all[half:])
		checkBooks(t, s)

		mid := NewState(n.network, DefaultLimits())
		mid.ApplyBatch(n.all[:half])
		mid.Apply(e)
		mid.ApplyBatch(n.all[half:])
		last := NewState(n.network, DefaultLimits())
		last.ApplyBatch(n.all)
		last.Apply(e)
		if a, b := dump(mid), dump(last); a != b {
			t.Fatalf("the entry arriving mid-history or last changed the state:\n%s", firstDiff(b, a))
		}
	})
}

// FuzzDeliveryOrder: the convergence property, with the fuzzer choosing
// the history and the order.
func FuzzDeliveryOrder(f *testing.F) {
	f.Add(uint64(1), []byte{3, 1, 4, 1, 5, 9, 2, 6})
	f.Add(uint64(2), []byte{})
	f.Fuzz(func(t *testing.T, seed uint64, order []byte) {
		n := genHistory(t, seed%5000)
		want := NewState(n.network, DefaultLimits())
		want.ApplyBatch(n.all)
		es := append([]*Entry{}, n.all...)
		src := rand.New(rand.NewPCG(seed, uint64(len(order))))
		for i := range es { // a permutation driven by the fuzzer's bytes
			j := i
			if len(order) > 0 {
				j = i + int(order[i%len(order)])%(len(es)-i)
			} else {
				j = i + src.IntN(len(es)-i)
			}
			es[i], es[j] = es[j], es[i]
		}
		got := NewState(n.network, DefaultLimits())
		for _, e := range es {
			got.Apply(e)
		}
		if dump(got) != dump(want) {
			t.Fatalf("seed %d: order changed the state:\n%s", seed, firstDiff(dump(want), dump(got)))
		}
		// The same order over facts the state does not own, killed and
		// restored where the fuzzer's bytes say.
		one := make([][]*Entry, len(es))
		for i, e := range es {
			one[i] = []*Entry{e}
		}
		got = reopening(t, n.network, DefaultLimits(), one, rand.New(rand.NewPCG(seed, uint64(len(order))+1)))
		if dump(got) != dump(want) {
			t.Fatalf("seed %d: reopened, the state differs:\n%s", seed, firstDiff(dump(want), dump(got)))
		}
	})
}

// checkBooks checks the state's internal accounting.
func checkBooks(t *testing.T, s *State) {
	t.Helper()
	var pend int
	var bytes int64
	for id, r := range s.recs {
		if r.id() != id {
			t.Fatal("record under the wrong ID")
		}
		if !r.resident() {
			t.Fatalf("an accepted %v kept in memory", r.e.Kind)
		}
		switch r.status {
		case StatusAccepted:
		case StatusWaiting, StatusHeld:
			pend++
			bytes += int64(len(r.e.raw))
		default:
			t.Fatalf("held record with status %v", r.status)
		}
	}
	c := s.Counts()
	if pend != s.pending.len() || bytes != s.pendingBytes || c.Waiting+c.Held != pend {
		t.Fatalf("books: pending %d/%d/%d bytes %d/%d", pend, s.pending.len(), c.Waiting+c.Held, bytes, s.pendingBytes)
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if s.pending.len() > s.limits.MaxPending || s.pendingBytes > s.limits.MaxPendingBytes {
		t.Fatalf("over limits: %d entries, %d bytes", s.pending.len(), s.pendingBytes)
	}
}

// An entry waiting in the pool without its body, then given with it: the
// pool counts the body's bytes too (FuzzApply found the pool's byte count
// left at the withheld size, so the pool's byte limit could be passed by
// giving entries first without their bodies).
func TestPoolCountsABodyFilledIn(t *testing.T) {
	f, a := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, a, "Alpha", false)
	first := n.request(a, "first")
	second := n.write(a, &Request{Type: Verification, Title: "second", Text: string(bytes.Repeat([]byte("x"), 500)), Region: "TZ"})
	s := NewState(n.network, DefaultLimits())
	s.ApplyBatch(n.all[:len(n.all)-2])
	s.Apply(second.Redacted()) // waits for first
	checkBooks(t, s)
	s.Apply(second)
	checkBooks(t, s)
	if status(s, second) != StatusWaiting || s.pendingBytes != int64(len(second.Raw())) {
		t.Fatalf("%v, pool bytes %d, want %d", status(s, second), s.pendingBytes, len(second.Raw()))
	}
	s.Apply(first)
	checkBooks(t, s)
	if status(s, second) != StatusAccepted || s.pendingBytes != 0 {
		t.Fatalf("%v, pool bytes %d", status(s, second), s.pendingBytes)
	}
}
