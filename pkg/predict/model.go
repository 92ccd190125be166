package predict

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"time"
)

// Model is a fitted pair: BG/NBD for purchases and Gamma-Gamma for spend.
// Build it with [NewModel], which names it once; a Model written as a
// literal names itself at every [Model.Version].
type Model struct {
	Purchases BGNBD
	Spend     GammaGamma
	version   string
}

// NewModel returns the pair with its version computed.
func NewModel(purchases BGNBD, spend GammaGamma) Model {
	m := Model{Purchases: purchases, Spend: spend}
	m.version = m.Version()
	return m
}

// Version names the pair of parameter sets; every [Prediction] carries it.
func (m Model) Version() string {
	if m.version != "" {
		return m.version
	}
	return version("clv", m.Purchases.Version(), m.Spend.Version())
}

// CLV says how customer lifetime value is summed: over Horizon, in
// Periods equal steps, each step's expected spend discounted by
// AnnualDiscount a year at the step's end.
type CLV struct {
	// Horizon is the span summed over. Zero means 365 days.
	Horizon time.Duration
	// Periods is the number of steps. Zero means 12.
	Periods int
	// AnnualDiscount is the discount rate a year: 0.1 discounts spend a
	// year away by 1/1.1. Zero means no discount; see [DefaultCLV].
	AnnualDiscount float64
}

// DefaultCLV is a year in monthly steps, discounted at 10% a year.
var DefaultCLV = CLV{Horizon: 365 * 24 * time.Hour, Periods: 12, AnnualDiscount: 0.10}

// year is the length of the discount rate's year.
const year = 365 * 24 * time.Hour

// CLV returns the customer's expected spend over the horizon, discounted:
//
//	CLV = E[Z | x, z̄] · Σ_{k=1..n} (E[Y(t_k) | x, t_x, T] − E[Y(t_{k−1}) | x, t_x, T]) / (1+d)^(t_k / year)
//
// with t_k = k·H/n, H the horizon and d the annual discount rate.
func (m Model) CLV(c Customer, h CLV) float64 {
	clv, _ := m.clv(c, h)
	return clv
}

// clv returns the CLV and E[Y(H) | x, t_x, T], its last step's
// cumulative purchases.
func (m Model) clv(c Customer, h CLV) (clv, purchases float64) {
	horizon, n := h.Horizon, h.Periods
	if horizon <= 0 {
		horizon = DefaultCLV.Horizon
	}
	if n <= 0 {
		n = DefaultCLV.Periods
	}
	unit := m.Purchases.unit()
	var sum, prev float64
	for k := 1; k <= n; k++ {
		at := time.Duration(float64(horizon) * float64(k) / float64(n))
		y := m.Purchases.ConditionalPurchases(c, float64(at)/float64(unit))
		sum += (y - prev) / math.Pow(1+h.AnnualDiscount, float64(at)/float64(year))
		prev = y
	}
	return m.Spend.ConditionalSpend(c) * sum, prev
}

// Prediction is what a fitted model says of one customer.
type Prediction struct {
	// PAlive is the probability that the customer is alive now.
	PAlive float64
	// Purchases is the expected number of purchases over the CLV horizon.
	Purchases float64
	// Spend is the expected spend per purchase.
	Spend float64
	// CLV is the discounted expected spend over the horizon.
	CLV float64
	// Model is the [Model.Version] that made the prediction.
	Model string
}

// Predict returns the model's predictions for the customer, over the
// horizon and discount of h.
func (m Model) Predict(c Customer, h CLV) Prediction {
	clv, purchases := m.clv(c, h)
	return Prediction{
		PAlive:    m.Purchases.PAlive(c),
		Purchases: purchases,
		Spend:     m.Spend.ConditionalSpend(c),
		CLV:       clv,
		Model:     m.Version(),
	}
}

func (m BGNBD) unit() time.Duration {
	if m.Unit <= 0 {
		return Week
	}
	return m.Unit
}

// version returns kind-<12 hex digits>, a hash of the fields.
func version(kind string, fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return kind + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// exact formats v so that it parses back to v.
func exact(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}
