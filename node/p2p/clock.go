package p2p

import "time"

// Clock is the time a running node schedules by: when to reconcile
// (periodically, after a busy peer, after gossip's warm-up), when to poll
// the store and rewrite the run file, when to dial a member's node again,
// when to look at the connected peers' standing again, when to say it is
// alone, and the live path's rate limit. Tests give the runner a
// ManualClock (clock_internal_test.go) and drive these timers instead of
// sleeping through them (as raft's tests and tailscale's tstest.Clock do).
// Deadlines that only turn a hang into an error (a dial, a session's idle
// timeout, Close's wait) stay on the real clock, and so does what other
// machines or processes compare with their own clocks (the run file's
// time, the mDNS name of the day, relay reservations).
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
