package predict

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segflow/segflow/pkg/money"
)

// Week is the default time unit of the models: the unit of t_x, T and
// every horizon given to them as a number.
const Week = 7 * 24 * time.Hour

// ErrInput is wrapped by the errors for input the models cannot use: a
// negative amount, an order without a customer, a customer whose inputs are
// out of range, too few customers to fit.
var ErrInput = errors.New("predict: bad input")

// ErrNoFit is wrapped by the errors of a fit that found no maximum of the
// likelihood: data that do not identify the model (too few customers, or
// a likelihood that grows without bound as a parameter goes to 0 or ∞).
var ErrNoFit = errors.New("predict: no maximum likelihood")

// Customer is one customer's model inputs, as the literature defines them,
// in units of the model's time unit.
type Customer struct {
	// X is the number of repeat purchase days: distinct days with an order,
	// less the first.
	X int
	// Tx is the time from the first purchase day to the last.
	Tx float64
	// T is the customer's age: the time from the first purchase day to the
	// end of the observation.
	T float64
	// Spend is the mean, over the repeat purchase days, of each day's
	// total amount, in major units; zero when X is zero.
	Spend float64
}

// Check returns an ErrInput error unless 0 ≤ Tx ≤ T, X ≥ 0, Tx is zero
// when X is zero, and Spend is finite and not negative.
func (c Customer) Check() error {
	switch {
	case c.X < 0:
		return fmt.Errorf("%w: %d repeat purchase days", ErrInput, c.X)
	case !(c.Tx >= 0 && c.Tx <= c.T) || c.T > maxTime:
		return fmt.Errorf("%w: t_x %g and T %g are not 0 ≤ t_x ≤ T ≤ %g", ErrInput, c.Tx, c.T, float64(maxTime))
	case c.X == 0 && c.Tx != 0:
		return fmt.Errorf("%w: t_x %g without a repeat purchase", ErrInput, c.Tx)
	case !(c.Spend >= 0 && c.Spend <= maxSpend):
		return fmt.Errorf("%w: mean spend %g", ErrInput, c.Spend)
	}
	return nil
}

// maxTime and maxSpend bound what [Customer.Check] accepts: far beyond
// any real customer (a million weeks; the largest sum segflow keeps), so
// that no input overflows the models' arithmetic.
const (
	maxTime  = 1e6
	maxSpend = float64(money.MaxSum) / 1e6
)

// Order is one order as the models see it: its customer, its time (only
// its UTC calendar day counts) and its amount.
type Order struct {
	Customer string
	At       time.Time
	Amount   money.Micros
}

// Summarize returns the model inputs of every customer with an order on
// or before end's UTC day, observed until that day, with times in units of
// unit (zero means [Week]). Orders on later days are left out: they are a
// holdout period's. Several orders on one day make one purchase day, whose
// amount is their sum.
func Summarize(orders []Order, end time.Time, unit time.Duration) (map[string]Customer, error) {
	if unit <= 0 {
		unit = Week
	}
	endDay := day(end)
	// Each customer's orders up to end's day, in time order, which Days
	// needs: orders need not come in order.
	byCustomer := make(map[string][]Order)
	for i, o := range orders {
		if o.Customer == "" {
			return nil, fmt.Errorf("%w: order %d has no customer", ErrInput, i)
		}
		if err := money.CheckAmount(o.Amount); err != nil {
			return nil, fmt.Errorf("%w: order %d: %w", ErrInput, i, err)
		}
		if day(o.At).After(endDay) {
			continue
		}
		byCustomer[o.Customer] = append(byCustomer[o.Customer], o)
	}
	out := make(map[string]Customer, len(byCustomer))
	for id, os := range byCustomer {
		slices.SortStableFunc(os, func(a, b Order) int { return a.At.Compare(b.At) })
		var d Days
		for _, o := range os {
			d.Add(o.At, o.Amount)
		}
		out[id], _ = d.Customer(endDay, unit)
	}
	return out, nil
}

// day returns t's UTC calendar day, at midnight.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
