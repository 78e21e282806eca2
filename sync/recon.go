package sync

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/murmurnet/murmur/crdt"
)

// Range-based set reconciliation, after Meyer ("Range-Based Set
// Reconciliation") and the Negentropy protocol, with a wire format of its
// own.
//
// Both sides order their items by (clock, ID). A message covers that key
// space with consecutive ranges, each closed by an upper bound and carrying
// one of three things: nothing (Skip: agreed, or resolved), the sender's
// fingerprint of its items in the range (Fingerprint), or the complete list
// of the sender's IDs in the range (IDList). The receiver answers range by
// range:
//
//   - Fingerprint equal to its own: Skip.
//   - Fingerprint different, and it has at most IDListThreshold items there
//     (zero included): IDList of its IDs. Otherwise it splits the range at
//     its own items into parts and sends a Fingerprint for each.
//   - IDList: it now knows both sides of the range. It pushes what the peer
//     lacks, asks (Want) for what it lacks, and the range is resolved.
//
// Fan-out. Round trips, not bytes, are what a long link makes expensive, so
// the number of parts adapts to the range's size: the fewest that reach ID
// lists in as few splits as parts of at most maxFanout (32) allow, evenly
// (Options.fanout). A million items are cut in 28, 28 and 27 parts of 47
// items. Where differences are dense, listing 47 IDs to find one would
// overflow the message and so cost rounds; those ranges are split once more
// into parts of 8 instead (answerer.mismatch). The initiator's first
// message carries the first split when the set needs three (over about
// 49,000 items): with the responder's split and its own, the ID lists then
// come from the responder in the fourth message, and the entries either
// side lacks travel with the fifth or sixth, whichever side holds them: 3
// round trips. Smaller sets need two splits, and their first message is
// the key alone, so that identical sets cost 22 bytes; a million identical
// items cost 329 (the first split).
//
// Hashes. The first message starts with the initiator's set key: SHA-256 of
// the sum and count of its whole set, cut to 16 bytes. A responder whose own
// key is the same answers "done" at once. Every fingerprint of the session
// (of a range's ID sum and count) and every listed ID is hashed under that
// key and cut to 8 bytes; index.go says why 64 bits are enough there. Wants
// name listed IDs by their index, so the hashes never have to be reversed.
//
// A side with no items in a range answers with an empty IDList (two bytes
// and the bound; adjacent ones merge), and the peer pushes everything it has
// there: a node catching up costs a few tiny messages and then the entries,
// and no list of the other side's IDs ever travels. An initiator with no
// items starts that way, with an empty IDList over everything.
//
// Wire format, version 2. Varints are unsigned LEB128, minimal.
//
//	message = version:byte  [key:16]  nRanges:varint  range × nRanges  nWants:varint  want × nWants
//	range   = kind:byte  [clockDelta  prefix]  payload
//	payload = Skip: nothing
//	        | Fingerprint: 8 bytes
//	        | IDList: n:varint  idHash (8 bytes) × n
//	want    = delta:varint
//
// Only the initiator's first message has the key, and in that message no
// range at all stands for one Fingerprint range over everything that does
// not match. kind holds the mode in its low two bits (0 Skip, 1
// Fingerprint, 2 IDList) and the length of the bound's ID prefix (0 to 32)
// in the other six, or 63 for a bound of +inf, which has no clock and no
// prefix. A bound stands for the key (clock, prefix padded with zero bytes
// to 32 bytes); items below that key fall in the range it closes.
// clockDelta is the bound's clock minus the previous bound's in the same
// message (0 before the first), written as the varint of the 70-bit number
// m<<6 | e for the delta m<<e, with m odd (or m = e = 0). A bound only has
// to fall between two items, so the sender picks the roundest clock in that
// gap and a bound usually costs one or two bytes; it adds a prefix only when
// the two items share a clock, and then the shortest that separates them,
// which never ends in a zero byte. Bounds strictly increase, and +inf only
// closes the last range. Ranges start at -inf; after the last one,
// everything is Skip, so an encoder never writes a trailing Skip range, nor
// two Skips in a row.
//
// A want is an index into the IDs of the IDList ranges of the message being
// answered, taken in order: the receiver listed those IDs itself, so a byte
// or two names one. The first want is the index itself; each next one is
// the difference from the previous minus one.
//
// Completion. A message with no ranges and no wants (other than a first
// message) says "done": its receiver returns a nil reply. A side is Done
// when it returns nil, or when it sends a reply that asks nothing (no
// Fingerprint or IDList range, no want): its peer will have nothing to
// answer. A reply that only wants leaves its sender waiting for the entries
// and then the peer's "done" message, which the peer sends after pushing,
// so that the wanting side knows that what it asked for has arrived.
// Identical sets: the initiator sends its key (and perhaps a split), the
// responder answers "done" (3 bytes) and is Done, the initiator gets nil
// and is Done.
//
// Limits. A reply stays under Options.MaxMessageBytes. Ranges are answered
// in order as long as the answer leaves room to echo the ones after it
// (half the limit at most); a range that does not fit is echoed: handed back
// with our own fingerprint, for the peer to answer next round, which keeps
// the work already done on how finely the key space is cut. If even the
// echoes do not fit, the rest is folded into one Fingerprint range. A
// Receive pushes at most Options.MaxPush IDs for resolved ranges (plus those
// the peer wanted, bounded by the size of our previous message); the rest
// of a range is echoed. A session answers at most Options.MaxRounds
// messages, so a peer whose set keeps changing (or a hostile one) cannot
// keep it busy: the next periodic sync continues.

