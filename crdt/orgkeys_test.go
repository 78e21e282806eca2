package crdt

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// fifty years after the test network's time, in Unix ms.
const fiftyYears = 1_700_000_000_000 + 50*365*86_400_000

// orgWithThree is a network whose founding organisation has three
// devices: f (the founder), a and x (x will be seized), and the
// organisation's first key, written by f for all three.
func orgWithThree(t *testing.T) (n *tnet, f, a, x *tdev, k1 *Entry) {
	f, a, x = newDev(101), newDev(102), newDev(103)
	n = newNet(t, f, 1)
	n.addDevice(f, a, f.org())
	n.addDevice(f, x, f.org())
	k1 = n.orgKey(f, 1, ID{}, []*tdev{a, f, x})
	return n, f, a, x, k1
}

func current(t *testing.T, s *State, org OrgID) (OrgKeyView, bool) {
	t.Helper()
	return s.CurrentOrgKey(org)
}

// The attack of issue 11: a device about to be revoked publishes its own
// key with a clock fifty years ahead, in the old form and in the new. Once
// it is revoked its key never counts, nor does any key written before the
// revocation; the key a remaining device writes after it does.
func TestSeizedDeviceCannotCaptureTheOrganisationKey(t *testing.T) {
	for _, form := range []string{"old form", "new form, a long chain"} {
		t.Run(form, func(t *testing.T) {
			n, f, a, x, k1 := orgWithThree(t)
			var attack *Entry
			if form == "old form" {
				attack = n.writeAt(x, fiftyYears, &OrgKey{Public: [32]byte{66}, Wraps: orgKeyWraps(x)})
			} else {
				prev := k1.ID()
				for i := range 5 {
					attack = n.writeAt(x, fiftyYears+uint64(i), &OrgKeyV2{Public: [32]byte{66 + byte(i)}, Replaces: prev, Wraps: orgKeyWraps(x)}, prev)
					prev = attack.ID()
				}
			}
			s := n.state(n.all...)
			if form != "old form" {
				// Before the revocation the device has standing: its key is
				// current (a device seized and not yet revoked is out of reach).
				if v, ok := current(t, s, f.org()); !ok || v.Entry.ID() != attack.ID() {
					t.Fatalf("before the revocation the longest chain should be current")
				}
			}
			rev := n.revoke(f, x, x.seq)
			s = n.state(n.all...)
			v, ok := current(t, s, f.org())
			if ok {
				t.Fatalf("after the revocation, before any new key, %v counts", v.Entry.ID())
			}
			for _, kv := range s.OrgKeyViews(f.org()) {
				switch {
				case kv.Entry.Author == x.key && kv.Doubt != KeyByRevoked:
					t.Errorf("the revoked device's key: doubt %v, want %v", kv.Doubt, KeyByRevoked)
				case kv.Entry.ID() == k1.ID() && kv.Doubt != KeyWrappedForRevoked:
					t.Errorf("the key handed to the revoked device: doubt %v, want %v", kv.Doubt, KeyWrappedForRevoked)
				}
			}
			// A remaining device writes a new key after the revocation.
			replaces, revs := s.OrgKeyBasis(f.org())
			if replaces != k1.ID() || len(revs) != 1 || revs[0] != rev.ID() {
				t.Fatalf("basis %v %v: want the first key and the revocation", replaces, revs)
			}
			k2 := n.orgKey(a, 2, replaces, []*tdev{a, f}, revs...)
			s = n.state(n.all...)
			if v, ok := current(t, s, f.org()); !ok || v.Entry.ID() != k2.ID() || v.Depth != 2 {
				t.Fatalf("the key written after the revocation is not current: %+v %v", v, ok)
			}
			// And the next one, naming only the one it replaces, follows the
			// revocation through it.
			k3 := n.orgKey(f, 3, k2.ID(), []*tdev{a, f})
			s = n.state(n.all...)
			if v, ok := current(t, s, f.org()); !ok || v.Entry.ID() != k3.ID() {
				t.Fatalf("the key replacing it is not current: %+v %v", v, ok)
			}
		})
	}
}

// A key written without knowing of a revocation does not count: neither
// one that does not name it, nor one that is not wrapped for the revoked
// device but was written concurrently with its revocation.
func TestOrgKeyMustFollowTheRevocation(t *testing.T) {
	n, f, a, x, k1 := orgWithThree(t)
	rev := n.revoke(f, x, 0)
	// a, not having seen the revocation, rotates (as if for another reason)
	// and happens not to wrap for x.
	blind := n.orgKey(a, 2, k1.ID(), []*tdev{a, f})
	s := n.state(n.all...)
	if v, ok := current(t, s, f.org()); ok {
		t.Fatalf("a key that does not follow the revocation counts: %v", v.Entry.ID())
	}
	vs := s.OrgKeyViews(f.org())
	if vs[0].Entry.ID() != blind.ID() || vs[0].Doubt != KeyBeforeRevocation || vs[0].Device != x.key {
		t.Fatalf("doubt %v about %v, want %v about the revoked device", vs[0].Doubt, vs[0].Device, KeyBeforeRevocation)
	}
	seen := n.orgKey(f, 3, blind.ID(), []*tdev{a, f}, rev.ID())
	s = n.state(n.all...)
	if v, ok := current(t, s, f.org()); !ok || v.Entry.ID() != seen.ID() {
		t.Fatal("the key naming the revocation is not current")
	}
}

