package sync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
//     its own items into Branching parts and sends a Fingerprint for each.
//   - IDList: it now knows both sides of the range. It pushes what the peer
//     lacks, asks (Want) for what it lacks, and the range is resolved.
//
// A side with no items in a range answers with an empty IDList (two bytes
// and the bound), and the peer pushes everything it has there: a node
// catching up costs a few tiny messages and then the entries, and no list
// of the other side's IDs ever travels. An initiator with no items starts
// that way, with an empty IDList over everything.
//
// Wire format, version 1. Varints are unsigned LEB128, minimal.
//
//	message = version:byte  nRanges:varint  range × nRanges  nWants:varint  want × nWants
//	range   = kind:byte  [clockDelta  prefix]  payload
//	payload = Skip: nothing
//	        | Fingerprint: 16 bytes
//	        | IDList: n:varint  ID (32 bytes) × n
//	want    = delta:varint
//
// kind holds the mode in its low two bits (0 Skip, 1 Fingerprint, 2 IDList)
// and the length of the bound's ID prefix (0 to 32) in the other six, or 63
// for a bound of +inf, which has no clock and no prefix. A bound stands for
// the key (clock, prefix padded with zero bytes to 32 bytes); items below
// that key fall in the range it closes. clockDelta is the bound's clock
// minus the previous bound's in the same message (0 before the first),
// written as the varint of the 70-bit number m<<6 | e for the delta m<<e,
// with m odd (or m = e = 0). A bound only has to fall between two items, so
// the sender picks the roundest clock in that gap and a bound usually costs
// one or two bytes; it adds a prefix only when the two items share a clock,
// and then the shortest that separates them, which never ends in a zero
// byte. Bounds strictly increase, and +inf only closes the last range.
// Ranges start at -inf; after the last one, everything is Skip, so an
// encoder never writes a trailing Skip range, nor two Skips in a row.
//
// A want is an index into the IDs of the IDList ranges of the message being
// answered, taken in order: the receiver listed those IDs itself, so a byte
// or two names an ID of 32. The first want is the index itself; each next
// one is the difference from the previous minus one.
//
// Completion. A message with no ranges and no wants says "done": its
// receiver returns a nil reply. A side is Done when it returns nil, or when
// it sends a reply that asks nothing (no Fingerprint or IDList range, no
// want): its peer will have nothing to answer. A reply that only wants
// leaves its sender waiting for the entries and then the peer's "done"
// message, which the peer sends after pushing, so that the wanting side
// knows that what it asked for has arrived. Identical sets: the initiator
// sends one 20-byte Fingerprint of everything, the responder answers "done"
// (3 bytes) and is Done, the initiator gets nil and is Done.
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
const version = 1

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