// version is the first byte of every message.
const version = 2

// Limits on incoming messages, checked before the bytes they govern are
// read or allocated.
const (
	// MaxMessageSize is the largest message Receive accepts; transports can
	// use it to bound a frame before reading it.
	MaxMessageSize = 1 << 20
	// MaxIDList is the most IDs one IDList range may carry. A peer's
	// IDListThreshold is clamped to it, so honest peers never exceed it.
	MaxIDList = 1024
)

// Defaults for Options, tuned with ReconTable. An ID list threshold of 48
// lets up to 1.5 million items reach their lists in three splits (a
// million: one difference in 3 round trips and 1.3 KB); 16 needs a fourth
// split at a million (4 round trips, 0.9 KB), 32 only reaches a million
// items in three, and 64 lists more IDs for as many rounds. 512 KiB
// messages carry 10,000 differences among a million items in 4 round trips
// (1.5 MB), where 256 KiB take 7; 1 MiB gains nothing more. MaxPush
// batches a node's catching up by 65,536 entries.
const (
	DefaultMaxMessageBytes = 512 << 10
	DefaultIDListThreshold = 48
	DefaultMaxPush         = 1 << 16
	DefaultMaxRounds       = 512
	maxBranching           = 256
	// maxFanout bounds the adaptive fan-out.
	maxFanout = 32
	// minMaxPush keeps batches big enough that a million entries take a
	// thousand rounds at worst, not a million.
	minMaxPush = 1024
)

