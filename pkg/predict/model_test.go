package predict

import (
	"errors"
	"math"
	"testing"
	"time"
)

var publishedModel = NewModel(publishedBGNBD, publishedGammaGamma)

func TestCLVIsSpendTimesDiscountedPurchases(t *testing.T) {
	m := publishedModel
	c := Customer{X: 2, Tx: 30.43, T: 38.86, Spend: 22.35}
	spend := m.Spend.ConditionalSpend(c)
	day := 24 * time.Hour
	y := func(d time.Duration) float64 { return m.Purchases.ConditionalPurchases(c, float64(d)/float64(Week)) }
	for _, tc := range []struct {
		name string
		h    CLV
		want float64
	}{
		{"without a discount, the periods do not matter", CLV{Horizon: 365 * day, Periods: 12}, spend * y(365*day)},
		{"without a discount, one period", CLV{Horizon: 365 * day, Periods: 1}, spend * y(365*day)},
		{"one period is discounted at its end", CLV{Horizon: 730 * day, Periods: 1, AnnualDiscount: 0.1}, spend * y(730*day) / 1.21},
		{"two periods are discounted each at its end", CLV{Horizon: 730 * day, Periods: 2, AnnualDiscount: 0.1},
			spend * (y(365*day)/1.1 + (y(730*day)-y(365*day))/1.21)},
		{"the zero value is a year in 12 undiscounted steps", CLV{}, spend * y(365*day)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.CLV(c, tc.h); math.Abs(got-tc.want) > 1e-9*tc.want {
				t.Errorf("CLV = %.12f, want %.12f", got, tc.want)
			}
		})
	}
}

func TestCLVFallsWithTheDiscountAndWithTimeSinceTheLastPurchase(t *testing.T) {
	m := publishedModel
	c := Customer{X: 4, Tx: 20, T: 25, Spend: 30}
	undiscounted := m.CLV(c, CLV{})
	discounted := m.CLV(c, DefaultCLV)
	if !(discounted < undiscounted) {
		t.Errorf("discounted CLV %g is not below undiscounted %g", discounted, undiscounted)
	}
	later := c
	later.T = 60
	if got := m.CLV(later, DefaultCLV); !(got < discounted) {
		t.Errorf("CLV %g 35 weeks after the last purchase is not below %g after 5", got, discounted)
	}
}

func TestConditionalSpendWithoutRepeatPurchasesIsThePopulationMean(t *testing.T) {
	g := publishedGammaGamma
	want := g.P * g.Gamma / (g.Q - 1)
	if got := g.ConditionalSpend(Customer{T: 10}); math.Abs(got-want) > 1e-12 {
		t.Errorf("E[Z | x=0] = %g, want p γ/(q−1) = %g", got, want)
	}
	if got := (GammaGamma{P: 1, Q: 1, Gamma: 1}).ConditionalSpend(Customer{}); !math.IsInf(got, 1) {
		t.Errorf("E[Z] with q = 1 is %g, want +Inf", got)
	}
}

func TestVersionNamesTheParametersAndNotTheFitDate(t *testing.T) {
	a := publishedBGNBD
	a.FittedAt = time.Unix(1, 0)
	b := publishedBGNBD
	b.FittedAt, b.Customers, b.LogLikelihood = time.Unix(2, 0), 9, -1
	if a.Version() != b.Version() {
		t.Errorf("the same parameters fitted at two dates have versions %s and %s", a.Version(), b.Version())
	}
	changed := []BGNBD{a, a, a, a, a}
	changed[0].R = math.Nextafter(a.R, 1)
	changed[1].Alpha++
	changed[2].A++
	changed[3].B++
	changed[4].Unit = 24 * time.Hour
	for i, c := range changed {
		if c.Version() == a.Version() {
			t.Errorf("change %d keeps version %s", i, a.Version())
		}
	}
	g := publishedGammaGamma
	g2 := g
	g2.Gamma++
	if g.Version() == g2.Version() {
		t.Errorf("Gamma-Gamma version %s does not change with γ", g.Version())
	}
	m2 := NewModel(a, g2)
	if publishedModel.Version() == m2.Version() {
		t.Errorf("model version %s does not change with the spend model", m2.Version())
	}
	if literal := (Model{Purchases: a, Spend: g2}); literal.Version() != m2.Version() {
		t.Errorf("a literal model is named %s, NewModel's %s", literal.Version(), m2.Version())
	}
}

func TestPredictNamesTheModelVersion(t *testing.T) {
	c := Customer{X: 2, Tx: 30.43, T: 38.86, Spend: 22.35}
	p := publishedModel.Predict(c, DefaultCLV)
	if p.Model != publishedModel.Version() {
		t.Errorf("prediction names %q, want %q", p.Model, publishedModel.Version())
	}
	if p.PAlive != publishedBGNBD.PAlive(c) || p.CLV != publishedModel.CLV(c, DefaultCLV) || p.Spend != publishedGammaGamma.ConditionalSpend(c) ||
		p.Purchases != publishedBGNBD.ConditionalPurchases(c, 365.0/7) {
		t.Errorf("prediction %+v does not match the models'", p)
	}
}

func TestFitGammaGammaRejectsTooFewRepeatCustomersWithSpend(t *testing.T) {
	cs := []Customer{{T: 3}, {X: 1, Tx: 1, T: 3, Spend: 10}, {X: 2, Tx: 2, T: 3, Spend: 0}, {X: 3, Tx: 2, T: 3, Spend: 12}}
	if _, err := FitGammaGamma(cs, Fit{}); !errors.Is(err, ErrInput) {
		t.Errorf("error %v, want ErrInput", err)
	}
	if _, err := FitGammaGamma([]Customer{{X: 1, Tx: 1, T: 3, Spend: -1}}, Fit{}); !errors.Is(err, ErrInput) {
		t.Errorf("error %v for a negative spend, want ErrInput", err)
	}
}
