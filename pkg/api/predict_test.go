package api_test

import (
	"math"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
)

var cdnowModel = testenv.CDNOWModel

// startPredicting starts the API over a store that predicts with the
// published CDNOW model.
func startPredicting(t *testing.T) *env {
	t.Helper()
	rdb := testenv.StartRedis(t).Client(t)
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{rdb: rdb, store: profile.New(rdb, profile.Config{Rules: rules, Models: testenv.Model{M: cdnowModel}, Currency: "USD"}), ix: index.New(rdb, "")}
	e.serve(t, nil, nil)
	return e
}

// shopOrders are the orders of env.shop and of f, a repeat customer long
// silent, as pkg/predict takes them: the refund is not a purchase.
func shopOrders() []predict.Order {
	o := func(c string, at time.Time, total string) predict.Order {
		m, err := money.ParseDecimal(total)
		if err != nil {
			panic(err)
		}
		return predict.Order{Customer: c, At: at, Amount: m}
	}
	return []predict.Order{
		o("a", T.Add(-day(40)), "100.00"), o("a", T.Add(-day(2)), "200.00"),
		o("b", T.Add(-day(100)), "50.00"), o("c", T.Add(-day(10)), "20.00"),
		o("d", T.Add(-day(500)), "70.00"), o("e", T.Add(-day(5)), "1.00"), o("e", T.Add(-day(3)), "2.00"),
		o("f", T.Add(-day(400)), "30.00"), o("f", T.Add(-day(390)), "40.00"),
	}
}

// predictedShop is what the model says of each customer of shopOrders at
// T, computed from the orders by pkg/predict alone: P(alive), repeat
// purchases, and the CLV of a year in cents.
func predictedShop(t *testing.T) map[string]struct {
	pAlive float64
	x      int
	cents  int64
} {
	t.Helper()
	// T is not a day's midnight: the inputs are observed until T itself,
	// as the profile's predictions are.
	cs := map[string]*predict.Days{}
	orders := shopOrders()
	slices.SortFunc(orders, func(a, b predict.Order) int { return a.At.Compare(b.At) })
	for _, o := range orders {
		if cs[o.Customer] == nil {
			cs[o.Customer] = &predict.Days{}
		}
		cs[o.Customer].Add(o.At, o.Amount)
	}
	out := map[string]struct {
		pAlive float64
		x      int
		cents  int64
	}{}
	for id, d := range cs {
		c, _ := d.Customer(T, predict.Week)
		p := cdnowModel.Predict(c, predict.DefaultCLV)
		out[id] = struct {
			pAlive float64
			x      int
			cents  int64
		}{p.PAlive, c.X, int64(math.Round(p.CLV * 100))}
	}
	return out
}

func dollars(cents int64) string { return money.Format(money.Micros(cents*10_000), "USD") }

func TestPredictedCLVIsEachCustomersPredictionSummedOverallAndBySegment(t *testing.T) {
	e := startPredicting(t)
	e.shop(t)
	e.apply(t, e.order("f", T.Add(-day(400)), "30.00"), e.order("f", T.Add(-day(390)), "40.00"))
	want := predictedShop(t)
	var got api.CLV
	e.get(t, "/v1/metrics/clv", &got)
	if got.Predicted == nil {
		t.Fatal("no predicted CLV with a fitted model")
	}
	p := got.Predicted
	if p.Model != cdnowModel.Version() || !p.AsOf.Equal(T) || p.HorizonDays != 365 {
		t.Errorf("model %s as of %v over %d days, want %s as of %v over 365", p.Model, p.AsOf, p.HorizonDays, cdnowModel.Version(), T)
	}
	// The segments of env.shop, by hand; f bought only before the window.
	segments := map[string][]string{"important_value": {"a"}, "general_retain": {"b"}, "general_develop": {"c"}, "general_value": {"e"}, "none": {"d", "f"}}
	var total int64
	for seg, ids := range segments {
		var sum int64
		for _, id := range ids {
			sum += want[id].cents
		}
		total += sum
		if w := (api.Value{Customers: len(ids), Total: dollars(sum), Average: money.Format(money.Sum{}.Add(money.Micros(sum*10_000)).Mean(int64(len(ids))), "USD")}); p.Segments[seg] != w {
			t.Errorf("%s: %+v, want %+v", seg, p.Segments[seg], w)
		}
	}
	if p.Overall.Customers != 6 || p.Overall.Total != dollars(total) {
		t.Errorf("overall %+v, want 6 customers and %s", p.Overall, dollars(total))
	}
	var tenths [10]int64
	for _, w := range want {
		tenths[min(int(w.pAlive*10), 9)]++
	}
	if p.PAlive != tenths {
		t.Errorf("P(alive) by tenth %v, want %v", p.PAlive, tenths)
	}
}

