package view

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/demo"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// cdnowEnd is the end of the CDNOW sample's 39-week calibration.
var cdnowEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

var cdnowModel = testenv.CDNOWModel

// cdnow returns the summaries of the CDNOW sample's customers as of end,
// counting purchase days and the spend of the days after the first here,
// and each customer's orders up to end, as pkg/predict takes them.
func cdnow(t *testing.T, end time.Time) (map[string]profile.Summary, []predict.Order) {
	t.Helper()
	rows, err := demo.Orders()
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]profile.Summary{}
	days := map[string]map[time.Time]bool{}
	var orders []predict.Order
	for _, o := range rows {
		if o.Time.After(end) {
			continue
		}
		amt, err := money.ParseDecimal(o.Total)
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, predict.Order{Customer: o.Customer, At: o.Time, Amount: amt})
		s, ok := sums[o.Customer]
		if !ok {
			s = profile.Summary{Customer: o.Customer, Version: 1, At: end, First: o.Time}
			days[o.Customer] = map[time.Time]bool{}
		}
		s.Orders++
		s.Lifetime += int64(amt)
		if o.Time.After(s.Last) {
			s.Last = o.Time
		}
		if o.Time.Before(s.First) {
			s.First = o.Time
		}
		if end.Sub(o.Time) < 365*24*time.Hour {
			s.F++
			s.M += int64(amt)
		}
		days[o.Customer][o.Time] = true // every order is at midnight UTC
		sums[o.Customer] = s
	}
	for _, o := range orders {
		s := sums[o.Customer]
		if o.At.After(s.First) {
			s.Repeat += int64(o.Amount)
		}
		s.Days = len(days[o.Customer])
		sums[o.Customer] = s
	}
	return sums, orders
}

// expected is what the model says of one customer, computed from their
// orders by pkg/predict alone: P(alive), and the CLV of a year rounded to
// the cent, in micros.
type expected struct {
	pAlive float64
	clv    int64
}

func expectations(t *testing.T, orders []predict.Order, end time.Time) map[string]expected {
	t.Helper()
	cs, err := predict.Summarize(orders, end, predict.Week)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]expected{}
	for id, c := range cs {
		p := cdnowModel.Predict(c, predict.DefaultCLV)
		out[id] = expected{pAlive: p.PAlive, clv: int64(math.Round(p.CLV*100)) * 10_000}
	}
	return out
}

func cdnowView(t *testing.T) (*View, map[string]profile.Summary, map[string]expected) {
	sums, orders := cdnow(t, cdnowEnd)
	v := New(nes.Config{}, nil)
	for _, s := range sums {
		v.Put(s)
	}
	v.Put(profile.Summary{Customer: "prospect", Version: 1, At: cdnowEnd})
	return v, sums, expectations(t, orders, cdnowEnd)
}

func TestPredictedCLVIsTheSumOfEachCustomersPredictionOverallAndBySegment(t *testing.T) {
	v, _, want := cdnowView(t)
	if _, ok := v.PredictedCLV(cdnowEnd); ok {
		t.Fatal("a view never refreshed reports predictions")
	}
	v.Predict(cdnowModel, cdnowEnd, "USD")
	got, ok := v.PredictedCLV(cdnowEnd)
	if !ok {
		t.Fatal("no predictions after a refresh")
	}
	if got.Model != cdnowModel.Version() || !got.At.Equal(cdnowEnd) {
		t.Errorf("predictions of model %s as of %v, want %s as of %v", got.Model, got.At, cdnowModel.Version(), cdnowEnd)
	}
	var all Value
	bySegment := map[string]Value{}
	var tenths [10]int64
	for id, e := range want {
		_, scores, _ := v.Scores(id, cdnowEnd)
		s := bySegment[scores.Segment]
		s.Customers++
		s.Total = s.Total.Add(money.Micros(e.clv))
		bySegment[scores.Segment] = s
		all.Customers++
		all.Total = all.Total.Add(money.Micros(e.clv))
		tenths[min(int(math.Floor(e.pAlive*10)), 9)]++
	}
	if got.All != all {
		t.Errorf("overall %+v, want %+v", got.All, all)
	}
	if all.Customers != 2357 {
		t.Errorf("%d customers predicted, want the sample's 2357", all.Customers)
	}
	for seg, w := range bySegment {
		if got.BySegment[seg] != w {
			t.Errorf("segment %q: %+v, want %+v", seg, got.BySegment[seg], w)
		}
	}
	if len(got.BySegment) != len(bySegment) {
		t.Errorf("segments %v, want %v", got.BySegment, bySegment)
	}
	if got.PAlive != tenths {
		t.Errorf("P(alive) by tenth %v, want %v", got.PAlive, tenths)
	}
}

