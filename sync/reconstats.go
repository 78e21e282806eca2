package sync

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/murmurnet/murmur/crdt"
)

// ReconResult is what one reconciliation between two in-memory sets cost.
// Bytes count reconciliation messages only, not the entries pushed.
type ReconResult struct {
	N, D           int // union size; items only one side has, split between the sides
	RoundTrips     int // messages / 2, rounded up
	Messages       int
	InitiatorBytes int
	ResponderBytes int
	TotalBytes     int
	Pushed         int  // IDs pushed, both ways: the entries that would travel
	Converged      bool // both sides ended with the union
}

func (r ReconResult) String() string {
	return fmt.Sprintf("N=%d d=%d: %d round trips (%d messages), %d+%d=%d bytes, %d pushed, converged=%t",
		r.N, r.D, r.RoundTrips, r.Messages, r.InitiatorBytes, r.ResponderBytes, r.TotalBytes, r.Pushed, r.Converged)
}

// ReconTable reconciles, for each n in ns and d in ds, two sets whose union
// has n items and which differ in d of them (half only on the initiator,
// half only on the responder, spread evenly over the clock range), with the
// default Options, delivering each side's pushes to the other as a
// transport would. Sets are built from a deterministic sequence of IDs, so
// the table is the same on every run and every machine. A million items
// take two indexes of about 40 MB each and a second or so.
func ReconTable(ns []int, ds []int) []ReconResult {
	var out []ReconResult
	for _, n := range ns {
		for _, d := range ds {
			d = min(d, n)
			a, b, only := tableSets(n, d)
			res := ReconResult{N: n, D: d}
			unknown := 0
			st, err := converse(a, b, Options{}, Options{}, func(to *Index, ids []crdt.ID) {
				for _, id := range ids {
					c, ok := only[id]
					if !ok {
						unknown++
						continue
					}
					to.Add(Item{Clock: c, ID: id})
				}
			})
			res.Messages = st.messages
			res.RoundTrips = (st.messages + 1) / 2
			res.InitiatorBytes, res.ResponderBytes = st.bytes[0], st.bytes[1]
			res.TotalBytes = st.bytes[0] + st.bytes[1]
			res.Pushed = st.pushed
			res.Converged = err == nil && unknown == 0 && sameSet(a, b) && a.Len() == n
			out = append(out, res)
		}
	}
	return out
}

// tableItem is item k of the deterministic sequence ReconTable uses: IDs
// are SHA-256 of k, clocks about 31.5 s apart (a million entries a year)
// with a pseudo-random logical counter.
func tableItem(k int) Item {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(k))
	id := crdt.ID(sha256.Sum256(append([]byte("murmur-recon-table\x00"), buf[:]...)))
	millis := uint64(1_700_000_000_000) + uint64(k)*31_536
	return Item{Clock: crdt.ClockAt(millis) + crdt.Clock(binary.LittleEndian.Uint16(id[30:])), ID: id}
}

// tableSets builds the initiator's and the responder's sets for ReconTable
// (n items in the union, d of them on one side only) and the clocks of the
// items only one side has, by ID, for delivering pushes.
func tableSets(n, d int) (a, b *Index, only map[crdt.ID]crdt.Clock) {
	d = min(d, n)
	a, b = NewIndex(), NewIndex()
	only = make(map[crdt.ID]crdt.Clock, d)
	next := 0 // the next item only one side has: item (2j+1)n/2d
	for k, j := 0, 0; k < n; k++ {
		it := tableItem(k)
		if j < d && k == next {
			if j%2 == 0 {
				a.Add(it)
			} else {
				b.Add(it)
			}
			only[it.ID] = it.Clock
			j++
			next = (2*j + 1) * n / (2 * d)
			continue
		}
		a.Add(it)
		b.Add(it)
	}
	return a, b, only
}

func sameSet(a, b *Index) bool {
	sa, na := a.span(a.begin(), a.end())
	sb, nb := b.span(b.begin(), b.end())
	return na == nb && sa == sb
}

type convStats struct {
	messages int
	bytes    [2]int // sent by the initiator, by the responder
	pushed   int
}

// converse runs one conversation in process, the initiator on a and the
// responder on b, as a transport would: each side's push is delivered (if
// deliver is not nil) to the other side's index before its reply is
// answered.
func converse(a, b *Index, oa, ob Options, deliver func(to *Index, ids []crdt.ID)) (convStats, error) {
	var st convStats
	sides := [2]*Session{NewSession(a, oa), NewSession(b, ob)}
	sets := [2]*Index{a, b}
	msg, err := sides[0].Start()
	if err != nil {
		return st, err
	}
	st.messages, st.bytes[0] = 1, len(msg)
	for turn := 1; msg != nil; turn = 1 - turn {
		reply, push, _, err := sides[turn].Receive(msg)
		if err != nil {
			return st, fmt.Errorf("message %d: %w", st.messages, err)
		}
		st.pushed += len(push)
		if deliver != nil && len(push) > 0 {
			deliver(sets[1-turn], push)
		}
		if reply != nil {
			st.messages++
			st.bytes[turn] += len(reply)
		}
		msg = reply
	}
	if !sides[0].Done() || !sides[1].Done() {
		return st, fmt.Errorf("conversation ended with initiator done=%t, responder done=%t", sides[0].Done(), sides[1].Done())
	}
	return st, nil
}