// Defaults for Options, tuned with ReconTable. With Branching 16 and
// IDListThreshold 16, a million items reach the ID list after four splits
// (one difference: 7 messages, 1.7 KB); a threshold of 32 lists twice the
// IDs for each difference, one of 8 adds a round trip at a million items,
// and Branching 32 costs more bytes for as many rounds there. 256 KiB messages
// carry 10,000 differences among a million items in 18 round trips, where
// 64 KiB took 63. MaxPush batches a node's catching up by 65,536 entries.
const (
	DefaultMaxMessageBytes = 256 << 10
	DefaultIDListThreshold = 16
	DefaultBranching       = 16
	DefaultMaxPush         = 1 << 16
	DefaultMaxRounds       = 512
	maxBranching           = 256
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
	// Branching is the number of parts a mismatched range is split into
	// (2 to 256).
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
	def(&o.Branching, DefaultBranching, 2, maxBranching)
	def(&o.MaxPush, DefaultMaxPush, minMaxPush, 1<<30)
	def(&o.MaxRounds, DefaultMaxRounds, 1, 1<<30)
	// The worst single answer: a pending Skip, then a split or an IDList of
	// ours, plus the wants for an incoming IDList. A reply keeps up to half
	// its room for echoes, and a fold at the end: the first answer must fit
	// in the other half, so that every round makes progress.
	answer := maxRangeLen + max(o.Branching*(maxRangeLen+fingerprintLen), maxRangeLen+binary.MaxVarintLen16+o.IDListThreshold*32)
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
	maxWantLen  = 3           // a want delta is below MaxMessageSize/32 = 2^15
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

// Start returns the initiator's first message: the fingerprint of the whole
// set, or, when the set is empty, an empty IDList that asks the peer to push
// everything.
func (s *Session) Start() ([]byte, error) {
	if s.started {
		return nil, ErrStarted
	}
	s.started = true
	var b builder
	all := bound{inf: true}
	if s.x.Len() == 0 {
		b.idList(all, nil)
	} else {
		sum, n := s.x.span(s.x.begin(), s.x.end())
		b.fingerprint(all, sum.fingerprint(n))
	}
	return b.bytes(), nil
}

// Receive answers the peer's message. It returns the reply to send (nil when
// this side has nothing more to say), the IDs of the entries to push to the
// peer, and, for accounting, the IDs this side asked for in the reply. The
// transport sends the entries for push before the reply: a reply that ends
// the conversation then tells the peer that everything it asked for has
// arrived. When push is not empty, reply is not nil.
func (s *Session) Receive(msg []byte) (reply []byte, push, want []crdt.ID, err error) {
	if s.err != nil {
		return nil, nil, nil, s.err
	}
	if s.done {
		return nil, nil, nil, ErrSessionOver
	}
	s.started = true
	s.rounds++
	if s.rounds > s.opt.MaxRounds {
		s.err = ErrTooManyRounds
		return nil, nil, nil, s.err
	}
	reply, push, want, err = s.answer(msg)
	if err != nil {
		s.err = err
		return nil, nil, nil, err
	}
	return reply, push, want, nil
}

// msgInfo is what a first, validating pass over a message learns.
type msgInfo struct {
	nRanges  int
	lastOpen bound // upper bound of the last range that is not Skip
	// echoBytes estimates the bytes that echoing every range that is not
	// Skip would take.
	echoBytes int
	wantsAt   int // offset of nWants
}

// scan validates msg entirely, without allocating, before anything acts on
// it. sent is the number of IDs our last message listed.
func scan(msg []byte, sent int) (msgInfo, error) {
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
	ids   []byte // IDList: 32 bytes per ID
	first int    // IDList: index of its first ID among the message's IDs
	blen  int    // bytes the kind and bound took
}

// echoBytes estimates what echoing this range takes: about its bound, and a
// fingerprint.
func (w *wireRange) echoBytes() int { return w.blen + fingerprintLen + 1 }

func (w *wireRange) id(i int) (id crdt.ID) {
	copy(id[:], w.ids[32*i:])
	return id
}

func (w *wireRange) nIDs() int { return len(w.ids) / 32 }

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
		if w.ids, err = r.take(int(n) * 32); err != nil {
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
	buf      []byte // encoded ranges
	n        int    // ranges in buf
	clock    crdt.Clock
	skip     bool  // a Skip range is pending, ending at skipEnd
	skipEnd  bound //
	open     bool  // a Fingerprint or IDList range was written
	wants    []byte
	nWants   int
	lastWant int
	ids      []crdt.ID // the IDs of our IDList ranges, in order
}

type mark struct {
	bufLen, n, wantsLen, nWants, lastWant, idsLen int
	clock                                         crdt.Clock
	skip, open                                    bool
	skipEnd                                       bound
}

func (b *builder) mark() mark {
	return mark{len(b.buf), b.n, len(b.wants), b.nWants, b.lastWant, len(b.ids), b.clock, b.skip, b.open, b.skipEnd}
}

func (b *builder) reset(m mark) {
	b.buf, b.n, b.wants, b.nWants, b.lastWant, b.ids = b.buf[:m.bufLen], m.n, b.wants[:m.wantsLen], m.nWants, m.lastWant, b.ids[:m.idsLen]
	b.clock, b.skip, b.open, b.skipEnd = m.clock, m.skip, m.open, m.skipEnd
}

// size is the length of the message so far, pending Skip excluded.
func (b *builder) size() int {
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
	b.addRange(modeIDList, u)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(ids)))
	for i := range ids {
		b.buf = append(b.buf, ids[i][:]...)
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
	out = binary.AppendUvarint(out, uint64(b.n))
	out = append(out, b.buf...)
	out = binary.AppendUvarint(out, uint64(b.nWants))
	return append(out, b.wants...)
}

