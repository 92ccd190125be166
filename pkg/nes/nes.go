package nes

import (
	"math"
	"time"
)

// Stage is an NES lifecycle stage.
type Stage string

// The stages, in lifecycle order.
const (
	Prospect   Stage = "prospect" // no purchase yet
	New        Stage = "N"        // one order, within a cycle of it
	Active     Stage = "E0"       // two or more orders, the last within a cycle
	Dozing     Stage = "S1"       // 瞌睡: last order one to two cycles ago
	HalfAsleep Stage = "S2"       // 半睡: two to three cycles ago
	DeepAsleep Stage = "S3"       // 熟睡: more than three cycles ago
)

// Stages lists the stages in lifecycle order.
var Stages = []Stage{Prospect, New, Active, Dozing, HalfAsleep, DeepAsleep}

// Index returns the index of s in Stages, or -1.
func Index(s Stage) int {
	switch s {
	case Prospect:
		return 0
	case New:
		return 1
	case Active:
		return 2
	case Dozing:
		return 3
	case HalfAsleep:
		return 4
	case DeepAsleep:
		return 5
	}
	return -1
}

// Defaults of Config's fields.
const (
	DefaultCycle = 30 * 24 * time.Hour
	MinCycle     = 7 * 24 * time.Hour
	MaxCycle     = 365 * 24 * time.Hour
)

// Config holds the brand's cycle settings. A zero (or negative) field means
// its default.
type Config struct {
	// DefaultCycle is the cycle of a customer with fewer than two orders.
	// Default 30 days.
	DefaultCycle time.Duration
	// MinCycle is the shortest cycle: customers who buy more often than this
	// are not put to sleep faster. Default 7 days.
	MinCycle time.Duration
	// MaxCycle is the longest cycle. Default 365 days. If it is below
	// MinCycle, MinCycle wins.
	MaxCycle time.Duration
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Limits on any cycle, whatever the Config: at least a millisecond, so that
// NextChange, which works in whole milliseconds, cannot skip a stage; at most
// a third of the longest Duration (about 97 years), so that 3 × cycle and
// every stage boundary can be represented.
const (
	minCycle = time.Millisecond
	maxCycle = time.Duration(math.MaxInt64 / 3)
)

// Cycle returns the purchase cycle of a customer with n orders, the first
// and last at first and last: the mean interval (last − first) / (n − 1),
// truncated to the nanosecond, when n ≥ 2; otherwise DefaultCycle. Either is
// clamped to [MinCycle, MaxCycle] (and to [1ms, ~97 years]).
func (c Config) Cycle(n int, first, last time.Time) time.Duration {
	cycle := orDefault(c.DefaultCycle, DefaultCycle)
	if n >= 2 {
		cycle = last.Sub(first) / time.Duration(n-1)
	}
	lo := max(orDefault(c.MinCycle, MinCycle), minCycle)
	hi := min(orDefault(c.MaxCycle, MaxCycle), maxCycle)
	return max(min(cycle, hi), lo)
}

// Stage returns the stage, as of now, of a customer with n orders, the first
// and last at first and last (both ignored when n = 0).
func (c Config) Stage(n int, first, last, now time.Time) Stage {
	if n <= 0 {
		return Prospect
	}
	return StageOf(n, c.Cycle(n, first, last), now.Sub(last))
}

// StageOf returns the stage of a customer with n orders, purchase cycle
// cycle (from Config.Cycle) and gap since the last purchase (negative: the
// last purchase is after now). Stage is StageOf with the cycle and gap of the
// purchases' times; readers that keep the cycle call it directly.
func StageOf(n int, cycle, gap time.Duration) Stage {
	if n <= 0 {
		return Prospect
	}
	g := max(gap, 0)
	switch {
	case g <= cycle:
		if n == 1 {
			return New
		}
		return Active
	case g <= 2*cycle:
		return Dozing
	case g <= 3*cycle:
		return HalfAsleep
	default:
		return DeepAsleep
	}
}

// NextChange returns the stage the customer moves to by time alone, after
// the stage they are in at now, and the instant at which they do: the first
// whole millisecond (of Unix time) strictly after last + k × cycle, for the
// k ∈ {1, 2, 3} that ends the current stage. So Stage(at) is next and
// Stage(at − 1ms) is still the stage at now, and a timer kept at millisecond
// resolution that fires at at sees the new stage. at is in last's location.
//
// ok is false, with next "" and at the zero time, for Prospect (which only
// an order ends) and DeepAsleep (the last stage).
func (c Config) NextChange(n int, first, last, now time.Time) (next Stage, at time.Time, ok bool) {
	var k time.Duration
	switch c.Stage(n, first, last, now) {
	case New, Active:
		next, k = Dozing, 1
	case Dozing:
		next, k = HalfAsleep, 2
	case HalfAsleep:
		next, k = DeepAsleep, 3
	default:
		return "", time.Time{}, false
	}
	boundary := last.Add(k * c.Cycle(n, first, last))
	// UnixMilli floors (the nanoseconds within a second are never negative),
	// so one more millisecond is the first whole one strictly after boundary.
	return next, time.UnixMilli(boundary.UnixMilli() + 1).In(last.Location()), true
}
