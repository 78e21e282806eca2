package crdt

import (
	"errors"
	"slices"
	"testing"
)

func TestGenesisAlone(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	s := n.state(n.all...)
	if st := status(s, n.all[0]); st != StatusAccepted {
		t.Fatalf("genesis %v", st)
	}
	ms := s.Members()
	if len(ms) != 1 || !ms[0].Steward || !ms[0].Admitted || ms[0].Name != "Founders" || ms[0].ID != f.org() {
		t.Fatalf("members %+v", ms)
	}
	if s.NetworkName() != "Test network" || s.Quorum() != 1 {
		t.Fatalf("network %q quorum %d", s.NetworkName(), s.Quorum())
	}
}

func TestForeignGenesisRefused(t *testing.T) {
	a := newNet(t, newDev(1), 1)
	b := newNet(t, newDev(2), 1)
	s := NewState(a.network, DefaultLimits())
	res, _ := s.Apply(b.all[0])
	if !errors.Is(res.Reason, ErrWrongNetwork) || res.Status != StatusNone {
		t.Fatalf("foreign genesis: %+v", res)
	}
	x := b.request(newDev(99), "x")
	if res, _ := s.Apply(x); !errors.Is(res.Reason, ErrWrongNetwork) {
		t.Fatalf("foreign entry: %+v", res)
	}
}

func TestUnverifiedRefused(t *testing.T) {
	n := newNet(t, newDev(1), 1)
	e, err := Decode(n.all[0].Raw())
	if err != nil {
		t.Fatal(err)
	}
	s := NewState(n.network, DefaultLimits())
	if res, _ := s.Apply(e); !errors.Is(res.Reason, ErrUnverified) {
		t.Fatalf("got %+v", res)
	}
}

func TestWaitsForAdmissionThenAccepted(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	req := n.request(b, "written before admission") // offline-first: b writes before it is admitted
	adm := n.admit(f, b, "Beta", false)
	s := n.state(n.all[0], req)
	if st := status(s, req); st != StatusWaiting {
		t.Fatalf("before admission: %v", st)
	}
	if !errors.Is(s.Why(req.ID()), ErrNotMember) {
		t.Fatalf("why: %v", s.Why(req.ID()))
	}
	res, changes := s.Apply(adm)
	if res.Status != StatusAccepted {
		t.Fatalf("admission: %+v", res)
	}
	if len(changes) != 1 || changes[0].ID != req.ID() || changes[0].From != StatusWaiting || changes[0].To != StatusAccepted {
		t.Fatalf("changes %+v", changes)
	}
}

func TestChainOutOfOrder(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	r1 := n.request(f, "one")
	r2 := n.request(f, "two")
	r3 := n.request(f, "three")
	s := n.state(n.all[0], r3, r2)
	for _, e := range []*Entry{r2, r3} {
		if st := status(s, e); st != StatusWaiting {
			t.Fatalf("%v before its predecessor: %v", e.Seq, st)
		}
	}
	_, changes := s.Apply(r1)
	if len(changes) != 2 {
		t.Fatalf("changes %+v", changes)
	}
	if c := s.Counts(); c.Accepted != 4 || c.Waiting != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestBrokenChainRefused(t *testing.T) {
	f, g := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, g, "G", false)
	a := n.request(f, "a")
	// g claims a (f's entry) as its predecessor.
	g.seq, g.head = a.Seq, a.ID()
	bad := n.request(g, "bad")
	s := n.state(n.all[:3]...)
	if res, _ := s.Apply(bad); !errors.Is(res.Reason, ErrBrokenChain) || res.Status != StatusNone {
		t.Fatalf("got %+v", res)
	}
	// Arriving before its claimed predecessor, it waits, then goes.
	s = n.state(n.all[:2]...)
	if res, _ := s.Apply(bad); res.Status != StatusWaiting {
		t.Fatalf("before: %+v", res)
	}
	_, changes := s.Apply(a)
	if len(changes) != 1 || changes[0].To != StatusNone {
		t.Fatalf("changes %+v", changes)
	}
	if _, ok := s.Has(bad.ID()); ok {
		t.Fatal("broken entry still held")
	}
}