// A key re-wrapped for a device that is later revoked is doubted in every
// entry that carries it, even one that follows the revocation.
func TestOrgKeyOnceHandedToARevokedDeviceNeverCounts(t *testing.T) {
	f, a, x := newDev(201), newDev(202), newDev(203)
	n := newNet(t, f, 1)
	n.addDevice(f, a, f.org())
	k1 := n.orgKey(f, 1, ID{}, []*tdev{a, f})
	n.addDevice(f, x, f.org())
	k1x := n.orgKey(f, 1, k1.ID(), []*tdev{a, f, x}) // the same key, for x too
	rev := n.revoke(f, x, 0)
	same := n.orgKey(a, 1, k1x.ID(), []*tdev{a, f}, rev.ID()) // the same key again: x holds it
	s := n.state(n.all...)
	if v, ok := current(t, s, f.org()); ok {
		t.Fatalf("a key the revoked device holds counts: %v", v.Entry.ID())
	}
	for _, v := range s.OrgKeyViews(f.org()) {
		if v.Entry.ID() == same.ID() && (v.Doubt != KeyWrappedForRevoked || v.Device != x.key) {
			t.Fatalf("doubt %v about %v", v.Doubt, v.Device)
		}
	}
}

// A key wrapped for a device that is not one of the organisation's does
// not count.
func TestOrgKeyWrappedForAnotherOrganisationsDevice(t *testing.T) {
	f, b := newDev(301), newDev(302)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	k := n.orgKey(f, 1, ID{}, []*tdev{f, b})
	s := n.state(n.all...)
	if _, ok := current(t, s, f.org()); ok {
		t.Fatal("a key handed to another organisation's device counts")
	}
	if v := s.OrgKeyViews(f.org())[0]; v.Entry.ID() != k.ID() || v.Doubt != KeyWrappedForOther || v.Device != b.key {
		t.Fatalf("doubt %v about %v", v.Doubt, v.Device)
	}
}

// Old-form entries keep their meaning while nothing has been revoked (the
// latest by clock is current), are outranked by any key of the new form,
// and stop counting at the organisation's first revocation.
func TestOldFormOrgKeys(t *testing.T) {
	f, a, x := newDev(401), newDev(402), newDev(403)
	n := newNet(t, f, 1)
	n.addDevice(f, a, f.org())
	n.addDevice(f, x, f.org())
	n.write(f, &OrgKey{Public: [32]byte{1}, Wraps: orgKeyWraps(f, a, x)})
	old2 := n.write(a, &OrgKey{Public: [32]byte{2}, Wraps: orgKeyWraps(f, a, x)})
	s := n.state(n.all...)
	if v, ok := current(t, s, f.org()); !ok || v.Entry.ID() != old2.ID() || v.Depth != 0 {
		t.Fatal("among old-form keys, the latest by clock is not current")
	}
	// The first new-form key replaces it, whatever the clocks.
	replaces, revs := s.OrgKeyBasis(f.org())
	if replaces != old2.ID() || len(revs) != 0 {
		t.Fatalf("basis %v %v", replaces, revs)
	}
	nf := n.orgKey(f, 3, replaces, []*tdev{f, a, x})
	late := n.writeAt(a, fiftyYears, &OrgKey{Public: [32]byte{4}, Wraps: orgKeyWraps(f, a, x)})
	s = n.state(n.all...)
	if v, ok := current(t, s, f.org()); !ok || v.Entry.ID() != nf.ID() {
		t.Fatalf("an old-form key (%v) outranks the new form", late.ID())
	}
	n.revoke(f, x, 0)
	s = n.state(n.all...)
	for _, v := range s.OrgKeyViews(f.org()) {
		if v.Counts() {
			t.Fatalf("after a revocation, %v (depth %d) counts", v.Entry.ID(), v.Depth)
		}
	}
}

