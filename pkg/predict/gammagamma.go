package predict

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma is a fitted Gamma-Gamma model of spend (Fader & Hardie 2013):
// a customer's purchases are worth z ~ Gamma(P, ν) each, with the
// customer's ν ~ Gamma(Q, Gamma). It is fitted on customers with repeat
// purchases, from their number X and mean spend.
type GammaGamma struct {
	P, Q, Gamma float64
	// FittedAt, Customers and LogLikelihood record the fit: Customers is
	// the number of customers it used.
	FittedAt      time.Time
	Customers     int
	LogLikelihood float64
}

// Version names the parameters: it changes when any of them does, and not
// with the fit's date.
func (m GammaGamma) Version() string {
	return version("gg", exact(m.P), exact(m.Q), exact(m.Gamma))
}

// FitGammaGamma returns the Gamma-Gamma parameters of maximum likelihood
// for the customers with repeat purchases (X > 0) and a positive mean
// spend: the others say nothing about spend per repeat purchase. (A
// customer whose repeat purchases are all free has a zero mean, which the
// model, whose spends are positive, cannot have; such customers are left
// out and not counted in Customers.) It needs at least 3 such customers.
func FitGammaGamma(cs []Customer, f Fit) (GammaGamma, error) {
	var used []Customer
	for i, c := range cs {
		if err := c.Check(); err != nil {
			return GammaGamma{}, fmt.Errorf("fit Gamma-Gamma: customer %d: %w", i, err)
		}
		if c.X > 0 && c.Spend > 0 {
			used = append(used, c)
		}
	}
	if len(used) < 3 {
		return GammaGamma{}, fmt.Errorf("fit Gamma-Gamma: %w: %d customers with repeat purchases and spend, need 3", ErrInput, len(used))
	}
	d := newGGData(used)
	params, ll, err := maximize(func(lp, grad []float64) float64 {
		return -d.logLikelihood(math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2]), grad)
	}, []float64{1, 1, 1}, len(used))
	if err != nil {
		return GammaGamma{}, fmt.Errorf("fit Gamma-Gamma on %d customers: %w", len(used), err)
	}
	return GammaGamma{
		P: params[0], Q: params[1], Gamma: params[2],
		FittedAt: f.At, Customers: len(used), LogLikelihood: ll,
	}, nil
}

// ConditionalSpend returns the expected spend per purchase of a customer
// with X repeat purchases of mean Spend:
//
//	E[Z | x, z̄] = p (γ + x z̄) / (p x + q − 1)
//
// a weighted mean of the population mean p γ/(q−1) and the customer's z̄.
// It is the population mean for a customer without repeat purchases.
// It needs q > 1 (otherwise the population mean is infinite) and returns
// +Inf otherwise.
func (m GammaGamma) ConditionalSpend(c Customer) float64 {
	if m.Q <= 1 {
		return math.Inf(1)
	}
	x := float64(c.X)
	return m.P * (m.Gamma + x*c.Spend) / (m.P*x + m.Q - 1)
}

// ggData holds the customers as the likelihood reads them. One customer's
// log-likelihood is
//
//	ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln z̄ + px ln x − (px+q) ln(γ + x z̄)
//
// whose terms in ln z̄ and ln x are linear in p and summed once here.
type ggData struct {
	cs    []Customer
	count []float64 // customers by x
	// sumXLog is Σ x (ln z̄ + ln x), sumLogZ is Σ ln z̄.
	sumXLog, sumLogZ float64
}

func newGGData(cs []Customer) ggData {
	d := ggData{cs: cs, count: countByX(cs)}
	for _, c := range cs {
		x := float64(c.X)
		d.sumXLog += x * (math.Log(c.Spend) + math.Log(x))
		d.sumLogZ += math.Log(c.Spend)
	}
	return d
}

// logLikelihood returns the log-likelihood at (p, q, γ) and, if grad is not
// nil, stores in it the negative gradient with respect to (log p, log q,
// log γ).
func (d ggData) logLikelihood(p, q, gamma float64, grad []float64) float64 {
	n := float64(len(d.cs))
	lgQ, _ := math.Lgamma(q)
	logGamma := math.Log(gamma)
	ll := n*(q*logGamma-lgQ) + p*d.sumXLog - d.sumLogZ
	gp := d.sumXLog
	gq := n * (logGamma - mathext.Digamma(q))
	gg := n * q / gamma
	for x, k := range d.count {
		if k == 0 {
			continue
		}
		px := p * float64(x)
		a, _ := math.Lgamma(px + q)
		b, _ := math.Lgamma(px)
		ll += k * (a - b)
		if grad != nil {
			psi := mathext.Digamma(px + q)
			gp += k * float64(x) * (psi - mathext.Digamma(px))
			gq += k * psi
		}
	}
	for _, c := range d.cs {
		x := float64(c.X)
		s := gamma + x*c.Spend
		ls := math.Log(s)
		ll -= (p*x + q) * ls
		if grad != nil {
			gp -= x * ls
			gq -= ls
			gg -= (p*x + q) / s
		}
	}
	if grad != nil {
		grad[0], grad[1], grad[2] = -p*gp, -q*gq, -gamma*gg
	}
	return ll
}

// LogLikelihoodOf returns the Gamma-Gamma log-likelihood of the customers
// with repeat purchases and a positive mean spend at the model's
// parameters; the others are left out as in [FitGammaGamma].
func (m GammaGamma) LogLikelihoodOf(cs []Customer) float64 {
	var used []Customer
	for _, c := range cs {
		if c.X > 0 && c.Spend > 0 {
			used = append(used, c)
		}
	}
	return newGGData(used).logLikelihood(m.P, m.Q, m.Gamma, nil)
}