// members returns the ids attr selects at cdnowEnd.
func members(v *View, a Attr) []string {
	page := v.Members(cdnowEnd, audience.Name{Name: "x"}, map[string]Attr{"x": a}, "", 0)
	ids := make([]string, len(page.Members))
	for i, m := range page.Members {
		ids[i] = m.ID
	}
	return ids
}

func TestPCLVDecilesHoldExactlyTheCustomersAnIndependentSortGives(t *testing.T) {
	v, _, want := cdnowView(t)
	if got := members(v, Attr{Kind: KindPCLVDecile, Score: 10}); len(got) != 0 {
		t.Fatalf("before any refresh, decile 10 holds %d customers", len(got))
	}
	v.Predict(cdnowModel, cdnowEnd, "USD")
	type cv struct {
		id  string
		clv int64
	}
	var byCLV []cv
	for id, e := range want {
		byCLV = append(byCLV, cv{id, e.clv})
	}
	slices.SortFunc(byCLV, func(a, b cv) int { return int(a.clv - b.clv) })
	deciles := make([][]string, 11)
	n := len(byCLV)
	for i, c := range byCLV {
		// b customers have a smaller CLV: the first of c's equals
		b := i
		for b > 0 && byCLV[b-1].clv == c.clv {
			b--
		}
		d := 1 + 10*b/n
		deciles[d] = append(deciles[d], c.id)
	}
	for d := 1; d <= 10; d++ {
		slices.Sort(deciles[d])
		got := members(v, Attr{Kind: KindPCLVDecile, Score: d})
		if !slices.Equal(got, deciles[d]) {
			t.Errorf("decile %d: %d customers, want %d", d, len(got), len(deciles[d]))
		}
	}
	if len(deciles[10]) == 0 || len(deciles[1]) == 0 {
		t.Error("the sample fills neither the first nor the last decile")
	}
}

func TestPAliveComparisonsSelectTheCustomersWhosePredictionCompares(t *testing.T) {
	v, _, want := cdnowView(t)
	v.Predict(cdnowModel, cdnowEnd, "USD")
	tests := []struct {
		op   audience.Op
		than float64
		cmp  func(p float64) bool
	}{
		{audience.Lt, 0.3, func(p float64) bool { return p < 0.3 }},
		{audience.Ge, 0.3, func(p float64) bool { return p >= 0.3 }},
		{audience.Gt, 0.9, func(p float64) bool { return p > 0.9 }},
		{audience.Le, 0.5, func(p float64) bool { return p <= 0.5 }},
		{audience.Eq, 1, func(p float64) bool { return p == 1 }},
		{audience.Ne, 1, func(p float64) bool { return p != 1 }},
	}
	for _, tt := range tests {
		var ids []string
		for id, e := range want {
			if tt.cmp(e.pAlive) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		got := members(v, Attr{Kind: KindPAlive, Op: tt.op, Than: tt.than})
		if !slices.Equal(got, ids) || len(ids) == 0 {
			t.Errorf("p_alive %s %g: %d customers, want %d (of %d)", tt.op, tt.than, len(got), len(ids), len(want))
		}
	}
}

func TestARemovedCustomerLosesTheirPredictionAtOnce(t *testing.T) {
	v, sums, _ := cdnowView(t)
	v.Predict(cdnowModel, cdnowEnd, "USD")
	before, _ := v.PredictedCLV(cdnowEnd)
	// a customer with repeat purchases, whose row a newcomer then takes
	gone := "00004"
	v.Put(profile.Summary{Customer: gone, Gone: true, Version: 2})
	newcomer := sums["00018"]
	newcomer.Customer = "newcomer"
	v.Put(newcomer)
	after, _ := v.PredictedCLV(cdnowEnd)
	if after.All.Customers != before.All.Customers-1 {
		t.Errorf("%d customers predicted after one left and one came, want %d", after.All.Customers, before.All.Customers-1)
	}
	for d := 1; d <= 10; d++ {
		for _, id := range members(v, Attr{Kind: KindPCLVDecile, Score: d}) {
			if id == gone || id == "newcomer" {
				t.Errorf("%s is in decile %d", id, d)
			}
		}
	}
	v.Predict(cdnowModel, cdnowEnd, "USD")
	if again, _ := v.PredictedCLV(cdnowEnd); again.All.Customers != before.All.Customers {
		t.Errorf("%d customers predicted after a refresh, want %d", again.All.Customers, before.All.Customers)
	}
}
