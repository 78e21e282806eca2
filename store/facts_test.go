package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

var (
	factsSeed  = flag.Uint64("facts.seed", 20261202, "first seed of the facts property test")
	factsCases = flag.Int("facts.cases", 16, "cases of the facts property test, per store")
)

// fdev is a device writing entries in a test.
type fdev struct {
	priv  ed25519.PrivateKey
	key   crdt.DeviceKey
	seq   uint64
	head  crdt.ID
	clock crdt.Clock
	heads map[uint64]crdt.ID
}

func newFdev(seed uint64) *fdev {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	s[31] = 0x3c
	priv := ed25519.PrivateKey(crdt.KeyFromSeed(s[:]))
	d := &fdev{priv: priv, heads: map[uint64]crdt.ID{}}
	copy(d.key[:], priv.Public().(ed25519.PublicKey))
	return d
}

func (d *fdev) clone() *fdev {
	c := *d
	c.heads = map[uint64]crdt.ID{}
	for k, v := range d.heads {
		c.heads[k] = v
	}
	return &c
}

// fnet writes a network's history with crdt's public API.
type fnet struct {
	t       testing.TB
	network crdt.ID
	now     uint64
	all     []*crdt.Entry
}

func (n *fnet) write(d *fdev, body any, deps ...crdt.ID) *crdt.Entry {
	n.t.Helper()
	raw, err := crdt.EncodeBody(body)
	if err != nil {
		n.t.Fatalf("encode %T: %v", body, err)
	}
	return n.writeRaw(d, crdt.KindOf(body), raw, deps...)
}

func (n *fnet) writeRaw(d *fdev, kind crdt.Kind, raw []byte, deps ...crdt.ID) *crdt.Entry {
	n.t.Helper()
	n.now += 1000
	e, err := crdt.Sign(d.priv, crdt.Draft{
		Network: n.network, Seq: d.seq + 1, Prev: d.head,
		Clock: crdt.NextClock(d.clock, 0, n.now), Deps: deps, Kind: kind, Body: raw,
	})
	if err != nil {
		n.t.Fatalf("sign %v: %v", kind, err)
	}
	d.seq, d.head, d.clock = e.Seq, e.ID(), e.Clock
	d.heads[e.Seq] = e.ID()
	n.all = append(n.all, e)
	return e
}