// orders returns every permutation of es (small inputs only).
func orders(es []*Entry) [][]*Entry {
	if len(es) <= 1 {
		return [][]*Entry{append([]*Entry{}, es...)}
	}
	var out [][]*Entry
	for i := range es {
		rest := append(append([]*Entry{}, es[:i]...), es[i+1:]...)
		for _, o := range orders(rest) {
			out = append(out, append([]*Entry{es[i]}, o...))
		}
	}
	return out
}

// allOrders applies every permutation of tail after head and checks that
// the accepted set is the same every time; it returns the last state.
func allOrders(t *testing.T, n *tnet, head, tail []*Entry) *State {
	t.Helper()
	var want [32]byte
	var last *State
	for i, o := range orders(tail) {
		s := NewState(n.network, DefaultLimits())
		for _, e := range append(append([]*Entry{}, head...), o...) {
			s.Apply(e)
		}
		if i == 0 {
			want = s.Digest()
		} else if s.Digest() != want {
			t.Fatalf("order %d gives a different digest", i)
		}
		last = s
	}
	return last
}

func TestRevocationCutOffAnyOrder(t *testing.T) {
	f, b, b2 := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	n.addDevice(b, b2, b.org())
	keep := n.request(b2, "before the seizure")
	// b2 is seized after its entry 1; b revokes it with cut-off 1.
	rev := n.revoke(b, b2, 1)
	late := n.request(b2, "written by whoever holds it now")
	later := n.respond(b2, keep, Vouch)
	s := allOrders(t, n, n.all[:3], []*Entry{keep, rev, late, later})
	if status(s, keep) != StatusAccepted || status(s, rev) != StatusAccepted {
		t.Fatal("entries within the cut-off must stand")
	}
	for _, e := range []*Entry{late, later} {
		if st := status(s, e); st != StatusHeld {
			t.Fatalf("entry %d past the cut-off: %v", e.Seq, st)
		}
		if !errors.Is(s.Why(e.ID()), ErrRevoked) {
			t.Fatalf("why %v", s.Why(e.ID()))
		}
	}
	beta, _ := s.Org(b.org())
	dv := beta.Devices
	if len(dv) != 2 {
		t.Fatalf("devices %+v", dv)
	}
	for _, d := range dv {
		if d.Key == b2.key && (!d.Revoked || d.Cutoff != 1) {
			t.Fatalf("revoked device %+v", d)
		}
	}
}

func TestRevocationRefusesForkBelowCutOff(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	seized := b.clone()
	e1 := n.request(b, "one")
	e2 := n.request(b, "two")
	rev := n.revoke(f, b, 2)
	// The holder of a copy of the key writes an alternative entry 1.
	fork := n.request(seized, "alternative history")
	s := allOrders(t, n, n.all[:2], []*Entry{e1, e2, rev, fork})
	if status(s, fork) != StatusHeld || status(s, e1) != StatusAccepted || status(s, e2) != StatusAccepted {
		t.Fatalf("fork %v e1 %v e2 %v", status(s, fork), status(s, e1), status(s, e2))
	}
}

func TestSelfRevocation(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	e1 := n.request(b, "one")
	self := n.revoke(b, b, 1)
	after := n.request(b, "after")
	s := allOrders(t, n, n.all[:2], []*Entry{e1, self, after})
	if status(s, self) != StatusAccepted || status(s, after) != StatusHeld || status(s, e1) != StatusAccepted {
		t.Fatalf("self %v after %v e1 %v", status(s, self), status(s, after), status(s, e1))
	}
}

func TestForkKeptAndFlagged(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	n.request(b, "common")
	clone := b.clone()
	x := n.request(b, "branch x")
	y := n.request(clone, "branch y")
	y2 := n.request(clone, "branch y, later")
	s := allOrders(t, n, n.all[:3], []*Entry{x, y, y2})
	for _, e := range []*Entry{x, y, y2} {
		if status(s, e) != StatusAccepted {
			t.Fatalf("fork entry %d: %v", e.Seq, status(s, e))
		}
	}
	var forked bool
	beta, _ := s.Org(b.org())
	for _, d := range beta.Devices {
		forked = forked || d.Forked
	}
	if !forked {
		t.Fatal("fork not flagged")
	}
}

