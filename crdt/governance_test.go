package crdt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func (n *tnet) stewardChange(by *tdev, org OrgID, steward bool) *Entry {
	return n.write(by, &StewardChange{Org: org, Steward: steward})
}

func (n *tnet) quorumChange(by *tdev, q uint64) *Entry {
	return n.write(by, &QuorumChange{Quorum: q})
}

func isSteward(t *testing.T, s *State, org OrgID) bool {
	t.Helper()
	o, ok := s.Org(org)
	if !ok {
		t.Fatalf("no organisation %v", org)
	}
	return o.Admitted && o.Steward
}

// stewardNet is a founder plus two named stewards with quorum 2, and a
// member that is not a steward: F, A and B are stewards, M is not.
func stewardNet(t *testing.T) (n *tnet, f, a, b, m *tdev) {
	f, a, b, m = newDev(1), newDev(2), newDev(3), newDev(4)
	n = newNet(t, f, 1)
	n.admit(f, a, "Alpha", false)
	n.admit(f, b, "Beta", false)
	n.admit(f, m, "Member", false)
	n.stewardChange(f, a.org(), true) // quorum 1: takes effect at once
	n.stewardChange(f, b.org(), true)
	n.quorumChange(f, 2) // now two of three are needed...
	n.quorumChange(a, 2) // ...to set it as well
	return n, f, a, b, m
}

// TestStewardsNamedAndQuorum is the test: a founder plus two named
// stewards with quorum 2. One approval is not enough and two are. A
// steward removed by the quorum can no longer approve.
func TestStewardsNamedAndQuorum(t *testing.T) {
	n, f, a, b, m := stewardNet(t)
	s := n.state(n.all...)
	g := s.Governance()
	if g.Quorum != 2 || g.Needed != 2 || len(g.Stewards) != 3 || len(g.Pending) != 0 {
		t.Fatalf("governance %+v", g)
	}

	// One approval is not enough...
	c := newDev(5)
	adm1 := n.admit(f, c, "Gamma", false)
	s = n.state(n.all...)
	if o, _ := s.Org(c.org()); o.Admitted {
		t.Fatal("admitted with one approval of two")
	}
	add1 := n.stewardChange(f, m.org(), true)
	s = n.state(n.all...)
	if isSteward(t, s, m.org()) {
		t.Fatal("a steward with one approval of two")
	}
	g = s.Governance()
	if len(g.Pending) != 2 || g.Pending[1].Kind != ChangeStewardAdd || !slices.Equal(g.Pending[1].ApprovedBy, []OrgID{f.org()}) {
		t.Fatalf("pending %+v", g.Pending)
	}
	// ...a second approval by the same organisation is not a second one...
	f2 := newDev(6)
	n.addDevice(f, f2, f.org())
	n.stewardChange(f2, m.org(), true)
	if s = n.state(n.all...); isSteward(t, s, m.org()) {
		t.Fatal("one organisation's two devices counted twice")
	}
	// ...and two are.
	n.admit(a, c, "Gamma", false)
	n.stewardChange(b, m.org(), true)
	s = n.state(n.all...)
	if o, _ := s.Org(c.org()); !o.Admitted || !isSteward(t, s, m.org()) {
		t.Fatalf("two approvals: admitted %v, steward %v", o.Admitted, isSteward(t, s, m.org()))
	}
	for _, e := range []*Entry{adm1, add1} {
		if st := status(s, e); st != StatusAccepted {
			t.Fatalf("approval %v: %v", e.Kind, st)
		}
	}

	// B is removed by two stewards; one was not enough.
	n.stewardChange(f, b.org(), false)
	if s = n.state(n.all...); !isSteward(t, s, b.org()) {
		t.Fatal("removed with one approval of two")
	}
	n.stewardChange(a, b.org(), false)
	if s = n.state(n.all...); isSteward(t, s, b.org()) {
		t.Fatal("still a steward after two approvals of two")
	}
	// B can no longer approve anything.
	d := newDev(7)
	late := []*Entry{
		n.admit(b, d, "Delta", false),
		n.stewardChange(b, d.org(), true),
		n.quorumChange(b, 3),
		n.stewardChange(b, a.org(), false),
	}
	s = n.state(n.all...)
	for _, e := range late {
		if st := status(s, e); st != StatusHeld || !errors.Is(s.Why(e.ID()), ErrNoAuthority) {
			t.Fatalf("removed steward's %v: %v (%v)", e.Kind, st, s.Why(e.ID()))
		}
	}
	if o, _ := s.Org(d.org()); o.Admitted || o.Approvals != 0 {
		t.Fatalf("removed steward's admission counted: %+v", o)
	}
	// B is still a member: it writes.
	if r := n.request(b, "still a member"); status(n.state(n.all...), r) != StatusAccepted {
		t.Fatal("a former steward's request")
	}
}

