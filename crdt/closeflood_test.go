package crdt

import (
	"slices"
	"testing"
)

// viewReads counts the entries of one view a Facts hands out.
type viewReads struct {
	*MemoryFacts
	v View
	n int
}

func (c *viewReads) Page(v View, tag uint64, ref *ID, after *Cursor, limit int) ([]*Entry, error) {
	es, err := c.MemoryFacts.Page(v, tag, ref, after, limit)
	if v == c.v {
		c.n += len(es)
	}
	return es, err
}

func (c *viewReads) Refs(v View, ref ID, fn func(*Entry) error) error {
	return c.MemoryFacts.Refs(v, ref, func(e *Entry) error {
		if v == c.v {
			c.n++
		}
		return fn(e)
	})
}

func (c *viewReads) View(v View, fn func(*Entry) error) error {
	return c.MemoryFacts.View(v, func(e *Entry) error {
		if v == c.v {
			c.n++
		}
		return fn(e)
	})
}

// stepper gives entries to s in one step each call, fails on a refusal,
// and persists what the step decided into facts.
func stepper(t *testing.T, s *State, facts *MemoryFacts) func(es ...*Entry) {
	return func(es ...*Entry) {
		t.Helper()
		res, ready := s.Step(es)
		for i, r := range res {
			if r.Status == StatusNone {
				t.Fatalf("entry %d refused: %v", i, r.Reason)
			}
		}
		facts.Persist(ready)
	}
}

// Closes another organisation writes of a request count for nothing, and
// cost nothing either: taking in one more, and showing the request, read
// none of them (a member that writes thousands would otherwise make every
// node read them all for each one, and for every view of the request).
// The requesting organisation's own close still closes it.
func TestOthersClosesAreNotRead(t *testing.T) {
	a, b := newDev(1), newDev(2)
	n := newNet(t, a, 1)
	n.admit(a, b, "Beta", false)
	req := n.request(a, "Needs checking")
	facts := &viewReads{MemoryFacts: NewMemoryFacts(), v: ViewClose}
	s := NewStateOn(n.network, DefaultLimits(), facts)
	step := stepper(t, s, facts.MemoryFacts)
	step(n.all...)
	for i := 0; i < 200; i++ {
		step(n.write(b, &RequestClosed{Request: req.ID()}, req.ID()))
	}
	facts.n = 0
	step(n.write(b, &RequestClosed{Request: req.ID()}, req.ID()))
	rv, ok := s.Request(req.ID())
	if !ok || rv.Closed {
		t.Fatalf("another organisation's closes closed the request: %+v", rv)
	}
	if facts.n != 0 {
		t.Fatalf("one more close and a view of the request read %d of the other organisation's closes", facts.n)
	}
	if open := s.RequestCount(0, true, nil); open != 1 {
		t.Fatalf("%d open requests, want 1", open)
	}
	step(n.write(a, &RequestClosed{Request: req.ID()}, req.ID()))
	if rv, _ := s.Request(req.ID()); !rv.Closed || s.RequestCount(0, true, nil) != 0 {
		t.Fatalf("the requester's own close did not close it: %+v", rv)
	}
}

