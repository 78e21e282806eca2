package crdt

import "fmt"

// Clock is a hybrid logical clock: wall-clock milliseconds since the Unix
// epoch in the high 48 bits and a logical counter in the low 16. It orders
// an author's entries (each must be later than the one before) and breaks
// ties between concurrent writes; it never decides validity on its own,
// because an author can set it to anything.
type Clock uint64

const logicalBits = 16

// MaxDrift is how far ahead of the local wall clock an observed clock may be
// before NextClock stops following it: a member with a broken (or hostile)
// clock must not drag everyone else's clocks into the future.
const MaxDrift = 10 * 60 * 1000 // ten minutes, in milliseconds

// ClockAt is the clock for a wall time with a zero logical counter.
func ClockAt(millis uint64) Clock { return Clock(millis << logicalBits) }

// Millis is the wall-clock part of c.
func (c Clock) Millis() uint64 { return uint64(c) >> logicalBits }

func (c Clock) String() string {
	return fmt.Sprintf("%d.%d", c.Millis(), uint64(c)&(1<<logicalBits-1))
}

// NextClock returns the clock for a new entry by an author whose previous
// entry had clock prev, on a node that has observed clocks up to observed,
// at wall time nowMillis. The result is greater than prev and, unless
// observed is implausibly far ahead of nowMillis, greater than observed.
// The caller reads the wall clock; this function does not.
func NextClock(prev, observed Clock, nowMillis uint64) Clock {
	base := prev
	if limit := ClockAt(nowMillis + MaxDrift); observed > limit {
		observed = limit
	}
	if observed > base {
		base = observed
	}
	if now := ClockAt(nowMillis); now > base {
		return now
	}
	return base + 1
}
