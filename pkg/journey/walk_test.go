package journey_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/journey"
)

func parse(t *testing.T, steps string) *journey.Journey {
	t.Helper()
	cfg, err := journey.Parse([]byte(`journeys: [{name: j, entry: {on: [segflow.cart.product_added]}, steps: `+steps+`}]`), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &cfg.Journeys[0]
}

var at = time.Date(2026, 3, 7, 23, 30, 0, 0, time.UTC)

func TestWalkStopsAtTheFirstSendOrWaitPassingBranches(t *testing.T) {
	j := parse(t, `[
		{name: vip, if: 'profile.tier == "gold"', then: gold, else: plain},
		{name: gold, send: {channel: email, action: {type: message}}, next: end},
		{name: plain, wait: 2h},
		{name: morning, until: "09:00"},
		{name: last, wait_for: {on: [segflow.purchase.order_completed], timeout: 3d}}]`)
	ny, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		name, from string
		profile    map[string]any
		loc        *time.Location
		stop       string
		due        time.Time
		passed     string
	}{
		{"an if that holds goes to then", "", map[string]any{"tier": "gold"}, time.UTC, "gold", time.Time{}, "[vip:then]"},
		{"an if that does not hold goes to else", "", map[string]any{"tier": "silver"}, time.UTC, "plain", at.Add(2 * time.Hour), "[vip:else]"},
		{"an if that fails on its input goes to else", "", map[string]any{}, time.UTC, "plain", at.Add(2 * time.Hour), "[vip:else]"},
		{"a wait until a time of day ends at the next such time", "morning", nil, time.UTC, "morning", time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC), "[]"},
		// 2026-03-08 is the day New York moves its clocks forward: 09:00 EDT is 13:00 UTC.
		{"in the customer's time zone, across daylight saving time", "morning", nil, ny, "morning", time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC), "[]"},
		{"a wait_for ends at its timeout", "last", nil, time.UTC, "last", at.Add(72 * time.Hour), "[]"},
		{"the end is the end", journey.End, nil, time.UTC, "", time.Time{}, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stop, _ := j.Walk(tc.from, campaign.Input{Profile: tc.profile}, "c1", at, tc.loc)
			name := ""
			if stop.Step != nil {
				name = stop.Step.Name
			}
			if name != tc.stop || !stop.Due.Equal(tc.due) || fmt.Sprint(stop.Passed) != tc.passed {
				t.Errorf("stopped at %q due %s passing %v, want %q due %s passing %s", name, stop.Due, stop.Passed, tc.stop, tc.due, tc.passed)
			}
		})
	}
}

// TestASplitIsTheSameForACustomerEveryTimeAndFollowsItsWeights: the arm
// depends only on the customer; over 20,000 customers the shares are
// within 4 standard deviations of the weights 1:3; and two splits of one
// journey are independent (their arms agree as often as chance says).
func TestASplitIsTheSameForACustomerEveryTimeAndFollowsItsWeights(t *testing.T) {
	j := parse(t, `[
		{name: s1, split: [{name: a, weight: 1}, {name: b, weight: 3, next: s2}]},
		{name: wa, wait: 1h, next: end},
		{name: s2, split: [{name: a, weight: 1}, {name: b, weight: 3}]},
		{name: wb, wait: 1h}]`)
	const n = 20000
	first := 0
	both := 0
	for i := range n {
		c := fmt.Sprint("c", i)
		s1, _ := j.Walk("", campaign.Input{}, c, at, time.UTC)
		again, _ := j.Walk("", campaign.Input{}, c, at, time.UTC)
		if fmt.Sprint(s1.Passed) != fmt.Sprint(again.Passed) {
			t.Fatalf("customer %s: %v then %v", c, s1.Passed, again.Passed)
		}
		if s1.Passed[0] == "s1:a" {
			first++
		}
		s2, _ := j.Walk("s2", campaign.Input{}, c, at, time.UTC)
		if s1.Passed[0] == "s1:b" && s2.Passed[0] == "s2:b" {
			both++
		}
	}
	sd := math.Sqrt(n * 0.25 * 0.75)
	if math.Abs(float64(first)-n*0.25) > 4*sd {
		t.Errorf("%d of %d took arm a, want about %d", first, n, n/4)
	}
	sdBoth := math.Sqrt(n * 0.5625 * 0.4375)
	if math.Abs(float64(both)-n*0.5625) > 4*sdBoth {
		t.Errorf("%d of %d took b in both splits, want about %.0f if independent", both, n, n*0.5625)
	}
}
