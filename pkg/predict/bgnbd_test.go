package predict

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mathext"
)

func TestLikelihoodGradientsAreTheFiniteDifferences(t *testing.T) {
	cs := values(cdnowCustomers(t))
	bg := newBGNBDData(cs)
	gg := newGGData(repeatWithSpend(cs))
	for _, c := range []struct {
		name string
		f    objective
		at   []float64
	}{
		{"BG/NBD", func(lp, grad []float64) float64 {
			return -bg.logLikelihood(math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2]), math.Exp(lp[3]), grad)
		}, []float64{0.5, 2, 0.3, 4}},
		{"Gamma-Gamma", func(lp, grad []float64) float64 {
			return -gg.logLikelihood(math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2]), grad)
		}, []float64{3, 2, 20}},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := make([]float64, len(c.at))
			for i, v := range c.at {
				x[i] = math.Log(v)
			}
			got := make([]float64, len(x))
			c.f(x, got)
			want := fd.Gradient(nil, func(x []float64) float64 { return c.f(x, nil) }, x, &fd.Settings{Formula: fd.Central, Step: 1e-5})
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-4*max(1, math.Abs(want[i])) {
					t.Errorf("d/dlog θ%d = %g, finite differences give %g", i, got[i], want[i])
				}
			}
		})
	}
}

func repeatWithSpend(cs []Customer) []Customer {
	var out []Customer
	for _, c := range cs {
		if c.X > 0 && c.Spend > 0 {
			out = append(out, c)
		}
	}
	return out
}

// TestPAliveIsTheAliveShareOfTheLikelihood checks P(alive) and one
// customer's log-likelihood against the paper's likelihood written out
// term by term (Fader, Hardie & Lee 2005, eq. 6): its first term is the
// probability of the data and of being alive at T, so P(alive) is that
// term's share of the whole.
func TestPAliveIsTheAliveShareOfTheLikelihood(t *testing.T) {
	m := publishedBGNBD
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	for _, c := range []Customer{
		{X: 1, Tx: 1.71, T: 38.86}, {X: 2, Tx: 30.43, T: 38.86}, {X: 7, Tx: 5, T: 30}, {X: 20, Tx: 37, T: 38}, {X: 3, Tx: 10, T: 10},
	} {
		x := float64(c.X)
		lgRX, _ := math.Lgamma(r + x)
		lgR, _ := math.Lgamma(r)
		common := mathext.Lbeta(a, b+x) - mathext.Lbeta(a, b) + lgRX - lgR + r*math.Log(alpha)
		alive := math.Exp(common) * math.Pow(alpha+c.T, -(r+x))
		dead := math.Exp(common) * a / (b + x - 1) * math.Pow(alpha+c.Tx, -(r+x))
		if got, want := m.PAlive(c), alive/(alive+dead); math.Abs(got-want) > 1e-12 {
			t.Errorf("%+v: P(alive) = %.15f, the likelihood's share %.15f", c, got, want)
		}
		if got, want := m.LogLikelihoodOf([]Customer{c}), math.Log(alive+dead); math.Abs(got-want) > 1e-9 {
			t.Errorf("%+v: log-likelihood %.12f, the paper's %.12f", c, got, want)
		}
	}
	if got := m.PAlive(Customer{T: 30}); got != 1 {
		t.Errorf("P(alive) without repeat purchases = %g, want 1", got)
	}
}

func TestAliveUntilIsWherePAliveMeetsTheThreshold(t *testing.T) {
	m := publishedBGNBD
	for _, c := range []struct {
		name      string
		c         Customer
		threshold float64
	}{
		{"a customer with one repeat purchase", Customer{X: 1, Tx: 1.71, T: 2}, 0.3},
		{"a frequent customer", Customer{X: 12, Tx: 36, T: 37}, 0.3},
		{"a high threshold", Customer{X: 2, Tx: 30.43, T: 38.86}, 0.75},
		{"a low threshold", Customer{X: 2, Tx: 30.43, T: 38.86}, 0.01},
	} {
		t.Run(c.name, func(t *testing.T) {
			at, ok := m.AliveUntil(c.c, c.threshold)
			if !ok || at <= c.c.Tx {
				t.Fatalf("AliveUntil = %g, %v; want a time after t_x = %g", at, ok, c.c.Tx)
			}
			// Found independently by bisection on P(alive), which falls
			// with T.
			lo, hi := c.c.Tx, c.c.Tx+1
			for m.PAlive(Customer{X: c.c.X, Tx: c.c.Tx, T: hi}) > c.threshold {
				hi *= 2
			}
			for range 200 {
				mid := (lo + hi) / 2
				if m.PAlive(Customer{X: c.c.X, Tx: c.c.Tx, T: mid}) > c.threshold {
					lo = mid
				} else {
					hi = mid
				}
			}
			if math.Abs(at-lo) > 1e-9*max(1, lo) {
				t.Errorf("AliveUntil = %.12g, bisection gives %.12g", at, lo)
			}
		})
	}
}

