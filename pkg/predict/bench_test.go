package predict

import (
	"math"
	"testing"
	"time"
)

// lgammaPass returns the time of one math.Lgamma call per customer: the
// baseline the fits are measured against, a pass over the same data at
// the cost of the special function every likelihood of this kind needs.
func lgammaPass(cs []Customer) (time.Duration, float64) {
	t0 := time.Now()
	var s float64
	for _, c := range cs {
		v, _ := math.Lgamma(c.T + float64(c.X))
		s += v
	}
	return time.Since(t0), s
}

var sink float64

func benchmarkFit(b *testing.B, fit func([]Customer) error) {
	const n = 1_000_000
	cs := simulate(n, publishedBGNBD, publishedGammaGamma, 1)
	var fitting, baseline time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := fit(cs); err != nil {
			b.Fatal(err)
		}
		fitting += time.Since(t0)
		d, s := lgammaPass(cs)
		baseline += d
		sink += s
	}
	b.ReportMetric(fitting.Seconds()/float64(b.N), "s/fit")
	b.ReportMetric(float64(n)*float64(b.N)/fitting.Seconds(), "customers/s")
	b.ReportMetric(fitting.Seconds()/baseline.Seconds(), "lgamma-passes/fit")
}

// BenchmarkFitBGNBD fits BG/NBD to 1M customers simulated with the CDNOW
// parameters; lgamma-passes/fit is the fit's time over that of one
// math.Lgamma per customer, measured in the same run.
func BenchmarkFitBGNBD(b *testing.B) {
	benchmarkFit(b, func(cs []Customer) error {
		_, err := FitBGNBD(cs, Fit{})
		return err
	})
}

// BenchmarkFitGammaGamma fits Gamma-Gamma to the repeat customers among
// 1M simulated (about 40%).
func BenchmarkFitGammaGamma(b *testing.B) {
	benchmarkFit(b, func(cs []Customer) error {
		_, err := FitGammaGamma(cs, Fit{})
		return err
	})
}

// BenchmarkPredict measures one customer's predictions beside the cost
// of one math.Lgamma call in the same run (lgammas/op).
func BenchmarkPredict(b *testing.B) {
	m := publishedModel
	cs := simulate(1024, publishedBGNBD, publishedGammaGamma, 2)
	for _, c := range []struct {
		name string
		f    func(Customer) float64
	}{
		{"PAlive", m.Purchases.PAlive},
		{"AliveUntil", func(c Customer) float64 { t, _ := m.Purchases.AliveUntil(c, 0.3); return t }},
		{"ConditionalPurchases365d", func(c Customer) float64 { return m.Purchases.ConditionalPurchases(c, 365.0/7) }},
		{"ConditionalSpend", m.Spend.ConditionalSpend},
		{"CLV365dMonthly", func(c Customer) float64 { return m.CLV(c, DefaultCLV) }},
		{"Predict", func(c Customer) float64 { return m.Predict(c, DefaultCLV).CLV }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var pred, base time.Duration
			for b.Loop() {
				t0 := time.Now()
				for _, cu := range cs {
					sink += c.f(cu)
				}
				pred += time.Since(t0)
				d, s := lgammaPass(cs)
				base += d
				sink += s
			}
			calls := float64(len(cs)) * float64(b.N)
			b.ReportMetric(float64(pred.Nanoseconds())/calls, "ns/customer")
			b.ReportMetric(float64(base.Nanoseconds())/calls, "baseline-lgamma-ns")
			b.ReportMetric(pred.Seconds()/base.Seconds(), "lgammas/customer")
		})
	}
}
