package seal

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

func TestDeviceX25519MatchesItsEd25519Key(t *testing.T) {
	for i := byte(1); i < 20; i++ {
		seed := bytes.Repeat([]byte{i}, 32)
		priv := crdt.KeyFromSeed(seed)
		pub, err := DevicePublicX25519(crdt.PublicKeyOf(priv))
		if err != nil {
			t.Fatal(err)
		}
		if got := X25519Public(DevicePrivateX25519(priv)); got != pub {
			t.Fatalf("seed %d: the X25519 key from the seed and the one from the device key differ", i)
		}
	}
}

// sealedFor signs, as a device of its own organisation, a sealed request
// readable by to, and returns the entry and the device's key.
func sealedFor(t *testing.T, network crdt.ID, to []Recipient) (*crdt.Entry, []byte) {
	t.Helper()
	key := crdt.KeyFromSeed(bytes.Repeat([]byte{7}, 32))
	env, err := crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Region: "NI", To: []crdt.OrgID{to[0].Org}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Details(network, crdt.PublicKeyOf(key), 2, crdt.KindRequest, env, crdt.Details{Title: "A sealed case", Text: "The defender's address."}, to)
	if err != nil {
		t.Fatal(err)
	}
	body, err := crdt.EncodeBody(s)
	if err != nil {
		t.Fatal(err)
	}
	e, err := crdt.Sign(key, crdt.Draft{Network: network, Seq: 2, Prev: crdt.ID{9}, Clock: 2, Kind: crdt.KindSealed, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return e, key
}

// orgKey is an organisation's X25519 key pair, made from a byte.
func orgKey(b byte) (pub [32]byte, priv []byte) {
	priv = bytes.Repeat([]byte{b}, 32)
	return X25519Public(priv), priv
}

// A sealed body opens for each organisation it is sealed for, and for no
// other; a key share that hands another organisation a key that is not the
// body's own neither opens it nor makes that organisation a reader.
func TestSealedBodyOpensOnlyForItsReaders(t *testing.T) {
	network := crdt.ID{1}
	a, b, c := crdt.OrgID{0xa}, crdt.OrgID{0xb}, crdt.OrgID{0xc}
	pubA, privA := orgKey(1)
	pubB, privB := orgKey(2)
	pubC, privC := orgKey(3)
	e, key := sealedFor(t, network, []Recipient{{Org: a, Key: pubA}, {Org: b, Key: pubB}})

	var ck []byte
	for _, r := range []struct {
		org  crdt.OrgID
		keys map[[32]byte][]byte
	}{{a, map[[32]byte][]byte{pubA: privA}}, {b, map[[32]byte][]byte{pubB: privB}}} {
		whole, k, err := Open(e, nil, r.org, r.keys)
		if err != nil {
			t.Fatalf("%v: %v", r.org, err)
		}
		if req := whole.(*crdt.Request); req.Title != "A sealed case" || req.Text != "The defender's address." {
			t.Fatalf("%v read %+v", r.org, req)
		}
		if ck != nil && !bytes.Equal(k, ck) {
			t.Fatalf("%v opened another content key", r.org)
		}
		ck = k
	}
	if _, _, err := Open(e, nil, c, map[[32]byte][]byte{pubC: privC}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("an organisation it is not sealed for: %v", err)
	}
	if _, _, err := Open(e, nil, a, map[[32]byte][]byte{pubB: privB}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("without the organisation's key: %v", err)
	}

	// C's device forges a share: a wrap for C of a key of its own.
	s, err := crdt.ParseSealed(e)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := WrapFor(bytes.Repeat([]byte{5}, 32), BindingOf(e, s), Recipient{Org: c, Key: pubC})
	if err != nil {
		t.Fatal(err)
	}
	share, err := crdt.EncodeBody(&crdt.KeyShare{Target: e.ID(), Wraps: [][]byte{forged}})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := crdt.Sign(crdt.KeyFromSeed(bytes.Repeat([]byte{8}, 32)), crdt.Draft{Network: network, Seq: 1, Clock: 3, Deps: []crdt.ID{e.ID()}, Kind: crdt.KindKeyShare, Body: share})
	if err != nil {
		t.Fatal(err)
	}
	shares := []*crdt.Entry{sh}
	if _, _, err := Open(e, shares, c, map[[32]byte][]byte{pubC: privC}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("a forged share: %v", err)
	}
	orgOf := func(d crdt.DeviceKey) (crdt.OrgID, bool) {
		switch d {
		case crdt.PublicKeyOf(key):
			return a, true
		case sh.Author:
			return c, true
		}
		return crdt.OrgID{}, false
	}
	want := []crdt.OrgID{a, b}
	if got := Readers(e, shares, ck, orgOf); !slices.Equal(got, want) {
		t.Fatalf("readers with the content key: %v, want %v", got, want)
	}
	if got := Readers(e, shares, nil, orgOf); !slices.Equal(got, want) {
		t.Fatalf("readers without the content key: %v, want %v", got, want)
	}
}
