package crdt

import "testing"

// closeReads counts the close entries a Facts hands out.
type closeReads struct {
	*MemoryFacts
	n int
}

func (c *closeReads) Page(v View, tag uint64, ref *ID, after *Cursor, limit int) ([]*Entry, error) {
	es, err := c.MemoryFacts.Page(v, tag, ref, after, limit)
	if v == ViewClose {
		c.n += len(es)
	}
	return es, err
}

func (c *closeReads) Refs(v View, ref ID, fn func(*Entry) error) error {
	return c.MemoryFacts.Refs(v, ref, func(e *Entry) error {
		if v == ViewClose {
			c.n++
		}
		return fn(e)
	})
}

func (c *closeReads) View(v View, fn func(*Entry) error) error {
	return c.MemoryFacts.View(v, func(e *Entry) error {
		if v == ViewClose {
			c.n++
		}
		return fn(e)
	})
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
	facts := &closeReads{MemoryFacts: NewMemoryFacts()}
	s := NewStateOn(n.network, DefaultLimits(), facts)
	step := func(es ...*Entry) {
		t.Helper()
		res, ready := s.Step(es)
		for i, r := range res {
			if r.Status == StatusNone {
				t.Fatalf("entry %d refused: %v", i, r.Reason)
			}
		}
		facts.Persist(ready)
	}
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
