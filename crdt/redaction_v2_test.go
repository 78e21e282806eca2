package crdt

import (
	"errors"
	"reflect"
	"testing"
)

// redactV2 writes d's redaction of target, keeping what Keep keeps of it.
func redactV2(t *testing.T, n *tnet, d *tdev, target *Entry, reason string) *Entry {
	t.Helper()
	kind, kept, err := Keep(target)
	if err != nil {
		t.Fatal(err)
	}
	return n.write(d, &RedactionV2{Target: target.ID(), Reason: reason, KeptKind: kind, Kept: kept}, target.ID())
}

// outcomeFacts is what a request view counts, without the words: who
// answered what, and what it adds up to.
type outcomeFacts struct {
	Type      RequestType
	Region    string
	To        []OrgID
	RespondBy uint64
	Positions []string
	Accepted  string
	Reopened  bool
	Responses int
}

func factsOf(rv RequestView) outcomeFacts {
	f := outcomeFacts{Responses: rv.ResponseCount, Reopened: rv.Outcome.Reopened}
	if r := rv.Request; r != nil {
		f.Type, f.Region, f.To, f.RespondBy = r.Type, r.Region, r.To, r.RespondBy
	}
	for _, p := range rv.Outcome.Positions {
		f.Positions = append(f.Positions, p.Org.String()[:8]+"="+p.Type.String())
	}
	if a := rv.Outcome.AcceptedBy; a != nil {
		f.Accepted = a.Org.String()
	}
	return f
}

// The case: C redacts its concern on a verification. Every node,
// whatever order it got the entries in, and whether it ever held the
// words or was given the redacted entry only, still counts one vouch and
// one concern; only C's text is gone, and the view says who redacted it,
// when and why.
func TestRedactionKeepsTheConcernCounted(t *testing.T) {
	n, d := workflowNet(t)
	a, b, c := d[0], d[1], d[2]
	req := n.write(a, &Request{Type: Verification, Title: "Is this lawyer known?", Text: "Defends land activists."})
	n.answer(b, req, &Response{Type: Vouch, Text: "We worked with them."})
	concern := n.answer(c, req, &Response{Type: Concern, Text: "PLANTED-MARKER names a witness"})
	before := factsOf(viewOf(t, n, req))
	if len(before.Positions) != 2 {
		t.Fatalf("before: %+v", before)
	}
	red := redactV2(t, n, c, concern, "named a witness")

	given := func() []*Entry { // a node that joins later: the concern comes redacted
		var es []*Entry
		for _, e := range n.all {
			if e.ID() == concern.ID() {
				e = e.Redacted()
			}
			es = append(es, e)
		}
		return es
	}()
	for name, order := range map[string][]*Entry{"in order": n.all, "reversed": reversed(n.all), "given redacted": given, "given redacted, reversed": reversed(given)} {
		s := n.state(order...)
		rv, _ := s.Request(req.ID())
		if got := factsOf(rv); !reflect.DeepEqual(got, before) {
			t.Fatalf("%s: the counts changed:\n got %+v\nwant %+v", name, got, before)
		}
		var x *ResponseView
		answers, _ := s.AnswersBefore(req.ID(), nil, ShowResponses)
		for i := range answers {
			if answers[i].ID == concern.ID() {
				x = &answers[i]
			}
		}
		if x == nil || x.Type != Concern || x.Text != "" {
			t.Fatalf("%s: the redacted concern: %+v", name, x)
		}
		if x.Redacted == nil || x.Redacted.Org != c.org() || x.Redacted.Reason != "named a witness" || x.Redacted.ID != red.ID() || x.Redacted.Clock != red.Clock {
			t.Fatalf("%s: the redaction shown: %+v", name, x.Redacted)
		}
		if e, _, _ := s.Entry(concern.ID()); !e.Withheld || e.Body != nil {
			t.Fatalf("%s: the state keeps the words", name)
		}
		if rv.Redacted != nil {
			t.Fatalf("%s: the request is not redacted", name)
		}
	}
}

// A sealed referral its author redacts keeps its region, addressees,
// deadline and who accepted it; the sealed details go.
func TestRedactionKeepsTheSealedReferralsState(t *testing.T) {
	n, d := workflowNet(t)
	a, b := d[0], d[1]
	env := mustBody(t, &Request{Type: Referral, Region: "NI", To: []OrgID{b.org()}, RespondBy: 1_900_000_000_000})
	ref := n.write(a, &Sealed{Inner: KindRequest, Envelope: env, Nonce: [24]byte{1}, Ciphertext: make([]byte, 40),
		Wraps: [][]byte{make([]byte, SealedWrapSize)}})
	n.answer(b, ref, &Response{Type: Accept, Text: "We take it."})
	before := factsOf(viewOf(t, n, ref))
	if before.Accepted != b.org().String() || before.Region != "NI" {
		t.Fatalf("before: %+v", before)
	}
	redactV2(t, n, a, ref, "wrong case file attached")
	for _, order := range [][]*Entry{n.all, reversed(n.all)} {
		s := n.state(order...)
		rv, _ := s.Request(ref.ID())
		if got := factsOf(rv); !reflect.DeepEqual(got, before) {
			t.Fatalf("the referral's state changed:\n got %+v\nwant %+v", got, before)
		}
		if !rv.Sealed || rv.Withheld || rv.Redacted == nil || rv.Redacted.Reason != "wrong case file attached" {
			t.Fatalf("the redacted referral: %+v", rv)
		}
		e, _, _ := s.Entry(ref.ID())
		if !e.Withheld {
			t.Fatal("the sealed details are still held")
		}
		if _, err := ParseSealed(e); err == nil {
			t.Fatal("the sealed body still parses")
		}
	}
}

