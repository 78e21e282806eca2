package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/seal"
)

// entriesOf lists the raw entries n holds.
func entriesOf(n *Node) [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	var raws [][]byte
	n.state.Accepted(func(e *crdt.Entry) { raws = append(raws, e.Raw()) })
	return raws
}

// exchange hands every node what the others hold, by hand (no network).
func exchange(t *testing.T, nodes ...*Node) {
	t.Helper()
	for range 2 { // a second round for what the first one's order left waiting
		for _, src := range nodes {
			raws := entriesOf(src)
			for _, dst := range nodes {
				if dst == src {
					continue
				}
				if _, err := dst.Ingest(context.Background(), raws); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// threeOrgs is a network of three organisations, Alpha (the founder),
// Beta and Gamma, each with one device and its published key, whose
// nodes exchange entries only when the test says so. Their entries are
// kept in kind.
func threeOrgs(t *testing.T, kind StoreKind) (a, b, g *Node) {
	t.Helper()
	ctx := context.Background()
	a, err := Init(ctx, kind.Dir(t), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	others := make([]*Node, 2)
	for i, name := range []string{"Beta", "Gamma"} {
		n, err := Provision(ctx, kind.Dir(t), ProvisionOptions{Genesis: a.Genesis()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Unlock(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Append(ctx, &crdt.Admission{Device: n.Device(), Name: name}); err != nil {
			t.Fatal(err)
		}
		others[i] = n
	}
	b, g = others[0], others[1]
	exchange(t, a, b, g)
	for _, n := range []*Node{a, b, g} {
		if _, err := n.EnsureOrgKey(ctx); err != nil {
			t.Fatal(err)
		}
	}
	exchange(t, a, b, g)
	for _, n := range []*Node{a, b, g} {
		for _, o := range []crdt.OrgID{a.Org(), b.Org(), g.Org()} {
			if _, err := n.currentOrgKey(o); err != nil {
				t.Fatalf("the fixture: a node does not know organisation %v's key: %v", o, err)
			}
		}
	}
	return a, b, g
}

// forgeShare is what any member can write: a key share that wraps a random
// content key for org under its current key, with the right associated
// data, so that it opens for org.
func forgeShare(t *testing.T, by *Node, target *crdt.Entry, org crdt.OrgID) *crdt.Entry {
	t.Helper()
	s, err := crdt.ParseSealed(target)
	if err != nil {
		t.Fatal(err)
	}
	key, err := by.currentOrgKey(org)
	if err != nil {
		t.Fatalf("no key for the forged share: %v", err)
	}
	eph, sealed, err := seal.To(key, random(32), seal.WrapAD(seal.BindingOf(target, s), org), "murmur-wrap-v1")
	if err != nil {
		t.Fatal(err)
	}
	w := append(append(append(append([]byte{}, org[:]...), key[:]...), eph[:]...), sealed...)
	e, err := by.Append(context.Background(), &crdt.KeyShare{Target: target.ID(), Wraps: [][]byte{w}}, target.ID())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func readText(t *testing.T, n *Node, id crdt.ID) (string, error) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	whole, err := n.unseal(id)
	if err != nil {
		return "", err
	}
	switch w := whole.(type) {
	case *crdt.Request:
		return w.Text, nil
	case *crdt.Response:
		return w.Text, nil
	}
	return "", errors.New("neither a request nor a response")
}

// Issue 11, item 4: Beta, a member that cannot read Alpha's sealed
// request, writes a key share wrapping a random key for Gamma. Alpha can
// still share the request with Gamma, and Gamma reads it although the
// forged share comes first.
func TestForgedKeyShareDoesNotBlockSharing(t *testing.T) {
	ForEachStore(t, testForgedKeyShareDoesNotBlockSharing)
}

func testForgedKeyShareDoesNotBlockSharing(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b, g := threeOrgs(t, kind)
	const text = "The defender moves on Tuesday."
	req, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Sealed case", Body: text, Region: "NI", To: []string{a.Org().String()}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)
	forged := forgeShare(t, b, req, g.Org())
	exchange(t, a, b, g)

	if _, err := a.Share(ctx, req.ID().String(), []string{g.Org().String()}); err != nil {
		t.Fatalf("a forged share blocks sharing: %v", err)
	}
	exchange(t, a, b, g)
	g.mu.Lock()
	shares := g.state.KeyShares(req.ID())
	g.mu.Unlock()
	if len(shares) != 2 || shares[0].ID() != forged.ID() {
		t.Fatalf("the forged share is not the first of %d shares", len(shares))
	}
	if got, err := readText(t, g, req.ID()); err != nil || got != text {
		t.Fatalf("Gamma, shared after a forged share, reads %q, %v", got, err)
	}
	if _, err := readText(t, b, req.ID()); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("Beta reads it: %v", err)
	}
	// Who reads it, as Alpha (who can read it) and Beta (who cannot) see it.
	want := []crdt.OrgID{a.Org(), g.Org()}
	for name, n := range map[string]*Node{"Alpha": a, "Beta": b} {
		n.mu.Lock()
		got := n.readers(req.ID())
		n.mu.Unlock()
		slices.SortFunc(got, func(x, y crdt.OrgID) int { return strings.Compare(x.String(), y.String()) })
		slices.SortFunc(want, func(x, y crdt.OrgID) int { return strings.Compare(x.String(), y.String()) })
		if !slices.Equal(got, want) {
			t.Fatalf("as %s sees it, readable by %v, want %v", name, got, want)
		}
	}
}

// A version 2 body commits to its content key: a wrap that hands a
// recipient another key is refused for that reason, so no author can show
// different recipients different text with one ciphertext.
func TestSealedBodyIsKeyCommitting(t *testing.T) {
	ForEachStore(t, testSealedBodyIsKeyCommitting)
}

func testSealedBodyIsKeyCommitting(t *testing.T, kind StoreKind) {
	n, e := sealedFixture(t, kind)
	n.mu.Lock()
	defer n.mu.Unlock()
	s, _ := crdt.ParseSealed(e)
	if s.Commit == ([32]byte{}) {
		t.Fatal("a new sealed body without a key commitment")
	}
	keys, cur := n.keyring()
	_, ck, err := seal.Open(e, nil, n.org, keys)
	if err != nil {
		t.Fatal(err)
	}
	if c := seal.KeyCommitment(ck, seal.BindingOf(e, s)); c != s.Commit {
		t.Fatal("the commitment is not to the content key")
	}
	// The same body, its wrap replaced by one handing another key.
	other := random(32)
	w, err := seal.WrapFor(other, seal.BindingOf(e, s), seal.Recipient{Org: n.org, Key: cur})
	if err != nil {
		t.Fatal(err)
	}
	bad := *s
	bad.Wraps = [][]byte{w}
	raw, _ := crdt.EncodeBody(&bad)
	signed, err := crdt.Sign(n.key, crdt.Draft{Network: e.Network, Seq: e.Seq, Prev: e.Prev, Clock: e.Clock, Deps: e.Deps, Kind: e.Kind, Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := seal.Open(signed, nil, n.org, keys); !errors.Is(err, ErrCannotOpen) || !strings.Contains(err.Error(), "not its own") {
		t.Fatalf("a wrap handing a key other than the committed one: %v", err)
	}
	// Stripping the commitment (version 1) changes the binding: the
	// ciphertext no longer opens.
	v1 := *s
	v1.Commit = [32]byte{}
	raw, _ = crdt.EncodeBody(&v1)
	signed, _ = crdt.Sign(n.key, crdt.Draft{Network: e.Network, Seq: e.Seq, Prev: e.Prev, Clock: e.Clock, Deps: e.Deps, Kind: e.Kind, Body: raw})
	if _, _, err := seal.Open(signed, nil, n.org, keys); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("the body without its commitment: %v", err)
	}
}

// Sealed bodies of version 1 (no commitment, random wraps), written
// before the commitment existed, are still read, forged share or not.
func TestSealedVersion1StillOpens(t *testing.T) {
	n, e := sealedFixture(t, SQLiteStore)
	n.mu.Lock()
	defer n.mu.Unlock()
	s, _ := crdt.ParseSealed(e)
	keys, cur := n.keyring()
	head := n.state.Head(n.device)
	draft := crdt.Draft{Network: n.network, Seq: head.Seq + 1, Prev: head.ID(), Clock: head.Clock + 1, Kind: crdt.KindSealed}
	// Version 1, as seal wrote it before: random ephemeral keys, no commitment.
	binding := seal.Binding(n.network, n.device, draft.Seq, s.Inner, s.Envelope, false)
	ck := random(32)
	old := &crdt.Sealed{Inner: s.Inner, Envelope: s.Envelope, Nonce: s.Nonce}
	old.Ciphertext = sealWith(t, ck, old.Nonce[:], crdt.EncodeDetails(crdt.Details{Title: "Old", Text: "Written by version 1."}), binding)
	wrap1 := func(org crdt.OrgID, key []byte) []byte {
		eph, sealed, err := seal.To(cur, key, seal.WrapAD(binding, org), "murmur-wrap-v1")
		if err != nil {
			t.Fatal(err)
		}
		return append(append(append(append([]byte{}, org[:]...), cur[:]...), eph[:]...), sealed...)
	}
	// Its own wrap is for another organisation; this one's comes in
	// shares, the forged one first.
	old.Wraps = [][]byte{wrap1(crdt.OrgID{1, 2, 3}, ck)}
	draft.Body = mustEncode(t, old)
	v1, err := crdt.Sign(n.key, draft)
	if err != nil {
		t.Fatal(err)
	}
	var shares []*crdt.Entry
	prev, clock := v1.ID(), draft.Clock
	for i, key := range [][]byte{random(32), ck} {
		clock++
		sh, err := crdt.Sign(n.key, crdt.Draft{Network: n.network, Seq: draft.Seq + 1 + uint64(i), Prev: prev, Clock: clock, Deps: []crdt.ID{v1.ID()},
			Kind: crdt.KindKeyShare, Body: mustEncode(t, &crdt.KeyShare{Target: v1.ID(), Wraps: [][]byte{wrap1(n.org, key)}})})
		if err != nil {
			t.Fatal(err)
		}
		shares, prev = append(shares, sh), sh.ID()
	}
	whole, _, err := seal.Open(v1, shares, n.org, keys)
	if err != nil || whole.(*crdt.Request).Text != "Written by version 1." {
		t.Fatalf("a version 1 body with a forged share first: %v", err)
	}
	// But a network founded since the commitment holds a new one: it
	// counts nowhere, and no forged share can make it block sharing
	// (review 9).
	if st, err := n.state.Check(v1); st != crdt.StatusHeld || !errors.Is(err, crdt.ErrUncommitted) {
		t.Fatalf("a version 1 body on a network founded since: %v, %v", st, err)
	}
	// Held, it is explained as what it is, not as its author's standing
	// (review 10).
	n.mu.Unlock()
	defer n.mu.Lock() // (for the deferred Unlock above)
	if _, err := n.Ingest(context.Background(), [][]byte{v1.Raw()}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Request(v1.ID().String()); err == nil || !strings.Contains(err.Error(), "sealed in the old format") || strings.Contains(err.Error(), "standing") {
		t.Fatalf("asking for the held version 1 request: %v", err)
	}
}

func mustEncode(t *testing.T, b any) []byte {
	t.Helper()
	raw, err := crdt.EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sealWith(t *testing.T, key, nonce, msg, ad []byte) []byte {
	t.Helper()
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	return aead.Seal(nil, nonce, msg, ad)
}

// Issue 11, item 5: a reply to a sealed request is sealed by default, for
// the organisations that can read the request (and only genuine ones: a
// member that forges a key share for itself reads no reply); clear text
// needs Open.
func TestReplyToSealedRequestIsSealedByDefault(t *testing.T) {
	ForEachStore(t, testReplyToSealedRequestIsSealedByDefault)
}

func testReplyToSealedRequestIsSealedByDefault(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b, g := threeOrgs(t, kind)
	req, err := a.NewRequest(ctx, RequestInput{Kind: "referral", Title: "Sealed case", Body: "Where the defender sleeps.", Region: "NI", To: []string{g.Org().String()}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)
	forgeShare(t, b, req, b.Org()) // Beta pretends it may read the request
	exchange(t, a, b, g)

	const reply = "REPLYMARK: we can take them on Friday."
	resp, err := g.Respond(ctx, ResponseInput{Request: req.ID().String(), Type: "comment", Body: reply})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Kind != crdt.KindSealed || strings.Contains(string(resp.Raw()), "REPLYMARK") {
		t.Fatalf("a reply to a sealed request, written without --sealed, is in clear (%v)", resp.Kind)
	}
	exchange(t, a, b, g)
	for name, n := range map[string]*Node{"Alpha": a, "Gamma": g} {
		if got, err := readText(t, n, resp.ID()); err != nil || got != reply {
			t.Fatalf("%s, a reader of the request, reads the reply as %q, %v", name, got, err)
		}
	}
	if _, err := readText(t, b, resp.ID()); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("Beta, which forged a share for itself, reads the reply: %v", err)
	}
	// Clear text is asked for.
	open, err := g.Respond(ctx, ResponseInput{Request: req.ID().String(), Type: "comment", Body: "OPENMARK", Open: true})
	if err != nil || open.Kind != crdt.KindResponse || !strings.Contains(string(open.Raw()), "OPENMARK") {
		t.Fatalf("--open: %v %v", open, err)
	}
	if _, err := g.Respond(ctx, ResponseInput{Request: req.ID().String(), Type: "comment", Body: "x", Open: true, Sealed: true}); !errors.Is(err, ErrInput) {
		t.Fatalf("--sealed with --open: %v", err)
	}
	// A reply to an open request stays in clear.
	plain, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Open case", Region: "NI"})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)
	if r, err := g.Respond(ctx, ResponseInput{Request: plain.ID().String(), Type: "comment", Body: "in clear"}); err != nil || r.Kind != crdt.KindResponse {
		t.Fatalf("a reply to an open request: %v %v", r, err)
	}
}

// Review 9's L1: a reader organisation (Beta) forges a share for Gamma.
// Gamma's node, which opens nothing, does not list Gamma among the
// readers; Alpha's, which can check the wraps, does not either.
func TestForgedShareDoesNotShowItsTargetAsAReader(t *testing.T) {
	ctx := context.Background()
	a, b, g := threeOrgs(t, SQLiteStore)
	req, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Sealed case", Body: "For Alpha and Beta.", Region: "NI", To: []string{b.Org().String()}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)
	forgeShare(t, b, req, g.Org())
	exchange(t, a, b, g)
	if _, err := readText(t, g, req.ID()); err == nil {
		t.Fatal("Gamma reads what was not shared with it")
	}
	for name, n := range map[string]*Node{"Alpha": a, "Gamma": g} {
		n.mu.Lock()
		got := n.readers(req.ID())
		n.mu.Unlock()
		if slices.Contains(got, g.Org()) {
			t.Errorf("as %s sees it, Gamma is among the readers %v", name, got)
		}
	}
}
