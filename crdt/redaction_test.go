package crdt

import (
	"bytes"
	"slices"
	"testing"
)

func TestRedactionDropsTheBody(t *testing.T) {
	n, d := workflowNet(t)
	a, b := d[0], d[1]
	a2 := newDev(599)
	n.addDevice(a, a2, a.org())
	req := n.write(a, &Request{Type: Verification, Title: "Names the defender", Text: "Full name, address."})
	resp := n.answer(b, req, &Response{Type: Vouch, Text: "We know them."})
	other := n.write(b, &Redaction{Target: req.ID(), Reason: "not ours to redact"}, req.ID())
	member := n.write(a, &Redaction{Target: n.all[1].ID()}, n.all[1].ID()) // an admission: never
	red := n.write(a2, &Redaction{Target: req.ID(), Reason: "names the defender"}, req.ID())

	for _, order := range [][]*Entry{n.all, reversed(n.all)} {
		s := NewState(n.network, DefaultLimits())
		var told []ID
		for _, e := range order {
			for _, w := range applyRewritten(s, e) {
				if !w.Withheld || w.Body != nil {
					t.Errorf("%v rewritten with its body", w.ID())
				}
				told = append(told, w.ID())
			}
		}
		for _, e := range []*Entry{req, resp, other, member, red} {
			if st, _ := s.Has(e.ID()); st != StatusAccepted {
				t.Fatalf("%v is %v", e.Kind, st)
			}
		}
		rv, _ := s.Request(req.ID())
		if !rv.Withheld || rv.Request != nil {
			t.Fatalf("the redacted request still has its body: %+v", rv)
		}
		got, _, _ := s.Entry(req.ID())
		if !got.Withheld || got.ID() != req.ID() {
			t.Fatalf("the stored entry keeps its body or changed ID")
		}
		if _, err := Verify(got.Raw()); err != nil {
			t.Fatalf("the redacted entry no longer verifies: %v", err)
		}
		if !slices.Equal(told, []ID{req.ID()}) {
			t.Fatalf("rewritten: %v, want only the request", told)
		}
		if adm, _, _ := s.Entry(n.all[1].ID()); adm.Withheld {
			t.Fatal("a membership entry lost its body")
		}
		if x, _, _ := s.Entry(resp.ID()); x.Withheld {
			t.Fatal("another organisation's response lost its body")
		}
	}
	// Another organisation's redaction alone does nothing.
	s := n.state(n.all[:len(n.all)-1]...)
	if rv, _ := s.Request(req.ID()); rv.Withheld {
		t.Fatal("another organisation's redaction dropped the body")
	}
}

// applyRewritten applies e and returns the entries the step rewrote (a
// body a redaction took back: the entry without it).
func applyRewritten(s *State, e *Entry) []*Entry {
	_, ready := s.Step([]*Entry{e})
	s.own.Persist(ready)
	var out []*Entry
	for _, w := range ready.Rewritten {
		out = append(out, w.Entry)
	}
	return out
}

func reversed(es []*Entry) []*Entry {
	out := slices.Clone(es)
	slices.Reverse(out)
	return out
}

// An entry held without its body (as an organisation awaiting admission is
// given its stewards' chains) takes the body when the whole entry comes,
// and the state ends as if the whole entry had come first: except for a
// body an accepted redaction took back, which is not taken again.
func TestWithheldBodyFilledLater(t *testing.T) {
	n, d := workflowNet(t)
	a, b := d[0], d[1]
	req := n.write(a, &Request{Type: Verification, Title: "Earlier case", Text: "Names a witness."})
	resp := n.answer(b, req, &Response{Type: Vouch, Text: "We know them."})
	gone := n.write(a, &Request{Type: Verification, Title: "Taken back", Text: "Should not return."})
	red := n.write(a, &Redaction{Target: gone.ID(), Reason: "taken back"}, gone.ID())
	want := n.state(n.all...)

	for _, whole := range [][]*Entry{n.all, reversed(n.all)} {
		s := NewState(n.network, DefaultLimits())
		var told []ID
		for _, e := range n.all {
			if !e.Kind.Membership() {
				e = e.Redacted()
				if _, err := Verify(e.Raw()); err != nil {
					t.Fatal(err)
				}
			}
			if res, _ := s.Apply(e); res.Status != StatusAccepted {
				t.Fatalf("%v without its body: %v (%v)", e.Kind, res.Status, res.Reason)
			}
		}
		if rv, _ := s.Request(req.ID()); !rv.Withheld {
			t.Fatal("a body from nowhere")
		}
		if got := s.Unfilled(100); !slices.Contains(got, req.ID()) || !slices.Contains(got, red.ID()) || len(got) < 4 {
			t.Fatalf("unfilled: %v", got)
		}
		for _, e := range whole {
			res, ready := s.Step([]*Entry{e})
			s.own.Persist(ready)
			if res[0].Status != StatusAccepted || !res[0].Duplicate {
				t.Fatalf("the whole %v: %+v", e.Kind, res[0])
			}
			for _, w := range ready.Rewritten {
				told = append(told, w.Entry.ID())
			}
		}
		if got := s.Unfilled(100); len(got) != 0 {
			t.Fatalf("still unfilled: %v", got)
		}
		for _, e := range []*Entry{req, resp, gone, red} {
			g, _, _ := s.Entry(e.ID())
			w, _, _ := want.Entry(e.ID())
			if !bytes.Equal(g.Raw(), w.Raw()) {
				t.Fatalf("%v: not as if the whole entries had come first (withheld %v, want %v)", e.Kind, g.Withheld, w.Withheld)
			}
		}
		if rv, _ := s.Request(req.ID()); rv.Withheld || rv.Request.Title != "Earlier case" {
			t.Fatalf("the filled request: %+v", rv)
		}
		if rv, _ := s.Request(gone.ID()); !rv.Withheld {
			t.Fatal("a redacted body taken again")
		}
		if answers, _ := s.AnswersBefore(req.ID(), nil, ShowResponses); len(answers) != 1 {
			t.Fatal("the filled response is not counted")
		}
		if !slices.Contains(told, req.ID()) || !slices.Contains(told, resp.ID()) {
			t.Fatalf("rewritten: %v", told)
		}
	}
}
