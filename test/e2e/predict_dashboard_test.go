package e2e

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// predictionsCard is what the dashboard shows of predictions: whether the
// card is in the page and shown, its heading, its charts, and the bars of
// the P(alive) and CLV charts.
type predictionsCard struct {
	Present, Shown bool
	Heading        string
	Charts         int
	PAlive         []struct{ Key, Count, Label string }
	CLV            []struct{ Key, Customers, Historical, Predicted string }
}

// readPredictionsCard is a script that reads the predictions card of the
// dashboard as a predictionsCard.
const readPredictionsCard = `(() => {
  const card = document.getElementById("predicted"), text = (e) => e ? e.textContent : "";
  const bars = (chart) => [...document.querySelectorAll('svg[data-chart=' + chart + '] g[data-key]')];
  return {
    Present: card !== null, Shown: card !== null && !card.hidden && card.offsetParent !== null,
    Heading: text(document.getElementById("model")), Charts: card ? card.querySelectorAll("svg").length : 0,
    PAlive: bars("palive").map((g) => ({Key: g.dataset.key, Count: g.dataset.count, Label: text(g.querySelector("text.value"))})),
    CLV: bars("pclv").map((g) => ({Key: g.dataset.key, Customers: g.dataset.customers,
      Historical: text(g.querySelector("text.historical")), Predicted: text(g.querySelector("text.predicted"))})),
  };
})()`

// TestDashboardDrawsPredictionsAsTheAPIReportsThemAndNothingWithoutAModel
// streams the CDNOW sample's 39-week calibration through the pipeline with
// the clock at its end, with the published model and without a model, and
// checks in headless Chromium that the predictions card draws a bar per
// tenth of P(alive) and each segment's predicted beside its historical CLV
// with exactly the numbers of GET /v1/metrics/clv, under the model's version
// and as_of; and that without a model the card is hidden and empty while
// the rest of the dashboard loads.
func TestDashboardDrawsPredictionsAsTheAPIReportsThemAndNothingWithoutAModel(t *testing.T) {
	browser := chromium(t)
	if testing.Short() {
		t.Skip("streams the CDNOW calibration and runs a browser")
	}
	end := time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC) // end of week 39
	var calibration []order
	customers := map[string]bool{}
	for _, o := range loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt")) {
		if !o.Time.After(end) {
			calibration = append(calibration, o)
			customers[o.Customer] = true
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1280, 1600))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()

	for _, tt := range []struct {
		name   string
		models profile.Models
	}{
		{"with the published CDNOW model", testenv.Model{M: testenv.CDNOWModel}},
		{"without a model", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(end)
			p := startPipeline(t, clk.now, "USD", func(c *profile.Config) { c.Models = tt.models })
			p.send(t, calibration)
			p.waitApplied(t, len(calibration), 3*time.Minute)

			srv := p.serveDashboard(t, api.Config{Now: clk.now}, index.New(p.rdb, ""))
			var clv api.CLV
			getJSON(t, srv.URL+"/v1/metrics/clv?limit=1", &clv)

			bctx, cancel := chromedp.NewContext(actx)
			defer cancel()
			bctx, cancel = context.WithTimeout(bctx, time.Minute)
			defer cancel()
			if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/dashboard/#token="+dashToken), chromedp.WaitVisible(`body[data-loaded="true"]`)); err != nil {
				t.Fatalf("browser: %v", err)
			}
			got, err := chromedp.Run(bctx, chromedp.Evaluate[predictionsCard](readPredictionsCard))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Present {
				t.Fatal("the dashboard has no predictions card")
			}

			pr := clv.Predicted
			if tt.models == nil {
				if pr != nil {
					t.Fatalf("the API predicts without a model: %+v", pr)
				}
				if got.Shown || got.Heading != "" || got.Charts != 0 {
					t.Errorf("without a model the predictions card is shown %v, headed %q, with %d charts; want it hidden and empty", got.Shown, got.Heading, got.Charts)
				}
				return
			}
			if pr == nil {
				t.Fatal("the API reports no predicted CLV with a model")
			}
			// Every customer of the calibration bought: each is predicted once.
			var n int64
			for _, c := range pr.PAlive {
				n += c
			}
			if n != int64(len(customers)) || pr.Overall.Customers != len(customers) {
				t.Fatalf("the API predicts %d customers by P(alive) and %d overall, the calibration has %d", n, pr.Overall.Customers, len(customers))
			}
			// The tenths by BG/NBD's closed form with the published
			// parameters, from the orders alone; no customer of the sample
			// lies within 1e-6 of a bound between tenths.
			var tenths [10]int64
			for _, in := range calibrationInputs(calibration, end) {
				pa := publishedCDNOW.pAlive(in.x, in.tx, in.age)
				if b := math.Round(pa * 10); b >= 1 && b <= 9 && math.Abs(pa*10-b) < 1e-5 {
					t.Fatalf("P(alive) %v is too near a tenth's bound to compare", pa)
				}
				tenths[min(int(pa*10), 9)]++
			}
			if pr.PAlive != tenths {
				t.Errorf("the API reports P(alive) by tenth %v, the closed form gives %v", pr.PAlive, tenths)
			}
			if !got.Shown {
				t.Error("the predictions card is hidden with a model")
			}
			if want := fmt.Sprintf("model %s, as of %s;", pr.Model, pr.AsOf.Format(time.RFC3339Nano)); !strings.Contains(got.Heading, want) {
				t.Errorf("heading %q, want it to name %q", got.Heading, want)
			}

			var wantPAlive []struct{ Key, Count, Label string }
			for i, c := range pr.PAlive {
				wantPAlive = append(wantPAlive, struct{ Key, Count, Label string }{fmt.Sprint(i), fmt.Sprint(c), fmt.Sprint(c)})
			}
			if fmt.Sprint(got.PAlive) != fmt.Sprint(wantPAlive) {
				t.Errorf("P(alive) drawn\n%v\nthe API reports\n%v", got.PAlive, wantPAlive)
			}

			type row struct{ Customers, Historical, Predicted string }
			want := map[string]row{}
			for seg, v := range clv.Segments {
				want[seg] = row{Customers: "0", Historical: v.Average}
			}
			for seg, v := range pr.Segments {
				r := want[seg]
				r.Customers, r.Predicted = fmt.Sprint(v.Customers), v.Average
				want[seg] = r
			}
			drawn := map[string]row{}
			for _, g := range got.CLV {
				drawn[g.Key] = row{g.Customers, g.Historical, g.Predicted}
			}
			if len(pr.Segments) < 4 || fmt.Sprint(drawn) != fmt.Sprint(want) {
				t.Errorf("CLV by segment drawn\n%v\nthe API reports\n%v", drawn, want)
			}

			keepScreenshot(bctx, t, "dashboard-predictions.png")
			t.Logf("P(alive) by tenth %v", pr.PAlive)
		})
	}
}
