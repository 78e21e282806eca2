package crdt

import (
	"bytes"
	"slices"
	"testing"
)

// workflowNet is a network of four organisations: the founder (a) and b,
// c, d, each with one device.
func workflowNet(t *testing.T) (*tnet, []*tdev) {
	devs := []*tdev{newDev(501), newDev(502), newDev(503), newDev(504)}
	n := newNet(t, devs[0], 1)
	for i, d := range devs[1:] {
		n.admit(devs[0], d, string(rune('B'+i))+" org", false)
	}
	return n, devs
}

func (n *tnet) answer(d *tdev, req *Entry, b *Response, deps ...ID) *Entry {
	b.Request = req.ID()
	return n.write(d, b, append([]ID{req.ID()}, deps...)...)
}

func viewOf(t *testing.T, n *tnet, req *Entry) RequestView {
	t.Helper()
	// Apply in reverse: the outcome must not depend on arrival order.
	es := slices.Clone(n.all)
	slices.Reverse(es)
	rv, ok := n.state(es...).Request(req.ID())
	if !ok {
		t.Fatal("request not found")
	}
	return rv
}

func positions(o Outcome) map[OrgID]ResponseType {
	m := map[OrgID]ResponseType{}
	for _, p := range o.Positions {
		m[p.Org] = p.Type
	}
	return m
}

func TestVerificationPositions(t *testing.T) {
	n, d := workflowNet(t)
	a, b, c := d[0], d[1], d[2]
	req := n.write(a, &Request{Type: Verification, Title: "Do you know this applicant?", Region: "TZ"})
	n.answer(b, req, &Response{Type: Concern, Text: "not sure"})
	n.answer(b, req, &Response{Type: Vouch, Text: "checked with our office"}) // changes its mind
	n.answer(c, req, &Response{Type: NotKnown})
	n.answer(c, req, &Response{Type: Comment, Text: "asking around"}) // not a position
	n.answer(a, req, &Response{Type: Vouch})                          // the requester: no position
	o := viewOf(t, n, req).Outcome
	want := map[OrgID]ResponseType{b.org(): Vouch, c.org(): NotKnown}
	if got := positions(o); len(got) != 2 || got[b.org()] != Vouch || got[c.org()] != NotKnown {
		t.Fatalf("positions %v, want %v", got, want)
	}
}

func TestReferralAcceptDeclineReopen(t *testing.T) {
	n, d := workflowNet(t)
	a, b, c, x := d[0], d[1], d[2], d[3]
	to := []OrgID{b.org(), c.org()}
	slices.SortFunc(to, func(p, q OrgID) int { return bytes.Compare(p[:], q[:]) })
	req := n.write(a, &Request{Type: Referral, Title: "Relocation, NI", Region: "NI", To: to, Needs: []string{"relocation"}})

	// Someone it is not addressed to accepts: it does not count.
	early := n.answer(x, req, &Response{Type: Accept})
	if o := viewOf(t, n, req).Outcome; o.AcceptedBy != nil || o.Reopened {
		t.Fatalf("a non-addressee's accept counted: %+v", o)
	}
	// One addressee declines: still open, not reopened.
	n.answer(b, req, &Response{Type: Decline, Text: "no capacity"})
	if o := viewOf(t, n, req).Outcome; o.AcceptedBy != nil || o.Reopened {
		t.Fatalf("after one decline: %+v", o)
	}
	// Every addressee declines: open again, and the earlier accept from
	// outside now counts.
	n.answer(c, req, &Response{Type: Decline})
	o := viewOf(t, n, req).Outcome
	if !o.Reopened || o.AcceptedBy == nil || o.AcceptedBy.ID != early.ID() {
		t.Fatalf("after every addressee declined: reopened=%v accepted=%v", o.Reopened, o.AcceptedBy)
	}
	// An addressee changes its mind and accepts: it is no longer open to
	// everyone, and the addressee's accept is the one that counts.
	acc := n.answer(c, req, &Response{Type: Accept, Text: "we found a way"})
	o = viewOf(t, n, req).Outcome
	if o.Reopened || o.AcceptedBy == nil || o.AcceptedBy.ID != acc.ID() {
		t.Fatalf("after the addressee accepted: reopened=%v accepted=%v", o.Reopened, o.AcceptedBy)
	}
	// And declines again: back to reopened, the outsider's accept counts.
	n.answer(c, req, &Response{Type: Decline, Text: "sorry, it fell through"})
	if o := viewOf(t, n, req).Outcome; !o.Reopened || o.AcceptedBy == nil || o.AcceptedBy.ID != early.ID() {
		t.Fatalf("after the addressee declined again: %+v", o)
	}
}

