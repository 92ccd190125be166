package predict

import (
	"bufio"
	"encoding/csv"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/money"
)

// The CDNOW 1/10 sample (Fader, Hardie & Lee 2005) is committed with the
// end-to-end tests; its calibration period ends on 1997-09-30 (week 39)
// and its holdout on 1998-06-30 (week 78).
const (
	cdnowSample  = "../demo/cdnow/CDNOW_sample.txt"
	cdnowSummary = "../../test/e2e/testdata/cdnow/cdnow_customers_summary_with_transactions.csv"
)

var (
	calibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)
	holdoutEnd     = time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
)

// Published values for the CDNOW sample, weekly, calibration weeks 1–39.
var (
	publishedBGNBD      = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, Unit: Week}
	publishedGammaGamma = GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
)

// loadCDNOWOrders reads CDNOW_sample.txt (master id, sample id, date,
// number of CDs, dollar value) as orders of customers named by their
// sample id without its zeros ("1" for 0001), as the summary names them.
func loadCDNOWOrders(t testing.TB) []Order {
	t.Helper()
	f, err := os.Open(cdnowSample)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var orders []Order
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			t.Fatalf("line %q: want 5 fields", sc.Text())
		}
		id, err := strconv.Atoi(fs[1])
		if err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse("20060102", fs[2])
		if err != nil {
			t.Fatal(err)
		}
		amount, err := money.ParseDecimal(fs[4])
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, Order{Customer: strconv.Itoa(id), At: at, Amount: amount})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return orders
}

// cdnowCustomers returns the calibration inputs Summarize computes from
// the sample's orders, by sample id.
func cdnowCustomers(t testing.TB) map[string]Customer {
	t.Helper()
	cs, err := Summarize(loadCDNOWOrders(t), calibrationEnd, Week)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func values(cs map[string]Customer) []Customer {
	out := make([]Customer, 0, len(cs))
	for _, c := range cs {
		out = append(out, c)
	}
	return out
}

// loadCDNOWSummary reads the published calibration summary (ID, x, t_x, T,
// zbar), made independently of this package, by ID.
func loadCDNOWSummary(t testing.TB) map[string]Customer {
	t.Helper()
	f, err := os.Open(cdnowSummary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]Customer, len(rows)-1)
	for _, row := range rows[1:] {
		var v [4]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(row[i+1], 64); err != nil {
				t.Fatal(err)
			}
		}
		out[row[0]] = Customer{X: int(v[0]), Tx: v[1], T: v[2], Spend: v[3]}
	}
	return out
}

func TestSummarizeGivesTheCDNOWSummaryOfEveryCustomer(t *testing.T) {
	got := cdnowCustomers(t)
	want := loadCDNOWSummary(t)
	if len(got) != len(want) || len(got) != 2357 {
		t.Fatalf("%d customers, the summary has %d (want 2357)", len(got), len(want))
	}
	repeat := 0
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Fatalf("customer %s missing", id)
		}
		// The summary rounds t_x, T and zbar to 2 decimals (zbar half-up).
		if g.X != w.X || math.Abs(g.Tx-w.Tx) > 0.005+1e-9 || math.Abs(g.T-w.T) > 0.005+1e-9 || math.Abs(g.Spend-w.Spend) > 0.005+1e-9 {
			t.Errorf("customer %s: got %+v, the summary has %+v", id, g, w)
		}
		if g.X > 0 {
			repeat++
		}
	}
	if repeat != 946 {
		t.Errorf("%d repeat customers, want 946", repeat)
	}
}

func within(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)
}

func TestFitBGNBDFindsThePublishedCDNOWParameters(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := FitBGNBD(values(cdnowCustomers(t)), Fit{At: at})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("r %.6f α %.6f a %.6f b %.6f LL %.4f", m.R, m.Alpha, m.A, m.B, m.LogLikelihood)
	p := publishedBGNBD
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"r", m.R, p.R}, {"α", m.Alpha, p.Alpha}, {"a", m.A, p.A}, {"b", m.B, p.B}} {
		if !within(c.got, c.want, 0.01) {
			t.Errorf("%s = %g, want %g within 1%%", c.name, c.got, c.want)
		}
	}
	if math.Abs(m.LogLikelihood-(-9582.4)) > 0.1 {
		t.Errorf("log-likelihood %g, want -9582.4 ± 0.1", m.LogLikelihood)
	}
	if m.Customers != 2357 || !m.FittedAt.Equal(at) || m.Unit != Week {
		t.Errorf("fit recorded as %d customers at %s in %s, want 2357 at %s in weeks", m.Customers, m.FittedAt, m.Unit, at)
	}
}

func TestBGNBDLogLikelihoodOfThePublishedSummaryIsThePublishedValue(t *testing.T) {
	// The data README computed −9582.427 from the rounded summary at the
	// published parameters.
	got := publishedBGNBD.LogLikelihoodOf(values(loadCDNOWSummary(t)))
	if math.Abs(got-(-9582.427)) > 0.001 {
		t.Errorf("log-likelihood %.4f, want -9582.427", got)
	}
}

func TestFitGammaGammaFindsThePublishedCDNOWParametersOnTheRepeatCustomers(t *testing.T) {
	m, err := FitGammaGamma(values(cdnowCustomers(t)), Fit{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("p %.6f q %.6f γ %.6f LL %.4f", m.P, m.Q, m.Gamma, m.LogLikelihood)
	p := publishedGammaGamma
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p", m.P, p.P}, {"q", m.Q, p.Q}, {"γ", m.Gamma, p.Gamma}} {
		if !within(c.got, c.want, 0.01) {
			t.Errorf("%s = %g, want %g within 1%%", c.name, c.got, c.want)
		}
	}
	if m.Customers != 946 {
		t.Errorf("fit on %d customers, want the 946 repeat customers", m.Customers)
	}
}

func TestConditionalPurchasesOfSampleCustomer1IsHardiesValue(t *testing.T) {
	got := publishedBGNBD.ConditionalPurchases(Customer{X: 2, Tx: 30.43, T: 38.86}, 39)
	if math.Abs(got-1.226) > 0.001 {
		t.Errorf("E[Y(39) | 2, 30.43, 38.86] = %.5f, want 1.226 ± 0.001", got)
	}
}

func TestExpectedPurchasesAreHardiesValues(t *testing.T) {
	// Hardie's spreadsheet computes E[X(t)] at the parameters of full
	// precision, which lifetimes' fit prints to 6 decimals; at the rounded
	// ones E[X(78)] is 1.8605 (checked with mpmath).
	m := BGNBD{R: 0.242593, Alpha: 4.413532, A: 0.792886, B: 2.425752, Unit: Week}
	for _, c := range []struct{ t, want float64 }{
		{0.1429, 0.0078}, {1, 0.0532}, {3, 0.1506}, {31.8571, 1.0405}, {32, 1.0437}, {78, 1.8576},
	} {
		if got := m.ExpectedPurchases(c.t); math.Abs(got-c.want) > 0.001 {
			t.Errorf("E[X(%g)] = %.5f, want %g ± 0.001", c.t, got, c.want)
		}
	}
}

func TestConditionalSpendOfSampleCustomers1To10IsHardiesValues(t *testing.T) {
	summary := loadCDNOWSummary(t)
	want := []float64{24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17}
	for i, w := range want {
		id := strconv.Itoa(i + 1)
		if got := publishedGammaGamma.ConditionalSpend(summary[id]); math.Abs(got-w) > 0.1 {
			t.Errorf("customer %s %+v: E[Z] = %.3f, want %g ± 0.1", id, summary[id], got, w)
		}
	}
}
