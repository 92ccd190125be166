package nes_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/nes"
)

// Expected values in these tests are worked out by hand from the definitions
// in docs/segmentation.md; the comments show the arithmetic.

const (
	day = 24 * time.Hour
	ms  = time.Millisecond
)

// t0 is a whole-millisecond instant that the tests count from.
var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func TestStagesAreInLifecycleOrder(t *testing.T) {
	want := []nes.Stage{"prospect", "N", "E0", "S1", "S2", "S3"}
	if !slices.Equal(nes.Stages, want) {
		t.Fatalf("Stages = %v, want %v", nes.Stages, want)
	}
}

func TestCycle(t *testing.T) {
	tests := []struct {
		name        string
		c           nes.Config
		n           int
		first, last time.Time
		want        time.Duration
	}{
		{"a prospect has the default cycle of 30 days", nes.Config{}, 0, time.Time{}, time.Time{}, 30 * day},
		{"one order has the default cycle of 30 days", nes.Config{}, 1, t0, t0, 30 * day},
		{"two orders 10 days apart have a 10-day cycle", nes.Config{}, 2, t0, t0.Add(10 * day), 10 * day},
		{"three orders over 20 days have a 10-day cycle", nes.Config{}, 3, t0, t0.Add(20 * day), 10 * day},
		{"five orders over 1000 days have a 250-day cycle", nes.Config{}, 5, t0, t0.Add(1000 * day), 250 * day},
		{"the mean interval is truncated to the nanosecond", nes.Config{}, 3, t0, t0.Add(30*day + 1), 15 * day}, // (30d + 1ns)/2
		{"a mean of 2 days is clamped up to 7", nes.Config{}, 2, t0, t0.Add(2 * day), 7 * day},
		{"a mean of 500 days is clamped down to 365", nes.Config{}, 2, t0, t0.Add(500 * day), 365 * day},
		{"two orders at the same instant have a mean of 0, clamped to 7 days", nes.Config{}, 2, t0, t0, 7 * day},
		{"a last order before the first is clamped to 7 days", nes.Config{}, 2, t0, t0.Add(-10 * day), 7 * day},

		{"a brand default of 14 days is the cycle of one order", nes.Config{DefaultCycle: 14 * day}, 1, t0, t0, 14 * day},
		{"a brand default of 3 days is clamped up to 7", nes.Config{DefaultCycle: 3 * day}, 1, t0, t0, 7 * day},
		{"a brand default of 400 days is clamped down to 365", nes.Config{DefaultCycle: 400 * day}, 1, t0, t0, 365 * day},
		{"a minimum of 1 day lets a 2-day mean stand", nes.Config{MinCycle: day}, 2, t0, t0.Add(2 * day), 2 * day},
		{"a maximum of 600 days lets a 500-day mean stand", nes.Config{MaxCycle: 600 * day}, 2, t0, t0.Add(500 * day), 500 * day},
		{"a maximum below the minimum gives way to the minimum", nes.Config{MaxCycle: 5 * day}, 2, t0, t0.Add(10 * day), 7 * day},
		{"negative settings mean the defaults", nes.Config{DefaultCycle: -1, MinCycle: -1, MaxCycle: -1}, 1, t0, t0, 30 * day},
		{"negative settings mean the default minimum", nes.Config{DefaultCycle: -1, MinCycle: -1, MaxCycle: -1}, 2, t0, t0.Add(2 * day), 7 * day},
		{"negative settings mean the default maximum", nes.Config{DefaultCycle: -1, MinCycle: -1, MaxCycle: -1}, 2, t0, t0.Add(500 * day), 365 * day},
		{"no cycle is shorter than a millisecond", nes.Config{MinCycle: 1}, 2, t0, t0, ms},
		{"no cycle is longer than a third of the longest duration", nes.Config{MaxCycle: 1<<63 - 1}, 2,
			t0, t0.Add(200 * 365 * day), 3074457345618258602}, // floor((2^63 − 1)/3) ns, about 97 years
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Cycle(tt.n, tt.first, tt.last); got != tt.want {
				t.Errorf("Cycle(%d, %v, %v) = %v, want %v", tt.n, tt.first, tt.last, got, tt.want)
			}
		})
	}
}