func TestReferralOpenToAllFirstAcceptWins(t *testing.T) {
	n, d := workflowNet(t)
	a, b, c := d[0], d[1], d[2]
	req := n.write(a, &Request{Type: Referral, Title: "Legal aid, KE", Region: "KE"})
	first := n.answer(b, req, &Response{Type: Accept})
	n.answer(c, req, &Response{Type: Accept})
	if o := viewOf(t, n, req).Outcome; o.AcceptedBy == nil || o.AcceptedBy.ID != first.ID() || o.Reopened {
		t.Fatalf("open referral: %+v", o)
	}
	n.answer(a, req, &Response{Type: Accept}) // the requester's own: never counts
	n.answer(b, req, &Response{Type: Decline})
	if o := viewOf(t, n, req).Outcome; o.AcceptedBy == nil || o.AcceptedBy.Org != c.org() {
		t.Fatalf("after the first acceptor withdrew: %+v", o.AcceptedBy)
	}
}

func TestFundingPledgesWithdrawCovered(t *testing.T) {
	n, d := workflowNet(t)
	a, b, c, x := d[0], d[1], d[2], d[3]
	req := n.write(a, &Request{Type: Funding, Title: "Legal fees", Amount: 300000, Currency: "USD"})
	pb := n.answer(b, req, &Response{Type: Pledge, Amount: 100000, Currency: "USD"})
	n.answer(c, req, &Response{Type: Pledge, Amount: 150000, Currency: "USD"})
	n.answer(c, req, &Response{Type: Pledge, Amount: 50000, Currency: "EUR"})
	o := viewOf(t, n, req).Outcome
	if o.Covered || o.Remaining != 50000 || len(o.Pledges) != 3 {
		t.Fatalf("before: %+v", o)
	}
	if want := []Money{{"EUR", 50000}, {"USD", 250000}}; !slices.Equal(o.Pledged, want) {
		t.Fatalf("pledged %v, want %v", o.Pledged, want)
	}
	// Someone else cannot withdraw b's pledge.
	n.answer(x, req, &Response{Type: Withdraw}, pb.ID())
	if o := viewOf(t, n, req).Outcome; o.Remaining != 50000 {
		t.Fatalf("another organisation withdrew b's pledge: %+v", o)
	}
	// b can.
	w := n.answer(b, req, &Response{Type: Withdraw, Text: "our budget was cut"}, pb.ID())
	o = viewOf(t, n, req).Outcome
	if o.Remaining != 150000 || !o.Pledges[0].Withdrawn || o.Pledges[0].WithdrawnBy != w.ID() {
		t.Fatalf("after withdrawal: %+v", o)
	}
	// Covered, and over-covered.
	n.answer(x, req, &Response{Type: Pledge, Amount: 200000, Currency: "USD"})
	if o := viewOf(t, n, req).Outcome; !o.Covered || o.Remaining != 0 {
		t.Fatalf("not covered: %+v", o)
	}
}

func TestLetterSignaturesBeforeDeadline(t *testing.T) {
	n, d := workflowNet(t)
	a, b, c, x := d[0], d[1], d[2], d[3]
	req := n.write(a, &Request{Type: Letter, Title: "Free the journalists", RespondBy: n.now + 10_000})
	sa := n.answer(a, req, &Response{Type: SignOn}) // the initiator signs its own letter
	sb := n.answer(b, req, &Response{Type: SignOn})
	n.answer(b, req, &Response{Type: SignOn}) // twice: one signature
	n.answer(c, req, &Response{Type: Comment})
	n.now += 20_000 // past the deadline
	n.answer(x, req, &Response{Type: SignOn})
	o := viewOf(t, n, req).Outcome
	var got []ID
	for _, s := range o.Signatures {
		got = append(got, s.ID)
	}
	if want := []ID{sa.ID(), sb.ID()}; !slices.Equal(got, want) {
		t.Fatalf("signatures %v, want %v", got, want)
	}
}

