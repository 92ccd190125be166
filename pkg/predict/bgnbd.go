package predict

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mathext"
)

// BGNBD is a fitted BG/NBD model (Fader, Hardie & Lee 2005): while alive,
// a customer buys at a Poisson rate λ ~ Gamma(R, Alpha), and after each
// purchase drops out with probability p ~ Beta(A, B).
type BGNBD struct {
	R, Alpha, A, B float64
	// Unit is the time unit of Alpha and of every time the model takes.
	Unit time.Duration
	// FittedAt, Customers and LogLikelihood record the fit.
	FittedAt      time.Time
	Customers     int
	LogLikelihood float64
}

// Version names the parameters: it changes when any of them, or the unit,
// does, and not with the fit's date.
func (m BGNBD) Version() string {
	return version("bgnbd", m.unit().String(), exact(m.R), exact(m.Alpha), exact(m.A), exact(m.B))
}

// FitBGNBD returns the BG/NBD parameters of maximum likelihood for the
// customers. It needs customers with repeat purchases.
func FitBGNBD(cs []Customer, f Fit) (BGNBD, error) {
	repeat := 0
	for i, c := range cs {
		if err := c.Check(); err != nil {
			return BGNBD{}, fmt.Errorf("fit BG/NBD: customer %d: %w", i, err)
		}
		if c.X > 0 {
			repeat++
		}
	}
	if repeat == 0 {
		return BGNBD{}, fmt.Errorf("fit BG/NBD: %w: %d customers, none with repeat purchases: the purchase rate and dropout cannot be told apart", ErrInput, len(cs))
	}
	d := newBGNBDData(cs)
	// The start is the published CDNOW optimum's order of magnitude; BFGS
	// over log-parameters finds other data's optimum from it.
	params, ll, err := maximize(func(lp, grad []float64) float64 {
		return -d.logLikelihood(math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2]), math.Exp(lp[3]), grad)
	}, []float64{1, 1, 1, 1}, len(cs))
	if err != nil {
		return BGNBD{}, fmt.Errorf("fit BG/NBD on %d customers: %w", len(cs), err)
	}
	return BGNBD{
		R: params[0], Alpha: params[1], A: params[2], B: params[3],
		Unit: f.unit(), FittedAt: f.At, Customers: len(cs), LogLikelihood: ll,
	}, nil
}

// LogLikelihoodOf returns the BG/NBD log-likelihood of the customers at the
// model's parameters.
func (m BGNBD) LogLikelihoodOf(cs []Customer) float64 {
	return newBGNBDData(cs).logLikelihood(m.R, m.Alpha, m.A, m.B, nil)
}

// bgnbdData holds the customers as the likelihood reads them: the terms
// that depend on x alone are computed once per distinct x.
type bgnbdData struct {
	cs    []Customer
	count []float64 // customers by x
}

func newBGNBDData(cs []Customer) bgnbdData {
	return bgnbdData{cs: cs, count: countByX(cs)}
}

// countByX returns the number of customers with each x, indexed by x.
func countByX(cs []Customer) []float64 {
	var count []float64
	for _, c := range cs {
		for len(count) <= c.X {
			count = append(count, 0)
		}
		count[c.X]++
	}
	return count
}

// logLikelihood returns the log-likelihood at (r, α, a, b) and, if grad is
// not nil, stores in it the negative gradient with respect to (log r,
// log α, log a, log b).
//
// One customer's likelihood is
//
//	L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / Γ(r) · [ (α+T)^-(r+x) + [x>0] a/(b+x-1) (α+t_x)^-(r+x) ]
//
// whose first two factors depend on x alone.
func (d bgnbdData) logLikelihood(r, alpha, a, b float64, grad []float64) float64 {
	var ll, gr, galpha, ga, gb float64
	logAlpha := math.Log(alpha)
	lbetaAB := mathext.Lbeta(a, b)
	psiR, psiAB, psiB := mathext.Digamma(r), mathext.Digamma(a+b), mathext.Digamma(b)
	lgR, _ := math.Lgamma(r)
	logA := math.Log(a)
	// logC[x] = log(a / (b+x-1)), the dropout term's weight.
	logC := make([]float64, len(d.count))
	for x, n := range d.count {
		if x > 0 {
			logC[x] = logA - math.Log(b+float64(x)-1)
		}
		if n == 0 {
			continue
		}
		fx := float64(x)
		lgRX, _ := math.Lgamma(r + fx)
		ll += n * (lgRX - lgR + r*logAlpha + mathext.Lbeta(a, b+fx) - lbetaAB)
		if grad != nil {
			psiABX := mathext.Digamma(a + b + fx)
			gr += n * (mathext.Digamma(r+fx) - psiR + logAlpha)
			galpha += n * r / alpha
			ga += n * (psiAB - psiABX)
			gb += n * (psiAB + mathext.Digamma(b+fx) - psiB - psiABX)
		}
	}
	for _, c := range d.cs {
		rx := r + float64(c.X)
		logAT := math.Log(alpha + c.T)
		l3 := -rx * logAT
		if c.X == 0 {
			ll += l3
			if grad != nil {
				gr -= logAT
				galpha -= rx / (alpha + c.T)
			}
			continue
		}
		logATx := math.Log(alpha + c.Tx)
		l4 := logC[c.X] - rx*logATx
		// log(e^l3 + e^l4), and the shares w3, w4 of the two terms.
		hi, lo := max(l3, l4), min(l3, l4)
		e := math.Exp(lo - hi)
		ll += hi + math.Log1p(e)
		if grad != nil {
			w3, w4 := 1/(1+e), e/(1+e)
			if l4 > l3 {
				w3, w4 = w4, w3
			}
			gr -= w3*logAT + w4*logATx
			galpha -= rx * (w3/(alpha+c.T) + w4/(alpha+c.Tx))
			ga += w4 / a
			gb -= w4 / (b + float64(c.X) - 1)
		}
	}
	if grad != nil {
		// d/dlog θ = θ d/dθ, negated for minimization.
		grad[0], grad[1], grad[2], grad[3] = -r*gr, -alpha*galpha, -a*ga, -b*gb
	}
	return ll
}