func TestQuorumAdmission(t *testing.T) {
	f, s2, c := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 2)
	// With one steward, a quorum of two cannot be met: the one decides.
	n.admit(f, s2, "Second steward", true)
	a1 := n.admit(f, c, "Gamma", false)
	st := n.state(n.all...)
	if o, _ := st.Org(s2.org()); !o.Admitted || !o.Steward {
		t.Fatalf("second steward %+v", o)
	}
	// Now there are two stewards: Gamma waits for the second approval.
	if o, _ := st.Org(c.org()); o.Admitted || o.Approvals != 1 {
		t.Fatalf("gamma after one approval %+v", o)
	}
	gamma := n.request(c, "written while pending")
	st = n.state(n.all...)
	if status(st, gamma) != StatusWaiting {
		t.Fatalf("pending organisation's entry %v", status(st, gamma))
	}
	a2 := n.admit(s2, c, "Gamma", false)
	st = allOrders(t, n, n.all[:3], []*Entry{a1, gamma, a2})
	if o, _ := st.Org(c.org()); !o.Admitted || o.Approvals != 2 || o.Steward {
		t.Fatalf("gamma %+v", o)
	}
	if status(st, gamma) != StatusAccepted {
		t.Fatalf("admitted organisation's entry %v", status(st, gamma))
	}
}

func TestNonStewardCannotAdmit(t *testing.T) {
	f, b, c := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	adm := n.admit(b, c, "Gamma", false)
	s := n.state(n.all...)
	if status(s, adm) != StatusHeld || !errors.Is(s.Why(adm.ID()), ErrNoAuthority) {
		t.Fatalf("%v %v", status(s, adm), s.Why(adm.ID()))
	}
	if o, ok := s.Org(c.org()); ok && o.Admitted {
		t.Fatal("admitted by a non-steward")
	}
}

