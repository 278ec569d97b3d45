package sched

import (
	"sort"
	"sync"
	"time"
)

// Clock is the time source of the scheduler; tests inject a FakeClock so
// they never sleep.
type Clock interface {
	Now() time.Time
	// NewTimerAt returns a channel that receives once, when the clock
	// reaches at (at once if it already has), and a stop function that
	// releases the timer. An absolute deadline leaves no gap between
	// reading the clock and arming the timer for time to pass in.
	NewTimerAt(at time.Time) (<-chan time.Time, func())
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// NewTimerAt wraps time.NewTimer.
func (RealClock) NewTimerAt(at time.Time) (<-chan time.Time, func()) {
	t := time.NewTimer(time.Until(at))
	return t.C, func() { t.Stop() }
}

// FakeClock is a manual clock for tests: time moves only with Advance, and
// timers fire when it passes their deadline.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	waitCh chan struct{} // closed and replaced whenever a timer is added
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

// NewFakeClock starts a fake clock at t.
func NewFakeClock(t time.Time) *FakeClock {
	return &FakeClock{now: t, waitCh: make(chan struct{})}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimerAt registers a timer that fires when the clock reaches at; it
// fires at once if the clock already has.
func (c *FakeClock) NewTimerAt(at time.Time) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: at, ch: make(chan time.Time, 1)}
	if !at.After(c.now) {
		t.ch <- c.now
		return t.ch, func() {}
	}
	c.timers = append(c.timers, t)
	close(c.waitCh)
	c.waitCh = make(chan struct{})
	return t.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				close(c.waitCh)
				c.waitCh = make(chan struct{})
				return
			}
		}
	}
}

// Advance moves the clock forward by d, firing due timers in deadline order.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- t.at
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

// Pending is the number of timers not yet fired.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitForTimers blocks until at least n timers are pending, so a test can
// advance time only once every goroutine is waiting on the clock. It
// gives up (returning false) when timeout passes in real time.
func (c *FakeClock) WaitForTimers(n int, timeout time.Duration) bool {
	return c.WaitUntil(func(pending int) bool { return pending >= n }, timeout)
}

// WaitUntil blocks until cond(pending timers) holds, re-checking whenever
// a timer is added or stopped; false when timeout passes in real time.
func (c *FakeClock) WaitUntil(cond func(pending int) bool, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		if cond(len(c.timers)) {
			c.mu.Unlock()
			return true
		}
		ch := c.waitCh
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}
