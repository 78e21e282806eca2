package sync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/murmurnet/murmur/crdt"
)

// Reconciliation without a network (bundles). A node that cannot reach
// anyone says what it holds in a Summary; another node answers with exactly
// the entries it lacks (Lacks), written to a bundle file. The range
// fingerprints of the stream protocol need a round trip per level; a file
// carried by hand makes one round trip a day, so a summary names what it
// holds outright. Each device's log is a chain, so for each device the
// highest sequence number held without a gap names the whole prefix below
// it: a few hundred bytes for a network of tens of organisations. Entries
// held beyond a gap (waiting for a predecessor) are named one by one.

// Holding is one entry as a summary sees it.
type Holding struct {
	Author crdt.DeviceKey
	Seq    uint64
	ID     crdt.ID
	Prev   crdt.ID // the author's entry before it (zero at seq 1)
	Clock  crdt.Clock
}

// Item is the holding's place in reconciliation order.
func (h Holding) Item() Item { return Item{Clock: h.Clock, ID: h.ID} }

// ShortID names a device or an entry in a summary: the first 8 bytes of its
// key or ID. Finding a second key or ID with the same prefix as a given one
// takes a 2^64 search; an honest collision among a network's devices, or
// among the few entries a summary names one by one, has a negligible
// chance, and costs only an entry not sent by file (reconciliation over
// the network does not use summaries).
type ShortID [8]byte

func shortOf(b []byte) ShortID { var s ShortID; copy(s[:], b); return s }

// Head is a device's chain as a summary sees it: every entry from 1 to Seq
// is held. ID is the short ID of the entry at Seq; zero when the summary's
// node holds two entries at one place of the chain below Seq (a forked
// key): the answer then sends all of the device's entries.
type Head struct {
	Device ShortID
	Seq    uint64
	ID     ShortID
}

// Summary says which entries a node holds.
type Summary struct {
	Heads []Head    // sorted by Device, one per device
	Extra []ShortID // entries held beyond their chain's gap, sorted
}

// Limits of a summary.
const (
	// MaxSummaryExtra bounds the entries a summary names one by one: a
	// node holding more beyond gaps names the first ones (by ID), and
	// receives the others again (which stores nothing twice).
	MaxSummaryExtra = 32 << 10
	// maxSummaryHeads bounds the devices of a summary.
	maxSummaryHeads = 1 << 16
)

// ErrBadSummary is returned for a summary that does not decode.
var ErrBadSummary = errors.New("sync: malformed summary")

// Summarise makes the summary of the entries held. A device's head is the
// end of the run of entries from seq 1 each of which follows the one
// before (its Prev): by the hash links, a node holding the head's entry at
// the end of such a run holds exactly the chain below it.
func Summarise(held []Holding) Summary {
	byDev := map[ShortID]map[uint64][]Holding{}
	for _, h := range held {
		d := shortOf(h.Author[:])
		if byDev[d] == nil {
			byDev[d] = map[uint64][]Holding{}
		}
		byDev[d][h.Seq] = append(byDev[d][h.Seq], h)
	}
	var s Summary
	for d, seqs := range byDev {
		var top uint64
		var prev crdt.ID
		forked := false
		for {
			next := seqs[top+1]
			if len(next) > 1 { // a forked key: the answer sends the device whole
				forked = true
				for len(seqs[top+1]) > 0 {
					top++
				}
				break
			}
			if len(next) == 0 || next[0].Prev != prev {
				break
			}
			top++
			prev = next[0].ID
		}
		if top > 0 {
			h := Head{Device: d, Seq: top}
			if !forked {
				h.ID = shortOf(prev[:])
			}
			s.Heads = append(s.Heads, h)
		}
		for seq, hs := range seqs {
			if seq > top {
				for _, h := range hs {
					s.Extra = append(s.Extra, shortOf(h.ID[:]))
				}
			}
		}
	}
	slices.SortFunc(s.Heads, func(a, b Head) int { return bytes.Compare(a.Device[:], b.Device[:]) })
	s.Extra = sortShort(s.Extra)
	return s
}

