package netns

import (
	"testing"
	"time"
)

// The link model on a fake clock: a transmitter of fixed rate behind a
// byte-bounded queue, then the delay.
func TestLinkModel(t *testing.T) {
	// 8,000 bit/s: a 1,000-byte packet on the wire (972 of payload) takes 1 s.
	l := newLink(Profile{Rate: 8000, Delay: 400 * time.Millisecond, Queue: 2500}, 1)
	t0 := time.Unix(1000, 0)
	for i, want := range []struct {
		v  verdict
		at time.Duration
	}{
		{delivered, 1400 * time.Millisecond}, // sent at once: done at 1 s, arrives 400 ms later
		{delivered, 2400 * time.Millisecond}, // waits for the first: 1,000 bytes queued
		{queueFull, 0},                       // 2,000 queued + 1,000 > 2,500
	} {
		v, at := l.admit(t0, 972)
		if v != want.v || (v == delivered && at.Sub(t0) != want.at) {
			t.Fatalf("packet %d: %v at %v, want %v at %v", i+1, v, at.Sub(t0), want.v, want.at)
		}
	}
	// 1.5 s later 500 bytes are still queued: one more fits, arriving after the others.
	v, at := l.admit(t0.Add(1500*time.Millisecond), 972)
	if v != delivered || at.Sub(t0) != 3400*time.Millisecond {
		t.Fatalf("after 1.5 s: %v at %v, want delivered at 3.4 s", v, at.Sub(t0))
	}
	// Once idle, a packet goes at once again.
	v, at = l.admit(t0.Add(10*time.Second), 972)
	if v != delivered || at.Sub(t0) != 11400*time.Millisecond {
		t.Fatalf("when idle: %v at %v, want delivered at 11.4 s", v, at.Sub(t0))
	}
}

// Loss takes the given share of the packets sent, and they still use the
// link; the default queue is two seconds at the rate.
func TestLinkLoss(t *testing.T) {
	p := Profile{Rate: 32000, Loss: 0.1}
	if p.queue() != 8000 {
		t.Fatalf("default queue %d bytes, want 8000", p.queue())
	}
	l := newLink(Profile{Loss: 0.1}, 7)
	const n = 10000
	lostN := 0
	now := time.Unix(0, 0)
	for range n {
		if v, _ := l.admit(now, 100); v == lost {
			lostN++
		}
	}
	// Binomial(10000, 0.1): mean 1000, sd 30; the bounds are 10 sd away.
	if lostN < 700 || lostN > 1300 {
		t.Fatalf("lost %d of %d at 10%%", lostN, n)
	}
}
