package crdt

import (
	"bytes"
	"errors"
	"testing"
)

func hintAddr(last byte) []byte { return []byte{0x04, 198, 51, 100, last, 0x06, 0x12, 0x71} }

func TestAddressHintLatestBySeq(t *testing.T) {
	f, b := newDev(1), newDev(2)
	n := newNet(t, f, 1)
	adm := n.admit(f, b, "Beta", false)
	h1 := n.write(b, &AddressHint{Addrs: [][]byte{hintAddr(1)}})
	h2 := n.write(b, &AddressHint{Addrs: [][]byte{hintAddr(2), hintAddr(3)}, Relay: true})
	fh := n.write(f, &AddressHint{Addrs: [][]byte{hintAddr(9)}})

	for _, order := range [][]*Entry{
		{n.all[0], adm, h1, h2, fh},
		{fh, h2, h1, adm, n.all[0]},
	} {
		s := n.state(order...)
		hs := s.AddressHints()
		if len(hs) != 2 {
			t.Fatalf("%d hints, want one per device: %+v", len(hs), hs)
		}
		for _, h := range hs {
			switch h.Device {
			case b.key:
				if h.Entry != h2.ID() || !h.Relay || len(h.Addrs) != 2 || h.Org != b.org() {
					t.Fatalf("beta's current hint: %+v, want the later one", h)
				}
			case f.key:
				if h.Entry != fh.ID() || h.Relay {
					t.Fatalf("founder's hint: %+v", h)
				}
			default:
				t.Fatalf("a hint of an unknown device: %+v", h)
			}
		}
	}
}

// The order is the author's chain, not its clock: a later hint whose clock
// the author set back still replaces the earlier one.
func TestAddressHintIgnoresClock(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	h1 := n.write(f, &AddressHint{Addrs: [][]byte{hintAddr(1)}})
	raw, _ := EncodeBody(&AddressHint{Addrs: [][]byte{hintAddr(2)}})
	h2, err := Sign(f.priv, Draft{Network: n.network, Seq: f.seq + 1, Prev: f.head, Clock: h1.Clock + 1, Kind: KindAddressHint, Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	s := n.state(n.all[0], h1, h2)
	hs := s.AddressHints()
	if len(hs) != 1 || hs[0].Entry != h2.ID() {
		t.Fatalf("hints %+v, want the second", hs)
	}
	// A withdrawal (no address) leaves the device with none.
	f.seq, f.head, f.clock = h2.Seq, h2.ID(), h2.Clock
	w := n.write(f, &AddressHint{})
	if hs := n.state(n.all[0], h1, h2, w).AddressHints(); len(hs) != 0 {
		t.Fatalf("after a withdrawal: %+v", hs)
	}
}

func TestAddressHintOfRevokedDeviceDoesNotCount(t *testing.T) {
	f, b, c := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 1)
	adm := n.admit(f, b, "Beta", false)
	add := n.addDevice(b, c, b.org())
	hc := n.write(c, &AddressHint{Addrs: [][]byte{hintAddr(5)}})
	hb := n.write(b, &AddressHint{Addrs: [][]byte{hintAddr(6)}})
	before := n.state(n.all[0], adm, add, hc, hb)
	if hs := before.AddressHints(); len(hs) != 2 {
		t.Fatalf("before the revocation: %+v", hs)
	}
	// Revoked with a cut-off after its hint: the hint stays accepted, but
	// the device has no standing, so its hint is not shown.
	rev := n.revoke(b, c, c.seq)
	s := n.state(n.all[0], adm, add, hc, hb, rev)
	if st := status(s, hc); st != StatusAccepted {
		t.Fatalf("the revoked device's hint is %v, want accepted (before the cut-off)", st)
	}
	hs := s.AddressHints()
	if len(hs) != 1 || hs[0].Device != b.key {
		t.Fatalf("hints %+v, want beta's only", hs)
	}
}

func TestAddressHintBounds(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	many := make([][]byte, MaxHintAddrs+1)
	for i := range many {
		many[i] = hintAddr(byte(i))
	}
	long := append(hintAddr(1), bytes.Repeat([]byte{0}, MaxAddrLen)...)
	cases := map[string]*AddressHint{
		"too many addresses":  {Addrs: many},
		"an address too long": {Addrs: [][]byte{long}},
		"not ascending":       {Addrs: [][]byte{hintAddr(2), hintAddr(1)}},
		"a repeated address":  {Addrs: [][]byte{hintAddr(1), hintAddr(1)}},
		"an empty address":    {Addrs: [][]byte{{}, hintAddr(1)}},
	}
	for name, h := range cases {
		raw, err := EncodeBody(h)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		if _, err := Sign(f.priv, Draft{Network: n.network, Seq: f.seq + 1, Prev: f.head, Clock: f.clock + 1, Kind: KindAddressHint, Body: raw}); err == nil {
			t.Errorf("%s: signed", name)
		} else if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// At the bounds: accepted.
	edge := &AddressHint{Addrs: many[:MaxHintAddrs]}
	edge.Addrs[MaxHintAddrs-1] = append(hintAddr(0xff), bytes.Repeat([]byte{0}, MaxAddrLen-len(hintAddr(0)))...)
	n.write(f, edge)
}
