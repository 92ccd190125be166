package collector

import (
	"testing"
	"time"
)

func TestTheThrottleLetsOneThroughPerIntervalAndCountsTheRest(t *testing.T) {
	th := &throttle{every: time.Minute}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		at      time.Duration
		ok      bool
		skipped int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{59 * time.Second, false, 0},
		{time.Minute, true, 2},
		{time.Minute + time.Second, false, 0},
		{3 * time.Minute, true, 1},
	}
	for i, s := range steps {
		skipped, ok := th.allow(t0.Add(s.at))
		if ok != s.ok || skipped != s.skipped {
			t.Errorf("step %d at +%s: %v with %d skipped, want %v with %d", i, s.at, ok, skipped, s.ok, s.skipped)
		}
	}
}