func TestGrantsMatching(t *testing.T) {
	n, d := workflowNet(t)
	a, b := d[0], d[1]
	tok := func(i byte) [32]byte { return [32]byte{i} }
	g1 := n.write(a, &Grant{Tokens: [][32]byte{tok(1), tok(2)}, Amount: 50000, Currency: "USD", Support: "emergency-grant", Day: 20400, KeyCheck: [8]byte{9}})
	g2 := n.write(b, &Grant{Tokens: [][32]byte{tok(2), tok(3)}, Amount: 70000, Currency: "EUR", Support: "legal-aid", Day: 20401, KeyCheck: [8]byte{9}})
	s := n.state(n.all...)
	ids := func(gs []GrantView) []ID {
		var out []ID
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	for _, c := range []struct {
		tokens [][32]byte
		want   []ID
	}{
		{[][32]byte{tok(1)}, []ID{g1.ID()}},
		{[][32]byte{tok(2)}, []ID{g1.ID(), g2.ID()}},
		{[][32]byte{tok(3), tok(1)}, []ID{g1.ID(), g2.ID()}},
		{[][32]byte{tok(4)}, nil},
	} {
		if got := ids(s.GrantsMatching(c.tokens)); !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, want %v", c.tokens, got, c.want)
		}
	}
	if got := s.GrantsMatching([][32]byte{tok(1)})[0]; got.Org != a.org() || got.Support != "emergency-grant" {
		t.Errorf("grant view %+v", got)
	}
	if kc := s.GrantKeyChecks(); len(kc) != 1 || kc[[8]byte{9}] != 2 {
		t.Errorf("key checks %v", kc)
	}
}

func TestGrantBodyRules(t *testing.T) {
	ok := Grant{Tokens: [][32]byte{{1}, {2}}, Amount: 100, Currency: "USD", Support: "legal-aid", Day: 20000, KeyCheck: [8]byte{1}}
	for name, mut := range map[string]func(g *Grant){
		"no tokens":          func(g *Grant) { g.Tokens = nil },
		"unsorted tokens":    func(g *Grant) { g.Tokens = [][32]byte{{2}, {1}} },
		"amount, no cur":     func(g *Grant) { g.Currency = "" },
		"bad support":        func(g *Grant) { g.Support = "Legal Aid" },
		"no day":             func(g *Grant) { g.Day = 0 },
		"no key check":       func(g *Grant) { g.KeyCheck = [8]byte{} },
		"lowercase currency": func(g *Grant) { g.Currency = "usd" },
	} {
		g := ok
		mut(&g)
		raw, err := EncodeBody(&g)
		if err != nil {
			continue
		}
		if _, err := decodeBody(KindGrant, raw, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	raw, _ := EncodeBody(&ok)
	if _, err := decodeBody(KindGrant, raw, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSealedBodyRules(t *testing.T) {
	env := func(r *Request) []byte { b, _ := EncodeBody(r); return b }
	wrap := [][]byte{make([]byte, SealedWrapSize)}
	wrap[0][0] = 1
	ok := Sealed{Inner: KindRequest, Envelope: env(&Request{Type: Verification, Region: "TZ"}), Nonce: [24]byte{1}, Ciphertext: make([]byte, 32), Wraps: wrap}
	for name, mut := range map[string]func(s *Sealed){
		"title in clear":      func(s *Sealed) { s.Envelope = env(&Request{Type: Verification, Title: "in clear"}) },
		"text in clear":       func(s *Sealed) { s.Envelope = env(&Request{Type: Verification, Text: "in clear"}) },
		"a directory, sealed": func(s *Sealed) { s.Inner = KindDirectory },
		"no wraps":            func(s *Sealed) { s.Wraps = nil },
		"a short wrap":        func(s *Sealed) { s.Wraps = [][]byte{make([]byte, SealedWrapSize-1)} },
		"no nonce":            func(s *Sealed) { s.Nonce = [24]byte{} },
		"an envelope of junk": func(s *Sealed) { s.Envelope = []byte{0xff, 0xff} },
		"no request type":     func(s *Sealed) { s.Envelope = env(&Request{Region: "TZ"}) },
	} {
		s := ok
		mut(&s)
		raw, err := EncodeBody(&s)
		if err != nil {
			continue
		}
		if _, err := decodeBody(KindSealed, raw, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	raw, _ := EncodeBody(&ok)
	b, err := decodeBody(KindSealed, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, isReq := b.(*Sealed).Open().(*Request); !isReq || r.Region != "TZ" || r.Title != "" {
		t.Fatalf("the envelope opens as %+v", b.(*Sealed).Open())
	}
	// A key share names its target among its dependencies.
	share, _ := EncodeBody(&KeyShare{Target: ID{1}, Wraps: wrap})
	if _, err := decodeBody(KindKeyShare, share, nil); err == nil {
		t.Error("a key share whose target is not a dependency: accepted")
	}
	if _, err := decodeBody(KindKeyShare, share, []ID{{1}}); err != nil {
		t.Error(err)
	}
}