// PAlive returns the probability that the customer is alive at age T:
//
//	P(alive | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x))
//
// A customer without repeat purchases is alive with probability 1: in
// BG/NBD a customer can drop out only just after a purchase.
func (m BGNBD) PAlive(c Customer) float64 {
	if c.X == 0 {
		return 1
	}
	return 1 / (1 + math.Exp(m.logOdds(c.X, c.Tx, c.T)))
}

// logOdds returns log of a/(b+x-1) ((α+T)/(α+t_x))^(r+x), the odds that a
// customer with x > 0 is dead.
func (m BGNBD) logOdds(x int, tx, t float64) float64 {
	rx := m.R + float64(x)
	return math.Log(m.A) - math.Log(m.B+float64(x)-1) + rx*(math.Log(m.Alpha+t)-math.Log(m.Alpha+tx))
}

// AliveUntil returns the age (in the model's unit) at which the customer's
// P(alive) falls to threshold if they buy nothing more, and false if it
// never does (no repeat purchase, or a threshold outside (0, 1)).
//
// For x > 0, P(alive) decreases strictly as T grows: (α+T)^(r+x) grows and
// nothing else changes. Solving P(alive) = θ for T gives the closed form
//
//	T = (α+t_x) · ((1-θ)/θ · (b+x-1)/a)^(1/(r+x)) − α
//
// When that is before t_x, P(alive) is below the threshold from the last
// purchase on, and AliveUntil returns t_x.
func (m BGNBD) AliveUntil(c Customer, threshold float64) (float64, bool) {
	if c.X == 0 || !(threshold > 0 && threshold < 1) {
		return 0, false
	}
	rx := m.R + float64(c.X)
	logK := math.Log((1-threshold)/threshold) + math.Log(m.B+float64(c.X)-1) - math.Log(m.A)
	t := (m.Alpha+c.Tx)*math.Exp(logK/rx) - m.Alpha
	return max(t, c.Tx), true
}

// ExpectedPurchases returns E[X(t)], the expected number of purchases in
// (0, t] of a customer whose first purchase was at 0 (the first not
// counted):
//
//	E[X(t)] = (a+b-1)/(a-1) · [1 − (α/(α+t))^r · 2F1(r, b; a+b-1; t/(α+t))]
func (m BGNBD) ExpectedPurchases(t float64) float64 {
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	h := mathext.Hypergeo(r, b, a+b-1, t/(alpha+t))
	return (a + b - 1) / (a - 1) * (1 - math.Pow(alpha/(alpha+t), r)*h)
}

// ConditionalPurchases returns E[Y(t) | x, t_x, T], the expected number of
// purchases in the t after the customer's age T:
//
//	E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))]
//	                      / (1 + [x>0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x))
func (m BGNBD) ConditionalPurchases(c Customer, t float64) float64 {
	if t <= 0 {
		return 0
	}
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	x := float64(c.X)
	h := mathext.Hypergeo(r+x, b+x, a+b+x-1, t/(alpha+c.T+t))
	num := (a + b + x - 1) / (a - 1) * (1 - math.Pow((alpha+c.T)/(alpha+c.T+t), r+x)*h)
	return num * m.PAlive(c)
}

// AtRiskAt returns the instant at which the P(alive) of a customer whose
// first purchase day is first falls to threshold if they buy nothing more
// ([BGNBD.AliveUntil] from first), rounded up to the millisecond so that
// at that millisecond the customer is at risk; false if it never does.
func (m BGNBD) AtRiskAt(first time.Time, c Customer, threshold float64) (time.Time, bool) {
	age, ok := m.AliveUntil(c, threshold)
	if !ok {
		return time.Time{}, false
	}
	ms := math.Ceil(age * float64(m.unit()) / float64(time.Millisecond))
	if ms > float64(maxTime)*float64(m.unit()/time.Millisecond) {
		return time.Time{}, false
	}
	return first.Add(time.Duration(ms) * time.Millisecond), true
}

// NextPurchase returns the time after the customer's age T (in the
// model's unit) by which they are expected to have made one more purchase,
// E[Y(t) | x, t_x, T] = 1, and false if that is not reached within
// horizon. E[Y(t)] grows with t, so bisection finds it, to a
// millionth of the horizon.
func (m BGNBD) NextPurchase(c Customer, horizon float64) (float64, bool) {
	if !(horizon > 0) || m.ConditionalPurchases(c, horizon) < 1 {
		return 0, false
	}
	lo, hi := 0.0, horizon
	for hi-lo > horizon*1e-6 {
		mid := (lo + hi) / 2
		if m.ConditionalPurchases(c, mid) < 1 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, true
}
