package sync

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/murmurnet/murmur/crdt"
)

// Item is one element of a reconciled set: an entry, ordered by clock, then ID.
// Ordering by clock first puts recent entries together at the end, so two
// nodes that were in sync until recently differ in one narrow range that a
// few fingerprints find.
type Item struct {
	Clock crdt.Clock
	ID    crdt.ID
}

// Less reports whether a sorts before b: by clock, then by ID bytes.
func (a Item) Less(b Item) bool { return compareItems(a, b) < 0 }

func compareItems(a, b Item) int {
	if a.Clock != b.Clock {
		if a.Clock < b.Clock {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// blockCap is the most items a block holds. A block is split when an insert
// finds it full, and merged with a neighbour when removals leave it under a
// quarter full. An insert searches the blocks' last items, then one block,
// and moves half a block on average; a range fingerprint adds whole blocks'
// sums and, item by item, the two partial blocks at its ends. 128, 256 and
// 512 measure the same for inserts (a million in random order take about
// 0.8 s, dominated by cache misses; in clock order, 0.1 s); 256 keeps the
// partial blocks of a fingerprint small.
const blockCap = 256

// Index is a sorted set of items with fast range fingerprints. It is not
// safe for concurrent use (the caller locks); methods that only read, such
// as the ones a Session uses while answering, do not modify the Index, so a
// read lock is enough for them.
//
// The set is a list of sorted blocks of at most blockCap items, each block
// keeping the sum of its IDs. Compared with one sorted slice, an insert in
// the middle moves a block, not the whole set; compared with a balanced
// tree, it is a fraction of the code and the data stays contiguous. A range
// fingerprint adds whole blocks' sums and the items of the two blocks at its
// ends: O(N/blockCap + blockCap) for the widest range. That linear term does
// not add up across a message, because a message's ranges are disjoint and
// answered left to right: one message costs one pass over the block list.
type Index struct {
	blocks []*block // sorted, none empty; every item of blocks[i] precedes every item of blocks[i+1]
	lasts  []Item   // lasts[i] is the last item of blocks[i]: searched without touching the blocks
	n      int
}

type block struct {
	items []Item // sorted, 1..blockCap items, capacity blockCap
	sum   idSum  // sum of the IDs in items
}

func newBlock() *block { return &block{items: make([]Item, 0, blockCap)} }

func (b *block) last() Item { return b.items[len(b.items)-1] }

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{} }

// Len returns the number of items in the index.
func (x *Index) Len() int { return x.n }

// blockFor returns the first block whose last item is not less than it:
// the only block that can hold it. It returns len(x.blocks) if it is after
// every item.
func (x *Index) blockFor(it Item) int {
	lo, hi := 0, len(x.lasts)
	if hi > 0 && compareItems(x.lasts[hi-1], it) < 0 {
		return hi // after everything: entries mostly arrive in clock order
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareItems(x.lasts[m], it) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Has reports whether it is in the index.
func (x *Index) Has(it Item) bool {
	bi := x.blockFor(it)
	if bi == len(x.blocks) {
		return false
	}
	_, found := slices.BinarySearchFunc(x.blocks[bi].items, it, compareItems)
	return found
}

// Add inserts it and reports whether it was absent.
func (x *Index) Add(it Item) bool {
	if len(x.blocks) == 0 {
		b := newBlock()
		b.items = append(b.items, it)
		b.sum.add(&it.ID)
		x.blocks = append(x.blocks, b)
		x.lasts = append(x.lasts, it)
		x.n = 1
		return true
	}
	bi := x.blockFor(it)
	if bi == len(x.blocks) {
		bi--
	}
	b := x.blocks[bi]
	i, found := slices.BinarySearchFunc(b.items, it, compareItems)
	if found {
		return false
	}
	if len(b.items) == blockCap {
		if bi == len(x.blocks)-1 && i == blockCap {
			// Past the last item: entries mostly arrive in clock order,
			// so leave this block full instead of leaving two half-empty.
			b = newBlock()
			x.blocks = append(x.blocks, b)
			x.lasts = append(x.lasts, it)
			bi, i = bi+1, 0
		} else {
			half := blockCap / 2
			nb := newBlock()
			nb.items = append(nb.items, b.items[half:]...)
			for j := range nb.items {
				nb.sum.add(&nb.items[j].ID)
			}
			b.sum.subSum(nb.sum)
			b.items = b.items[:half]
			x.blocks = slices.Insert(x.blocks, bi+1, nb)
			x.lasts = slices.Insert(x.lasts, bi, b.last())
			if i > half {
				b, bi, i = nb, bi+1, i-half
			}
		}
	}
	b.items = slices.Insert(b.items, i, it)
	b.sum.add(&it.ID)
	x.lasts[bi] = b.last()
	x.n++
	return true
}

// Remove deletes it and reports whether it was present.
func (x *Index) Remove(it Item) bool {
	bi := x.blockFor(it)
	if bi == len(x.blocks) {
		return false
	}
	b := x.blocks[bi]
	i, found := slices.BinarySearchFunc(b.items, it, compareItems)
	if !found {
		return false
	}
	b.items = slices.Delete(b.items, i, i+1)
	b.sum.sub(&it.ID)
	x.n--
	switch {
	case len(b.items) == 0:
		x.blocks = slices.Delete(x.blocks, bi, bi+1)
		x.lasts = slices.Delete(x.lasts, bi, bi+1)
	case len(b.items) < blockCap/4:
		x.lasts[bi] = b.last()
		x.mergeAround(bi)
	default:
		x.lasts[bi] = b.last()
	}
	return true
}

// mergeAround merges the small block bi into its smaller neighbour when the
// two fit in three quarters of a block, so that removals cannot leave a long
// list of nearly empty blocks behind.
func (x *Index) mergeAround(bi int) {
	l := -1
	switch {
	case bi > 0 && bi+1 < len(x.blocks):
		l = bi - 1
		if len(x.blocks[bi+1].items) < len(x.blocks[bi-1].items) {
			l = bi
		}
	case bi > 0:
		l = bi - 1
	case bi+1 < len(x.blocks):
		l = bi
	default:
		return
	}
	a, b := x.blocks[l], x.blocks[l+1]
	if len(a.items)+len(b.items) > blockCap*3/4 {
		return
	}
	a.items = append(a.items, b.items...)
	a.sum.addSum(b.sum)
	x.blocks = slices.Delete(x.blocks, l+1, l+2)
	x.lasts = slices.Delete(x.lasts, l, l+1)
}

// A cursor is a position in the index: the item at offset off of block blk,
// or the end (blk == len(blocks), off == 0). Cursors are only valid until
// the index changes; a Session does not keep one across messages.
type cursor struct{ blk, off int }

func (x *Index) begin() cursor { return cursor{} }
func (x *Index) end() cursor   { return cursor{blk: len(x.blocks)} }

// at returns the item at c, which is not the end.
func (x *Index) at(c cursor) Item { return x.blocks[c.blk].items[c.off] }

// before returns the item just before c, which is not the beginning.
func (x *Index) before(c cursor) Item {
	if c.off > 0 {
		return x.blocks[c.blk].items[c.off-1]
	}
	return x.blocks[c.blk-1].last()
}

// next returns the position after c, which is not the end.
func (x *Index) next(c cursor) cursor {
	if c.off+1 < len(x.blocks[c.blk].items) {
		return cursor{c.blk, c.off + 1}
	}
	return cursor{blk: c.blk + 1}
}

// seek returns the position of the first item not below u.
func (x *Index) seek(u bound) cursor {
	if u.inf {
		return x.end()
	}
	lo, hi := 0, len(x.lasts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if u.above(x.lasts[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(x.blocks) {
		return x.end()
	}
	items := x.blocks[lo].items
	i, j := 0, len(items)
	for i < j {
		m := int(uint(i+j) >> 1)
		if u.above(items[m]) {
			i = m + 1
		} else {
			j = m
		}
	}
	return cursor{lo, i}
}

// partial sums items[i:j] of block bi, adding the shorter side.
func (x *Index) partial(bi, i, j int) idSum {
	b := x.blocks[bi]
	var s idSum
	if 2*(j-i) <= len(b.items) {
		for k := i; k < j; k++ {
			s.add(&b.items[k].ID)
		}
		return s
	}
	s = b.sum
	for k := 0; k < i; k++ {
		s.sub(&b.items[k].ID)
	}
	for k := j; k < len(b.items); k++ {
		s.sub(&b.items[k].ID)
	}
	return s
}

// span returns the sum of the IDs in [a, b) and how many there are.
func (x *Index) span(a, b cursor) (idSum, int) {
	if a.blk == b.blk {
		if a.off == b.off {
			return idSum{}, 0
		}
		return x.partial(a.blk, a.off, b.off), b.off - a.off
	}
	first := x.blocks[a.blk]
	s := x.partial(a.blk, a.off, len(first.items))
	n := len(first.items) - a.off
	for bi := a.blk + 1; bi < b.blk; bi++ {
		s.addSum(x.blocks[bi].sum)
		n += len(x.blocks[bi].items)
	}
	if b.off > 0 {
		s.addSum(x.partial(b.blk, 0, b.off))
		n += b.off
	}
	return s, n
}

// count returns the number of items in [a, b).
func (x *Index) count(a, b cursor) int {
	if a.blk == b.blk {
		return b.off - a.off
	}
	n := len(x.blocks[a.blk].items) - a.off + b.off
	for bi := a.blk + 1; bi < b.blk; bi++ {
		n += len(x.blocks[bi].items)
	}
	return n
}

// advance returns the position n items after c, which must exist, and the
// sum of the IDs passed.
func (x *Index) advance(c cursor, n int) (cursor, idSum) {
	var s idSum
	for n > 0 {
		b := x.blocks[c.blk]
		left := len(b.items) - c.off
		if n < left {
			s.addSum(x.partial(c.blk, c.off, c.off+n))
			c.off += n
			break
		}
		s.addSum(x.partial(c.blk, c.off, len(b.items)))
		n -= left
		c = cursor{blk: c.blk + 1}
	}
	return c, s
}

// appendIDs appends the IDs in [a, b) to dst.
func (x *Index) appendIDs(dst []crdt.ID, a, b cursor) []crdt.ID {
	for bi := a.blk; bi <= b.blk && bi < len(x.blocks); bi++ {
		items := x.blocks[bi].items
		lo, hi := 0, len(items)
		if bi == a.blk {
			lo = a.off
		}
		if bi == b.blk {
			hi = b.off
		}
		for k := lo; k < hi; k++ {
			dst = append(dst, items[k].ID)
		}
	}
	return dst
}

// each calls f for every item in [a, b), in order.
func (x *Index) each(a, b cursor, f func(Item)) {
	for bi := a.blk; bi <= b.blk && bi < len(x.blocks); bi++ {
		items := x.blocks[bi].items
		lo, hi := 0, len(items)
		if bi == a.blk {
			lo = a.off
		}
		if bi == b.blk {
			hi = b.off
		}
		for k := lo; k < hi; k++ {
			f(items[k])
		}
	}
}

// idSum is a sum of IDs read as 256-bit little-endian integers, modulo
// 2^256. Sums are additive, so a block's sum stands for all its items and
// the fingerprint of a range never needs the items of the blocks inside it.
type idSum [4]uint64

func (s *idSum) add(id *crdt.ID) {
	var c uint64
	s[0], c = bits.Add64(s[0], binary.LittleEndian.Uint64(id[0:]), 0)
	s[1], c = bits.Add64(s[1], binary.LittleEndian.Uint64(id[8:]), c)
	s[2], c = bits.Add64(s[2], binary.LittleEndian.Uint64(id[16:]), c)
	s[3], _ = bits.Add64(s[3], binary.LittleEndian.Uint64(id[24:]), c)
}

func (s *idSum) sub(id *crdt.ID) {
	var b uint64
	s[0], b = bits.Sub64(s[0], binary.LittleEndian.Uint64(id[0:]), 0)
	s[1], b = bits.Sub64(s[1], binary.LittleEndian.Uint64(id[8:]), b)
	s[2], b = bits.Sub64(s[2], binary.LittleEndian.Uint64(id[16:]), b)
	s[3], _ = bits.Sub64(s[3], binary.LittleEndian.Uint64(id[24:]), b)
}

func (s *idSum) addSum(o idSum) {
	var c uint64
	s[0], c = bits.Add64(s[0], o[0], 0)
	s[1], c = bits.Add64(s[1], o[1], c)
	s[2], c = bits.Add64(s[2], o[2], c)
	s[3], _ = bits.Add64(s[3], o[3], c)
}

func (s *idSum) subSum(o idSum) {
	var b uint64
	s[0], b = bits.Sub64(s[0], o[0], 0)
	s[1], b = bits.Sub64(s[1], o[1], b)
	s[2], b = bits.Sub64(s[2], o[2], b)
	s[3], _ = bits.Sub64(s[3], o[3], b)
}

// Fingerprints. A session is keyed by the initiator's set key: the
// SHA-256 of the whole set's sum and count, cut to 16 bytes, which also
// tells the responder at once whether the two sets are identical (a false
// "identical" takes a 2^64 birthday search even for someone who authors
// entries at will). Every range fingerprint and every listed ID of the
// session is then hashed with that key and cut to 8 bytes.
//
// Why 64 bits are enough: an honest false match has probability 2^-64 per
// comparison (a session makes thousands), and costs only that session's
// miss of the difference. An author who grinds entries to make two of them
// collide cannot do it ahead of the session: the key depends on the
// initiator's whole set, which holds one of the two entries (else there is
// no collision to exploit), so each try changes the key and no birthday
// speed-up applies; finding a match for a fixed key takes 2^64 tries.
const (
	keyLen         = 16
	fingerprintLen = 8
	idHashLen      = 8
)

type (
	setKey      [keyLen]byte
	fingerprint [fingerprintLen]byte
)

// put appends s (32 bytes, little-endian) and n (uvarint) to buf.
func (s idSum) put(buf []byte, n int) []byte {
	for _, w := range s {
		buf = binary.LittleEndian.AppendUint64(buf, w)
	}
	return binary.AppendUvarint(buf, uint64(n))
}

// key returns the set key of a set of n items whose IDs sum to s. The count
// is in the hash so that sets cannot match by their sum alone.
func (s idSum) key(n int) setKey {
	var buf [keyLen + 32 + binary.MaxVarintLen64]byte
	h := sha256.Sum256(s.put(append(buf[:0], "murmur-recon-set"...), n))
	return setKey(h[:keyLen])
}

// fingerprint of a range of n items whose IDs sum to s, under key k.
func (s idSum) fingerprint(k *setKey, n int) fingerprint {
	var buf [keyLen + 32 + binary.MaxVarintLen64]byte
	h := sha256.Sum256(s.put(append(buf[:0], k[:]...), n))
	return fingerprint(h[:fingerprintLen])
}

// idHash is how an ID is listed under key k: its keyed hash, cut to 8
// bytes, read as a big-endian number.
func idHash(k *setKey, id *crdt.ID) uint64 {
	var buf [keyLen + 1 + 32]byte
	h := sha256.Sum256(append(append(append(buf[:0], k[:]...), 'i'), id[:]...))
	return binary.BigEndian.Uint64(h[:idHashLen])
}
