package demo

import (
	"slices"
	"time"
)

// week is the step of the clock while the sample is loaded.
const week = 7 * 24 * time.Hour

// weekEnd is the hour of the week's end, Monday in UTC: 14:00 in Taipei,
// outside the example campaigns' quiet hours.
const weekEnd = 6 * time.Hour

// step is one move of the clock: to At, with the orders up to it not in an
// earlier step, after the consents of the customers whose first order is
// among them.
type step struct {
	At     time.Time
	Orders []Order
	// Firsts are the first orders of the customers who first buy in the
	// step, in time order: their consents go a minute before.
	Firsts []Order
}

// weeks plans the load of orders: a step to the end of each week, from the
// first week's end at or after the first order to the first at or after the
// last, the last step capped at
// until, then one to until if the weeks ended before it. until must not be
// before the last order.
func weeks(orders []Order, until time.Time) []step {
	if len(orders) == 0 {
		return []step{{At: until}}
	}
	sorted := slices.Clone(orders)
	slices.SortStableFunc(sorted, func(a, b Order) int { return a.Time.Compare(b.Time) })
	seen := map[string]bool{}
	var steps []step
	// The first week's end at or after the first order (the zero time is a
	// Monday).
	at := sorted[0].Time.Add(-weekEnd).Truncate(week).Add(weekEnd)
	if at.Before(sorted[0].Time) {
		at = at.Add(week)
	}
	for i := 0; i < len(sorted); at = at.Add(week) {
		s := step{At: at}
		if !at.Before(until) {
			s.At = until
		}
		for ; i < len(sorted) && !sorted[i].Time.After(s.At); i++ {
			o := sorted[i]
			if !seen[o.Customer] {
				seen[o.Customer] = true
				s.Firsts = append(s.Firsts, o)
			}
			s.Orders = append(s.Orders, o)
		}
		steps = append(steps, s)
		if s.At.Equal(until) {
			return steps
		}
	}
	return append(steps, step{At: until})
}