// Errors returned by Receive and Start. A session that returned one is over;
// the next periodic sync starts a new one.
var (
	ErrMalformed     = errors.New("sync: malformed reconciliation message")
	ErrTooLarge      = errors.New("sync: reconciliation message over the size limit")
	ErrVersion       = errors.New("sync: unsupported reconciliation version (the peer runs a different release; upgrade the older one)")
	ErrTooManyRounds = errors.New("sync: reconciliation did not finish within the round limit; the next sync continues it")
	ErrSessionOver   = errors.New("sync: reconciliation session already finished")
	ErrStarted       = errors.New("sync: reconciliation session already started")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Options tune a Session. The zero value means the defaults; both sides may
// use different options.
type Options struct {
	// MaxMessageBytes bounds an encoded reply. It is raised, if needed, so
	// that any one range can be answered in every round (to about 8 KiB
	// with the defaults), and capped at MaxMessageSize.
	MaxMessageBytes int
	// IDListThreshold: a mismatched range where this side has at most this
	// many items is answered with their IDs (at most MaxIDList).
	IDListThreshold int
	// Branching, if set, is the number of parts a mismatched range is
	// split into (2 to 256). Zero adapts it to the range's size, so that
	// ranges reach the ID list in as few rounds as parts of at most
	// maxFanout allow.
	Branching int
	// MaxPush bounds the IDs one Receive returns to push for resolved
	// ranges (at least 1024), so that a node catching up fetches and sends
	// its entries in batches; the rest follows in the next rounds.
	MaxPush int
	// MaxRounds bounds the messages one session answers.
	MaxRounds int
}

func (o Options) withDefaults() Options {
	def := func(v *int, d, lo, hi int) {
		if *v <= 0 {
			*v = d
		}
		*v = min(max(*v, lo), hi)
	}
	def(&o.IDListThreshold, DefaultIDListThreshold, 1, MaxIDList)
	branching := maxFanout
	if o.Branching > 0 {
		o.Branching = min(max(o.Branching, 2), maxBranching)
		branching = o.Branching
	} else {
		o.Branching = 0
	}
	def(&o.MaxPush, DefaultMaxPush, minMaxPush, 1<<30)
	def(&o.MaxRounds, DefaultMaxRounds, 1, 1<<30)
	// The worst single answer: a pending Skip, then a split or an IDList of
	// ours, plus the wants for an incoming IDList. A reply keeps up to half
	// its room for echoes, and a fold at the end: the first answer must fit
	// in the other half, so that every round makes progress.
	answer := maxRangeLen + max(branching*(maxRangeLen+fingerprintLen), maxRangeLen+binary.MaxVarintLen16+o.IDListThreshold*idHashLen)
	need := 2 * (headerLen + answer + MaxIDList*maxWantLen + foldReserve)
	def(&o.MaxMessageBytes, DefaultMaxMessageBytes, need, MaxMessageSize)
	return o
}

const (
	modeSkip        = 0
	modeFingerprint = 1
	modeIDList      = 2
	modeBits        = 2
	infPrefix       = 63 // prefix length field of a +inf bound

	maxRangeLen = 1 + 10 + 32 // kind, clock (a 70-bit varint), prefix; without payload
	maxWantLen  = 3           // a want delta is below MaxMessageSize/idHashLen = 2^17 < 2^21
	headerLen   = 1 + 2*binary.MaxVarintLen32
	// foldReserve is kept free for the fold: flushing a pending Skip, one
	// Fingerprint range, and a longer range count.
	foldReserve = maxRangeLen + maxRangeLen + fingerprintLen + 2
)

// A bound is an upper bound of a range: the key (clock, id), where id is the
// first plen bytes of a prefix and zeros after, or +inf. A bound we make
// may leave its clock open: any clock in [minClock, clock] separates the
// same items, and the encoder picks the one that is shortest to write.
type bound struct {
	inf      bool
	plen     uint8
	clock    crdt.Clock
	minClock crdt.Clock // <= clock; equal when the clock is fixed
	id       crdt.ID
}

// above reports whether u is above it: whether it falls in the range that u
// closes.
func (u *bound) above(it Item) bool {
	if u.inf {
		return true
	}
	if it.Clock != u.clock {
		return it.Clock < u.clock
	}
	return bytes.Compare(it.ID[:], u.id[:]) < 0
}

func compareBounds(a, b *bound) int {
	switch {
	case a.inf && b.inf:
		return 0
	case a.inf:
		return 1
	case b.inf:
		return -1
	case a.clock != b.clock:
		if a.clock < b.clock {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.id[:], b.id[:])
}

// separator returns the shortest bound above a and not above b (a < b):
// a clock alone, anywhere in (a's clock, b's clock], when the clocks
// differ; else b's clock and b's ID cut one byte after the first byte where
// the IDs differ.
func separator(a, b Item) bound {
	u := bound{clock: b.Clock, minClock: b.Clock}
	if a.Clock != b.Clock {
		u.minClock = a.Clock + 1
		return u
	}
	l := 0
	for a.ID[l] == b.ID[l] {
		l++
	}
	u.plen = uint8(l + 1)
	copy(u.id[:l+1], b.ID[:l+1])
	return u
}

// Session is one side of a reconciliation conversation. It reads the Index
// only while Start or Receive runs, and keeps no position in it between
// messages, so the index may change between rounds (entries arriving from
// gossip or from this very session): that costs extra rounds, never
// correctness. A Session is not safe for concurrent use.
type Session struct {
	x       *Index
	opt     Options
	started bool
	done    bool
	err     error
	rounds  int
	key     setKey // the initiator's set key, which keys every hash of the session
	// sent holds the IDs of the IDList ranges of our last message, in
	// order: the peer's wants are indices into it.
	sent []crdt.ID
}

// NewSession returns a session over x. Options' zero fields take defaults.
func NewSession(x *Index, opt Options) *Session {
	return &Session{x: x, opt: opt.withDefaults()}
}

// Done reports whether the conversation is complete from this side: it has
// nothing more to send and expects nothing more.
func (s *Session) Done() bool { return s.done }

// Start returns the initiator's first message: the set key, then the whole
// set listed when it is small (an empty IDList, that asks the peer to push
// everything, when it is empty), split as a mismatched range would be when
// it takes three splits or more to reach ID lists, and else nothing more:
// the peer splits it.
func (s *Session) Start() ([]byte, error) {
	if s.started {
		return nil, ErrStarted
	}
	s.started = true
	sum, n := s.x.span(s.x.begin(), s.x.end())
	s.key = sum.key(n)
	a := answerer{s: s, x: s.x}
	a.b.k, a.b.first = &s.key, true
	all := bound{inf: true}
	switch {
	case n <= s.opt.IDListThreshold:
		a.b.idList(all, s.x.appendIDs(make([]crdt.ID, 0, n), s.x.begin(), s.x.end()))
	case s.opt.splits(n, s.opt.IDListThreshold) >= 3:
		a.split(all, s.x.begin(), n, s.opt.IDListThreshold)
	}
	s.sent = a.b.ids
	return a.b.bytes(), nil
}

// Receive answers the peer's message. It returns the reply to send (nil when
// this side has nothing more to say), the IDs of the entries to push to the
// peer, and, for accounting, how many IDs this side asked for in the reply
// (it knows them only by their hash until the entries arrive). The
// transport sends the entries for push before the reply: a reply that ends
// the conversation then tells the peer that everything it asked for has
// arrived. When push is not empty, reply is not nil.
func (s *Session) Receive(msg []byte) (reply []byte, push []crdt.ID, wanted int, err error) {
	if s.err != nil {
		return nil, nil, 0, s.err
	}
	if s.done {
		return nil, nil, 0, ErrSessionOver
	}
	first := !s.started
	s.started = true
	s.rounds++
	if s.rounds > s.opt.MaxRounds {
		s.err = ErrTooManyRounds
		return nil, nil, 0, s.err
	}
	reply, push, wanted, err = s.answer(msg, first)
	if err != nil {
		s.err = err
		return nil, nil, 0, err
	}
	return reply, push, wanted, nil
}

// msgInfo is what a first, validating pass over a message learns.
type msgInfo struct {
	nRanges  int
	lastOpen bound // upper bound of the last range that is not Skip
	// echoBytes estimates the bytes that echoing every range that is not
	// Skip would take.
	echoBytes int
	nFP       int // Fingerprint ranges
	rangesAt  int // offset of nRanges
	wantsAt   int // offset of nWants
}

// scan validates msg entirely, without allocating, before anything acts on
// it. sent is the number of IDs our last message listed; first says that
// msg is the initiator's first message, which carries the set key.
func scan(msg []byte, sent int, first bool) (msgInfo, error) {
	var info msgInfo
	if len(msg) == 0 {
		return info, malformed("empty message")
	}
	if len(msg) > MaxMessageSize {
		return info, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(msg), MaxMessageSize)
	}
	if msg[0] != version {
		return info, fmt.Errorf("%w: version %d, this release speaks %d", ErrVersion, msg[0], version)
	}
	r := reader{msg: msg, off: 1}
	if first {
		if _, err := r.take(keyLen); err != nil {
			return info, err
		}
	}
	info.rangesAt = r.off
	n, err := r.uvarint()
	if err != nil {
		return info, err
	}
	if n > uint64(len(msg)-r.off) { // every range takes at least one byte
		return info, malformed("%d ranges in %d bytes", n, len(msg))
	}
	info.nRanges = int(n)
	prevSkip := false
	for i := range info.nRanges {
		rg, err := r.next()
		if err != nil {
			return info, err
		}
		if rg.mode == modeSkip {
			if prevSkip || i == info.nRanges-1 {
				return info, malformed("redundant Skip range")
			}
		} else {
			info.lastOpen = rg.upper
			info.echoBytes += rg.echoBytes()
		}
		if rg.mode == modeFingerprint {
			info.nFP++
		}
		prevSkip = rg.mode == modeSkip
	}
	info.wantsAt = r.off
	nw, err := r.uvarint()
	if err != nil {
		return info, err
	}
	if nw > uint64(sent) {
		return info, malformed("%d wants, our message listed %d IDs", nw, sent)
	}
	prev := -1
	for range nw {
		if prev, err = r.want(prev, sent); err != nil {
			return info, err
		}
	}
	if r.off != len(msg) {
		return info, malformed("%d bytes after the end", len(msg)-r.off)
	}
	return info, nil
}

// wireRange is one decoded range. ids points into the message.
type wireRange struct {
	upper bound
	mode  byte
	fp    fingerprint
	ids   []byte // IDList: idHashLen bytes per ID
	first int    // IDList: index of its first ID among the message's IDs
	blen  int    // bytes the kind and bound took
}

// echoBytes estimates what echoing this range takes: about its bound, and a
// fingerprint.
func (w *wireRange) echoBytes() int { return w.blen + fingerprintLen + 1 }

// idHash returns the hash of the range's ID number i.
func (w *wireRange) idHash(i int) uint64 {
	return binary.BigEndian.Uint64(w.ids[idHashLen*i:])
}

func (w *wireRange) nIDs() int { return len(w.ids) / idHashLen }

type reader struct {
	msg   []byte
	off   int
	prev  bound // the last upper bound read; the zero bound is -inf's stand-in
	clock crdt.Clock
	ids   int // IDs read so far
	ended bool
}

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.msg[r.off:])
	if n <= 0 {
		return 0, malformed("bad varint at byte %d", r.off)
	}
	if n > 1 && r.msg[r.off+n-1] == 0 {
		return 0, malformed("non-minimal varint at byte %d", r.off)
	}
	r.off += n
	return v, nil
}

