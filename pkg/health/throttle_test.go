package health_test

import (
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/health"
)

func TestThrottleLetsOneEventThroughPerPeriodAndCountsTheRest(t *testing.T) {
	th := health.Throttle{Every: 10 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		key      string
		after    time.Duration
		wantOK   bool
		wantHeld int
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"b", time.Second, true, 0}, // another key has its own period
		{"a", 9 * time.Second, false, 0},
		{"a", 10 * time.Second, true, 2}, // the two held back since
		{"a", 11 * time.Second, false, 0},
		{"a", time.Minute, true, 1},
	}
	for i, s := range steps {
		held, ok := th.Allow(s.key, t0.Add(s.after))
		if ok != s.wantOK || held != s.wantHeld {
			t.Errorf("step %d (%s at +%s): ok %v held %d, want %v %d", i, s.key, s.after, ok, held, s.wantOK, s.wantHeld)
		}
	}
}