// factsHistory writes a random history that reaches every kind of key a
// Facts keeps: organisations and devices, forks (cloned keys),
// revocations, requests of every type (some sealed), responses, closes,
// acknowledgements, key shares, directory entries, grants with tokens,
// redactions, address hints and entries of unknown kinds.
func factsHistory(t testing.TB, seed uint64) *fnet {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	nextKey := seed * 1000
	dev := func() *fdev { nextKey++; return newFdev(nextKey) }
	founder := dev()
	n := &fnet{t: t, now: 1_700_000_000_000}
	g := n.write(founder, &crdt.Genesis{NetworkName: "Test network", OrgName: "Founders", Quorum: 1})
	n.network = g.ID()

	type org struct {
		id   crdt.OrgID
		devs []*fdev
	}
	orgs := []*org{{id: crdt.OrgIDFor(founder.key), devs: []*fdev{founder}}}
	var requests, sealed []*crdt.Entry
	var clones []*fdev
	pick := func() *fdev {
		if len(clones) > 0 && rng.IntN(8) == 0 {
			return clones[rng.IntN(len(clones))]
		}
		o := orgs[rng.IntN(len(orgs))]
		return o.devs[rng.IntN(len(o.devs))]
	}
	steps := 30 + rng.IntN(70)
	for i := 0; i < steps; i++ {
		n.now += uint64(rng.IntN(5000))
		switch k := rng.IntN(100); {
		case k < 8 && len(orgs) < 5:
			first := dev()
			n.write(founder, &crdt.Admission{Device: first.key, Name: fmt.Sprintf("Org %d", len(orgs)), Steward: rng.IntN(3) == 0})
			orgs = append(orgs, &org{id: crdt.OrgIDFor(first.key), devs: []*fdev{first}})
		case k < 14:
			o := orgs[rng.IntN(len(orgs))]
			d := dev()
			n.write(o.devs[rng.IntN(len(o.devs))], &crdt.DeviceAdded{Device: d.key, Org: o.id, Label: "laptop"})
			o.devs = append(o.devs, d)
		case k < 18: // a revocation
			target := pick()
			if target.key == founder.key {
				break
			}
			cutoff := uint64(rng.IntN(int(target.seq) + 1))
			b := &crdt.DeviceRevoked{Device: target.key, Cutoff: cutoff}
			var deps []crdt.ID
			if cutoff > 0 {
				b.Head = target.heads[cutoff]
				deps = append(deps, b.Head)
			}
			n.write(founder, b, deps...)
		case k < 23: // a cloned key: a fork
			d := pick()
			c := d.clone()
			if c.seq > 0 && rng.IntN(2) == 0 {
				back := uint64(1 + rng.IntN(int(c.seq)))
				c.seq, c.head = back-1, c.heads[back-1]
			}
			clones = append(clones, c)
			n.write(c, &crdt.Request{Type: crdt.Verification, Title: "from the clone", Region: "TZ"})
		case k < 26:
			n.writeRaw(pick(), crdt.Kind(100+rng.IntN(3)), fmt.Appendf(nil, "future %d", i))
		case k < 29:
			h := &crdt.AddressHint{Relay: rng.IntN(2) == 0}
			h.Addrs = append(h.Addrs, []byte{4, 10, 0, 0, byte(rng.IntN(4))})
			n.write(pick(), h)
		case k < 32:
			n.write(pick(), &crdt.Directory{Name: fmt.Sprintf("Name %d", i), Regions: []string{"KE"}})
		case k < 50 || len(requests) == 0:
			typ := crdt.RequestType(1 + rng.IntN(5))
			b := &crdt.Request{Type: typ, Title: fmt.Sprintf("request %d", i), Region: "NI"}
			switch typ {
			case crdt.Funding:
				b.Amount, b.Currency = uint64(1+rng.IntN(10000)), "USD"
			case crdt.Letter:
				b.RespondBy = n.now + uint64(rng.IntN(20000))
			}
			if rng.IntN(5) == 0 {
				b.Title = ""
				env, _ := crdt.EncodeBody(b)
				e := n.write(pick(), &crdt.Sealed{Inner: crdt.KindRequest, Envelope: env, Nonce: [24]byte{byte(i) | 1},
					Ciphertext: make([]byte, 32), Wraps: [][]byte{bytes.Repeat([]byte{byte(i) | 1}, crdt.SealedWrapSize)}})
				requests = append(requests, e)
				sealed = append(sealed, e)
			} else {
				requests = append(requests, n.write(pick(), b))
			}
		case k < 55 && len(sealed) > 0:
			target := sealed[rng.IntN(len(sealed))]
			n.write(pick(), &crdt.KeyShare{Target: target.ID(), Wraps: [][]byte{bytes.Repeat([]byte{7}, crdt.SealedWrapSize)}}, target.ID())
		case k < 60:
			gr := &crdt.Grant{Amount: uint64(1 + rng.IntN(5000)), Currency: "USD", Support: "legal-aid", Day: 20000, KeyCheck: [8]byte{1}}
			for range 1 + rng.IntN(3) {
				gr.Tokens = append(gr.Tokens, [32]byte{byte(rng.IntN(8))})
			}
			slices.SortFunc(gr.Tokens, func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
			gr.Tokens = slices.Compact(gr.Tokens)
			n.write(pick(), gr)
		case k < 64: // a redaction, mostly by the request's own device
			req := requests[rng.IntN(len(requests))]
			by := pick()
			for _, o := range orgs {
				for _, d := range o.devs {
					if d.key == req.Author && rng.IntN(4) > 0 {
						by = d
					}
				}
			}
			n.write(by, &crdt.Redaction{Target: req.ID(), Reason: "taken back"}, req.ID())
		case k < 85:
			req := requests[rng.IntN(len(requests))]
			b := &crdt.Response{Request: req.ID(), Type: crdt.ResponseType(1 + rng.IntN(5))}
			n.write(pick(), b, req.ID())
		default:
			req := requests[rng.IntN(len(requests))]
			if rng.IntN(3) == 0 {
				n.write(pick(), &crdt.AlertAck{Request: req.ID()}, req.ID())
				continue
			}
			n.write(pick(), &crdt.RequestClosed{Request: req.ID()}, req.ID())
		}
	}
	return n
}

// deliveries is the history as a node might receive it: in random order,
// in batches, some entries twice, some first without their body (the
// body arriving later, or never).
func deliveries(t testing.TB, n *fnet, rng *rand.Rand) [][]*crdt.Entry {
	var all []*crdt.Entry
	for _, e := range n.all {
		trusted := func(raw []byte) *crdt.Entry {
			x, err := crdt.Trusted(raw)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		whole := trusted(e.Raw())
		if !e.Kind.Membership() && rng.IntN(4) == 0 {
			all = append(all, trusted(e.Redacted().Raw()))
			if rng.IntN(3) > 0 {
				all = append(all, whole)
			}
			continue
		}
		all = append(all, whole)
		if rng.IntN(10) == 0 {
			all = append(all, whole)
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var batches [][]*crdt.Entry
	for len(all) > 0 {
		k := min(len(all), 1+rng.IntN(8))
		batches = append(batches, all[:k])
		all = all[k:]
	}
	return batches
}

// persist writes a Step's Ready into a store, as a node does.
func persist(ctx context.Context, s Store, r crdt.Ready) error {
	_, err := s.Update(ctx, func(Mark) (Batch, error) { return BatchOf(r), nil })
	return err
}

// probes are the questions asked of both facts.
type probes struct {
	ids     []crdt.ID
	authors []crdt.DeviceKey
	tokens  [][32]byte
	tags    []uint64
}

func probesOf(n *fnet) probes {
	p := probes{tags: []uint64{0, 1, 2, 3, 4, 5, 99}}
	seen := map[crdt.DeviceKey]bool{}
	for _, e := range n.all {
		p.ids = append(p.ids, e.ID())
		if !seen[e.Author] {
			seen[e.Author] = true
			p.authors = append(p.authors, e.Author)
		}
	}
	p.ids = append(p.ids, crdt.ID{}, testID(12345))
	p.authors = append(p.authors, testKey(777))
	for t := range 9 {
		p.tokens = append(p.tokens, [32]byte{byte(t)})
	}
	return p
}

func entryLine(e *crdt.Entry) string {
	h := sha256.Sum256(e.Raw())
	return fmt.Sprintf("%v withheld=%v raw=%x", e.ID(), e.Withheld, h[:8])
}

// answers is every answer of f to the probes, as text: lists in no
// particular order are sorted, the others kept in their order.
func answers(t *testing.T, f crdt.Facts, p probes) string {
	t.Helper()
	var b strings.Builder
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	sorted := func(lines []string) string {
		sort.Strings(lines)
		return strings.Join(lines, "; ")
	}
	for _, id := range p.ids {
		e, st, ok, err := f.Get(id)
		check("get", err)
		if ok {
			fmt.Fprintf(&b, "get %v: %v %s\n", id, st, entryLine(e))
		} else if e != nil || st != crdt.StatusNone {
			t.Fatalf("get %v: not stored, but %v %v", id, e, st)
		}
		st2, withheld, ok2, err := f.Status(id)
		check("status", err)
		if ok2 != ok || st2 != st || ok && withheld != e.Withheld {
			t.Fatalf("status %v: %v %v %v, get says %v %v", id, st2, withheld, ok2, st, ok)
		}
	}
	for _, a := range p.authors {
		var lines []string
		check("authored", f.Authored(a, func(e *crdt.Entry, st crdt.Status) error {
			lines = append(lines, fmt.Sprintf("%v %s", st, entryLine(e)))
			return nil
		}))
		fmt.Fprintf(&b, "authored %v: %s\n", a, sorted(lines))
		h, err := f.Head(a)
		check("head", err)
		if h != nil {
			fmt.Fprintf(&b, "head %v: %s\n", a, entryLine(h))
		}
		nd, forked, err := f.Device(a)
		check("device", err)
		fmt.Fprintf(&b, "device %v: %d %v\n", a, nd, forked)
	}
	listed := func(what string, fn func(func(*crdt.Entry) error) error) {
		var lines []string
		check(what, fn(func(e *crdt.Entry) error { lines = append(lines, entryLine(e)); return nil }))
		if len(lines) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", what, sorted(lines))
		}
	}
	for v := crdt.View(0); v <= crdt.ViewShare+1; v++ {
		listed(fmt.Sprintf("view %d", v), func(fn func(*crdt.Entry) error) error { return f.View(v, fn) })
		for _, id := range p.ids {
			listed(fmt.Sprintf("refs %d %v", v, id), func(fn func(*crdt.Entry) error) error { return f.Refs(v, id, fn) })
			ref := id
			page, err := f.Page(v, 0, &ref, nil, 2)
			check("page of a ref", err)
			for _, e := range page {
				fmt.Fprintf(&b, "ref page %d %v: %v\n", v, id, entryLine(e))
			}
			// The IDs that share the first byte of id, and of its half.
			lo, hi := id, id
			for i := 1; i < len(lo); i++ {
				lo[i], hi[i] = 0, 0xff
			}
			inRange, err := f.Range(v, lo, hi, 1000)
			check("range", err)
			for _, e := range inRange {
				fmt.Fprintf(&b, "range %d %x: %v\n", v, id[:1], entryLine(e))
			}
		}
		for _, tag := range p.tags {
			n, err := f.Count(v, tag, nil, nil)
			check("count", err)
			fmt.Fprintf(&b, "count %d %d: %d\n", v, tag, n)
			// The whole view, a page at a time, and the first page.
			var after *crdt.Cursor
			for i := 0; ; i++ {
				if i > 1000 {
					t.Fatal("pages do not end")
				}
				page, err := f.Page(v, tag, nil, after, 3)
				check("page", err)
				for _, e := range page {
					fmt.Fprintf(&b, "page %d %d: %v %v\n", v, tag, e.Clock, entryLine(e))
				}
				if len(page) < 3 {
					break
				}
				last := page[len(page)-1]
				after = &crdt.Cursor{Clock: last.Clock, ID: last.ID()}
				left, err := f.Count(v, tag, nil, after)
				check("count after", err)
				fmt.Fprintf(&b, "left %d %d: %d\n", v, tag, left)
			}
			first, err := f.Page(v, tag, nil, nil, 50)
			check("page", err)
			fmt.Fprintf(&b, "first page %d %d: %d\n", v, tag, len(first))
			// Those with no ref (the open requests), and those closed.
			for _, ref := range []crdt.ID{{}, crdt.ClosedRef} {
				n, err := f.Count(v, tag, &ref, nil)
				check("count of a ref", err)
				page, err := f.Page(v, tag, &ref, nil, 50)
				check("page of a ref", err)
				fmt.Fprintf(&b, "ref %v count %d %d: %d\n", ref, v, tag, n)
				for _, e := range page {
					fmt.Fprintf(&b, "ref %v page %d %d: %v\n", ref, v, tag, entryLine(e))
				}
				if len(page) > 1 {
					last := page[0]
					n, err := f.Count(v, tag, &ref, &crdt.Cursor{Clock: last.Clock, ID: last.ID()})
					check("count of a ref after", err)
					fmt.Fprintf(&b, "ref %v left %d %d: %d\n", ref, v, tag, n)
				}
			}
		}
	}
	for _, tok := range p.tokens {
		listed(fmt.Sprintf("grants %x", tok[:1]), func(fn func(*crdt.Entry) error) error { return f.Grants(tok, fn) })
	}
	var withheld []string
	check("withheld", f.Withheld(func(id crdt.ID) bool { withheld = append(withheld, id.String()); return true }))
	fmt.Fprintf(&b, "withheld: %s\n", strings.Join(withheld, " "))
	if len(withheld) > 1 {
		var two []string
		check("withheld", f.Withheld(func(id crdt.ID) bool { two = append(two, id.String()); return len(two) < 2 }))
		fmt.Fprintf(&b, "withheld, stopped: %s\n", strings.Join(two, " "))
	}
	var acc []string
	check("accepted", f.Accepted(func(id crdt.ID) error { acc = append(acc, id.String()); return nil }))
	fmt.Fprintf(&b, "accepted: %s\n", strings.Join(acc, " "))
	c, err := f.Counts()
	check("counts", err)
	if c.Unknown == nil {
		c.Unknown = map[crdt.Kind]int{}
	}
	fmt.Fprintf(&b, "counts: %d %d %d %v\n", c.Accepted, c.Waiting, c.Held, c.Unknown)
	mc, err := f.MaxClock()
	check("max clock", err)
	fmt.Fprintf(&b, "max clock: %v\n", mc)
	var res []string
	check("resident", f.Resident(true, func(e *crdt.Entry, st crdt.Status) error {
		res = append(res, fmt.Sprintf("%v %s", st, entryLine(e)))
		return nil
	}))
	fmt.Fprintf(&b, "resident: %s\n", sorted(res))
	return b.String()
}

// firstDiff is the first line where a and b differ.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  memory facts: %s\n  store:        %s", i+1, x, y)
		}
	}
	return ""
}