func TestStage(t *testing.T) {
	// One order at t0: cycle 30 days, boundaries at 30, 60 and 90 days.
	// Two orders, at t0 − 10d and t0: cycle 10 days.
	// Twelve orders over 330 days up to t0: cycle 330/11 = 30 days.
	type customer struct {
		n           int
		first, last time.Time
	}
	one := customer{1, t0, t0}
	two := customer{2, t0.Add(-10 * day), t0}
	twelve := customer{12, t0.Add(-330 * day), t0}
	same := customer{2, t0, t0}                 // cycle 0, clamped to 7 days
	slow := customer{2, t0.Add(-500 * day), t0} // cycle 500 days, clamped to 365
	fast := customer{2, t0.Add(-2 * day), t0}   // cycle 2 days, clamped to 7
	tests := []struct {
		name string
		c    nes.Config
		cu   customer
		g    time.Duration // now − last
		want nes.Stage
	}{
		{"a customer with no order is a prospect", nes.Config{}, customer{}, 0, nes.Prospect},
		{"a customer with no order is a prospect whatever the times", nes.Config{}, customer{0, t0, t0}, 100 * day, nes.Prospect},

		{"one order just placed is new", nes.Config{}, one, 0, nes.New},
		{"one order exactly a cycle ago is still new", nes.Config{}, one, 30 * day, nes.New},
		{"one order a nanosecond over a cycle ago is dozing", nes.Config{}, one, 30*day + 1, nes.Dozing},
		{"one order a millisecond over a cycle ago is dozing", nes.Config{}, one, 30*day + ms, nes.Dozing},
		{"one order exactly two cycles ago is still dozing", nes.Config{}, one, 60 * day, nes.Dozing},
		{"one order a nanosecond over two cycles ago is half asleep", nes.Config{}, one, 60*day + 1, nes.HalfAsleep},
		{"one order exactly three cycles ago is still half asleep", nes.Config{}, one, 90 * day, nes.HalfAsleep},
		{"one order a nanosecond over three cycles ago is deep asleep", nes.Config{}, one, 90*day + 1, nes.DeepAsleep},
		{"one order a thousand days ago is deep asleep", nes.Config{}, one, 1000 * day, nes.DeepAsleep},

		{"two orders, the last just placed, is active", nes.Config{}, two, 0, nes.Active},
		{"two orders, the last exactly a cycle ago, is still active", nes.Config{}, two, 10 * day, nes.Active},
		{"two orders, the last a millisecond over a cycle ago, is dozing", nes.Config{}, two, 10*day + ms, nes.Dozing},
		{"two orders, the last exactly two cycles ago, is still dozing", nes.Config{}, two, 20 * day, nes.Dozing},
		{"two orders, the last a millisecond over two cycles ago, is half asleep", nes.Config{}, two, 20*day + ms, nes.HalfAsleep},
		{"two orders, the last exactly three cycles ago, is still half asleep", nes.Config{}, two, 30 * day, nes.HalfAsleep},
		{"two orders, the last a millisecond over three cycles ago, is deep asleep", nes.Config{}, two, 30*day + ms, nes.DeepAsleep},

		{"many orders, the last a cycle ago, is active", nes.Config{}, twelve, 30 * day, nes.Active},
		{"many orders, the last a day over a cycle ago, is dozing", nes.Config{}, twelve, 31 * day, nes.Dozing},
		{"many orders, the last 61 days ago, is half asleep", nes.Config{}, twelve, 61 * day, nes.HalfAsleep},
		{"many orders, the last 91 days ago, is deep asleep", nes.Config{}, twelve, 91 * day, nes.DeepAsleep},

		{"two orders at the same instant, the last 7 days ago, are active", nes.Config{}, same, 7 * day, nes.Active},
		{"two orders at the same instant, the last just over 7 days ago, are dozing", nes.Config{}, same, 7*day + ms, nes.Dozing},
		{"two orders at the same instant, the last just over 21 days ago, are deep asleep", nes.Config{}, same, 21*day + ms, nes.DeepAsleep},
		{"a 500-day mean clamped to 365 is active 365 days on", nes.Config{}, slow, 365 * day, nes.Active},
		{"a 500-day mean clamped to 365 is dozing 366 days on", nes.Config{}, slow, 366 * day, nes.Dozing},
		{"a 2-day mean clamped to 7 is dozing, not deep asleep, 8 days on", nes.Config{}, fast, 8 * day, nes.Dozing},
		{"a brand default of 14 days puts one order 15 days ago to sleep", nes.Config{DefaultCycle: 14 * day}, one, 15 * day, nes.Dozing},

		{"one order placed after now is new", nes.Config{}, one, -5 * day, nes.New},
		{"two orders, the last placed after now, are active", nes.Config{}, two, -time.Hour, nes.Active},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.cu.last.Add(tt.g)
			if got := tt.c.Stage(tt.cu.n, tt.cu.first, tt.cu.last, now); got != tt.want {
				t.Errorf("Stage(%d, %v, %v, %v) = %q, want %q", tt.cu.n, tt.cu.first, tt.cu.last, now, got, tt.want)
			}
		})
	}
}

