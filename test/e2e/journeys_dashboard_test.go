package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/journey"
)

// TestDashboardDrawsEachJourneyStepAndArmAsTheAPIReportsThem runs 40
// customers' cart adds through the pipeline into a journey with a holdout
// and a split, then their orders (every other customer buys), and checks
// that the dashboard's journeys chart draws a row for the entries, each send
// and each arm, with the numbers of GET /v1/journeys.
func TestDashboardDrawsEachJourneyStepAndArmAsTheAPIReportsThem(t *testing.T) {
	browser := chromium(t)
	if testing.Short() {
		t.Skip("runs a browser")
	}
	camps, err := campaign.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	js, err := journey.Parse([]byte(`
journeys:
  - name: promo
    holdout: 0.3
    entry: {on: [segflow.cart.product_added]}
    steps:
      - name: pick
        split:
          - {name: a, weight: 1}
          - {name: b, weight: 1, next: mail_b}
      - {name: mail_a, send: {channel: email, action: {type: message, params: {template: a}}}, next: end}
      - {name: mail_b, send: {channel: email, action: {type: message, params: {template: b}}}}
`), camps)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	p := startPipeline(t, clk.now, "USD")
	p.startJourneys(t, camps, js, clk.now)
	var ids, evs, orders []map[string]any
	for i := range 40 {
		c := fmt.Sprint("shopper-", i)
		ids = append(ids, map[string]any{"specversion": "1.0", "id": "identify-" + c, "source": "/shop", "type": event.Identify, "time": t0.Add(-time.Minute),
			"data": map[string]any{"user_id": c, "consent": map[string]bool{"email": true}}})
		evs = append(evs,
			map[string]any{"specversion": "1.0", "id": "add-" + c, "source": "/shop", "type": event.ProductAdded, "time": t0,
				"data": map[string]any{"user_id": c, "product": map[string]any{"sku": "MUG", "price": "10"}, "quantity": 1}})
		if i%2 == 0 {
			orders = append(orders, map[string]any{"specversion": "1.0", "id": "order-" + c, "source": "/shop", "type": event.OrderCompleted, "time": t0.Add(time.Hour),
				"data": map[string]any{"user_id": c, "order_id": c, "total": "10", "currency": "USD"}})
		}
	}
	p.post(t, ids) // consent first: the sends check it
	p.waitApplied(t, len(ids), 30*time.Second)
	p.post(t, evs)
	p.waitApplied(t, len(ids)+len(evs), 30*time.Second)
	waitGroup(t, p.kafka.Brokers, "segflow-trigger", event.TopicCart, event.TopicIdentify)
	clk.set(t0.Add(time.Hour))
	p.post(t, orders)
	p.waitApplied(t, len(ids)+len(evs)+len(orders), 30*time.Second)
	waitGroup(t, p.kafka.Brokers, "segflow-trigger", event.TopicPurchase)

	srv := p.serveDashboard(t, api.Config{Now: clk.now, Journeys: func() *journey.Config { return js }}, index.New(p.rdb, ""))
	var res struct{ Journeys []api.JourneyResult }
	getJSON(t, srv.URL+"/v1/journeys", &res)
	type row struct{ Key, Sent, Converted string }
	var want []row
	for _, j := range res.Journeys {
		name := fmt.Sprintf("%s v%d", j.Journey, j.Version)
		want = append(want, row{name, fmt.Sprint(j.Entered.Treated.Decided), fmt.Sprint(j.Entered.Treated.Converted)})
		for _, s := range j.Steps {
			if s.Sent != nil {
				want = append(want, row{name + " / " + s.Step, fmt.Sprint(s.Sent.Decided), fmt.Sprint(s.Sent.Converted)})
			}
			for _, arm := range s.Arms {
				want = append(want, row{name + " / " + s.Step + ":" + arm.Arm, fmt.Sprint(arm.Result.Decided), fmt.Sprint(arm.Result.Converted)})
			}
		}
	}
	j := res.Journeys[0]
	if len(want) != 5 || j.Entered.Treated.Converted == 0 || j.Entered.Holdout.Decided == 0 ||
		j.Steps[1].Sent.Decided+j.Steps[2].Sent.Decided != j.Entered.Treated.Decided {
		t.Fatalf("API journeys %+v: want entries with conversions, a holdout, two sends of every treated entry and two arms", res.Journeys)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1280, 1800))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	bctx, cancelT := context.WithTimeout(bctx, time.Minute)
	defer cancelT()
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/dashboard/#token="+dashToken), chromedp.WaitVisible(`body[data-loaded="true"]`)); err != nil {
		t.Fatalf("browser: %v", err)
	}
	drawn, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll('svg[data-chart=journeys] g[data-key]')].map(g => ({Key: g.dataset.key, Sent: g.dataset.sent, Converted: g.dataset.converted}))`))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(drawn) != fmt.Sprint(want) {
		t.Errorf("journeys drawn\n%v\nthe API reports\n%v", drawn, want)
	}
	keepScreenshot(bctx, t, "dashboard-journeys.png")
}
