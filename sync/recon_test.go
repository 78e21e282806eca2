package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// pair is two sets to reconcile and every item either holds, by ID.
type pair struct {
	a, b   *Index
	clocks map[crdt.ID]crdt.Clock
}

func newPair() *pair {
	return &pair{a: NewIndex(), b: NewIndex(), clocks: map[crdt.ID]crdt.Clock{}}
}

func (p *pair) add(x *Index, it Item) {
	x.Add(it)
	p.clocks[it.ID] = it.Clock
}

// union returns the sorted union of both sides.
func (p *pair) union() []Item {
	u := model(contents(p.a))
	for _, it := range contents(p.b) {
		u.add(it)
	}
	return u
}

// deliver is what the transport does with a push: the entries arrive and
// are ingested on the other side.
func (p *pair) deliver(t *testing.T) func(to *Index, ids []crdt.ID) {
	return func(to *Index, ids []crdt.ID) {
		for _, id := range ids {
			c, ok := p.clocks[id]
			if !ok {
				t.Fatalf("pushed an ID neither side has: %v", id)
			}
			to.Add(Item{Clock: c, ID: id})
		}
	}
}

// transcript records every message of a conversation and what each side
// pushed, without delivering anything: the sets stay as they were.
type transcript struct {
	msgs   [][]byte
	from   []int // 0 initiator, 1 responder
	pushed [2][]crdt.ID
	wanted [2]int
}

func record(t *testing.T, a, b *Index, oa, ob Options) (*transcript, error) {
	t.Helper()
	tr := &transcript{}
	sides := [2]*Session{NewSession(a, oa), NewSession(b, ob)}
	msg, err := sides[0].Start()
	if err != nil {
		return tr, err
	}
	tr.msgs, tr.from = append(tr.msgs, msg), append(tr.from, 0)
	for turn := 1; msg != nil; turn = 1 - turn {
		if len(tr.msgs) > 10_000 {
			t.Fatal("conversation does not end")
		}
		reply, push, want, err := sides[turn].Receive(msg)
		if err != nil {
			return tr, err
		}
		if len(push) > 0 && reply == nil {
			t.Fatalf("side %d pushes %d IDs with no reply", turn, len(push))
		}
		tr.pushed[turn] = append(tr.pushed[turn], push...)
		tr.wanted[turn] += want
		if reply != nil {
			if limit := sides[turn].opt.MaxMessageBytes; len(reply) > limit {
				t.Fatalf("side %d sent %d bytes, over its limit of %d", turn, len(reply), limit)
			}
			tr.msgs, tr.from = append(tr.msgs, reply), append(tr.from, turn)
		}
		msg = reply
	}
	if !sides[0].Done() || !sides[1].Done() {
		t.Fatalf("conversation over, but Done: initiator %t, responder %t", sides[0].Done(), sides[1].Done())
	}
	return tr, nil
}

func (tr *transcript) bytes() (total int) {
	for _, m := range tr.msgs {
		total += len(m)
	}
	return total
}

// listedIDs counts the IDs that travelled in IDList ranges.
func (tr *transcript) listedIDs(t *testing.T) int {
	n := 0
	for i, m := range tr.msgs {
		r := reader{msg: m, off: 1}
		if i == 0 {
			r.off += keyLen
		}
		nr, _ := r.uvarint()
		for range nr {
			rg, err := r.next()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			n += rg.nIDs()
		}
	}
	return n
}

func minus(a, b []Item) []crdt.ID {
	var out []crdt.ID
	for _, it := range a {
		if _, found := slices.BinarySearchFunc(b, it, compareItems); !found {
			out = append(out, it.ID)
		}
	}
	return out
}

func sortIDs(ids []crdt.ID) []crdt.ID {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b crdt.ID) int { return strings.Compare(string(a[:]), string(b[:])) })
	return ids
}

