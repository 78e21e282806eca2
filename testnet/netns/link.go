package netns

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Profile is one direction of an emulated link: what a satellite modem or
// a congested uplink does to the packets that cross it.
type Profile struct {
	Rate  int           // bit/s on the wire (IP and UDP headers counted); 0: unlimited
	Delay time.Duration // one-way propagation delay, added after the packet is sent
	Loss  float64       // probability that a sent packet never arrives (0 to 1)
	// Queue is how much may wait to be sent, in bytes; a packet that
	// does not fit is dropped (drop tail). 0: two seconds at Rate.
	Queue int
}

// headerBytes is what IPv4 and UDP add to each datagram's payload on the wire.
const headerBytes = 28

func (p Profile) String() string {
	rate := "unlimited"
	if p.Rate > 0 {
		rate = fmt.Sprintf("%g kbit/s", float64(p.Rate)/1000)
	}
	return fmt.Sprintf("%s, %v one way, %g%% loss, %d-byte queue", rate, p.Delay, 100*p.Loss, p.queue())
}

func (p Profile) queue() int {
	if p.Queue > 0 || p.Rate == 0 {
		return p.Queue
	}
	return p.Rate / 8 * 2
}

// verdict is what the link does with one packet.
type verdict int

const (
	delivered verdict = iota // arrives at the time returned
	queueFull                // dropped before sending: the queue was full
	lost                     // sent (it used the link) but never arrives
)

// link is the timing model of one direction: a FIFO queue in front of a
// transmitter of fixed rate, then a fixed delay. It is pure: the caller
// gives the time, so tests can drive it with a fake clock.
type link struct {
	p    Profile
	free time.Time // when the transmitter finishes what is queued
	rng  *rand.Rand
}

func newLink(p Profile, seed uint64) *link {
	return &link{p: p, rng: rand.New(rand.NewPCG(seed, 0x6c696e6b))} // "link"
}

// admit takes a packet of size payload bytes offered at now, and says
// what becomes of it and, if it is delivered, when.
func (l *link) admit(now time.Time, size int) (verdict, time.Time) {
	wire := size + headerBytes
	if l.free.Before(now) {
		l.free = now
	}
	if l.p.Rate > 0 {
		backlog := int64(l.free.Sub(now)) * int64(l.p.Rate) / 8 / int64(time.Second) // bytes still to send
		if q := l.p.queue(); q > 0 && backlog+int64(wire) > int64(q) {
			return queueFull, time.Time{}
		}
		l.free = l.free.Add(time.Duration(int64(wire) * 8 * int64(time.Second) / int64(l.p.Rate)))
	}
	if l.p.Loss > 0 && l.rng.Float64() < l.p.Loss {
		return lost, time.Time{}
	}
	return delivered, l.free.Add(l.p.Delay)
}