func TestLastStewardCannotBeRemoved(t *testing.T) {
	f, a := newDev(1), newDev(2)
	n := newNet(t, f, 2)
	n.admit(f, a, "Alpha", false)
	self := n.stewardChange(f, f.org(), false)
	s := n.state(n.all...)
	if status(s, self) != StatusHeld || !strings.Contains(s.Why(self.ID()).Error(), "without a steward") || !isSteward(t, s, f.org()) {
		t.Fatalf("last steward removed itself: %v %v", status(s, self), s.Why(self.ID()))
	}
	// With two stewards, each votes the other out: the first removal to
	// be settled stands, the other never leaves the network without one.
	n.stewardChange(f, a.org(), true) // quorum 2, one steward: one is enough
	s = n.state(n.all...)
	if !isSteward(t, s, a.org()) {
		t.Fatal("A is not a steward")
	}
	n.stewardChange(f, f.org(), false) // F would go (1 of 2)
	n.stewardChange(a, a.org(), false) // A would go (1 of 2)
	n.stewardChange(f, a.org(), false) // A goes: 2 of 2; then F's removal has F's vote, 1 of 1 needed
	s = n.state(n.all...)
	g := s.Governance()
	if len(g.Stewards) != 1 || g.Stewards[0] != f.org() {
		t.Fatalf("stewards %v", g.Stewards)
	}
	if len(g.Pending) != 1 || g.Pending[0].Kind != ChangeStewardRemove || g.Pending[0].Blocked == "" {
		t.Fatalf("pending %+v", g.Pending)
	}
}

func TestQuorumAboveStewardsRefused(t *testing.T) {
	f, a := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, a, "Alpha", false)
	q := n.quorumChange(f, 2)
	s := n.state(n.all...)
	if status(s, q) != StatusHeld || !strings.Contains(s.Why(q.ID()).Error(), "only 1 steward") || s.Quorum() != 1 {
		t.Fatalf("quorum 2 with one steward: %v %v quorum %d", status(s, q), s.Why(q.ID()), s.Quorum())
	}
	// A quorum the network already has is no vote, and no error.
	same := n.quorumChange(f, 1)
	if s = n.state(n.all...); status(s, same) != StatusAccepted || len(s.Governance().Pending) != 0 {
		t.Fatalf("same quorum: %v %+v", status(s, same), s.Governance())
	}
}

// A removed steward's pending approvals stop counting, and do not come
// back should it be named again.
func TestRemovedStewardsVotesLapse(t *testing.T) {
	n, f, a, b, m := stewardNet(t)
	n.stewardChange(b, m.org(), true) // 1 of 2
	n.quorumChange(b, 3)              // 1 of 2
	n.stewardChange(f, b.org(), false)
	n.stewardChange(a, b.org(), false) // B goes
	s := n.state(n.all...)
	g := s.Governance()
	if len(g.Pending) != 0 {
		t.Fatalf("B's approvals still pending: %+v", g.Pending)
	}
	n.stewardChange(f, m.org(), true) // 1 of 2: B's does not count
	if s = n.state(n.all...); isSteward(t, s, m.org()) {
		t.Fatal("a lapsed approval counted")
	}
	n.stewardChange(f, b.org(), true)
	n.stewardChange(a, b.org(), true) // B is back
	s = n.state(n.all...)
	if !isSteward(t, s, b.org()) || isSteward(t, s, m.org()) || s.Quorum() != 2 {
		t.Fatalf("B back: steward %v, M steward %v, quorum %d", isSteward(t, s, b.org()), isSteward(t, s, m.org()), s.Quorum())
	}
}

// Removing a steward while there are fewer stewards than the quorum lowers
// what is needed, and what was approved by enough of those left takes
// effect.
func TestRemovalLetsPendingThrough(t *testing.T) {
	n, f, a, b, m := stewardNet(t)
	n.quorumChange(f, 3)
	n.quorumChange(a, 3) // quorum 3 of 3
	n.stewardChange(f, m.org(), true)
	n.stewardChange(a, m.org(), true) // 2 of 3: pending
	s := n.state(n.all...)
	if s.Quorum() != 3 || isSteward(t, s, m.org()) {
		t.Fatalf("quorum %d, M steward %v", s.Quorum(), isSteward(t, s, m.org()))
	}
	n.stewardChange(f, b.org(), false)
	n.stewardChange(a, b.org(), false)
	n.stewardChange(b, b.org(), false) // B steps down: 3 of 3
	s = n.state(n.all...)
	g := s.Governance()
	// B left: two stewards, so two are needed, and M's two approvals are
	// enough: M becomes one, and three are needed again.
	if isSteward(t, s, b.org()) || !isSteward(t, s, m.org()) || g.Quorum != 3 || g.Needed != 3 || len(g.Pending) != 0 {
		t.Fatalf("governance %+v", g)
	}
}