// randomPair builds a case: sizes, overlap and collisions vary with the seed.
func randomPair(seed uint64) (*pair, Options, Options) {
	rng := rand.New(rand.NewPCG(seed, 42))
	g := newGen(seed, []int{0, 3, 40, 100_000}[rng.IntN(4)])
	p := newPair()
	sizes := []int{0, 1, 2, 15, 16, 17, 100, 1000, 5000}
	shared, onlyA, onlyB := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
	if rng.IntN(3) == 0 {
		onlyA, onlyB = onlyA/50, onlyB/50 // mostly shared
	}
	for range shared {
		it := g.item()
		p.add(p.a, it)
		p.add(p.b, it)
	}
	for range onlyA {
		p.add(p.a, g.item())
	}
	for range onlyB {
		p.add(p.b, g.item())
	}
	opt := func() Options {
		switch rng.IntN(4) {
		case 0:
			return Options{}
		case 1: // tiny: every limit in play
			return Options{MaxMessageBytes: 1, IDListThreshold: 1 + rng.IntN(4), Branching: 2 + rng.IntN(3), MaxPush: 1 + rng.IntN(50)}
		case 2:
			return Options{IDListThreshold: 1 + rng.IntN(100), Branching: 2 + rng.IntN(40), MaxPush: 1 + rng.IntN(3000)}
		}
		return Options{MaxMessageBytes: 1, MaxPush: 10 + rng.IntN(1000)}
	}
	return p, opt(), opt()
}

func TestReconcileProperty(t *testing.T) {
	for seed := range uint64(300) {
		p, oa, ob := randomPair(seed)
		before := [2][]Item{contents(p.a), contents(p.b)}

		// Without delivery, what each side pushes is what the other
		// lacks. (An ID may come twice: a range folded into a bigger one
		// is compared again, and the entries pushed for it have not
		// arrived.)
		tr, err := record(t, p.a, p.b, oa, ob)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		lacks := 0
		for side := range 2 {
			want := sortIDs(minus(before[side], before[1-side]))
			lacks += len(want)
			if got := slices.Compact(sortIDs(tr.pushed[side])); !slices.Equal(got, want) {
				t.Fatalf("seed %d: side %d pushed %d IDs, the other side lacks %d", seed, side, len(got), len(want))
			}
		}

		// With delivery, as the transport does, both end with the union,
		// and no entry travels twice.
		union := p.union()
		st, err := converse(p.a, p.b, oa, ob, p.deliver(t))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !slices.Equal(contents(p.a), union) || !slices.Equal(contents(p.b), union) {
			t.Fatalf("seed %d: sets differ after reconciliation (%d, %d items, union %d)", seed, p.a.Len(), p.b.Len(), len(union))
		}
		if st.pushed != lacks {
			t.Fatalf("seed %d: %d IDs pushed for %d missing", seed, st.pushed, lacks)
		}
	}
}

