package crdt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"slices"
	"testing"
)

// tdev is a device writing entries in a test.
type tdev struct {
	priv  ed25519.PrivateKey
	key   DeviceKey
	seq   uint64
	head  ID
	clock Clock
	heads map[uint64]ID // its chain, by seq
}

func newDev(seed uint64) *tdev {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	s[31] = 0x5a
	priv := ed25519.PrivateKey(KeyFromSeed(s[:]))
	d := &tdev{priv: priv, heads: map[uint64]ID{}}
	copy(d.key[:], priv.Public().(ed25519.PublicKey))
	return d
}

func (d *tdev) org() OrgID { return OrgIDFor(d.key) }

// clone is a copy of the device's key and chain: writing on both forks it.
func (d *tdev) clone() *tdev {
	c := *d
	c.heads = map[uint64]ID{}
	for k, v := range d.heads {
		c.heads[k] = v
	}
	return &c
}

// tnet writes a network's history.
type tnet struct {
	t       testing.TB
	network ID
	now     uint64
	all     []*Entry
}

func newNet(t testing.TB, founder *tdev, quorum uint64) *tnet {
	n := &tnet{t: t, now: 1_700_000_000_000}
	g := n.write(founder, &Genesis{NetworkName: "Test network", OrgName: "Founders", Quorum: quorum})
	n.network = g.ID()
	return n
}

func (n *tnet) write(d *tdev, body any, deps ...ID) *Entry {
	n.t.Helper()
	raw, err := EncodeBody(body)
	if err != nil {
		n.t.Fatalf("encode %T: %v", body, err)
	}
	return n.writeRaw(d, KindOf(body), raw, deps...)
}

func (n *tnet) writeRaw(d *tdev, kind Kind, raw []byte, deps ...ID) *Entry {
	n.t.Helper()
	n.now += 1000
	e, err := Sign(d.priv, Draft{
		Network: n.network, Seq: d.seq + 1, Prev: d.head,
		Clock: NextClock(d.clock, 0, n.now), Deps: deps, Kind: kind, Body: raw,
	})
	if err != nil {
		n.t.Fatalf("sign %v: %v", kind, err)
	}
	d.seq, d.head, d.clock = e.Seq, e.ID(), e.Clock
	d.heads[e.Seq] = e.ID()
	n.all = append(n.all, e)
	return e
}

func (n *tnet) admit(by, first *tdev, name string, steward bool) *Entry {
	return n.write(by, &Admission{Device: first.key, Name: name, Steward: steward})
}

func (n *tnet) addDevice(by, dev *tdev, org OrgID) *Entry {
	return n.write(by, &DeviceAdded{Device: dev.key, Org: org, Label: "laptop"})
}

func (n *tnet) revoke(by, target *tdev, cutoff uint64) *Entry {
	b := &DeviceRevoked{Device: target.key, Cutoff: cutoff}
	var deps []ID
	if cutoff > 0 {
		b.Head = target.heads[cutoff]
		deps = append(deps, b.Head)
	}
	return n.write(by, b, deps...)
}

func (n *tnet) request(d *tdev, title string) *Entry {
	return n.write(d, &Request{Type: Verification, Title: title, Region: "TZ"})
}

func (n *tnet) respond(d *tdev, req *Entry, t ResponseType) *Entry {
	return n.write(d, &Response{Request: req.ID(), Type: t}, req.ID())
}

// state applies entries one at a time and fails on outright refusals.
func (n *tnet) state(es ...*Entry) *State {
	n.t.Helper()
	s := NewState(n.network, DefaultLimits())
	for _, e := range es {
		if res, _ := s.Apply(e); res.Status == StatusNone {
			n.t.Fatalf("entry %v (%v) refused: %v", e.ID(), e.Kind, res.Reason)
		}
	}
	return s
}

func status(s *State, e *Entry) Status {
	st, _ := s.Has(e.ID())
	return st
}

// invite writes an invite whose key comes from seed, expiring at expires
// (Unix ms; 0: a day after now).
func (n *tnet) invite(by *tdev, purpose InvitePurpose, org OrgID, seed byte, expires uint64) *Entry {
	n.t.Helper()
	if expires == 0 {
		expires = n.now + 86_400_000
	}
	var key [32]byte
	copy(key[:], KeyFromSeed(append(make([]byte, 31), seed))[32:])
	return n.write(by, &Invite{Key: key, Expires: expires, Purpose: purpose, Org: org})
}

func (n *tnet) admitWith(by, first *tdev, name string, inv *Entry) *Entry {
	return n.write(by, &Admission{Device: first.key, Name: name}, inv.ID())
}

// orgKeyWrap is a stand-in wrap of an organisation key for device d: its
// key, then bytes of the right length (crdt never opens a wrap).
func orgKeyWrap(d *tdev) []byte {
	w := make([]byte, orgKeyWrapMin)
	copy(w, d.key[:])
	w[40] = 0x77
	return w
}

func orgKeyWraps(for_ ...*tdev) [][]byte {
	var ws [][]byte
	for _, d := range for_ {
		ws = append(ws, orgKeyWrap(d))
	}
	slices.SortFunc(ws, bytes.Compare)
	return ws
}

// orgKey writes d's org-key entry of the new form for key pub, replacing
// replaces, wrapped for the devices in for_; deps are further
// dependencies (the revocations it follows).
func (n *tnet) orgKey(d *tdev, pub byte, replaces ID, for_ []*tdev, deps ...ID) *Entry {
	n.t.Helper()
	if !replaces.IsZero() {
		deps = append([]ID{replaces}, deps...)
	}
	return n.write(d, &OrgKeyV2{Public: [32]byte{pub}, Replaces: replaces, Wraps: orgKeyWraps(for_...)}, deps...)
}

// writeAt is write with a clock the author chooses: at millis.
func (n *tnet) writeAt(d *tdev, millis uint64, body any, deps ...ID) *Entry {
	n.t.Helper()
	raw, err := EncodeBody(body)
	if err != nil {
		n.t.Fatalf("encode %T: %v", body, err)
	}
	e, err := Sign(d.priv, Draft{
		Network: n.network, Seq: d.seq + 1, Prev: d.head,
		Clock: max(ClockAt(millis), d.clock+1), Deps: deps, Kind: KindOf(body), Body: raw,
	})
	if err != nil {
		n.t.Fatalf("sign: %v", err)
	}
	d.seq, d.head, d.clock = e.Seq, e.ID(), e.Clock
	d.heads[e.Seq] = e.ID()
	n.all = append(n.all, e)
	return e
}
