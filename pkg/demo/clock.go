package demo

import (
	"sync/atomic"
	"time"
)

// Clock is the demo pipeline's clock: the services read it (Now), and the
// load moves it through the sample week by week, then leaves it at
// Config.Until.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.set(t)
	return c
}

// Now returns the clock's time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

func (c *Clock) set(t time.Time) { c.ns.Store(t.UnixNano()) }