// Convergence over random sets around the adaptive fan-out's boundaries
// (the ID list threshold, one split, two, three), with differences on one
// side or on both, spread or among the newest items (as after a
// partition), clocks that collide or not, and entries added twice: both
// sides end with the union, and every entry travels once.
func TestReconcileSizes(t *testing.T) {
	sizes := []int{0, 1, 47, 48, 49, 1535, 1536, 1537, 49_152, 49_153, 60_000}
	seeds := uint64(60)
	if testing.Short() {
		seeds = 20
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(seed, 77))
		n := sizes[rng.IntN(len(sizes))]
		d := min(n, []int{0, 1, 2, 10, 100, 1000, n / 2, n}[rng.IntN(8)])
		clocks := []int{0, 5, 1000}[rng.IntN(3)]
		side := rng.IntN(3) // 0: differences on the initiator, 1: on the responder, 2: both
		newest := rng.IntN(2) == 0
		opt := []Options{{}, {MaxMessageBytes: 1}, {MaxMessageBytes: 1, MaxPush: 1}}[rng.IntN(3)]
		name := fmt.Sprintf("seed %d (N=%d d=%d clocks=%d side=%d newest=%t %+v)", seed, n, d, clocks, side, newest, opt)

		g := newGen(seed, clocks)
		items := make([]Item, n)
		for i := range items {
			items[i] = g.item()
		}
		slices.SortFunc(items, compareItems)
		only := map[int]bool{}
		if newest {
			for i := n - d; i < n; i++ {
				only[i] = true
			}
		} else {
			for _, i := range rng.Perm(n)[:d] {
				only[i] = true
			}
		}
		p := newPair()
		for i, it := range items {
			switch {
			case !only[i]:
				p.add(p.a, it)
				p.add(p.b, it)
			case side == 0 || side == 2 && rng.IntN(2) == 0:
				p.add(p.a, it)
			default:
				p.add(p.b, it)
			}
		}
		for range min(n, 3) { // a shared item twice: the index keeps one
			if i := rng.IntN(n); !only[i] {
				p.a.Add(items[i])
				p.b.Add(items[i])
			}
		}
		st, err := converse(p.a, p.b, opt, opt, p.deliver(t))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(contents(p.a), items) || !slices.Equal(contents(p.b), items) {
			t.Fatalf("%s: sets differ after reconciliation (%d, %d items, union %d)", name, p.a.Len(), p.b.Len(), n)
		}
		if st.pushed != d {
			t.Fatalf("%s: %d entries pushed for %d differences", name, st.pushed, d)
		}
	}
}

// maxFirstMessage bounds an initiator's first message with the default
// options: version, key, range count, a split of at most maxFanout ranges
// (kind, a clock delta of at most 3 bytes, a fingerprint), want count; or
// an ID list of at most DefaultIDListThreshold IDs.
const maxFirstMessage = 1 + keyLen + 2 + max(maxFanout*(1+3+fingerprintLen), 2+DefaultIDListThreshold*idHashLen) + 1