// A State over the store answers exactly as one over crdt.MemoryFacts: the
// same random deliveries, and after every step every Facts question asked
// of both, and what each State says.
func TestFactsAnswerLikeMemoryFacts(t *testing.T) {
	cases := *factsCases
	if testing.Short() || raceDetector {
		cases = 3
	}
	if cases < 3 {
		t.Fatal("-facts.cases must be 3 or more: every third case overflows the pool")
	}
	var seen factsSeen
	for _, kind := range []string{"memory", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			for c := range cases {
				var s Store
				if kind == "memory" {
					s = NewMemory()
				} else {
					s = openTemp(t, filepath.Join(t.TempDir(), fmt.Sprintf("case-%d.db", c)))
				}
				sameAnswers(t, s, *factsSeed+uint64(c), c%3 == 2, &seen)
				s.Close()
			}
		})
	}
	// The histories reach what the comparison is about.
	t.Logf("seen: %+v", seen)
	if seen.rewritten == 0 || seen.rekeyed == 0 || seen.withheld == 0 || seen.forked == 0 || seen.grants == 0 || seen.refs == 0 ||
		seen.dropped == 0 || seen.unknown == 0 || seen.held == 0 {
		t.Errorf("some answers were never exercised: %+v", seen)
	}
}

// factsSeen counts what the cases exercised.
type factsSeen struct {
	rewritten, rekeyed, withheld, forked, grants, refs, dropped, unknown, held int
}