func (r *reader) take(n int) ([]byte, error) {
	if n > len(r.msg)-r.off {
		return nil, malformed("truncated at byte %d", r.off)
	}
	b := r.msg[r.off : r.off+n]
	r.off += n
	return b, nil
}

func (r *reader) next() (wireRange, error) {
	var w wireRange
	if r.ended {
		return w, malformed("range after +inf")
	}
	start := r.off
	kb, err := r.take(1)
	if err != nil {
		return w, err
	}
	kind := kb[0]
	w.mode = kind & (1<<modeBits - 1)
	plen := kind >> modeBits
	if w.mode > modeIDList || (plen > 32 && plen != infPrefix) {
		return w, malformed("unknown range kind %#x", kind)
	}
	if plen == infPrefix {
		w.upper.inf = true
		r.ended = true
	} else {
		delta, err := r.clockDelta()
		if err != nil {
			return w, err
		}
		c := uint64(r.clock) + delta
		if c < delta {
			return w, malformed("clock overflow")
		}
		p, err := r.take(int(plen))
		if err != nil {
			return w, err
		}
		if len(p) > 0 && p[len(p)-1] == 0 {
			return w, malformed("bound prefix ends in a zero byte")
		}
		w.upper = bound{clock: crdt.Clock(c), minClock: crdt.Clock(c), plen: plen}
		copy(w.upper.id[:], p)
		if compareBounds(&w.upper, &r.prev) <= 0 {
			return w, malformed("bounds out of order")
		}
		r.clock = w.upper.clock
	}
	r.prev = w.upper
	w.blen = r.off - start
	switch w.mode {
	case modeFingerprint:
		fp, err := r.take(fingerprintLen)
		if err != nil {
			return w, err
		}
		w.fp = fingerprint(fp)
	case modeIDList:
		n, err := r.uvarint()
		if err != nil {
			return w, err
		}
		if n > MaxIDList {
			return w, malformed("IDList of %d IDs, the limit is %d", n, MaxIDList)
		}
		if w.ids, err = r.take(int(n) * idHashLen); err != nil {
			return w, err
		}
		w.first = r.ids
		r.ids += int(n)
	}
	return w, nil
}