func TestNextChange(t *testing.T) {
	taipei := time.FixedZone("Asia/Taipei", 8*60*60)
	tests := []struct {
		name        string
		n           int
		first, last time.Time
		now         time.Time
		next        nes.Stage
		at          time.Time
		ok          bool
	}{
		{"a prospect changes only by ordering", 0, time.Time{}, time.Time{}, t0, "", time.Time{}, false},
		{"a new customer dozes a millisecond after a cycle",
			1, t0, t0, t0, nes.Dozing, time.Date(2024, 3, 31, 0, 0, 0, 1e6, time.UTC), true},
		{"a last order within a millisecond rounds up to the next whole one",
			1, t0.Add(250 * time.Microsecond), t0.Add(250 * time.Microsecond), t0,
			nes.Dozing, time.Date(2024, 3, 31, 0, 0, 0, 1e6, time.UTC), true}, // 30d + 0.00025s → 0.001s
		{"a last order a nanosecond short of a millisecond moves a nanosecond after the boundary",
			1, t0.Add(ms - 1), t0.Add(ms - 1), t0,
			nes.Dozing, time.Date(2024, 3, 31, 0, 0, 0, 1e6, time.UTC), true},
		{"an active customer exactly a cycle after the last order is still due to doze",
			2, t0.Add(-10 * day), t0, t0.Add(10 * day), nes.Dozing, time.Date(2024, 3, 11, 0, 0, 0, 1e6, time.UTC), true},
		{"a dozing customer is due half asleep a millisecond after two cycles",
			2, t0.Add(-10 * day), t0, t0.Add(15 * day), nes.HalfAsleep, time.Date(2024, 3, 21, 0, 0, 0, 1e6, time.UTC), true},
		{"a half-asleep customer is due deep asleep a millisecond after three cycles",
			2, t0.Add(-10 * day), t0, t0.Add(25 * day), nes.DeepAsleep, time.Date(2024, 3, 31, 0, 0, 0, 1e6, time.UTC), true},
		{"a deep-asleep customer changes only by ordering",
			2, t0.Add(-10 * day), t0, t0.Add(30*day + ms), "", time.Time{}, false},
		{"a last order after now is due to doze a cycle after it",
			1, t0, t0, t0.Add(-day), nes.Dozing, time.Date(2024, 3, 31, 0, 0, 0, 1e6, time.UTC), true},
		{"a last order before 1970 still rounds up to the next millisecond", // negative Unix times floor too
			1, time.Date(1960, 1, 1, 0, 0, 0, 500, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 500, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC),
			nes.Dozing, time.Date(1960, 1, 31, 0, 0, 0, 1e6, time.UTC), true},
		{"the instant is in the time zone of the last order",
			1, time.Date(2024, 3, 1, 8, 0, 0, 0, taipei), time.Date(2024, 3, 1, 8, 0, 0, 0, taipei), t0,
			nes.Dozing, time.Date(2024, 3, 31, 8, 0, 0, 1e6, taipei), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, at, ok := nes.Config{}.NextChange(tt.n, tt.first, tt.last, tt.now)
			if next != tt.next || !at.Equal(tt.at) || ok != tt.ok {
				t.Fatalf("NextChange = %q, %v, %v; want %q, %v, %v", next, at, ok, tt.next, tt.at, tt.ok)
			}
			if at.Location() != tt.at.Location() {
				t.Errorf("NextChange at %v is in %v, want %v", at, at.Location(), tt.at.Location())
			}
		})
	}
}

