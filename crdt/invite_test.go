package crdt

import (
	"errors"
	"testing"
)

func TestInviteAdmitsOnce(t *testing.T) {
	f, b, c := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	inv := n.invite(f, InviteOrganisation, OrgID{}, 1, 0)
	ab := n.admitWith(f, b, "Beta", inv)
	ac := n.admitWith(f, c, "Gamma", inv) // the same code, leaked to a second organisation
	s := allOrders(t, n, n.all[:1], []*Entry{inv, ab, ac})
	if status(s, ab) != StatusAccepted {
		t.Fatalf("first use: %v %v", status(s, ab), s.Why(ab.ID()))
	}
	if status(s, ac) != StatusHeld || !errors.Is(s.Why(ac.ID()), ErrInvite) {
		t.Fatalf("second use: %v %v", status(s, ac), s.Why(ac.ID()))
	}
	if o, _ := s.Org(c.org()); o.Admitted {
		t.Fatal("a used invite admitted a second organisation")
	}
}

func TestInviteQuorumApprovalsShareIt(t *testing.T) {
	f, s2, c := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 2)
	n.admit(f, s2, "Second steward", true)
	inv := n.invite(f, InviteOrganisation, OrgID{}, 1, 0)
	a1 := n.admitWith(f, c, "Gamma", inv)
	a2 := n.admitWith(s2, c, "Gamma", inv) // the second approval, citing the same invite
	s := allOrders(t, n, n.all[:2], []*Entry{inv, a1, a2})
	if o, _ := s.Org(c.org()); !o.Admitted || o.Approvals != 2 {
		t.Fatalf("gamma %+v", o)
	}
}

func TestInviteExpiry(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	inv := n.invite(f, InviteOrganisation, OrgID{}, 1, n.now+500) // expires before the next write
	late := n.admitWith(f, b, "Beta", inv)
	s := n.state(n.all...)
	if status(s, late) != StatusHeld || !errors.Is(s.Why(late.ID()), ErrInvite) {
		t.Fatalf("expired invite: %v %v", status(s, late), s.Why(late.ID()))
	}
}

func TestInviteAuthorityAndPurpose(t *testing.T) {
	f, b, b2, c, x := newDev(1), newDev(2), newDev(3), newDev(4), newDev(5)
	n := newNet(t, f, 1)
	n.admit(f, b, "Beta", false)
	byMember := n.invite(b, InviteOrganisation, OrgID{}, 1, 0) // not a steward
	devInv := n.invite(b, InviteDevice, b.org(), 2, 0)         // its own organisation's device: fine
	added := n.write(b, &DeviceAdded{Device: b2.key, Org: b.org()}, devInv.ID())
	wrongUse := n.admitWith(f, c, "Gamma", devInv) // a device invite cannot admit an organisation
	viaMember := n.admitWith(f, x, "Delta", byMember)
	s := n.state(n.all...)
	for e, want := range map[*Entry]Status{byMember: StatusHeld, devInv: StatusAccepted, added: StatusAccepted, wrongUse: StatusHeld, viaMember: StatusHeld} {
		if got := status(s, e); got != want {
			t.Errorf("%v: %v, want %v (%v)", e.Kind, got, want, s.Why(e.ID()))
		}
	}
}

func TestAdmissionWaitsForItsInvite(t *testing.T) {
	f, s2, b := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	n.admit(f, s2, "Second steward", true)
	inv := n.invite(f, InviteOrganisation, OrgID{}, 1, 0)
	adm := n.admitWith(s2, b, "Beta", inv) // another steward uses the founder's invite
	s := n.state(n.all[:2]...)
	s.Apply(adm)
	if status(s, adm) != StatusWaiting || !errors.Is(s.Why(adm.ID()), ErrMissing) {
		t.Fatalf("before its invite: %v %v", status(s, adm), s.Why(adm.ID()))
	}
	s.Apply(inv)
	if status(s, adm) != StatusAccepted {
		t.Fatalf("after its invite: %v %v", status(s, adm), s.Why(adm.ID()))
	}
}

func TestInviteViewsAndStanding(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	inv := n.invite(f, InviteOrganisation, OrgID{}, 1, 0)
	s := n.state(n.all...)
	iv, ok := s.InviteByKey(inv.ParsedBody().(*Invite).Key)
	if !ok || iv.UsedBy != "" || iv.Org != f.org() {
		t.Fatalf("open invite %+v %v", iv, ok)
	}
	n.admitWith(f, b, "Beta", inv)
	s = n.state(n.all...)
	if iv, _ := s.InviteByKey(inv.ParsedBody().(*Invite).Key); iv.UsedBy != b.org().String() {
		t.Fatalf("used invite %+v", iv)
	}
	if _, ok := s.Standing(b.key); !ok {
		t.Fatal("admitted device without standing")
	}
	n.revoke(f, b, 0)
	s = n.state(n.all...)
	if _, ok := s.Standing(b.key); ok {
		t.Fatal("revoked device still stands")
	}
}