func TestUnknownKindStoredAndCounted(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	u := n.writeRaw(f, Kind(4242), []byte("a future body format"))
	s := n.state(n.all...)
	if status(s, u) != StatusAccepted {
		t.Fatalf("unknown kind: %v", status(s, u))
	}
	if c := s.Counts(); c.Unknown[Kind(4242)] != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestMutualRevocationRaceCutsBoth(t *testing.T) {
	f, a, b := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	n.admit(f, a, "Alpha", true) // two stewards besides the founder
	n.admit(f, b, "Beta", true)
	a1 := n.request(a, "a1")
	b1 := n.request(b, "b1")
	ra := n.revoke(a, b, 1) // a has seen b up to 1
	rb := n.revoke(b, a, 1) // b has seen a up to 1, concurrently
	a3 := n.request(a, "a3")
	b3 := n.request(b, "b3")
	s := allOrders(t, n, n.all[:3], []*Entry{a1, b1, ra, rb, a3, b3})
	if status(s, ra) != StatusAccepted || status(s, rb) != StatusAccepted {
		t.Fatalf("race: ra %v rb %v", status(s, ra), status(s, rb))
	}
	if status(s, a3) != StatusHeld || status(s, b3) != StatusHeld {
		t.Fatalf("after race: a3 %v b3 %v", status(s, a3), status(s, b3))
	}
}

func TestSeizedDeviceCannotRevokeItsRevoker(t *testing.T) {
	// The seized device has seen its own revocation and revokes the
	// revoker anyway: no race, so the revocation it is past stands.
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", true)
	b1 := n.request(b, "b1")
	rf := n.revoke(f, b, 1) // f's entry 3; f is not cut by anything
	rb := n.revoke(b, f, 3) // b, past its cut-off, accepts f up to rf
	fl := n.request(f, "founder keeps working")
	s := allOrders(t, n, n.all[:2], []*Entry{b1, rf, rb, fl})
	if status(s, rf) != StatusAccepted || status(s, rb) != StatusHeld || status(s, fl) != StatusAccepted {
		t.Fatalf("rf %v rb %v fl %v", status(s, rf), status(s, rb), status(s, fl))
	}
}

func TestSeizedDeviceProxyRevocationFails(t *testing.T) {
	// Past its cut-off the seized device adds a new device of its own
	// organisation, which then revokes the revoker.
	f, b, x := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", true)
	b1 := n.request(b, "b1")
	rf := n.revoke(f, b, 1)
	add := n.addDevice(b, x, b.org())
	rx := n.revoke(x, f, 2)
	s := allOrders(t, n, n.all[:2], []*Entry{b1, rf, add, rx})
	if status(s, rf) != StatusAccepted || status(s, add) != StatusHeld {
		t.Fatalf("rf %v add %v", status(s, rf), status(s, add))
	}
	if st := status(s, rx); st == StatusAccepted {
		t.Fatalf("proxy revocation %v", st)
	}
}

func TestWaitingPoolBounded(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	var es []*Entry
	for i := 0; i < 10; i++ {
		es = append(es, n.request(f, "r"))
	}
	s := NewState(n.network, Limits{MaxPending: 3, MaxPendingBytes: 1 << 20})
	s.Apply(n.all[0])
	for _, e := range es[1:] { // entry 1 withheld: the rest wait
		s.Apply(e)
	}
	if c := s.Counts(); c.Waiting != 3 {
		t.Fatalf("waiting %d, want 3", c.Waiting)
	}
	// The newest survive.
	for _, e := range es[7:] {
		if status(s, e) != StatusWaiting {
			t.Fatalf("entry %d dropped", e.Seq)
		}
	}
}

func TestDirectoryLatestWins(t *testing.T) {
	f, f2 := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.addDevice(f, f2, f.org())
	d1 := n.write(f, &Directory{Name: "Old", Regions: []string{"TZ"}})
	d2 := n.write(f2, &Directory{Name: "New", Regions: []string{"KE", "TZ"}})
	s := allOrders(t, n, n.all[:2], []*Entry{d1, d2})
	dir := s.Directory()
	if len(dir) != 1 || dir[0].Name != "New" || dir[0].Entry != d2.ID() {
		t.Fatalf("directory %+v", dir)
	}
}

func TestCloseOnlyByRequester(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	req := n.request(f, "r")
	n.write(b, &RequestClosed{Request: req.ID()}, req.ID())
	s := n.state(n.all...)
	if rv, _ := s.Request(req.ID()); rv.Closed {
		t.Fatal("closed by another organisation")
	}
	cl := n.write(f, &RequestClosed{Request: req.ID()}, req.ID())
	s = n.state(n.all...)
	if rv, _ := s.Request(req.ID()); !rv.Closed || rv.ClosedBy != cl.ID() {
		t.Fatalf("%+v", rv)
	}
}

func TestResponsesMustFit(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	req := n.request(f, "verify")
	ok := n.respond(b, req, Vouch)
	n.write(b, &Response{Request: req.ID(), Type: Pledge, Amount: 100, Currency: "EUR"}, req.ID())
	s := n.state(n.all...)
	answers, _ := s.AnswersBefore(req.ID(), nil, ShowResponses)
	if len(answers) != 1 || answers[0].ID != ok.ID() || answers[0].Org != b.org() {
		t.Fatalf("%+v", answers)
	}
	if rv, _ := s.Request(req.ID()); rv.ResponseCount != 1 {
		t.Fatalf("%d responses counted, want 1", rv.ResponseCount)
	}
}

// Check must agree with Apply for entries written after everything held.
func TestCheckAgreesWithApply(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		n := genHistory(t, seed)
		s := NewState(n.network, DefaultLimits())
		for i, e := range n.all {
			want, _ := s.Check(e)
			res, _ := s.Apply(e)
			if res.Status != want {
				t.Fatalf("seed %d entry %d (%v): Check said %v, Apply did %v (%v)", seed, i, e.Kind, want, res.Status, res.Reason)
			}
		}
	}
}