// Two remaining devices rotating at once after a revocation: both keys
// count, the same one is current everywhere (by ID at equal depth), and the
// next key replaces it.
func TestConcurrentRotations(t *testing.T) {
	n, f, a, x, k1 := orgWithThree(t)
	rev := n.revoke(f, x, 0)
	ka := n.orgKey(a, 2, k1.ID(), []*tdev{a, f}, rev.ID())
	kf := n.orgKey(f, 3, k1.ID(), []*tdev{a, f}, rev.ID())
	s := n.state(n.all...)
	want := ka
	if kf.ID().Less(ka.ID()) {
		want = kf
	}
	if v, ok := current(t, s, f.org()); !ok || v.Entry.ID() != want.ID() {
		t.Fatal("the lower ID at equal depth is not current")
	}
	replaces, revs := s.OrgKeyBasis(f.org())
	if replaces != want.ID() || len(revs) != 0 {
		t.Fatalf("basis %v %v", replaces, revs)
	}
}

// A steward's revocation of another organisation's device counts for that
// organisation, and one in another organisation does not.
func TestOrgKeyRevocationsAreTheOrganisations(t *testing.T) {
	f, b, b2, g := newDev(501), newDev(502), newDev(503), newDev(504)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	n.admit(f, g, "Gamma", false)
	n.addDevice(b, b2, b.org())
	kb := n.orgKey(b, 1, ID{}, []*tdev{b, b2})
	kg := n.orgKey(g, 2, ID{}, []*tdev{g})
	n.revoke(f, b2, 0) // by the steward
	s := n.state(n.all...)
	if _, ok := current(t, s, b.org()); ok {
		t.Fatalf("Beta's key %v counts after the steward revoked one of its devices", kb.ID())
	}
	if v, ok := current(t, s, g.org()); !ok || v.Entry.ID() != kg.ID() {
		t.Fatal("Gamma's key stopped counting for a revocation in Beta")
	}
}

// Every order of arrival gives the same judgement.
func TestOrgKeyJudgementIndependentOfArrivalOrder(t *testing.T) {
	n, f, a, x, k1 := orgWithThree(t)
	att := n.writeAt(x, fiftyYears, &OrgKeyV2{Public: [32]byte{66}, Replaces: k1.ID(), Wraps: orgKeyWraps(x)}, k1.ID())
	n.writeAt(x, fiftyYears+1, &OrgKey{Public: [32]byte{67}, Wraps: orgKeyWraps(x, a)})
	rev := n.revoke(a, x, x.seq)
	blind := n.orgKey(f, 2, att.ID(), []*tdev{a, f}) // f had not seen the revocation
	k3 := n.orgKey(a, 3, blind.ID(), []*tdev{a, f}, rev.ID())
	k4 := n.orgKey(f, 4, k1.ID(), []*tdev{a, f}, rev.ID()) // concurrent with k3, shorter chain

	type judged struct {
		id    ID
		doubt OrgKeyDoubt
		depth int
	}
	judge := func(s *State) (cur ID, all []judged) {
		v, ok := s.CurrentOrgKey(f.org())
		if ok {
			cur = v.Entry.ID()
		}
		for _, v := range s.OrgKeyViews(f.org()) {
			all = append(all, judged{v.Entry.ID(), v.Doubt, v.Depth})
		}
		return cur, all
	}
	wantCur, want := judge(n.state(n.all...))
	if wantCur != k3.ID() {
		t.Fatalf("in writing order, %v is current, want the key after the revocation with the longest chain (%v; not %v)", wantCur, k3.ID(), k4.ID())
	}
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		es := append([]*Entry{n.all[0]}, n.all[1:]...)
		rest := es[1:]
		rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		s := NewState(n.network, DefaultLimits())
		for _, e := range es {
			s.Apply(e)
		}
		cur, all := judge(s)
		if cur != wantCur || len(all) != len(want) {
			t.Fatalf("seed %d: current %v, want %v", seed, cur, wantCur)
		}
		for i := range all {
			if all[i] != want[i] {
				t.Fatalf("seed %d: judgement %d is %+v, want %+v", seed, i, all[i], want[i])
			}
		}
	}
}

// The new form names the key it replaces among its dependencies too.
func TestOrgKeyV2BodyRules(t *testing.T) {
	f := newDev(601)
	n := newNet(t, f, 1)
	for name, b := range map[string]*OrgKeyV2{
		"replaces, not a dependency": {Public: [32]byte{1}, Replaces: ID{7}, Wraps: orgKeyWraps(f)},
		"no key":                     {Wraps: orgKeyWraps(f)},
		"no wrap":                    {Public: [32]byte{1}},
		"a wrap of a wrong size":     {Public: [32]byte{1}, Wraps: [][]byte{make([]byte, orgKeyWrapMin+5)}},
	} {
		raw, err := EncodeBody(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Sign(f.priv, Draft{Network: n.network, Seq: f.seq + 1, Prev: f.head, Clock: f.clock + 1, Kind: KindOrgKeyV2, Body: raw}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