func TestIdenticalSetsOneRoundTrip(t *testing.T) {
	ns := []int{0, 1, 10_000, 1_000_000}
	if testing.Short() {
		ns = ns[:3]
	}
	for _, n := range ns {
		a, b, _ := tableSets(n, 0)
		tr, err := record(t, a, b, Options{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("N=%d: %d messages, %d bytes", n, len(tr.msgs), tr.bytes())
		// The first message carries the set key and the first split, in
		// case the sets differ; the answer is "done".
		if len(tr.msgs) != 2 || len(tr.msgs[0]) > maxFirstMessage || len(tr.msgs[1]) != 3 {
			t.Errorf("N=%d: %d messages, of %d and %d bytes; want 2 messages, the first at most %d bytes, then 3", n, len(tr.msgs), len(tr.msgs[0]), len(tr.msgs[len(tr.msgs)-1]), maxFirstMessage)
		}
	}
}

func TestFreshNodeCatchesUp(t *testing.T) {
	const n = 100_000
	full, _, _ := tableSets(n, 0)
	for _, freshStarts := range []bool{true, false} {
		a, b := NewIndex(), full
		if !freshStarts {
			a, b = full, NewIndex()
		}
		tr, err := record(t, a, b, Options{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		pushed := tr.pushed[0]
		if freshStarts {
			pushed = tr.pushed[1]
		}
		t.Logf("fresh node starts=%t: %d messages, %d bytes, %d IDs pushed", freshStarts, len(tr.msgs), tr.bytes(), len(pushed))
		if len(pushed) != n || len(tr.pushed[0])+len(tr.pushed[1]) != n {
			t.Errorf("pushed %d IDs, want all %d", len(pushed), n)
		}
		// Whatever the full side's first message, the empty side answers
		// with one empty ID list, and the rest is pushes.
		if after := tr.bytes() - len(tr.msgs[0]); len(tr.msgs[0]) > maxFirstMessage || after >= 100 {
			t.Errorf("first message %d bytes, then %d bytes of messages; want at most %d, then under 100", len(tr.msgs[0]), after, maxFirstMessage)
		}
		if k := tr.listedIDs(t); k != 0 {
			t.Errorf("%d IDs travelled in ID lists, want none", k)
		}
	}
}

func TestPushIsBatched(t *testing.T) {
	full, _, _ := tableSets(10_000, 0)
	opt := Options{MaxPush: minMaxPush}
	sides := [2]*Session{NewSession(NewIndex(), Options{}), NewSession(full, opt)}
	msg, _ := sides[0].Start()
	total := 0
	for turn := 1; msg != nil; turn = 1 - turn {
		reply, push, _, err := sides[turn].Receive(msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(push) > opt.MaxPush {
			t.Fatalf("one Receive pushed %d IDs, MaxPush is %d", len(push), opt.MaxPush)
		}
		total += len(push)
		msg = reply
	}
	if total != full.Len() {
		t.Fatalf("pushed %d, want %d", total, full.Len())
	}
}

// The targets issue 10 set, after Negentropy's analysis: a million items
// and one difference in at most 3 round trips and 1.5 KB, whichever side
// holds the difference; ten thousand differences in at most 6 round trips.
// Round trips grow with the logarithm of N: smaller sets take no more.
func TestRoundTripTargets(t *testing.T) {
	type target struct {
		n, d, maxTrips, maxBytes int
	}
	targets := []target{
		{10_000, 1, 3, 1500}, {100_000, 1, 3, 1500}, {1_000_000, 1, 3, 1500},
		{100_000, 10_000, 6, 0}, {1_000_000, 10_000, 6, 0},
	}
	if testing.Short() {
		targets = targets[:2]
	}
	for _, c := range targets {
		for _, swap := range []bool{false, true} {
			a, b, only := tableSets(c.n, c.d)
			if swap { // the responder holds what the initiator has alone
				a, b = b, a
			}
			p := &pair{a: a, b: b, clocks: only}
			st, err := converse(a, b, Options{}, Options{}, p.deliver(t))
			if err != nil {
				t.Fatal(err)
			}
			trips, bytes := (st.messages+1)/2, st.bytes[0]+st.bytes[1]
			t.Logf("N=%d d=%d swapped=%t: %d round trips (%d messages), %d bytes", c.n, c.d, swap, trips, st.messages, bytes)
			if !sameSet(a, b) || a.Len() != c.n || st.pushed != c.d {
				t.Errorf("N=%d d=%d swapped=%t: did not converge (%d pushed)", c.n, c.d, swap, st.pushed)
			}
			if trips > c.maxTrips || (c.maxBytes > 0 && bytes > c.maxBytes) {
				t.Errorf("N=%d d=%d swapped=%t: %d round trips, %d bytes; want at most %d round trips and %d bytes", c.n, c.d, swap, trips, bytes, c.maxTrips, c.maxBytes)
			}
		}
	}
}

func TestSmallMessagesStillConverge(t *testing.T) {
	// The smallest message limit, a dense difference: most rounds echo
	// and fold; all must stay under the limit and still converge.
	a, b, only := tableSets(50_000, 5_000)
	p := &pair{a: a, b: b, clocks: only}
	opt := Options{MaxMessageBytes: 1}
	if _, err := record(t, a, b, opt, opt); err != nil {
		t.Fatal(err)
	}
	st, err := converse(a, b, opt, opt, p.deliver(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages, %d bytes", st.messages, st.bytes[0]+st.bytes[1])
	if !sameSet(a, b) || a.Len() != 50_000 {
		t.Fatal("sets differ")
	}
}

func TestIndexChangingDuringSession(t *testing.T) {
	for seed := range uint64(40) {
		p, oa, ob := randomPair(seed)
		g := newGen(seed+1000, 50)
		rng := rand.New(rand.NewPCG(seed, 9))
		sides := [2]*Session{NewSession(p.a, oa), NewSession(p.b, ob)}
		sets := [2]*Index{p.a, p.b}
		deliver := p.deliver(t)
		msg, _ := sides[0].Start()
		for turn := 1; msg != nil; turn = 1 - turn {
			// Entries arrive from elsewhere between rounds, on either side.
			for range rng.IntN(5) {
				p.add(sets[rng.IntN(2)], g.item())
			}
			reply, push, _, err := sides[turn].Receive(msg)
			if errors.Is(err, ErrTooManyRounds) {
				break
			}
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			deliver(sets[1-turn], push)
			msg = reply
		}
		// The next periodic sync finishes the job.
		union := p.union()
		if _, err := converse(p.a, p.b, oa, ob, deliver); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !slices.Equal(contents(p.a), union) || !slices.Equal(contents(p.b), union) {
			t.Fatalf("seed %d: sets differ after the follow-up session", seed)
		}
	}
}

func TestSessionMisuse(t *testing.T) {
	x, _, _ := tableSets(100, 0)
	s := NewSession(x, Options{})
	msg, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start: %v, want ErrStarted", err)
	}
	peer := NewSession(x, Options{})
	reply, _, _, err := peer.Receive(msg)
	if err != nil || !peer.Done() {
		t.Fatalf("identical sets: %v, done %t", err, peer.Done())
	}
	if _, _, _, err := peer.Receive(msg); !errors.Is(err, ErrSessionOver) {
		t.Errorf("Receive after Done: %v, want ErrSessionOver", err)
	}
	if r, _, _, err := s.Receive(reply); err != nil || r != nil || !s.Done() {
		t.Fatalf("initiator on \"done\": reply %x, err %v, done %t", r, err, s.Done())
	}

	bad := NewSession(x, Options{})
	if _, _, _, err := bad.Receive([]byte{99}); !errors.Is(err, ErrVersion) {
		t.Fatalf("got %v, want ErrVersion", err)
	}
	if _, _, _, err := bad.Receive(msg); !errors.Is(err, ErrVersion) {
		t.Errorf("a session that failed must stay failed, got %v", err)
	}
}

func TestRoundLimit(t *testing.T) {
	a, b, _ := tableSets(100_000, 50)
	_, err := record(t, a, b, Options{MaxRounds: 1}, Options{})
	if !errors.Is(err, ErrTooManyRounds) {
		t.Fatalf("got %v, want ErrTooManyRounds", err)
	}
}

func TestClockDelta(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	encLen := func(m uint64, e uint) int { return len(appendClockDelta(nil, m, e)) }
	for i := range 30_000 {
		var lo, hi uint64
		switch i % 3 {
		case 0: // small, to compare with every choice
			lo = rng.Uint64N(5000)
			hi = lo + rng.Uint64N(300)
		case 1: // a clock-sized gap
			lo = rng.Uint64N(1 << 50)
			hi = lo + rng.Uint64N(1<<40)
		default: // anything, up to the top
			lo, hi = rng.Uint64(), rng.Uint64()
			if lo > hi {
				lo, hi = hi, lo
			}
		}
		m, e := shortDelta(lo, hi)
		d := m << e
		if d < lo || d > hi || (m != 0 && m&1 == 0) || (m == 0 && e != 0) || (m != 0 && bits.Len64(m)+int(e) > 64) {
			t.Fatalf("shortDelta(%d, %d) = %d<<%d", lo, hi, m, e)
		}
		r := reader{msg: appendClockDelta(nil, m, e)}
		got, err := r.clockDelta()
		if err != nil || got != d || r.off != len(r.msg) {
			t.Fatalf("%d<<%d decodes as %d, %v", m, e, got, err)
		}
		if i%3 == 0 {
			for v := lo; v <= hi; v++ {
				vm, ve := v>>bits.TrailingZeros64(v), uint(bits.TrailingZeros64(v))
				if v == 0 {
					vm, ve = 0, 0
				}
				if encLen(vm, ve) < encLen(m, e) {
					t.Fatalf("shortDelta(%d, %d) = %d, but %d is shorter", lo, hi, d, v)
				}
			}
		}
	}
}

// msgb builds messages by hand for the decoder tests.
func msgb(parts ...any) []byte {
	out := []byte{version}
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			out = append(out, byte(v))
		case []byte:
			out = append(out, v...)
		case string:
			b, err := hex.DecodeString(v)
			if err != nil {
				panic(err)
			}
			out = append(out, b...)
		}
	}
	return out
}

func TestMalformedMessages(t *testing.T) {
	fp := make([]byte, fingerprintLen)
	id := func(b byte) []byte { v := make([]byte, 32); v[0] = b; return v }
	const (
		skip  = modeSkip
		fpInf = modeFingerprint | infPrefix<<modeBits
		idInf = modeIDList | infPrefix<<modeBits
		// clock deltas: m<<e as e | m's low bit<<6
		one, two, four = 1 << 6, 1<<6 | 1, 1<<6 | 2
	)
	cases := []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"version", []byte{1, 0, 0}, ErrVersion},
		{"next version", []byte{version + 1, 0, 0}, ErrVersion},
		{"too large", append([]byte{version}, make([]byte, MaxMessageSize)...), ErrTooLarge},
		{"no want count", msgb(0), ErrMalformed},
		{"trailing bytes", msgb(0, 0, 0), ErrMalformed},
		{"range count over size", msgb(200, 1), ErrMalformed},
		{"truncated fingerprint", msgb(1, fpInf, fp[:5]), ErrMalformed},
		{"unknown mode", msgb(1, 3|infPrefix<<modeBits, 0), ErrMalformed},
		{"prefix over 32", msgb(1, modeFingerprint|33<<modeBits, 0, fp, 0), ErrMalformed},
		{"prefix ends in zero", msgb(1, modeFingerprint|1<<modeBits, one, 0, fp, 0), ErrMalformed},
		{"bound at -inf", msgb(1, modeFingerprint, 0, fp, 0), ErrMalformed},
		{"bounds out of order", msgb(2, modeFingerprint, four, fp, modeFingerprint, 0, fp, 0), ErrMalformed},
		{"range after +inf", msgb(2, fpInf, fp, fpInf, fp, 0), ErrMalformed},
		{"two skips", msgb(3, skip, two, skip, four, fpInf, fp, 0), ErrMalformed},
		{"trailing skip", msgb(2, modeFingerprint, two, fp, skip, four, 0), ErrMalformed},
		{"non-canonical delta", msgb(1, modeFingerprint, 1, fp, 0), ErrMalformed},
		{"non-minimal varint", msgb(0x80, 0, 0), ErrMalformed},
		{"clock overflow", msgb(1, modeFingerprint, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, fp, 0), ErrMalformed},
		{"IDList too long", msgb(1, idInf, "8108", 0), ErrMalformed},
		{"IDList truncated", msgb(1, idInf, 2, id(1), 0), ErrMalformed},
		{"IDList duplicate", msgb(1, idInf, 2, id(1), id(1), 0), ErrMalformed},
		{"want without a list", msgb(0, 1, 0), ErrMalformed},
	}
	x, y, _ := tableSets(10_000, 2)
	for _, c := range cases {
		// As a later message: to a session that has answered a first one
		// with a split, listing no IDs.
		s := NewSession(x, Options{})
		first, _ := NewSession(y, Options{}).Start()
		if _, _, _, err := s.Receive(first); err != nil || s.Done() {
			t.Fatalf("first message: %v, done %t", err, s.Done())
		}
		if _, _, _, err := s.Receive(c.msg); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		// As a first message, with a key after the version.
		msg := c.msg
		if len(msg) > 0 && msg[0] == version {
			msg = slices.Concat(msg[:1], make([]byte, keyLen), msg[1:])
		}
		if _, _, _, err := NewSession(x, Options{}).Receive(msg); !errors.Is(err, c.want) {
			t.Errorf("%s, as a first message: got %v, want %v", c.name, err, c.want)
		}
	}
	for _, short := range [][]byte{{version}, msgb(make([]byte, keyLen-1))} {
		if _, _, _, err := NewSession(x, Options{}).Receive(short); !errors.Is(err, ErrMalformed) {
			t.Errorf("first message of %d bytes, no whole key: got %v, want ErrMalformed", len(short), err)
		}
	}
}

func TestWantsIndexOurList(t *testing.T) {
	// The responder has 3 items, the initiator 100: the responder lists
	// its IDs; the initiator wants the one it lacks by index.
	full, _, _ := tableSets(100, 0)
	small := NewIndex()
	extra := tableItem(1000)
	for _, it := range []Item{tableItem(3), extra, tableItem(50)} {
		small.Add(it)
	}
	tr, err := record(t, full, small, Options{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.msgs) != 4 {
		t.Fatalf("%d messages, want 4 (split, ID lists, wants, done)", len(tr.msgs))
	}
	if tr.wanted[0] != 1 || !slices.Equal(tr.pushed[1], []crdt.ID{extra.ID}) {
		t.Fatalf("wanted %v, pushed %v", tr.wanted[0], tr.pushed[1])
	}
	if got := len(tr.pushed[0]); got != 98 {
		t.Fatalf("initiator pushed %d, want 98", got)
	}
	for _, bad := range [][]byte{msgb(0, 1, 3), msgb(0, 2, 2, 0), msgb(0, 4, 0, 0, 0, 0)} {
		s := NewSession(small, Options{})
		if _, _, _, err := s.Receive(tr.msgs[0]); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.Receive(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("want list %x: got %v, want ErrMalformed", bad, err)
		}
	}
}

// The wire format must not drift: a new release that reads these
// differently breaks every older peer.
func TestWireGolden(t *testing.T) {
	x := NewIndex()
	for i := range 40 {
		x.Add(tableItem(i))
	}
	start, _ := NewSession(x, Options{}).Start()
	empty, _ := NewSession(NewIndex(), Options{}).Start()
	peer := NewIndex()
	for i := range 100 {
		if i != 17 {
			peer.Add(tableItem(i))
		}
	}
	keyOnly, _ := NewSession(peer, Options{}).Start()
	split, _ := NewSession(peer, Options{Branching: 3, IDListThreshold: 4}).Start()
	lists, _, _, err := NewSession(x, Options{}).Receive(split)
	if err != nil {
		t.Fatal(err)
	}
	firstSplit, _, _, err := NewSession(x, Options{}).Receive(keyOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"start, ID list", start[:40], "022d140d7ed760b30cd6b75f6de8d4289901fe282cd61e97ff8539973a6e31b793dc79aa76920c2c"},
		{"start, SHA-256", sha(start), "a4ff56afc3d5372b1cd6898ad1ef8ff0b447f1f3c068a417600f7a1711dfc1ad"},
		{"start, empty set", empty, "02bfb2df4f1e906c64009b15a8224f591501fe0000"},
		{"start, key only", keyOnly, "0295fc972523dded462f93ac978e8e2b920000"},
		{"start, split", split, "0295fc972523dded462f93ac978e8e2b920301dff59faf0ca57ff34390b9a7cb0164da1a2281007dcc4afd09a1a7df46b2e7a700"},
		{"answer to a split, SHA-256", sha(lists), "43bac55573b921b0aa10786fbf8c78a127754e0ec71e99338830f684ef42e698"},
		{"answer to a key, SHA-256", sha(firstSplit), "776ed36f28321141223dc9948ef4748ad5771a0e5658cf18de18119f2ea73168"},
	} {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func sha(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// FuzzReceive feeds arbitrary bytes to sessions in the states a peer can
// reach: fresh, after Start, and after listing IDs (so that wants index
// something). Receive must not panic, and what it accepts it must answer
// with a message it would accept itself.
func FuzzReceive(f *testing.F) {
	big, _, _ := tableSets(300, 0)
	small := NewIndex()
	for i := range 300 {
		if i%29 == 0 {
			small.Add(tableItem(i))
		}
	}
	bigger := NewIndex()
	for i := range 310 {
		bigger.Add(tableItem(i))
	}
	// Conversations whose first message is an ID list, the key alone, or
	// a split (Branching 3 needs several splits for 300 items).
	for _, opt := range []Options{{IDListThreshold: 4}, {IDListThreshold: 2, Branching: 3}} {
		for _, sets := range [][2]*Index{{big, small}, {small, big}, {NewIndex(), big}, {big, bigger}, {big, big}} {
			sides := [2]*Session{NewSession(sets[0], opt), NewSession(sets[1], opt)}
			msg, err := sides[0].Start()
			for turn := 1; msg != nil && err == nil; turn = 1 - turn {
				f.Add(msg)
				msg, _, _, err = sides[turn].Receive(msg)
			}
			if err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		check := func(s *Session, peerSent int) {
			reply, push, _, err := s.Receive(msg)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if reply == nil {
				if len(push) > 0 {
					t.Fatal("push without a reply")
				}
				return
			}
			if len(reply) > s.opt.MaxMessageBytes {
				t.Fatalf("reply of %d bytes over the limit", len(reply))
			}
			if _, err := scan(reply, peerSent, false); err != nil {
				t.Fatalf("own reply does not decode: %v", err)
			}
		}
		check(NewSession(small, Options{IDListThreshold: 4}), 1<<20)
		check(NewSession(big, Options{Branching: 3, MaxMessageBytes: 1, MaxPush: 7}), 1<<20)
		check(NewSession(NewIndex(), Options{}), 1<<20)

		// A session that has listed its IDs, so wants are meaningful.
		s := NewSession(small, Options{IDListThreshold: 100})
		first, _ := NewSession(big, Options{}).Start()
		if _, _, _, err := s.Receive(first); err != nil {
			t.Fatal(err)
		}
		check(s, 1<<20)
	})
}

// The core stays pure: no network, clock, randomness or goroutines, even
// though the transport beside it in this package has all of them.
func TestPureCore(t *testing.T) {
	forbidden := []string{"net", "os", "time", "math/rand", "crypto/rand", "sync", "syscall", "database/sql"}
	fset := token.NewFileSet()
	for _, name := range []string{"index.go", "recon.go", "reconstats.go"} {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") || strings.Contains(path, "libp2p") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: goroutine at %s", name, fset.Position(g.Pos()))
			}
			return true
		})
	}
}

func TestReconTableSmall(t *testing.T) {
	for _, r := range ReconTable([]int{1000, 20_000}, []int{0, 1, 100, 5000}) {
		t.Log(r)
		if !r.Converged {
			t.Errorf("%v: did not converge", r)
		}
		if r.D == 0 && (r.RoundTrips != 1 || r.TotalBytes > maxFirstMessage+3) {
			t.Errorf("%v: identical sets must take one round trip and at most %d bytes", r, maxFirstMessage+3)
		}
		if r.Pushed != r.D {
			t.Errorf("%v: pushed %d, want %d", r, r.Pushed, r.D)
		}
	}
}

// roundness names the roundest clock of a gap: within it, and no clock of
// the gap has more trailing zero bits.
func TestRoundness(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for i := range 20_000 {
		var p, q uint64
		if i%2 == 0 {
			p = rng.Uint64N(1 << 12)
			q = p + 1 + rng.Uint64N(1<<8)
		} else {
			p, q = rng.Uint64(), rng.Uint64()
			if p > q {
				p, q = q, p
			}
		}
		r := roundness(Item{Clock: crdt.Clock(p)}, Item{Clock: crdt.Clock(q)})
		if p == q {
			if r != -1 {
				t.Fatalf("one clock %d: roundness %d, want -1", p, r)
			}
			continue
		}
		c := q &^ (1<<r - 1)
		if c <= p || c > q || bits.TrailingZeros64(c) < r {
			t.Fatalf("(%d, %d]: roundness %d names %d", p, q, r, c)
		}
		if r < 63 {
			if d := q &^ (1<<(r+1) - 1); d > p {
				t.Fatalf("(%d, %d]: roundness %d, but %d is rounder", p, q, r, d)
			}
		}
	}
}
