package crdt

import (
	"bytes"
	"errors"
	"testing"
)

// On a network whose genesis says sealed bodies commit to their key, a
// sealed body without a commitment (version 1) is held, wherever it comes
// from and whether its body came with it or later; on a network founded
// before, it is accepted as it always was (review 9: a rogue member wrote
// version 1 to bring back the forged-share block).
func TestUncommittedSealedBodyIsHeldWhereTheNetworkSaysSo(t *testing.T) {
	for _, committed := range []bool{true, false} {
		f, b := newDev(1), newDev(2)
		n := &tnet{t: t, now: 1_700_000_000_000}
		g := n.write(f, &Genesis{NetworkName: "Test network", OrgName: "Founders", Quorum: 1, SealedCommitted: committed})
		n.network = g.ID()
		n.admit(f, b, "Beta", false)
		env := mustBody(t, &Request{Type: Verification, Region: "NI"})
		sealed := func(commit [32]byte) *Entry {
			return n.write(b, &Sealed{Inner: KindRequest, Envelope: env, Nonce: [24]byte{1}, Ciphertext: bytes.Repeat([]byte{7}, 40),
				Wraps: [][]byte{bytes.Repeat([]byte{0x17}, SealedWrapSize)}, Commit: commit})
		}
		v1, v2 := sealed([32]byte{}), sealed([32]byte{0xc0})
		after := n.write(b, &Request{Type: Verification, Title: "Written after"})

		// Whole, in one go.
		whole := NewState(n.network, DefaultLimits())
		whole.ApplyBatch(n.all)
		status := func(s *State, e *Entry) Status {
			_, st, _ := s.Entry(e.ID())
			return st
		}
		want1 := StatusAccepted
		if committed {
			want1 = StatusHeld
		}
		if got := status(whole, v1); got != want1 {
			t.Fatalf("committed network %v: version 1 is %v, want %v", committed, got, want1)
		}
		if status(whole, v2) != StatusAccepted || status(whole, after) != StatusAccepted {
			t.Fatalf("committed network %v: version 2 %v, the entry after %v", committed, status(whole, v2), status(whole, after))
		}
		if st, err := whole.Check(v1); committed && (st != StatusHeld || !errors.Is(err, ErrUncommitted)) {
			t.Fatalf("Check of version 1: %v, %v", st, err)
		}
		// Its body withheld first (as a pending joiner gets it), then
		// filled in: the same state as the one that took it whole.
		parts := NewState(n.network, DefaultLimits())
		var withheld []*Entry
		for _, e := range n.all {
			if e.Kind == KindSealed {
				e = e.Redacted()
			}
			withheld = append(withheld, e)
		}
		parts.ApplyBatch(withheld)
		parts.ApplyBatch([]*Entry{v1, v2})
		if status(parts, v1) != want1 || parts.Digest() != whole.Digest() {
			t.Fatalf("committed network %v: filled in later, version 1 is %v (want %v); digests equal: %v", committed, status(parts, v1), want1, parts.Digest() == whole.Digest())
		}
	}
}