func TestAudiencesSelectByPCLVDecileAndPAliveAndTheAtRiskTag(t *testing.T) {
	e := startPredicting(t)
	e.shop(t)
	e.apply(t, e.order("f", T.Add(-day(400)), "30.00"), e.order("f", T.Add(-day(390)), "40.00"))
	want := predictedShop(t)
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range want {
			if !yield(id) {
				return
			}
		}
	})
	// deciles by an independent sort: 1 + ⌊10·b/n⌋, b the customers with a
	// smaller CLV
	decile := func(id string) int {
		b := 0
		for _, o := range ids {
			if want[o].cents < want[id].cents {
				b++
			}
		}
		return 1 + 10*b/len(ids)
	}
	where := func(f func(id string) bool) []string {
		out := []string{}
		for _, id := range ids {
			if f(id) {
				out = append(out, id)
			}
		}
		return out
	}
	atRisk := where(func(id string) bool { return want[id].x > 0 && want[id].pAlive < profile.DefaultAtRisk })
	if len(atRisk) == 0 {
		t.Fatal("nobody is at risk: the test selects nothing")
	}
	tests := []struct {
		q    string
		want []string
	}{
		{"pclv_decile:10", where(func(id string) bool { return decile(id) == 10 })},
		{"pclv_decile:1 OR pclv_decile:2", where(func(id string) bool { return decile(id) <= 2 })},
		{"p_alive<0.3", where(func(id string) bool { return want[id].pAlive < 0.3 })},
		{"p_alive>=0.9 AND NOT pclv_decile:10", where(func(id string) bool { return want[id].pAlive >= 0.9 && decile(id) != 10 })},
		{"tag:at_risk", atRisk},
		{"at_risk", atRisk},
	}
	for _, tt := range tests {
		var got api.Members
		e.get(t, "/v1/members?q="+url.QueryEscape(tt.q), &got)
		if !slices.Equal(got.Members, tt.want) {
			t.Errorf("%s: %v, want %v", tt.q, got.Members, tt.want)
		}
		if byPrediction := tt.q != "tag:at_risk" && tt.q != "at_risk"; byPrediction != (got.PredictionsAsOf != nil) {
			t.Errorf("%s: predictions as of %v", tt.q, got.PredictionsAsOf)
		}
	}
	for _, q := range []string{"pclv_decile:11", "pclv_decile:x", "p_alive", "p_alive<2", "p_alive~0.3"} {
		if status, b, _ := e.do(t, "GET", "/v1/members?q="+url.QueryEscape(q), token, nil); status != 400 {
			t.Errorf("%s: %d %s, want 400", q, status, b)
		}
	}
}

func TestWithoutAModelPredictedCLVIsAbsentAndPredictionTermsAreRefused(t *testing.T) {
	e := start(t, nil, nil)
	e.shop(t)
	var got map[string]any
	e.get(t, "/v1/metrics/clv", &got)
	if _, ok := got["predicted"]; ok {
		t.Errorf("predicted CLV without a model: %v", got["predicted"])
	}
	if status, b, _ := e.do(t, "GET", "/v1/members?q=pclv_decile:10", token, nil); status != 400 {
		t.Errorf("pclv_decile without a model: %d %s, want 400", status, b)
	}
}