// clockDelta reads a bound's clock delta: the LEB128 varint of the 70-bit
// number m<<6 | e, standing for m<<e, with m odd (or m = e = 0). Writing
// deltas as a few significant bits and a shift is what lets the encoder
// round a bound's clock to one that takes a byte or two.
func (r *reader) clockDelta() (uint64, error) {
	b0, err := r.take(1)
	if err != nil {
		return 0, err
	}
	e, m := uint(b0[0]&63), uint64(b0[0]>>6&1)
	if b0[0]&0x80 != 0 {
		rest, err := r.uvarint()
		if err != nil {
			return 0, err
		}
		if rest == 0 || rest >= 1<<63 {
			return 0, malformed("bad clock delta")
		}
		m |= rest << 1
	}
	switch {
	case m == 0 && e == 0:
		return 0, nil
	case m&1 == 0:
		return 0, malformed("non-canonical clock delta")
	case bits.Len64(m)+int(e) > 64:
		return 0, malformed("clock overflow")
	}
	return m << e, nil
}

func appendClockDelta(dst []byte, m uint64, e uint) []byte {
	b0 := byte(e) | byte(m&1)<<6
	if m>>1 == 0 {
		return append(dst, b0)
	}
	return binary.AppendUvarint(append(dst, b0|0x80), m>>1)
}

// shortDelta picks, among the deltas in [lo, hi], the one whose encoding is
// shortest, as m and e with m odd. The encoding grows with m, and the
// smallest m is at the largest e that still fits: there, m is odd, or m/2
// would have fitted at e+1.
func shortDelta(lo, hi uint64) (m uint64, e uint) {
	if lo == 0 {
		return 0, 0
	}
	for e = uint(bits.Len64(hi) - 1); ; e-- {
		m = lo >> e
		if lo&(1<<e-1) != 0 {
			m++
		}
		if m <= hi>>e || e == 0 {
			return m, e
		}
	}
}

// want reads one want after prev (-1 before the first).
func (r *reader) want(prev, sent int) (int, error) {
	d, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	if d >= uint64(sent-prev-1) {
		return 0, malformed("want index out of range")
	}
	return prev + 1 + int(d), nil
}

// builder encodes a reply. Skip ranges are held back and merged: one is
// written only when a range that asks something follows it, so a reply
// that asks nothing has no ranges at all.
type builder struct {
	k        *setKey // the session key, under which IDs are listed
	first    bool    // the initiator's first message: the key follows the version
	buf      []byte  // encoded ranges
	n        int     // ranges in buf
	clock    crdt.Clock
	skip     bool  // a Skip range is pending, ending at skipEnd
	skipEnd  bound //
	open     bool  // a Fingerprint or IDList range was written
	wants    []byte
	nWants   int
	lastWant int
	ids      []crdt.ID // the IDs of our IDList ranges, in order
	// empty: the last range written is an empty IDList, which starts at
	// emptyAt in buf, after the bound at emptyClock. An empty IDList right
	// after it replaces it, extended: we have nothing in either.
	empty      bool
	emptyAt    int
	emptyClock crdt.Clock
}

type mark struct {
	bufLen, n, wantsLen, nWants, lastWant, idsLen int
	clock                                         crdt.Clock
	skip, open                                    bool
	skipEnd                                       bound
	empty                                         bool
	emptyAt                                       int
	emptyClock                                    crdt.Clock
}

func (b *builder) mark() mark {
	return mark{len(b.buf), b.n, len(b.wants), b.nWants, b.lastWant, len(b.ids), b.clock, b.skip, b.open, b.skipEnd, b.empty, b.emptyAt, b.emptyClock}
}

func (b *builder) reset(m mark) {
	b.buf, b.n, b.wants, b.nWants, b.lastWant, b.ids = b.buf[:m.bufLen], m.n, b.wants[:m.wantsLen], m.nWants, m.lastWant, b.ids[:m.idsLen]
	b.clock, b.skip, b.open, b.skipEnd = m.clock, m.skip, m.open, m.skipEnd
	b.empty, b.emptyAt, b.emptyClock = m.empty, m.emptyAt, m.emptyClock
}