func sortShort(ids []ShortID) []ShortID {
	slices.SortFunc(ids, func(a, b ShortID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	if len(ids) > MaxSummaryExtra {
		ids = ids[:MaxSummaryExtra]
	}
	return ids
}

// Devices is the number of device chains the summary describes.
func (s Summary) Devices() int { return len(s.Heads) }

func (s Summary) head(d ShortID) (Head, bool) {
	i, ok := slices.BinarySearchFunc(s.Heads, d, func(h Head, d ShortID) int { return bytes.Compare(h.Device[:], d[:]) })
	if !ok {
		return Head{}, false
	}
	return s.Heads[i], true
}

func (s Summary) hasExtra(id crdt.ID) bool {
	_, ok := slices.BinarySearchFunc(s.Extra, shortOf(id[:]), func(a, b ShortID) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// Lacks returns the entries of have that the summary's node does not hold,
// in reconciliation order (clock, then ID), which puts an entry after the
// entries it builds on: a chain's clocks rise, and a node's clock passes
// every clock it has seen. have should be the accepted entries, as the
// stream protocol pushes only those. A device whose chain the two sides
// hold differently at the summary's head (a forked key, on either side) is
// sent whole.
func (s Summary) Lacks(have []Holding) []Holding {
	type devInfo struct {
		head    Head
		known   bool
		atHead  []ShortID
		forked  bool
		seqSeen map[uint64]bool
	}
	devs := map[crdt.DeviceKey]*devInfo{}
	for _, h := range have {
		di := devs[h.Author]
		if di == nil {
			di = &devInfo{seqSeen: map[uint64]bool{}}
			di.head, di.known = s.head(shortOf(h.Author[:]))
			devs[h.Author] = di
		}
		if di.seqSeen[h.Seq] {
			di.forked = true
		}
		di.seqSeen[h.Seq] = true
		if di.known && h.Seq == di.head.Seq {
			di.atHead = append(di.atHead, shortOf(h.ID[:]))
		}
	}
	var out []Holding
	for _, h := range have {
		if s.hasExtra(h.ID) {
			continue
		}
		di := devs[h.Author]
		whole := !di.known || di.forked || di.head.ID == (ShortID{}) ||
			len(di.atHead) > 0 && !slices.Contains(di.atHead, di.head.ID)
		if whole || h.Seq > di.head.Seq {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b Holding) int { return compareItems(a.Item(), b.Item()) })
	return out
}

// Merge returns what is known to be held when both summaries are: for each
// device the longer chain (the first's, when the two name different
// entries at the same place), and the entries either names one by one.
func (s Summary) Merge(o Summary) Summary {
	heads := map[ShortID]Head{}
	for _, h := range o.Heads {
		heads[h.Device] = h
	}
	for _, h := range s.Heads {
		if x, ok := heads[h.Device]; !ok || h.Seq >= x.Seq {
			heads[h.Device] = h
		}
	}
	var m Summary
	for _, h := range heads {
		m.Heads = append(m.Heads, h)
	}
	slices.SortFunc(m.Heads, func(a, b Head) int { return bytes.Compare(a.Device[:], b.Device[:]) })
	m.Extra = sortShort(append(slices.Clone(s.Extra), o.Extra...))
	return m
}

// Encode writes the summary:
//
//	summary = uvarint(#heads) head* uvarint(#extra) shortID*
//	head    = device (8 bytes) | uvarint(seq) | shortID (8 bytes)
//
// heads strictly ascending by device, seq at least 1; extra strictly
// ascending.
func (s Summary) Encode() []byte {
	b := binary.AppendUvarint(nil, uint64(len(s.Heads)))
	for _, h := range s.Heads {
		b = append(b, h.Device[:]...)
		b = binary.AppendUvarint(b, h.Seq)
		b = append(b, h.ID[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Extra)))
	for _, id := range s.Extra {
		b = append(b, id[:]...)
	}
	return b
}

// DecodeSummary reads what Encode wrote, strictly.
func DecodeSummary(b []byte) (Summary, error) {
	r := fileReader{b: b}
	var s Summary
	n := r.uvarint()
	if n > maxSummaryHeads || n*17 > uint64(len(b)) {
		return Summary{}, ErrBadSummary
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		var h Head
		copy(h.Device[:], r.bytes(8))
		h.Seq = r.uvarint()
		copy(h.ID[:], r.bytes(8))
		if h.Seq == 0 || i > 0 && bytes.Compare(s.Heads[i-1].Device[:], h.Device[:]) >= 0 {
			return Summary{}, ErrBadSummary
		}
		s.Heads = append(s.Heads, h)
	}
	n = r.uvarint()
	if n > MaxSummaryExtra || n*8 > uint64(len(b)) {
		return Summary{}, ErrBadSummary
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		id := shortOf(r.bytes(8))
		if i > 0 && bytes.Compare(s.Extra[i-1][:], id[:]) >= 0 {
			return Summary{}, ErrBadSummary
		}
		s.Extra = append(s.Extra, id)
	}
	if r.err != nil || len(r.b) != 0 {
		return Summary{}, ErrBadSummary
	}
	return s, nil
}

// fileReader reads a strict binary encoding; the first error sticks.
type fileReader struct {
	b   []byte
	err error
}

func (r *fileReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 || k != len(binary.AppendUvarint(nil, v)) { // shortest form only
		r.err = fmt.Errorf("sync: bad varint")
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *fileReader) bytes(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = fmt.Errorf("sync: short read")
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}
