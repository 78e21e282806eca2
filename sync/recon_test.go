package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
	wanted [2][]crdt.ID
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
		tr.wanted[turn] = append(tr.wanted[turn], want...)
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
		if len(tr.msgs) != 2 || len(tr.msgs[0]) >= 100 || tr.bytes() >= 100 {
			t.Errorf("N=%d: %d messages, first %d bytes, total %d; want 2 messages, under 100 bytes", n, len(tr.msgs), len(tr.msgs[0]), tr.bytes())
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
		if tr.bytes() >= 100 {
			t.Errorf("%d bytes of messages, want under 100", tr.bytes())
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

func TestRoundTripsGrowLogarithmically(t *testing.T) {
	ns := []int{10_000, 100_000, 1_000_000}
	if testing.Short() {
		ns = ns[:2]
	}
	for _, n := range ns {
		a, b, _ := tableSets(n, 1)
		tr, err := record(t, a, b, Options{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("N=%d d=1: %d messages, %d bytes", n, len(tr.msgs), tr.bytes())
		// One Fingerprint, a split per factor of 16 over the ID list
		// threshold, the ID list, the answer, the final "done".
		levels := 0
		for k := n; k > DefaultIDListThreshold; k /= DefaultBranching {
			levels++
		}
		if len(tr.msgs) > levels+4 {
			t.Errorf("N=%d d=1: %d messages, want at most %d", n, len(tr.msgs), levels+4)
		}
		if tr.bytes() > 3000 {
			t.Errorf("N=%d d=1: %d bytes", n, tr.bytes())
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
	_, err := record(t, a, b, Options{MaxRounds: 2}, Options{})
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
		{"version", []byte{2, 0, 0}, ErrVersion},
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
	x, _, _ := tableSets(100, 0)
	for _, c := range cases {
		_, _, _, err := NewSession(x, Options{}).Receive(c.msg)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
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
		t.Fatalf("%d messages, want 4 (fingerprint, ID list, wants, done)", len(tr.msgs))
	}
	if !slices.Equal(tr.wanted[0], []crdt.ID{extra.ID}) || !slices.Equal(tr.pushed[1], []crdt.ID{extra.ID}) {
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
	for i := range 40 {
		if i != 17 {
			peer.Add(tableItem(i))
		}
	}
	split, _, _, err := NewSession(peer, Options{}).Receive(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"start", start, "0101fd2444ec938f7a72178e13e9a174228e2100"},
		{"start, empty set", empty, "0101fe0000"},
		{"split, start", split[:24], "011001e1f9e78b0327c20f1d335e80b15921fc9ddf787625"},
		{"split, SHA-256", sha(split), "7ecbf1640b7c34f2c5ddcbdac4928c36d1857f25406c25bafbd575ac4f282dc4"},
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
	for _, sets := range [][2]*Index{{big, small}, {small, big}, {NewIndex(), big}, {big, bigger}, {big, big}} {
		opt := Options{IDListThreshold: 4}
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
			if _, err := scan(reply, peerSent); err != nil {
				t.Fatalf("own reply does not decode: %v", err)
			}
		}
		check(NewSession(small, Options{IDListThreshold: 4}), 1<<20)
		check(NewSession(big, Options{Branching: 3, MaxMessageBytes: 1, MaxPush: 7}), 1<<20)

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
		if r.D == 0 && (r.RoundTrips != 1 || r.TotalBytes >= 100) {
			t.Errorf("%v: identical sets must take one round trip and under 100 bytes", r)
		}
		if r.Pushed != r.D {
			t.Errorf("%v: pushed %d, want %d", r, r.Pushed, r.D)
		}
	}
}