// size is the length of the message so far, pending Skip excluded.
func (b *builder) size() int {
	if b.first {
		return 1 + keyLen + uvarintLen(uint64(b.n)) + len(b.buf) + uvarintLen(uint64(b.nWants)) + len(b.wants)
	}
	return 1 + uvarintLen(uint64(b.n)) + len(b.buf) + uvarintLen(uint64(b.nWants)) + len(b.wants)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (b *builder) addRange(mode byte, u bound) {
	if b.skip {
		b.skip = false
		b.addRange(modeSkip, b.skipEnd)
	}
	b.empty = false
	b.n++
	if mode != modeSkip {
		b.open = true
	}
	if u.inf {
		b.buf = append(b.buf, mode|infPrefix<<modeBits)
		return
	}
	b.buf = append(b.buf, mode|u.plen<<modeBits)
	lo := uint64(max(u.minClock, b.clock) - b.clock)
	m, e := shortDelta(lo, uint64(u.clock-b.clock))
	b.buf = appendClockDelta(b.buf, m, e)
	b.clock += crdt.Clock(m << e)
	b.buf = append(b.buf, u.id[:u.plen]...)
}

func (b *builder) skipTo(u bound) { b.skip, b.skipEnd = true, u }

func (b *builder) fingerprint(u bound, fp fingerprint) {
	b.addRange(modeFingerprint, u)
	b.buf = append(b.buf, fp[:]...)
}

func (b *builder) idList(u bound, ids []crdt.ID) {
	if len(ids) == 0 {
		if b.skip {
			b.skip = false
			b.addRange(modeSkip, b.skipEnd)
		} else if b.empty {
			b.buf, b.clock, b.n = b.buf[:b.emptyAt], b.emptyClock, b.n-1
		}
		at, clock := len(b.buf), b.clock
		b.addRange(modeIDList, u)
		b.buf = append(b.buf, 0)
		b.empty, b.emptyAt, b.emptyClock = true, at, clock
		return
	}
	b.addRange(modeIDList, u)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(ids)))
	for i := range ids {
		b.buf = binary.BigEndian.AppendUint64(b.buf, idHash(b.k, &ids[i]))
	}
	b.ids = append(b.ids, ids...)
}

// want asks for the peer's ID number i (increasing across calls).
func (b *builder) want(i int) {
	d := i
	if b.nWants > 0 {
		d = i - b.lastWant - 1
	}
	b.wants = binary.AppendUvarint(b.wants, uint64(d))
	b.nWants++
	b.lastWant = i
}

func (b *builder) bytes() []byte {
	out := make([]byte, 0, b.size())
	out = append(out, version)
	if b.first {
		out = append(out, b.k[:]...)
	}
	out = binary.AppendUvarint(out, uint64(b.n))
	out = append(out, b.buf...)
	out = binary.AppendUvarint(out, uint64(b.nWants))
	return append(out, b.wants...)
}

// answer does the work of Receive. first says that msg is the initiator's
// first message.
func (s *Session) answer(msg []byte, first bool) (reply []byte, push []crdt.ID, wanted int, err error) {
	info, err := scan(msg, len(s.sent), first)
	if err != nil {
		return nil, nil, 0, err
	}
	if first {
		copy(s.key[:], msg[1:])
		sum, n := s.x.span(s.x.begin(), s.x.end())
		if sum.key(n) == s.key {
			// Identical sets: say "done".
			s.done = true
			var b builder
			return b.bytes(), nil, 0, nil
		}
		if info.nRanges == 0 {
			// The key alone: the sets differ, and the peer leaves the
			// first split to us.
			a := answerer{s: s, x: s.x}
			a.b.k = &s.key
			a.mismatch(bound{inf: true}, s.x.begin(), s.x.end(), n)
			s.sent = a.b.ids
			return a.b.bytes(), nil, 0, nil
		}
	}
	wr := reader{msg: msg, off: info.wantsAt}
	nw, _ := wr.uvarint()
	prev := -1
	for range nw {
		prev, _ = wr.want(prev, len(s.sent))
		push = append(push, s.sent[prev])
	}
	if info.nRanges == 0 && nw == 0 {
		s.done, s.sent = true, nil
		return nil, nil, 0, nil
	}

	a := answerer{s: s, x: s.x, push: push, pushLeft: s.opt.MaxPush, lastOpen: info.lastOpen, nFP: info.nFP}
	a.b.k = &s.key
	budget := s.opt.MaxMessageBytes
	echoLeft := info.echoBytes
	r := reader{msg: msg, off: info.rangesAt}
	r.uvarint()
	lo := s.x.begin()
	for range info.nRanges {
		rg, err := r.next()
		if err != nil {
			return nil, nil, 0, err // scan has seen this message: unreachable
		}
		hi := s.x.seek(rg.upper)
		if rg.mode == modeSkip {
			a.b.skipTo(rg.upper)
			lo = hi
			continue
		}
		echoLeft -= rg.echoBytes()
		// Answer in depth if that leaves room to echo what follows;
		// else echo this range; else fold the rest.
		m := a.mark()
		a.rangeAnswer(&rg, lo, hi)
		if a.b.size()+min(echoLeft, budget/2)+foldReserve <= budget {
			lo = hi
			continue
		}
		a.reset(m)
		a.echo(rg.upper, lo, hi, &rg)
		if a.b.size()+foldReserve <= budget {
			lo = hi
			continue
		}
		a.reset(m)
		a.fold(lo)
		break
	}
	s.sent = a.b.ids
	if !a.b.open && a.b.nWants == 0 {
		s.done = true
	}
	return a.b.bytes(), a.push, a.b.nWants, nil
}

