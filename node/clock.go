package node

import (
	"slices"
	gosync "sync"
	"time"
)

// Clock is the time a running node schedules by: when to reconcile again,
// when to dial a member's node again, when to say it is alone. Tests give
// the runner a ManualClock and drive these timers instead of sleeping
// through them (as raft's tests and tailscale's tstest.Clock do). Deadlines
// that only turn a hang into an error (a dial, a session's idle timeout)
// stay on the real clock.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// ManualClock is a Clock that moves only when told to (Advance). It is for
// tests; its zero value is not ready: use NewManualClock.
type ManualClock struct {
	mu      gosync.Mutex
	now     time.Time
	waiters []manualWaiter
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewManualClock is a clock that reads start until advanced.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *ManualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, manualWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock forward by d and fires every timer now due.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waiters = slices.DeleteFunc(c.waiters, func(w manualWaiter) bool {
		if w.at.After(c.now) {
			return false
		}
		w.ch <- c.now // (buffered, written once)
		return true
	})
}

// Waiting is how many timers are set and not yet due.
func (c *ManualClock) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}
