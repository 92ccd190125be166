package predict

import (
	"math"
	"time"

	"github.com/segflow/segflow/pkg/money"
)

// Days accumulates one customer's orders, given in time order, into the
// model inputs: purchase days (distinct UTC days) and their totals. It
// allocates nothing, so a store can compute a customer's inputs from their
// order history at every evaluation instead of keeping them.
type Days struct {
	n           int       // purchase days
	first, last time.Time // first and last purchase day
	firstTotal  float64   // the first day's total, major units
	total       float64   // every day's total, major units
}

// Add records an order at t of amount. Orders must come in time order
// (several on one day make one purchase day).
func (d *Days) Add(t time.Time, amount money.Micros) {
	dt := day(t)
	a := float64(amount) / 1e6
	switch {
	case d.n == 0:
		d.n, d.first, d.last, d.firstTotal = 1, dt, dt, a
	case dt.After(d.last):
		d.n++
		d.last = dt
	case dt.Equal(d.first):
		d.firstTotal += a
	}
	d.total += a
}

// First is the first purchase day, zero if none: the origin of the
// customer's times.
func (d *Days) First() time.Time { return d.first }

// Customer returns the inputs observed until end, with times in units of
// unit (zero means [Week]), and false if there is no purchase day. T runs
// from the first purchase day to end itself: at end a day's midnight, it is
// the literature's T; at any other instant, the age at that instant, so
// that P(alive) moves continuously with time.
func (d *Days) Customer(end time.Time, unit time.Duration) (Customer, bool) {
	if d.n == 0 {
		return Customer{}, false
	}
	if unit <= 0 {
		unit = Week
	}
	c := Customer{
		X:  d.n - 1,
		Tx: float64(d.last.Sub(d.first)) / float64(unit),
		T:  max(float64(end.Sub(d.first))/float64(unit), float64(d.last.Sub(d.first))/float64(unit)),
	}
	if c.X > 0 {
		c.Spend = (d.total - d.firstTotal) / float64(c.X)
	}
	return c, true
}

// Repeat returns the number of purchase days and the total of the days
// after the first, rounded to the micro: with the first and last purchase
// day, all [Days] needs to give a customer's inputs again ([DaysOf]).
func (d *Days) Repeat() (days int, spend money.Micros) {
	return d.n, money.Micros(math.Round((d.total - d.firstTotal) * 1e6))
}

// DaysOf returns the Days of a customer with n purchase days (none if n
// is not positive), the first on first's UTC day and the last on last's,
// whose days after the first total repeat: what [Days.Repeat] and the
// first and last purchase give back.
func DaysOf(n int, first, last time.Time, repeat money.Micros) Days {
	if n <= 0 {
		return Days{}
	}
	f, l := day(first), day(last)
	if n == 1 {
		l = f
	}
	return Days{n: n, first: f, last: l, total: float64(repeat) / 1e6}
}