// answer does the work of Receive.
func (s *Session) answer(msg []byte) (reply []byte, push, want []crdt.ID, err error) {
	info, err := scan(msg, len(s.sent))
	if err != nil {
		return nil, nil, nil, err
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
		return nil, nil, nil, nil
	}

	a := answerer{s: s, x: s.x, push: push, pushLeft: s.opt.MaxPush, lastOpen: info.lastOpen}
	budget := s.opt.MaxMessageBytes
	echoLeft := info.echoBytes
	r := reader{msg: msg, off: 1}
	r.uvarint()
	lo := s.x.begin()
	for range info.nRanges {
		rg, err := r.next()
		if err != nil {
			return nil, nil, nil, err // scan has seen this message: unreachable
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
		if err := a.rangeAnswer(&rg, lo, hi); err != nil {
			return nil, nil, nil, err
		}
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
	return a.b.bytes(), a.push, a.want, nil
}

// answerer holds the state of one Receive.
type answerer struct {
	s        *Session
	x        *Index
	b        builder
	push     []crdt.ID
	want     []crdt.ID
	pushLeft int
	lastOpen bound
}

type answerMark struct {
	b                    mark
	push, want, pushLeft int
}

func (a *answerer) mark() answerMark {
	return answerMark{a.b.mark(), len(a.push), len(a.want), a.pushLeft}
}

func (a *answerer) reset(m answerMark) {
	a.b.reset(m.b)
	a.push, a.want, a.pushLeft = a.push[:m.push], a.want[:m.want], m.pushLeft
}

// echo hands a range back unanswered, with our fingerprint of it (or an
// empty IDList when we have nothing there), for the peer to answer in
// depth: what keeps a reply short without losing how finely the message
// had cut the key space, as folding ranges together would. A Fingerprint
// range that matches needs no echo. rg is the incoming range, or nil.
func (a *answerer) echo(upper bound, lo, hi cursor, rg *wireRange) {
	sum, n := a.x.span(lo, hi)
	fp := sum.fingerprint(n)
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
	hi := a.x.seek(a.lastOpen)
	sum, n := a.x.span(c, hi)
	if n == 0 {
		a.b.idList(a.lastOpen, nil)
		return
	}
	a.b.fingerprint(a.lastOpen, sum.fingerprint(n))
}

// rangeAnswer answers one Fingerprint or IDList range in depth; the range
// holds our items [lo, hi).
func (a *answerer) rangeAnswer(rg *wireRange, lo, hi cursor) error {
	opt := &a.s.opt
	if rg.mode == modeFingerprint {
		sum, n := a.x.span(lo, hi)
		switch {
		case sum.fingerprint(n) == rg.fp:
			a.b.skipTo(rg.upper)
		case n <= opt.IDListThreshold:
			a.b.idList(rg.upper, a.x.appendIDs(make([]crdt.ID, 0, n), lo, hi))
		default:
			a.split(rg.upper, lo, n)
		}
		return nil
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
			return nil
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
		return nil
	}

	// Sort their IDs (keeping their positions) to look ours up.
	order := make([]int, theirs)
	for i := range order {
		order[i] = i
	}
	idAt := func(i int) []byte { return rg.ids[32*i : 32*i+32] }
	slices.SortFunc(order, func(i, j int) int { return bytes.Compare(idAt(i), idAt(j)) })
	for k := 1; k < theirs; k++ {
		if bytes.Equal(idAt(order[k-1]), idAt(order[k])) {
			return malformed("IDList lists an ID twice")
		}
	}
	have := make([]bool, theirs)
	n, missing := 0, 0
	a.x.each(lo, hi, func(it Item) {
		n++
		k, ok := slices.BinarySearchFunc(order, it.ID[:], func(i int, id []byte) int { return bytes.Compare(idAt(i), id) })
		if ok {
			have[order[k]] = true
		} else {
			missing++
		}
	})
	if missing > a.pushLeft {
		// Too much to push in this round: hand the range back so that
		// the peer, or a finer split, resolves it.
		if n <= opt.IDListThreshold {
			a.b.idList(rg.upper, a.x.appendIDs(make([]crdt.ID, 0, n), lo, hi))
		} else {
			a.split(rg.upper, lo, n)
		}
		return nil
	}
	if missing > 0 {
		a.x.each(lo, hi, func(it Item) {
			if _, ok := slices.BinarySearchFunc(order, it.ID[:], func(i int, id []byte) int { return bytes.Compare(idAt(i), id) }); !ok {
				a.push = append(a.push, it.ID)
			}
		})
		a.pushLeft -= missing
	}
	for i, ok := range have {
		if !ok {
			a.b.want(rg.first + i)
			a.want = append(a.want, rg.id(i))
		}
	}
	a.b.skipTo(rg.upper)
	return nil
}

// split answers a mismatched range of our n items from lo with a
// Fingerprint for each of Branching parts, cut at our items.
func (a *answerer) split(upper bound, lo cursor, n int) {
	k := min(a.s.opt.Branching, n)
	cur, at := lo, 0
	for i := 1; i <= k; i++ {
		end := i * n / k
		next, sum := a.x.advance(cur, end-at)
		u := upper
		if i < k {
			u = separator(a.x.before(next), a.x.at(next))
		}
		a.b.fingerprint(u, sum.fingerprint(end-at))
		cur, at = next, end
	}
}