func TestWaitingPoolBoundedInBytes(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	var es []*Entry
	for i := 0; i < 10; i++ {
		es = append(es, n.request(f, "r"))
	}
	size := int64(len(es[1].Raw()))
	s := NewState(n.network, Limits{MaxPending: 100, MaxPendingBytes: 4*size + size/2})
	s.Apply(n.all[0])
	for _, e := range es[1:] {
		s.Apply(e)
	}
	if c := s.Counts(); c.Waiting != 4 {
		t.Fatalf("waiting %d, want 4 (bytes bound)", c.Waiting)
	}
	checkBooks(t, s)
	// The withheld entry arrives. The survivors still wait for the entries
	// evicted before them, which a later reconciliation brings back.
	s.Apply(es[0])
	if c := s.Counts(); c.Accepted != 2 || c.Waiting != 4 {
		t.Fatalf("after the gap is filled: %+v", c)
	}
}

// The Readies tell every change of the accepted set, so an index kept
// from them (as a node keeps its reconciliation index) equals the
// accepted set whatever the order of arrival.
func TestReadyTracksAcceptedSet(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		n := genHistory(t, seed)
		s := NewState(n.network, DefaultLimits())
		tracked := map[ID]bool{}
		es := append([]*Entry{}, n.all...)
		slices.Reverse(es)
		for _, e := range es {
			_, ready := s.Step([]*Entry{e})
			s.own.Persist(ready)
			for _, st := range ready.Stored {
				if st.Status == StatusAccepted {
					tracked[st.Entry.ID()] = true
				}
			}
			for _, c := range ready.Changes {
				if c.From == c.To {
					t.Fatalf("seed %d: no-op change reported", seed)
				}
				if c.To == StatusAccepted {
					tracked[c.ID] = true
				}
				if c.From == StatusAccepted {
					delete(tracked, c.ID)
				}
			}
		}
		if len(tracked) != s.Counts().Accepted {
			t.Fatalf("seed %d: the Readies track %d, the state accepts %d", seed, len(tracked), s.Counts().Accepted)
		}
		s.Accepted(func(e *Entry) {
			if !tracked[e.ID()] {
				t.Fatalf("seed %d: accepted entry not tracked", seed)
			}
		})
	}
}

// A revocation that would void the entry admitting its own author's
// organisation is void: it stands in no order, and cuts nobody.
func TestSelfDefeatingRevocationIsVoid(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	adm := n.admit(f, b, "Beta", true) // f's entry 2
	rb := n.revoke(b, f, 1)            // b cuts f below the admission of b
	fl := n.request(f, "the founder carries on")
	s := allOrders(t, n, n.all[:1], []*Entry{adm, rb, fl})
	if status(s, rb) != StatusHeld || !errors.Is(s.Why(rb.ID()), ErrNoAuthority) {
		t.Fatalf("self-defeating revocation: %v %v", status(s, rb), s.Why(rb.ID()))
	}
	if status(s, adm) != StatusAccepted || status(s, fl) != StatusAccepted {
		t.Fatalf("admission %v, founder's later entry %v", status(s, adm), status(s, fl))
	}
}

// The network secret's anchor counts only when a steward organisation's
// device wrote it; the founding organisation's wins over another steward's.
func TestNetworkKeyCheckOnlyFromStewards(t *testing.T) {
	f, s, m := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	n.admit(f, s, "Steward", true)
	n.admit(f, m, "Member", false)
	rogue := n.write(m, &SecretCheck{KeyCheck: [8]byte{6, 6, 6}})
	st := n.state(n.all...)
	if st2, _ := st.Has(rogue.ID()); st2 != StatusAccepted {
		t.Fatalf("the member's anchor is %v", st2)
	}
	if kc, ok := st.NetworkKeyCheck(); ok {
		t.Fatalf("a member that is no steward anchored the secret: %x", kc)
	}
	n.write(s, &SecretCheck{KeyCheck: [8]byte{2}})
	if kc, ok := n.state(n.all...).NetworkKeyCheck(); !ok || kc != [8]byte{2} {
		t.Fatalf("the steward's anchor: %x %v", kc, ok)
	}
	n.write(f, &SecretCheck{KeyCheck: [8]byte{1}})
	n.write(f, &SecretCheck{KeyCheck: [8]byte{3}})
	for _, order := range [][]*Entry{n.all, reversed(n.all)} {
		if kc, ok := n.state(order...).NetworkKeyCheck(); !ok || kc != [8]byte{1} {
			t.Fatalf("the founder's first anchor: %x %v", kc, ok)
		}
	}
}
