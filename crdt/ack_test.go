package crdt

import (
	"errors"
	"slices"
	"testing"
)

func TestAlertAcknowledgement(t *testing.T) {
	f, b, b2 := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	adm := n.admit(f, b, "Beta", false)
	add := n.addDevice(b, b2, b.org())
	alert := n.write(f, &Request{Type: Alert, Title: "Raid on the office", Region: "TZ"})
	ack := n.write(b, &AlertAck{Request: alert.ID()}, alert.ID())
	again := n.write(b2, &AlertAck{Request: alert.ID()}, alert.ID()) // the same organisation, another device
	own := n.write(f, &AlertAck{Request: alert.ID()}, alert.ID())

	s := n.state(n.all[0], adm, add, alert)
	if rv, _ := s.Request(alert.ID()); len(rv.AckedBy) != 0 {
		t.Fatalf("acknowledged before any acknowledgement: %v", rv.AckedBy)
	}
	for _, e := range []*Entry{ack, again} {
		if res, _ := s.Apply(e); res.Status != StatusAccepted {
			t.Fatalf("acknowledgement refused: %v", res.Reason)
		}
	}
	rv, _ := s.Request(alert.ID())
	if !slices.Equal(rv.AckedBy, []OrgID{b.org()}) {
		t.Fatalf("acknowledged by %v, want Beta once", rv.AckedBy)
	}
	s.Apply(own)
	rv, _ = s.Request(alert.ID())
	if len(rv.AckedBy) != 2 || !slices.Contains(rv.AckedBy, f.org()) || !slices.IsSortedFunc(rv.AckedBy, func(x, y OrgID) int { return compareOrg(x, y) }) {
		t.Fatalf("acknowledged by %v, want both organisations, ascending", rv.AckedBy)
	}

	// The same acknowledgements in another order give the same view.
	s2 := n.state(n.all[0], adm, add, alert, own, again, ack)
	if rv2, _ := s2.Request(alert.ID()); !slices.Equal(rv2.AckedBy, rv.AckedBy) {
		t.Fatalf("order matters: %v and %v", rv.AckedBy, rv2.AckedBy)
	}
}

func TestAlertAckNamesItsAlert(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	alert := n.write(f, &Request{Type: Alert, Title: "Raid", Region: "TZ"})
	raw, _ := EncodeBody(&AlertAck{Request: alert.ID()})
	for name, deps := range map[string][]ID{"no dependency": nil, "another dependency": {n.all[0].ID()}} {
		_, err := Sign(f.priv, Draft{Network: n.network, Seq: f.seq + 1, Prev: f.head, Clock: f.clock + 1, Kind: KindAlertAck, Body: raw, Deps: deps})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: signed (%v)", name, err)
		}
	}
	zero, _ := EncodeBody(&AlertAck{})
	if _, err := Sign(f.priv, Draft{Network: n.network, Seq: f.seq + 1, Prev: f.head, Clock: f.clock + 1, Kind: KindAlertAck, Body: zero}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an acknowledgement of nothing signed (%v)", err)
	}
}

func compareOrg(x, y OrgID) int {
	for i := range x {
		if x[i] != y[i] {
			return int(x[i]) - int(y[i])
		}
	}
	return 0
}
