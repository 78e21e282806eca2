package node

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/seal"
)

// sealedFixture is a network of one organisation with a sealed request
// to itself, opened by its own node, which keeps its entries in kind.
func sealedFixture(t *testing.T, kind StoreKind) (*Node, *crdt.Entry) {
	t.Helper()
	ctx := context.Background()
	n, err := Init(ctx, kind.Dir(t), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	e, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "A sealed case", Body: "The defender's address.", Region: "NI", To: []string{n.Org().String()}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != crdt.KindSealed || bytes.Contains(e.Raw(), []byte("defender's address")) || bytes.Contains(e.Raw(), []byte("A sealed case")) {
		t.Fatalf("a sealed request in clear: %v", e.Kind)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	whole, err := n.unseal(e.ID())
	if err != nil {
		t.Fatal(err)
	}
	if r := whole.(*crdt.Request); r.Title != "A sealed case" || r.Text != "The defender's address." || r.Region != "NI" {
		t.Fatalf("opened %+v", r)
	}
	return n, e
}

// resign signs body again as the node's next entry, elsewhere in its chain.
func resign(t *testing.T, n *Node, body *crdt.Sealed) *crdt.Entry {
	t.Helper()
	raw, err := crdt.EncodeBody(body)
	if err != nil {
		t.Fatal(err)
	}
	head := n.state.Head(n.device)
	e, err := crdt.Sign(n.key, crdt.Draft{Network: n.network, Seq: head.Seq + 1, Prev: head.ID(), Clock: head.Clock + 1, Kind: crdt.KindSealed, Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSealedCiphertextMovedToAnotherEntryDoesNotOpen(t *testing.T) {
	ForEachStore(t, testSealedCiphertextMovedToAnotherEntryDoesNotOpen)
}

func testSealedCiphertextMovedToAnotherEntryDoesNotOpen(t *testing.T, kind StoreKind) {
	n, e := sealedFixture(t, kind)
	n.mu.Lock()
	defer n.mu.Unlock()
	s, _ := crdt.ParseSealed(e)
	moved := resign(t, n, s) // the same body, in another entry (seq+1)
	keys, _ := n.keyring()
	if _, _, err := seal.Open(moved, nil, n.org, keys); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("a ciphertext moved to another entry: %v", err)
	}
	if _, _, err := seal.Open(e, nil, n.org, keys); err != nil {
		t.Fatalf("the original no longer opens: %v", err)
	}
}

func TestSealedTamperedWrapIsRefused(t *testing.T) {
	ForEachStore(t, testSealedTamperedWrapIsRefused)
}

func testSealedTamperedWrapIsRefused(t *testing.T, kind StoreKind) {
	n, e := sealedFixture(t, kind)
	n.mu.Lock()
	defer n.mu.Unlock()
	s, _ := crdt.ParseSealed(e)
	keys, _ := n.keyring()
	for _, at := range []int{64, 80, 100, crdt.SealedWrapSize - 1} { // ephemeral key, sealed key, tag
		w := bytes.Clone(s.Wraps[0])
		w[at] ^= 1
		bad := *s
		bad.Wraps = [][]byte{w}
		// The tampered body in an entry of the same place (the binding is the entry's).
		raw, _ := crdt.EncodeBody(&bad)
		signed, err := crdt.Sign(n.key, crdt.Draft{Network: e.Network, Seq: e.Seq, Prev: e.Prev, Clock: e.Clock, Deps: e.Deps, Kind: e.Kind, Body: raw})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := seal.Open(signed, nil, n.org, keys); !errors.Is(err, ErrCannotOpen) {
			t.Fatalf("byte %d of the wrap flipped: %v", at, err)
		}
	}
	// And a tampered ciphertext.
	bad := *s
	bad.Ciphertext = bytes.Clone(s.Ciphertext)
	bad.Ciphertext[0] ^= 1
	raw, _ := crdt.EncodeBody(&bad)
	signed, _ := crdt.Sign(n.key, crdt.Draft{Network: e.Network, Seq: e.Seq, Prev: e.Prev, Clock: e.Clock, Deps: e.Deps, Kind: e.Kind, Body: raw})
	if _, _, err := seal.Open(signed, nil, n.org, keys); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("a tampered ciphertext: %v", err)
	}
}

// A revoked device does not get the organisation's next key.
func TestOrgKeyRotatesWhenADeviceIsRevoked(t *testing.T) {
	ForEachStore(t, testOrgKeyRotatesWhenADeviceIsRevoked)
}

func testOrgKeyRotatesWhenADeviceIsRevoked(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	n, err := Init(ctx, kind.Dir(t), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	second := crdt.PublicKeyOf(crdt.KeyFromSeed(bytes.Repeat([]byte{7}, 32)))
	if _, err := n.Append(ctx, &crdt.DeviceAdded{Device: second, Org: n.Org(), Label: "laptop"}); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	wrote, err := n.ensureOrgKey(ctx)
	n.mu.Unlock()
	if err != nil || !wrote {
		t.Fatalf("the new device is not handed the keys: %v %v", wrote, err)
	}
	first, _ := n.currentOrgKey(n.Org())
	if _, err := n.RevokeDevice(ctx, second.String(), nil); err != nil {
		t.Fatal(err)
	}
	next, _ := n.currentOrgKey(n.Org())
	if next == first {
		t.Fatal("no new key after the revocation")
	}
	es := n.state.OrgKeys(n.Org())
	last, _ := crdt.ParseOrgKey(es[len(es)-1])
	for _, w := range last.Wraps {
		if crdt.DeviceKey(w[:32]) == second {
			t.Fatal("the revoked device is handed the new key")
		}
	}
	n.mu.Lock()
	keys, cur := n.keyring()
	n.mu.Unlock()
	if _, ok := keys[first]; !ok || cur != next {
		t.Fatal("the remaining device lost the old key or does not hold the new one")
	}
}
