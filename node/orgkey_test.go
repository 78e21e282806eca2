package node

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/seal"
)

// carry hands every entry from holds and to does not to to, except those
// skip says to keep back: a sync by hand.
func carry(t *testing.T, from, to *Node, skip func(*crdt.Entry) bool) {
	t.Helper()
	var raws [][]byte
	from.mu.Lock()
	from.state.Accepted(func(e *crdt.Entry) {
		if _, held := to.state.Has(e.ID()); !held && (skip == nil || !skip(e)) {
			raws = append(raws, e.Raw())
		}
	})
	from.mu.Unlock()
	if _, err := to.Ingest(context.Background(), raws); err != nil {
		t.Fatal(err)
	}
}

// memberNode provisions a node for a new organisation of n's network and
// has n admit it; each then holds the other's entries.
func memberNode(t *testing.T, n *Node, name string, seed byte) *Node {
	t.Helper()
	ctx := context.Background()
	s := bytes.Repeat([]byte{seed}, 32)
	kf, err := sealKey(s, crdt.PublicKeyOf(crdt.KeyFromSeed(s)), nil)
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := crdt.Verify(n.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	m, err := provision(ctx, t.TempDir(), genesis, s, crdt.OrgID{}, kf, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if _, err := n.Append(ctx, &crdt.Admission{Device: m.Device(), Name: name}); err != nil {
		t.Fatal(err)
	}
	carry(t, n, m, nil)
	if _, err := m.EnsureOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	carry(t, m, n, nil)
	return m
}

// The attack of issue 11, item 1: a device of Alpha, before it is revoked,
// publishes its own key, for itself alone, with a clock fifty years ahead.
// After its revocation, a member refuses to seal for Alpha until Alpha's
// remaining device has written a new key, and says why; then it seals to
// that key, which the seized device's key does not open and Alpha's
// remaining device does.
func TestSeizedDeviceCannotCaptureOrganisationKey(t *testing.T) {
	ctx := context.Background()
	alpha, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	defer alpha.Close()
	seizedPriv := crdt.KeyFromSeed(bytes.Repeat([]byte{7}, 32))
	seized := crdt.PublicKeyOf(seizedPriv)
	if _, err := alpha.Append(ctx, &crdt.DeviceAdded{Device: seized, Org: alpha.Org(), Label: "field laptop"}); err != nil {
		t.Fatal(err)
	}
	if wrote, err := alpha.EnsureOrgKey(ctx); err != nil || !wrote {
		t.Fatalf("the new device is not handed the keys: %v %v", wrote, err)
	}
	beta := memberNode(t, alpha, "Beta", 9)

	// The seized device's own key, wrapped for itself alone, far ahead.
	attPriv := random(32)
	attPub := seal.X25519Public(attPriv)
	xpub, err := seal.DevicePublicX25519(seized)
	if err != nil {
		t.Fatal(err)
	}
	eph, sealed, err := seal.To(xpub, attPriv, seal.OrgKeyAD(alpha.Network(), alpha.Org(), attPub, seized), "murmur-orgkey-v1")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := crdt.EncodeBody(&crdt.OrgKey{Public: attPub, Wraps: [][]byte{slices.Concat(seized[:], eph[:], sealed)}})
	if err != nil {
		t.Fatal(err)
	}
	future := crdt.ClockAt(uint64(time.Now().AddDate(50, 0, 0).UnixMilli()))
	attack, err := crdt.Sign(seizedPriv, crdt.Draft{Network: alpha.Network(), Seq: 1, Clock: future, Kind: crdt.KindOrgKey, Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{alpha, beta} {
		if rep, err := n.Ingest(ctx, [][]byte{attack.Raw()}); err != nil || rep.Accepted != 1 {
			t.Fatalf("the seized device's key: %+v %v", rep, err)
		}
	}

	// Alpha revokes it (at its latest entry: the key stays accepted).
	rev, err := alpha.RevokeDevice(ctx, seized.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := alpha.state.Has(attack.ID()); st != crdt.StatusAccepted {
		t.Fatalf("the seized device's key is %v; the test wants it accepted, as it would be", st)
	}

	// Beta has the revocation, not yet Alpha's new key: it refuses.
	carry(t, alpha, beta, func(e *crdt.Entry) bool { return e.Author == alpha.Device() && e.Seq > rev.Seq })
	in := RequestInput{Kind: "referral", Title: "Safe house for a witness", Body: "The witness's address.", Region: "NI", To: []string{alpha.Org().String()}, Sealed: true}
	_, err = beta.NewRequest(ctx, in)
	if err == nil {
		t.Fatal("Beta sealed for Alpha although Alpha's latest key is the revoked device's")
	}
	t.Logf("refusal: %v", err)
	if msg := err.Error(); !strings.Contains(msg, "revoked") || !strings.Contains(msg, "Alpha") || strings.Contains(msg, "crdt") {
		t.Fatalf("the refusal does not say why in plain words: %q", msg)
	}

	// With Alpha's new key, Beta seals to it.
	carry(t, alpha, beta, nil)
	e, err := beta.NewRequest(ctx, in)
	if err != nil {
		t.Fatalf("Beta cannot seal for Alpha after its new key: %v", err)
	}
	s, err := crdt.ParseSealed(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range s.Wraps {
		if seal.ParseWrap(w).Key == attPub {
			t.Fatal("sealed to the seized device's key")
		}
	}
	if _, _, err := seal.Open(e, nil, alpha.Org(), map[[32]byte][]byte{attPub: attPriv}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("the seized device's key opens the request: %v", err)
	}
	// Nor do the keys the seized device was handed before its revocation.
	mine := seal.DevicePrivateX25519(seizedPriv)
	held := map[[32]byte][]byte{attPub: attPriv}
	alpha.mu.Lock()
	for _, ke := range alpha.state.OrgKeys(alpha.Org()) {
		ok, _ := crdt.ParseOrgKey(ke)
		for _, w := range ok.Wraps {
			if crdt.DeviceKey(w[:32]) != seized {
				continue
			}
			if pt, err := seal.OpenFrom(mine, [32]byte(w[32:64]), w[64:], seal.OrgKeyAD(alpha.network, alpha.org, ok.Public, seized), "murmur-orgkey-v1"); err == nil {
				for i := 0; i+32 <= len(pt); i += 32 {
					held[seal.X25519Public(pt[i:i+32])] = pt[i : i+32]
				}
			}
		}
	}
	alpha.mu.Unlock()
	if _, _, err := seal.Open(e, nil, alpha.Org(), held); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("a key the seized device holds (%d of them) opens the request: %v", len(held), err)
	}

	// Alpha's remaining device reads it.
	carry(t, beta, alpha, nil)
	alpha.mu.Lock()
	whole, err := alpha.unseal(e.ID())
	alpha.mu.Unlock()
	if err != nil {
		t.Fatalf("Alpha's remaining device cannot read the request: %v", err)
	}
	if r := whole.(*crdt.Request); r.Title != in.Title || r.Text != in.Body {
		t.Fatalf("opened %+v", r)
	}
}

// A remaining device that cannot open the latest key (written by the
// seized device for itself alone, in the new form and with the longest
// chain) still writes a new one after the revocation, and it is current.
func TestRemainingDeviceRotatesWithoutTheLatestKey(t *testing.T) {
	ctx := context.Background()
	alpha, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	defer alpha.Close()
	seizedPriv := crdt.KeyFromSeed(bytes.Repeat([]byte{8}, 32))
	seized := crdt.PublicKeyOf(seizedPriv)
	if _, err := alpha.Append(ctx, &crdt.DeviceAdded{Device: seized, Org: alpha.Org(), Label: "phone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alpha.EnsureOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	alpha.mu.Lock()
	cur, ok := alpha.state.CurrentOrgKey(alpha.Org())
	alpha.mu.Unlock()
	if !ok {
		t.Fatal("no current key")
	}
	attPub := seal.X25519Public(random(32))
	raw, _ := crdt.EncodeBody(&crdt.OrgKeyV2{Public: attPub, Replaces: cur.Entry.ID(), Wraps: [][]byte{slices.Concat(seized[:], make([]byte, 32+16+32))}})
	attack, err := crdt.Sign(seizedPriv, crdt.Draft{Network: alpha.Network(), Seq: 1, Clock: crdt.ClockAt(uint64(time.Now().AddDate(50, 0, 0).UnixMilli())),
		Deps: []crdt.ID{cur.Entry.ID()}, Kind: crdt.KindOrgKeyV2, Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alpha.Ingest(ctx, [][]byte{attack.Raw()}); err != nil {
		t.Fatal(err)
	}
	alpha.mu.Lock()
	if _, k := alpha.keyring(); k != attPub {
		t.Fatal("before the revocation, the seized device's key should be current (out of reach)")
	}
	alpha.mu.Unlock()
	if _, err := alpha.RevokeDevice(ctx, seized.String(), nil); err != nil {
		t.Fatal(err)
	}
	alpha.mu.Lock()
	defer alpha.mu.Unlock()
	keys, k := alpha.keyring()
	if k == attPub || k == ([32]byte{}) {
		t.Fatal("no new key after the revocation")
	}
	if _, ok := keys[k]; !ok {
		t.Fatal("the remaining device does not hold the new key")
	}
	v, _ := alpha.state.CurrentOrgKey(alpha.Org())
	if v.Entry.Author != alpha.device || v.Replaces != attack.ID() && v.Replaces != cur.Entry.ID() {
		t.Fatalf("the new key: %+v", v)
	}
}
