package demo

import (
	"testing"
	"time"
)

// TestTheLoadStopsTheClockAtEachWeeksEndThenAtUntil checks the plan of the
// load against the sample: every order is written once, in the week whose
// end is the first at or after it; every customer consents once, in the week
// of their first order and before it; the clock stops at Mondays 06:00 UTC
// a week apart, then at until.
func TestTheLoadStopsTheClockAtEachWeeksEndThenAtUntil(t *testing.T) {
	orders, err := Orders()
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]time.Time{}
	for _, o := range orders {
		if f, ok := first[o.Customer]; !ok || o.Time.Before(f) {
			first[o.Customer] = o.Time
		}
	}
	for _, tc := range []struct {
		name  string
		until time.Time
		weeks int // Mondays from 1997-01-06 to 1998-07-06, then until if later
	}{
		{"until a week after the sample", Final, 79 + 1},
		{"until years after the sample", time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC), 79 + 1},
		{"until the sample's end", End, 78 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := weeks(orders, tc.until)
			if len(steps) != tc.weeks {
				t.Fatalf("%d steps, want %d", len(steps), tc.weeks)
			}
			if last := steps[len(steps)-1].At; !last.Equal(tc.until) {
				t.Errorf("the clock stays at %s, want %s", last, tc.until)
			}
			written, consented := map[string]bool{}, map[string]bool{}
			for i, s := range steps {
				if i < len(steps)-1 && (s.At.Weekday() != time.Monday || s.At.Hour() != 6 || s.At.Minute() != 0) {
					t.Errorf("step %d ends %s, not a Monday at 06:00 UTC", i, s.At)
				}
				if i > 0 && i < len(steps)-1 && s.At.Sub(steps[i-1].At) != 7*24*time.Hour {
					t.Errorf("step %d ends %s, %s after the one before", i, s.At, s.At.Sub(steps[i-1].At))
				}
				for _, o := range s.Orders {
					if written[o.ID] {
						t.Errorf("order %s written twice", o.ID)
					}
					written[o.ID] = true
					if o.Time.After(s.At) || i > 0 && !o.Time.After(steps[i-1].At) {
						t.Errorf("order %s of %s written in the step to %s", o.ID, o.Time, s.At)
					}
				}
				for _, o := range s.Firsts {
					if consented[o.Customer] || !o.Time.Equal(first[o.Customer]) {
						t.Errorf("customer %s consents again or not at their first order: %s, first %s", o.Customer, o.Time, first[o.Customer])
					}
					consented[o.Customer] = true
				}
			}
			if len(written) != len(orders) || len(consented) != len(first) {
				t.Errorf("%d of %d orders written, %d of %d customers consented", len(written), len(orders), len(consented), len(first))
			}
		})
	}
}