func TestAliveUntilIsTheLastPurchaseWhenPAliveStartsBelowTheThreshold(t *testing.T) {
	// With a/(b+x-1) = 4, P(alive) at T = t_x is 1/5.
	m := BGNBD{R: 1, Alpha: 1, A: 4, B: 1, Unit: Week}
	c := Customer{X: 1, Tx: 3, T: 5}
	if at, ok := m.AliveUntil(c, 0.3); !ok || at != 3 {
		t.Errorf("AliveUntil = %g, %v; want t_x = 3", at, ok)
	}
}

func TestAliveUntilNeverCrossesWithoutRepeatPurchasesOrWithAThresholdOutside0And1(t *testing.T) {
	m := publishedBGNBD
	for _, c := range []struct {
		c         Customer
		threshold float64
	}{{Customer{T: 10}, 0.3}, {Customer{X: 1, Tx: 1, T: 2}, 0}, {Customer{X: 1, Tx: 1, T: 2}, 1}, {Customer{X: 1, Tx: 1, T: 2}, math.NaN()}} {
		if at, ok := m.AliveUntil(c.c, c.threshold); ok {
			t.Errorf("%+v at %g: crosses at %g, want never", c.c, c.threshold, at)
		}
	}
}

func TestConditionalPurchasesOfANewCustomerAreTheUnconditionalOnes(t *testing.T) {
	// At T = 0 nothing has been observed beyond the first purchase, so
	// E[Y(t) | 0, 0, 0] = E[X(t)]: two formulas, one answer.
	m := publishedBGNBD
	for _, t0 := range []float64{0.5, 1, 10, 39, 52, 200} {
		got := m.ConditionalPurchases(Customer{}, t0)
		if want := m.ExpectedPurchases(t0); math.Abs(got-want) > 1e-9 {
			t.Errorf("E[Y(%g) | 0,0,0] = %.12f, E[X(%g)] = %.12f", t0, got, t0, want)
		}
	}
}

func TestFitBGNBDRejectsWhatItCannotFit(t *testing.T) {
	for _, c := range []struct {
		name string
		cs   []Customer
	}{
		{"no customers", nil},
		{"no repeat customers", []Customer{{T: 3}, {T: 4}}},
		{"t_x after T", []Customer{{T: 3}, {X: 1, Tx: 5, T: 4}}},
		{"a negative x", []Customer{{T: 3}, {X: -1, T: 4}}},
		{"a NaN age", []Customer{{T: math.NaN()}, {X: 1, Tx: 1, T: 4}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := FitBGNBD(c.cs, Fit{}); !errors.Is(err, ErrInput) {
				t.Errorf("error %v, want ErrInput", err)
			}
		})
	}
}

func TestConditionalPurchasesFarFromTheCDNOWCustomersAreMpmathValues(t *testing.T) {
	// Reference values from mpmath at 40 digits (hyp2f1 and the formula
	// of ConditionalPurchases' doc), at the published parameters: many
	// purchases, a long horizon, a young customer, a dead-looking one.
	for _, c := range []struct {
		c    Customer
		t    float64
		want float64
	}{
		{Customer{X: 50, Tx: 38, T: 39}, 52, 41.32248161},
		{Customer{X: 100, Tx: 38, T: 39}, 52, 79.70417119},
		{Customer{X: 5, Tx: 3, T: 4}, 520, 33.72138979},
		{Customer{X: 300, Tx: 200, T: 260}, 52, 5.761199647e-30},
		{Customer{X: 1, Tx: 0.1, T: 0.2}, 52, 4.450006843},
		{Customer{}, 5200, 12.14811903},
	} {
		if got := publishedBGNBD.ConditionalPurchases(c.c, c.t); math.Abs(got-c.want) > 1e-8*c.want {
			t.Errorf("E[Y(%g) | %+v] = %.10g, mpmath %.10g", c.t, c.c, got, c.want)
		}
	}
}

func TestFitBGNBDSaysWhenTheDataHaveNoMaximum(t *testing.T) {
	// Two customers who both bought again: the likelihood keeps growing as
	// the parameters run off.
	_, err := FitBGNBD([]Customer{{X: 1, Tx: 1, T: 3}, {X: 2, Tx: 2, T: 4}}, Fit{})
	if !errors.Is(err, ErrNoFit) {
		t.Errorf("error %v, want ErrNoFit", err)
	}
}