// Two quorums proposed at once: the first to have enough approvals wins,
// and the approvals of the other lapse.
func TestConflictingQuorums(t *testing.T) {
	n, f, a, b, _ := stewardNet(t)
	n.quorumChange(f, 3)
	n.quorumChange(a, 1)
	n.quorumChange(b, 3)
	s := n.state(n.all...)
	if g := s.Governance(); g.Quorum != 3 || len(g.Pending) != 0 {
		t.Fatalf("governance %+v", g)
	}
	n.quorumChange(f, 1) // A's approval of 1 lapsed: 1 of 3
	if s = n.state(n.all...); s.Quorum() != 3 {
		t.Fatalf("quorum %d", s.Quorum())
	}
}

// An approval by a device revoked before it counts for nothing.
func TestRevokedStewardDeviceApproval(t *testing.T) {
	n, f, a, _, m := stewardNet(t)
	a2 := newDev(8)
	n.addDevice(a, a2, a.org())
	n.revoke(a, a2, 0) // nothing of a2 is accepted
	n.stewardChange(f, m.org(), true)
	vote := n.stewardChange(a2, m.org(), true)
	s := n.state(n.all...)
	if status(s, vote) != StatusHeld || !errors.Is(s.Why(vote.ID()), ErrRevoked) || isSteward(t, s, m.org()) {
		t.Fatalf("revoked device's approval: %v %v steward %v", status(s, vote), s.Why(vote.ID()), isSteward(t, s, m.org()))
	}
}

func TestStewardChangeNeedsAMember(t *testing.T) {
	n, f, _, _, m := stewardNet(t)
	stranger := newDev(9)
	x := n.stewardChange(f, stranger.org(), true)
	y := n.stewardChange(m, m.org(), true) // not a steward: cannot approve
	s := n.state(n.all...)
	for _, e := range []*Entry{x, y} {
		if status(s, e) != StatusHeld || !errors.Is(s.Why(e.ID()), ErrNoAuthority) {
			t.Fatalf("%v: %v", status(s, e), s.Why(e.ID()))
		}
	}
}

// Whatever order the entries arrive in, every node reaches the same
// stewards, quorum and pending changes.
func TestGovernanceAnyOrder(t *testing.T) {
	n, f, a, b, m := stewardNet(t)
	c := newDev(5)
	n.admit(f, c, "Gamma", false)
	n.stewardChange(b, m.org(), true)
	n.quorumChange(f, 3)
	n.stewardChange(f, b.org(), false)
	n.stewardChange(a, b.org(), false)
	n.quorumChange(a, 1)
	n.admit(b, c, "Gamma", false) // too late: B is out
	n.stewardChange(a, m.org(), true)
	want := dumpGovernance(n.state(n.all...))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		es := slices.Clone(n.all)
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		s := NewState(n.network, DefaultLimits())
		for _, e := range es {
			s.Apply(e)
		}
		if got := dumpGovernance(s); got != want {
			t.Fatalf("order changed the outcome:\n%s", firstDiff(want, got))
		}
	}
}

func dumpGovernance(s *State) string {
	return fmt.Sprintf("%+v\n", s.Governance()) + dump(s)
}

// Two stewards, quorum 1, each removing the other at once: whichever the
// replay orders first stands, the other's author is no steward by then,
// and the network keeps one steward, the same on every node.
func TestStewardsRemovingEachOtherAtOnce(t *testing.T) {
	f, a := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, a, "Alpha", true)
	x := n.stewardChange(f, a.org(), false)
	y := n.stewardChange(a, f.org(), false)
	for _, order := range [][]*Entry{n.all, {n.all[0], n.all[1], y, x}} {
		s := n.state(order...)
		g := s.Governance()
		if len(g.Stewards) != 1 || g.Stewards[0] != f.org() {
			t.Fatalf("stewards %v", g.Stewards)
		}
		if status(s, x) != StatusAccepted || status(s, y) != StatusHeld || !errors.Is(s.Why(y.ID()), ErrNoAuthority) {
			t.Fatalf("x %v, y %v (%v)", status(s, x), status(s, y), s.Why(y.ID()))
		}
	}
}

// An organisation whose every device is revoked is never made a steward:
// it could never approve, and with the quorum at the number of stewards no
// change could ever be approved again (a newcomer locked a network so).
func TestStewardNeedsALiveDevice(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	n.revoke(f, b, 0)
	x := n.stewardChange(f, b.org(), true)
	s := n.state(n.all...)
	if status(s, x) != StatusHeld || !errors.Is(s.Why(x.ID()), ErrNoAuthority) || isSteward(t, s, b.org()) {
		t.Fatalf("steward change for an organisation with no live device: %v %v", status(s, x), s.Why(x.ID()))
	}
	// Then the quorum cannot be raised past the one steward left.
	q := n.quorumChange(f, 2)
	if s := n.state(n.all...); status(s, q) != StatusHeld {
		t.Fatalf("quorum 2 with one steward: %v", status(s, q))
	}
}
