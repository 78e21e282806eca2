package p2p

import (
	"slices"
	gosync "sync"
	"time"
)

// ManualClock is a Clock that moves only when told to (Advance), for
// tests (this package's, node's, the testnet's): they drive the runner's
// timers instead of sleeping through them. Its zero value is not ready:
// use NewManualClock.
type ManualClock struct {
	mu      gosync.Mutex
	now     time.Time
	waiters []manualWaiter
}

type manualWaiter struct {
	set time.Duration // as asked of After
	at  time.Time
	ch  chan time.Time
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
	c.waiters = append(c.waiters, manualWaiter{set: d, at: c.now.Add(d), ch: ch})
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

// Pending lists the timers set and not yet due, by what they were set to
// (After's d).
func (c *ManualClock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, len(c.waiters))
	for i, w := range c.waiters {
		out[i] = w.set
	}
	return out
}