func TestNextChangeChainsFromAFirstPurchaseToDeepAsleep(t *testing.T) {
	// One order: cycle 30 days, so S1 after 30d, S2 after 60d, S3 after 90d,
	// each at the next whole millisecond.
	var c nes.Config
	first := time.Date(2024, 1, 15, 9, 30, 0, 400_000, time.UTC) // 0.4 ms into a millisecond
	want := []struct {
		stage nes.Stage
		at    time.Time
	}{
		{nes.Dozing, time.Date(2024, 2, 14, 9, 30, 0, 1e6, time.UTC)},
		{nes.HalfAsleep, time.Date(2024, 3, 15, 9, 30, 0, 1e6, time.UTC)}, // 2024 is a leap year
		{nes.DeepAsleep, time.Date(2024, 4, 14, 9, 30, 0, 1e6, time.UTC)},
	}
	now, stage := first, nes.New
	if got := c.Stage(1, first, first, now); got != stage {
		t.Fatalf("stage at the first purchase = %q, want %q", got, stage)
	}
	for _, w := range want {
		next, at, ok := c.NextChange(1, first, first, now)
		if !ok || next != w.stage || !at.Equal(w.at) {
			t.Fatalf("from %q at %v: NextChange = %q, %v, %v; want %q, %v, true", stage, now, next, at, ok, w.stage, w.at)
		}
		if got := c.Stage(1, first, first, at.Add(-ms)); got != stage {
			t.Errorf("a millisecond before %v the stage is %q, want %q", at, got, stage)
		}
		if got := c.Stage(1, first, first, at); got != next {
			t.Errorf("at %v the stage is %q, want %q", at, got, next)
		}
		now, stage = at, next
	}
	if next, at, ok := c.NextChange(1, first, first, now); ok {
		t.Errorf("deep asleep: NextChange = %q, %v, true; want no change", next, at)
	}
}

// TestNextChangeIsWhenStageChanges checks on random customers, configs and
// times that the stage at NextChange's instant is the next stage, and a
// millisecond before it (and at any instant from now until then) the current
// one.
func TestNextChangeIsWhenStageChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	dur := func(max time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(max))) }
	for range 20_000 {
		var c nes.Config
		if rng.IntN(2) == 0 {
			c = nes.Config{DefaultCycle: dur(60 * day), MinCycle: dur(10 * day), MaxCycle: dur(400 * day)}
		}
		if rng.IntN(10) == 0 {
			c.MinCycle = dur(2 * ms) // cycles down to the 1ms floor
		}
		n := rng.IntN(6)
		if rng.IntN(10) == 0 {
			n = 1 + rng.IntN(1000)
		}
		first := t0.Add(dur(2000*day) - 1000*day) // any nanosecond, before or after t0
		last := first.Add(dur(3 * 365 * day))
		if n == 1 {
			last = first
		}
		cycle := c.Cycle(n, first, last)
		now := last.Add(dur(4*cycle+2*ms) - cycle/2)
		if rng.IntN(8) == 0 { // land exactly on or next to a boundary
			now = last.Add(time.Duration(1+rng.IntN(3))*cycle + time.Duration(rng.IntN(3)-1))
		}
		stage := c.Stage(n, first, last, now)
		next, at, ok := c.NextChange(n, first, last, now)
		if !ok {
			if stage != nes.Prospect && stage != nes.DeepAsleep {
				t.Fatalf("%+v n=%d first=%v last=%v now=%v: no change from %q", c, n, first, last, now, stage)
			}
			continue
		}
		if at.Nanosecond()%int(ms) != 0 || !at.After(now) {
			t.Fatalf("%+v n=%d first=%v last=%v now=%v: at %v is not a whole millisecond after now", c, n, first, last, now, at)
		}
		if got := c.Stage(n, first, last, at); got != next {
			t.Fatalf("%+v n=%d first=%v last=%v now=%v: Stage(at %v) = %q, want %q", c, n, first, last, now, at, got, next)
		}
		if got := c.Stage(n, first, last, at.Add(-ms)); got != stage {
			t.Fatalf("%+v n=%d first=%v last=%v now=%v: Stage(at−1ms %v) = %q, want %q", c, n, first, last, now, at.Add(-ms), got, stage)
		}
		if !at.Add(-ms).After(now) {
			continue
		}
		if between := now.Add(dur(at.Add(-ms).Sub(now))); c.Stage(n, first, last, between) != stage {
			t.Fatalf("%+v n=%d first=%v last=%v now=%v: Stage(%v) before at %v is not %q", c, n, first, last, now, between, at, stage)
		}
	}
}