// answerer holds the state of one Receive.
type answerer struct {
	s        *Session
	x        *Index
	b        builder
	push     []crdt.ID
	pushLeft int
	lastOpen bound
	// How many of the message's nFP Fingerprint ranges were compared so
	// far, and how many of those differed: how dense the differences are.
	nFP, compared, differed int
}

type answerMark struct {
	b              mark
	push, pushLeft int
}

func (a *answerer) mark() answerMark {
	return answerMark{a.b.mark(), len(a.push), a.pushLeft}
}

func (a *answerer) reset(m answerMark) {
	a.b.reset(m.b)
	a.push, a.pushLeft = a.push[:m.push], m.pushLeft
}

// fingerprint returns our fingerprint of [lo, hi), under the session key,
// and the number of items there.
func (a *answerer) fingerprint(lo, hi cursor) (fingerprint, int) {
	sum, n := a.x.span(lo, hi)
	return sum.fingerprint(&a.s.key, n), n
}

// echo hands a range back unanswered, with our fingerprint of it (or an
// empty IDList when we have nothing there), for the peer to answer in
// depth: what keeps a reply short without losing how finely the message
// had cut the key space, as folding ranges together would. A Fingerprint
// range that matches needs no echo. rg is the incoming range, or nil.
func (a *answerer) echo(upper bound, lo, hi cursor, rg *wireRange) {
	fp, n := a.fingerprint(lo, hi)
	switch {
	case rg != nil && rg.mode == modeFingerprint && fp == rg.fp:
		a.b.skipTo(upper)
	case n == 0:
		a.b.idList(upper, nil)
	default:
		a.b.fingerprint(upper, fp)
	}
}

// fold ends the reply with one Fingerprint range (or an empty IDList, when
// we have nothing there) from where the reply has got to, our position c,
// to the end of the last range of the message that asked something, so that
// what is left unanswered is taken up in the next round.
func (a *answerer) fold(c cursor) {
	fp, n := a.fingerprint(c, a.x.seek(a.lastOpen))
	if n == 0 {
		a.b.idList(a.lastOpen, nil)
		return
	}
	a.b.fingerprint(a.lastOpen, fp)
}

// rangeAnswer answers one Fingerprint or IDList range in depth; the range
// holds our items [lo, hi).
func (a *answerer) rangeAnswer(rg *wireRange, lo, hi cursor) {
	if rg.mode == modeFingerprint {
		fp, n := a.fingerprint(lo, hi)
		a.compared++
		if fp == rg.fp {
			a.b.skipTo(rg.upper)
		} else {
			a.differed++
			a.mismatch(rg.upper, lo, hi, n)
		}
		return
	}

	// IDList.
	theirs := rg.nIDs()
	if theirs == 0 {
		// The peer has nothing here: push all of ours, no IDs on the wire.
		n := a.x.count(lo, hi)
		if n <= a.pushLeft {
			a.push = a.x.appendIDs(a.push, lo, hi)
			a.pushLeft -= n
			a.b.skipTo(rg.upper)
			return
		}
		// Push what this round allows; hand the rest of the range back.
		if a.pushLeft > 0 {
			mid, _ := a.x.advance(lo, a.pushLeft)
			a.push = a.x.appendIDs(a.push, lo, mid)
			a.pushLeft = 0
			a.b.skipTo(separator(a.x.before(mid), a.x.at(mid)))
			lo = mid
		}
		a.echo(rg.upper, lo, hi, nil)
		return
	}

	if n := a.x.count(lo, hi); n-theirs > a.pushLeft {
		// More to push than this round allows, whatever the list says:
		// hand the range back without hashing every item of ours there.
		a.mismatch(rg.upper, lo, hi, n)
		return
	}

	// Sort their hashes (keeping their positions) to look ours up. Two
	// equal hashes are not an error: the sender may hold two entries that
	// collide under this session's key. Both then count as held by whoever
	// holds one, and the next session, under another key, sorts them out.
	type listed struct {
		h uint64
		i int
	}
	order := make([]listed, theirs)
	for i := range order {
		order[i] = listed{rg.idHash(i), i}
	}
	slices.SortFunc(order, func(x, y listed) int { return cmp.Compare(x.h, y.h) })
	have := make([]bool, theirs)
	var missing []crdt.ID
	n := 0
	a.x.each(lo, hi, func(it Item) {
		n++
		h := idHash(&a.s.key, &it.ID)
		k, ok := slices.BinarySearchFunc(order, h, func(l listed, h uint64) int { return cmp.Compare(l.h, h) })
		if !ok {
			missing = append(missing, it.ID)
		}
		for ; k < theirs && order[k].h == h; k++ {
			have[order[k].i] = true
		}
	})
	if len(missing) > a.pushLeft {
		// Too much to push in this round: hand the range back so that
		// the peer, or a finer split, resolves it.
		a.mismatch(rg.upper, lo, hi, n)
		return
	}
	a.push = append(a.push, missing...)
	a.pushLeft -= len(missing)
	for i, ok := range have {
		if !ok {
			a.b.want(rg.first + i)
		}
	}
	a.b.skipTo(rg.upper)
}