// A request's view in a list reads, of its answers, only those its
// outcome needs (each other organisation's latest position), however many
// comments one organisation wrote; it still counts them all, and its
// answers page back from the latest, a page reading what it lists.
func TestAnswersAreReadByOrganisation(t *testing.T) {
	a, b, c := newDev(1), newDev(2), newDev(3)
	n := newNet(t, a, 1)
	n.admit(a, b, "Beta", false)
	n.admit(a, c, "Gamma", false)
	req := n.request(a, "Who knows this lawyer?")
	facts := &viewReads{MemoryFacts: NewMemoryFacts(), v: ViewResponse}
	s := NewStateOn(n.network, DefaultLimits(), facts)
	step := stepper(t, s, facts.MemoryFacts)
	step(n.all...)
	const comments = ShowResponses + 100
	step(n.respond(b, req, Vouch))
	for i := 0; i < comments; i++ {
		step(n.respond(b, req, Comment))
	}
	step(n.respond(c, req, Concern))
	facts.n = 0
	page := s.RequestPage(0, true, nil, 10)
	if len(page) != 1 {
		t.Fatalf("%d requests listed", len(page))
	}
	rv := page[0]
	if facts.n > 2 {
		t.Fatalf("a list's view of the request read %d answers, want 2 (the positions)", facts.n)
	}
	if rv.ResponseCount != comments+2 || len(rv.Outcome.Positions) != 2 || len(rv.RespondedBy) != 2 {
		t.Fatalf("count %d, %d positions, answered by %d; want %d, 2, 2", rv.ResponseCount, len(rv.Outcome.Positions), len(rv.RespondedBy), comments+2)
	}
	facts.n = 0
	latest, _ := s.AnswersBefore(req.ID(), nil, ShowResponses)
	if len(latest) != ShowResponses || facts.n > ShowResponses+1 {
		t.Fatalf("the latest answers: %d listed, %d read; want %d", len(latest), facts.n, ShowResponses)
	}
	if last := latest[len(latest)-1]; last.Type != Concern {
		t.Fatalf("the latest answer listed is a %v, want Gamma's concern", last.Type)
	}
	if st, ok := s.RequestStat(req.ID()); !ok || !st.Answered || st.First == 0 {
		t.Fatal("no first answer")
	}

	// Earlier answers page back from the latest, a page reading about
	// what it lists; a response of a type that does not fit the request
	// (a pledge on a verification) is not listed.
	step(n.write(c, &Response{Request: req.ID(), Type: Pledge, Amount: 100, Currency: "USD"}, req.ID()))
	var walked []ResponseView
	var before *Cursor
	for range comments {
		facts.n = 0
		page, more := s.AnswersBefore(req.ID(), before, 64)
		if facts.n > 64+1+2 { // (one more to know there are more; the pledge passed over, and one more after it)
			t.Fatalf("a page of 64 answers read %d (before %v)", facts.n, before)
		}
		if len(page) == 0 || len(page) < 64 && more {
			t.Fatalf("a page of %d answers, more %v", len(page), more)
		}
		walked = append(page, walked...)
		if !more {
			break
		}
		before = &Cursor{Clock: page[0].Clock, ID: page[0].ID}
	}
	if len(walked) != comments+2 || walked[0].Type != Vouch || walked[len(walked)-1].Type != Concern {
		t.Fatalf("the pages list %d answers, want %d from Beta's vouch to Gamma's concern", len(walked), comments+2)
	}
	for i := 1; i < len(walked); i++ {
		if w, v := walked[i-1], walked[i]; v.Clock < w.Clock || v.Clock == w.Clock && !w.ID.Less(v.ID) {
			t.Fatalf("answers %d and %d out of order", i-1, i)
		}
	}
	if !slices.EqualFunc(latest, walked[len(walked)-ShowResponses:], func(a, b ResponseView) bool { return a.ID == b.ID }) {
		t.Fatal("the pages end with other answers than the latest")
	}
	cs := s.AnswerCursors(req.ID(), walked[5].ID, walked[5].ID, 2)
	if len(cs) != 1 || cs[0].ID != walked[5].ID {
		t.Fatalf("AnswerCursors: %v", cs)
	}
	if cs := s.AnswerCursors(ID{1}, walked[5].ID, walked[5].ID, 2); len(cs) != 0 {
		t.Fatalf("an answer to the request found as another's: %v", cs)
	}
}

// Past bucketCap answers of one organisation of one type, the count stops
// and says there are more.
func TestAnswerCountStopsAtTheBound(t *testing.T) {
	a, b := newDev(1), newDev(2)
	n := newNet(t, a, 1)
	n.admit(a, b, "Beta", false)
	req := n.request(a, "Who knows this lawyer?")
	s := NewState(n.network, DefaultLimits())
	s.ApplyBatch(n.all)
	var es []*Entry
	for i := 0; i < bucketCap+5; i++ {
		es = append(es, n.respond(b, req, Comment))
	}
	s.ApplyBatch(es)
	rv, _ := s.Request(req.ID())
	if rv.ResponseCount != bucketCap || !rv.ResponsesMore {
		t.Fatalf("count %d, more %v; want %d and more", rv.ResponseCount, rv.ResponsesMore, bucketCap)
	}
	small := n.request(a, "Another")
	s.ApplyBatch([]*Entry{small, n.respond(b, small, Vouch)})
	if rv, _ := s.Request(small.ID()); rv.ResponseCount != 1 || rv.ResponsesMore {
		t.Fatalf("count %d, more %v; want 1", rv.ResponseCount, rv.ResponsesMore)
	}
}

// Every pledge, withdrawal and signature counts, however many of them an
// organisation wrote: a pledge withdrawn stays withdrawn behind a thousand
// withdrawals that name nothing, and a thousand small pledges add up.
func TestEveryPledgeAndWithdrawalCounts(t *testing.T) {
	a, b := newDev(1), newDev(2)
	n := newNet(t, a, 1)
	n.admit(a, b, "Beta", false)
	req := n.write(a, &Request{Type: Funding, Title: "Legal fees", Amount: 90000, Currency: "USD"})
	pledge := n.answer(b, req, &Response{Type: Pledge, Amount: 90000, Currency: "USD"})
	n.answer(b, req, &Response{Type: Withdraw}, pledge.ID())
	for i := 0; i < bucketCap+5; i++ {
		n.answer(b, req, &Response{Type: Withdraw})
	}
	s := NewState(n.network, DefaultLimits())
	s.ApplyBatch(n.all)
	rv, _ := s.Request(req.ID())
	if rv.Outcome.Covered || len(rv.Outcome.Pledged) != 0 {
		t.Fatalf("a withdrawn pledge counts: covered %v, pledged %v", rv.Outcome.Covered, rv.Outcome.Pledged)
	}
	for i := 0; i < bucketCap+5; i++ {
		n.answer(b, req, &Response{Type: Pledge, Amount: 1, Currency: "USD"})
	}
	s.ApplyBatch(n.all)
	rv, _ = s.Request(req.ID())
	if want := []Money{{"USD", bucketCap + 5}}; !slices.Equal(rv.Outcome.Pledged, want) {
		t.Fatalf("pledged %v, want %v", rv.Outcome.Pledged, want)
	}
}