// A redaction-v2 needs a reason; a kept body must leave the words out and
// must fit its target, or the state ignores it (the entry then loses
// everything, as with an old redaction).
func TestRedactionV2Rules(t *testing.T) {
	n, d := workflowNet(t)
	a := d[0]
	req := n.write(a, &Request{Type: Verification, Title: "Title", Text: "Text"})
	kind, kept, err := Keep(req)
	if err != nil || kind != KindRequest {
		t.Fatal(kind, err)
	}
	draft := func(b *RedactionV2) Draft {
		raw, err := EncodeBody(b)
		if err != nil {
			t.Fatal(err)
		}
		return Draft{Network: n.network, Seq: 99, Prev: ID{1}, Clock: 1, Deps: []ID{req.ID()}, Kind: KindRedactionV2, Body: raw}
	}
	if _, err := Sign(a.priv, draft(&RedactionV2{Target: req.ID(), Reason: "r", KeptKind: kind, Kept: kept})); err != nil {
		t.Fatalf("a good redaction: %v", err)
	}
	withWords := mustBody(t, &Request{Type: Verification, Title: "Title"})
	for name, b := range map[string]*RedactionV2{
		"no reason":       {Target: req.ID(), KeptKind: kind, Kept: kept},
		"blank reason":    {Target: req.ID(), Reason: "  ", KeptKind: kind, Kept: kept},
		"words kept":      {Target: req.ID(), Reason: "r", KeptKind: KindRequest, Kept: withWords},
		"kind not kept":   {Target: req.ID(), Reason: "r", KeptKind: KindDirectory, Kept: kept},
		"kept, no kind":   {Target: req.ID(), Reason: "r", Kept: kept},
		"target not deps": {Target: ID{7}, Reason: "r"},
	} {
		if _, err := Sign(a.priv, draft(b)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: signed (%v)", name, err)
		}
	}
	// A kept response body for a request target does not fit: ignored.
	other := n.write(a, &Request{Type: Verification, Title: "Other", Text: "Text"})
	resp := mustBody(t, &Response{Request: other.ID(), Type: Comment})
	n.write(a, &RedactionV2{Target: req.ID(), Reason: "r", KeptKind: KindResponse, Kept: resp}, req.ID())
	s := n.state(n.all...)
	if rv, _ := s.Request(req.ID()); !rv.Withheld || rv.Redacted == nil {
		t.Fatalf("a kept body that does not fit: %+v", rv)
	}
}

// A redacted pledge keeps its amount in the sum, and a redacted close
// keeps the request closed: only the pledge's text and the close's note go.
func TestRedactionKeepsPledgesAndCloses(t *testing.T) {
	n, d := workflowNet(t)
	a, b := d[0], d[1]
	req := n.write(a, &Request{Type: Funding, Title: "Relocation", Text: "Family of four.", Amount: 100000, Currency: "USD"})
	pledge := n.answer(b, req, &Response{Type: Pledge, Text: "Our donor's name", Amount: 40000, Currency: "USD"})
	closed := n.write(a, &RequestClosed{Request: req.ID(), Note: "Names the family."}, req.ID())
	before, _ := n.state(n.all...).Request(req.ID())
	redactV2(t, n, b, pledge, "named our donor")
	redactV2(t, n, a, closed, "named the family")
	for _, order := range [][]*Entry{n.all, reversed(n.all)} {
		rv, _ := n.state(order...).Request(req.ID())
		if !rv.Closed || rv.ClosedBy != closed.ID() || !reflect.DeepEqual(rv.Outcome.Pledged, before.Outcome.Pledged) || rv.Outcome.Remaining != 60000 {
			t.Fatalf("after the redactions: closed %v, pledged %v, remaining %d", rv.Closed, rv.Outcome.Pledged, rv.Outcome.Remaining)
		}
		if p := rv.Outcome.Pledges[0]; p.Text != "" || p.Amount != 40000 || p.Redacted == nil || p.Redacted.Reason != "named our donor" {
			t.Fatalf("the redacted pledge: %+v", p)
		}
	}
}