// mismatch answers a range [lo, hi) of our n items whose contents differ
// from the peer's: with the IDs when they are few, else with a split.
//
// Few means at most IDListThreshold, unless the differences are dense:
// when listing ranges of this size for every range of the message that
// differs, at the rate seen so far, would fill more than half a reply.
// Then a list would mostly carry IDs both sides have, and the bytes would
// cost rounds; the range is split into parts of at most a sixth of the
// threshold instead, and only the parts that differ are listed, a round
// later.
func (a *answerer) mismatch(upper bound, lo, hi cursor, n int) {
	limit := a.s.opt.IDListThreshold
	if a.s.opt.Branching == 0 && n <= limit {
		// Expected Fingerprint ranges of the message that differ, once
		// enough were compared to tell.
		differ := int64(a.nFP) * int64(a.differed) / int64(max(a.compared, 1))
		if a.compared >= 32 && differ*int64(n)*idHashLen > int64(a.s.opt.MaxMessageBytes/2) {
			limit = max(limit/6, 4)
		}
	}
	if n <= limit {
		a.b.idList(upper, a.x.appendIDs(make([]crdt.ID, 0, n), lo, hi))
		return
	}
	a.split(upper, lo, n, limit)
}

// split answers a mismatched range of our n items from lo with a
// Fingerprint for each of fanout(n, limit) parts, cut at our items. A cut
// may move by up to a 64th of a part, to the gap whose bound is cheapest to
// write: the one that holds the roundest clock (one or two bytes of clock
// delta, where an arbitrary gap between items a part apart takes three or
// four), and between two items of one clock (an ID prefix) only when no
// other gap is in reach.
func (a *answerer) split(upper bound, lo cursor, n, limit int) {
	k := a.s.opt.fanout(n, limit)
	w := n / k / 64
	cur, at := lo, 0
	for i := 1; i <= k; i++ {
		end := i * n / k
		if i == k {
			_, sum := a.x.advance(cur, end-at)
			a.b.fingerprint(upper, sum.fingerprint(&a.s.key, end-at))
			break
		}
		// Every part keeps at least one item.
		from, to := max(end-w, at+1), min(end+w, n-(k-i))
		next, sum := a.x.advance(cur, from-at)
		best, bestAt, c := roundness(a.x.before(next), a.x.at(next)), from, next
		for p := from + 1; p <= to; p++ {
			c = a.x.next(c)
			if r := roundness(a.x.before(c), a.x.at(c)); r > best {
				best, bestAt = r, p
			}
		}
		if bestAt > from {
			var more idSum
			next, more = a.x.advance(next, bestAt-from)
			sum.addSum(more)
		}
		end = bestAt
		a.b.fingerprint(separator(a.x.before(next), a.x.at(next)), sum.fingerprint(&a.s.key, end-at))
		cur, at = next, end
	}
}

// roundness ranks the gap between consecutive items p < q by the bound
// that separates them: the number of trailing zero bits of the roundest
// clock in (p's clock, q's clock], or -1 when they share a clock.
func roundness(p, q Item) int {
	if p.Clock == q.Clock {
		return -1
	}
	// The roundest clock keeps the bits above the highest one where the
	// clocks differ, sets that one (q has it, p has not), clears the rest.
	return bits.Len64(uint64(p.Clock^q.Clock)) - 1
}

// fanout is the number of parts a mismatched range of n items is split
// into: Branching if set; else the fewest parts that reach ranges of at
// most limit items in as few splits as parts of at most maxFanout allow,
// the same number at each split. A million items, with the defaults, are
// cut in 28, then 28, then 27: their ID list comes in the fourth message.
func (o *Options) fanout(n, limit int) int {
	if o.Branching > 0 {
		return min(o.Branching, n)
	}
	leaves := (n + limit - 1) / limit
	splits := o.splits(n, limit)
	b := 2
	for pow(b, splits) < leaves {
		b++
	}
	return min(b, n)
}

// splits is the number of splits that cut n items into ranges of at most
// limit items (at least 1).
func (o *Options) splits(n, limit int) int {
	b := maxFanout
	if o.Branching > 0 {
		b = o.Branching
	}
	leaves := (n + limit - 1) / limit
	k := 1
	for p := b; p < leaves; p *= b {
		k++
	}
	return k
}

// pow returns b^e, or math.MaxInt32 when that is larger (it is compared
// with counts of leaves, far smaller; an int has 32 bits on 32-bit
// platforms, such as a Raspberry Pi's linux/arm).
func pow(b, e int) int {
	p := 1
	for range e {
		if p > math.MaxInt32/b {
			return math.MaxInt32
		}
		p *= b
	}
	return p
}