// sameAnswers delivers the history of seed to a State over
// crdt.MemoryFacts and to one over s, and compares them after each step.
//
// With a waiting pool small enough to overflow, two States given the same
// entries can drop different ones (which pending entry is the oldest
// depends, within one Step, on map order in crdt), so then one State over
// crdt.MemoryFacts decides, and its Readies are persisted into both: the
// drops are compared too.
func sameAnswers(t *testing.T, s Store, seed uint64, mirror bool, seen *factsSeen) {
	ctx := context.Background()
	n := factsHistory(t, seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	limits := crdt.DefaultLimits()
	if mirror {
		limits.MaxPending = 5 + rng.IntN(20)
	}
	mf := crdt.NewMemoryFacts()
	sf := Facts(ctx, s)
	sa, sb := crdt.NewStateOn(n.network, limits, mf), crdt.NewStateOn(n.network, limits, sf)
	p := probesOf(n)
	dropped := 0
	for i, batch := range deliveries(t, n, rng) {
		ra, readyA := sa.Step(batch)
		mf.Persist(readyA)
		for _, c := range readyA.Changes {
			if c.To == crdt.StatusNone {
				dropped++
			}
		}
		readyB := readyA
		if !mirror {
			var rb []crdt.Result
			rb, readyB = sb.Step(batch)
			if err := sb.Err(); err != nil {
				t.Fatalf("seed %d, batch %d: the state over the store failed: %v", seed, i, err)
			}
			if !reflect.DeepEqual(statusesOf(ra), statusesOf(rb)) {
				t.Fatalf("seed %d, batch %d: results %v, over the store %v", seed, i, statusesOf(ra), statusesOf(rb))
			}
		}
		if err := persist(ctx, s, readyB); err != nil {
			t.Fatal(err)
		}
		seen.rewritten += len(readyB.Rewritten)
		seen.rekeyed += len(readyB.Rekeyed)
		for _, c := range readyB.Changes {
			if c.To == crdt.StatusNone {
				seen.dropped++
			}
			if c.To == crdt.StatusHeld {
				seen.held++
			}
		}
		if a, b := answers(t, mf, p), answers(t, sf, p); a != b {
			t.Fatalf("seed %d, batch %d: the store answers otherwise, %s", seed, i, firstDiff(a, b))
		}
	}
	sf.Withheld(func(crdt.ID) bool { seen.withheld++; return true })
	for _, a := range p.authors {
		if _, forked, _ := sf.Device(a); forked {
			seen.forked++
		}
	}
	for _, tok := range p.tokens {
		sf.Grants(tok, func(*crdt.Entry) error { seen.grants++; return nil })
	}
	for _, id := range p.ids {
		sf.Refs(crdt.ViewResponse, id, func(*crdt.Entry) error { seen.refs++; return nil })
	}
	if c, _ := sf.Counts(); len(c.Unknown) > 0 {
		seen.unknown++
	}
	if mirror {
		if dropped == 0 {
			t.Logf("seed %d: the pool never overflowed", seed)
		}
		return
	}
	if sa.Digest() != sb.Digest() || !reflect.DeepEqual(sa.Counts(), sb.Counts()) {
		t.Fatalf("seed %d: the states differ: %+v, over the store %+v", seed, sa.Counts(), sb.Counts())
	}
	if sa.Counts().Accepted < 10 {
		t.Fatalf("seed %d: only %d accepted: the test proves little", seed, sa.Counts().Accepted)
	}
}

func statusesOf(rs []crdt.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%v/%v", r.Status, r.Duplicate))
	}
	return out
}
