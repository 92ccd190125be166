package api_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

func (e *env) shop(t *testing.T) {
	e.apply(t,
		e.order("a", T.Add(-day(40)), "100.00"), e.order("a", T.Add(-day(2)), "200.00"),
		e.order("b", T.Add(-day(100)), "50.00"),
		e.order("c", T.Add(-day(10)), "20.00"),
		testenv.Event(e.id(), event.OrderRefunded, "c", T.Add(-day(9)), `{"user_id":"c","order_id":"x","total":"5.00","currency":"USD"}`),
		e.order("d", T.Add(-day(500)), "70.00"),
		e.order("e", T.Add(-day(5)), "1.00"), e.order("e", T.Add(-day(3)), "2.00"),
	)
}

func TestCLVIsLifetimeSpendPerCustomerAndOnAverageBySegment(t *testing.T) {
	e := start(t, nil, nil)
	e.shop(t)
	var got api.CLV
	e.get(t, "/v1/metrics/clv?limit=2", &got)
	// By hand. Buyers in the window: a (R 2, F 2, M 300), b (100, 1, 50),
	// c (10, 1, 15), e (3, 2, 3); means R 28.75, F 1.5, M 92. a: high R, F,
	// M: important_value; b: low, low, low: general_retain; c: high, low,
	// low: general_develop; e: high, high, low: general_value. d bought only
	// before the window: no segment.
	want := map[string]api.Value{
		"important_value": {Customers: 1, Total: "300.00", Average: "300.00"},
		"general_retain":  {Customers: 1, Total: "50.00", Average: "50.00"},
		"general_develop": {Customers: 1, Total: "15.00", Average: "15.00"},
		"general_value":   {Customers: 1, Total: "3.00", Average: "3.00"},
		"none":            {Customers: 1, Total: "70.00", Average: "70.00"},
	}
	if len(got.Segments) != len(want) {
		t.Errorf("segments %v, want %v", got.Segments, want)
	}
	for seg, v := range want {
		if got.Segments[seg] != v {
			t.Errorf("%s: %+v, want %+v", seg, got.Segments[seg], v)
		}
	}
	// 438 / 5 = 87.6
	if got.Overall != (api.Value{Customers: 5, Total: "438.00", Average: "87.60"}) {
		t.Errorf("overall %+v", got.Overall)
	}
	if len(got.Customers) != 2 || got.Customers[0] != (api.CustomerValue{Customer: "a", Segment: "important_value", CLV: "300.00"}) || got.NextCursor != "b" {
		t.Errorf("first page %+v, next %q", got.Customers, got.NextCursor)
	}
	got = api.CLV{}
	e.get(t, "/v1/metrics/clv?limit=2&cursor=d", &got)
	if len(got.Customers) != 1 || got.Customers[0].Customer != "e" || got.Customers[0].CLV != "3.00" || got.NextCursor != "" {
		t.Errorf("last page %+v, next %q", got.Customers, got.NextCursor)
	}
}

func TestRepurchaseRateIsTheShareOfPurchasersWhoBoughtTwice(t *testing.T) {
	e := start(t, nil, nil)
	e.shop(t)
	for _, tc := range []struct {
		query             string
		purchasers, twice int
	}{
		{"", 4, 2}, // last year: a (2), b, c, e (2)
		{"?from=" + T.Add(-day(30)).Format(time.RFC3339), 3, 1},               // a (1), c, e (2)
		{"?from=2020-01-01&to=" + T.Add(-day(4)).Format(time.DateOnly), 5, 0}, // every first order; e's second is on day -3
	} {
		var got api.Repurchase
		e.get(t, "/v1/metrics/repurchase"+tc.query, &got)
		if got.Purchasers != tc.purchasers || got.Repeat != tc.twice || math.Abs(got.Rate-float64(tc.twice)/float64(tc.purchasers)) > 1e-12 {
			t.Errorf("%q: %+v, want %d of %d", tc.query, got, tc.twice, tc.purchasers)
		}
		if got.RateCI[0] > got.Rate || got.RateCI[1] < got.Rate {
			t.Errorf("%q: interval %v does not hold the rate %v", tc.query, got.RateCI, got.Rate)
		}
	}
	if status, _, _ := e.do(t, "GET", "/v1/metrics/repurchase?from=yesterday", token, nil); status != 400 {
		t.Errorf("bad from: %d, want 400", status)
	}
}

func TestNESDistributionByDayGivesNewAndExistingShares(t *testing.T) {
	e := start(t, nil, nil)
	d0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	ch := func(c string, at time.Time, st nes.Stage) profile.Change {
		return profile.Change{Customer: c, At: at, After: profile.Snapshot{Stage: st}}
	}
	err := e.ix.Apply(context.Background(), []profile.Change{
		ch("a", d0, nes.New), ch("b", d0.Add(time.Hour), nes.New),
		ch("a", d0.Add(24*time.Hour), nes.Active), ch("c", d0.Add(25*time.Hour), nes.New), ch("d", d0.Add(26*time.Hour), nes.Prospect),
		ch("b", d0.Add(72*time.Hour), nes.Dozing),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Days []api.NESDay }
	e.get(t, "/v1/metrics/nes?from=2026-05-01&to=2026-05-31", &got)
	// May 1: N 2 → new 1. May 2: N 2 (b, c), E0 1 (a) → 2/3, 1/3. May 4:
	// N 1, E0 1, S1 1 → 1/3, 2/3. Prospects are not counted in the shares.
	want := []struct {
		date          string
		newS, existsS float64
		n             int64
	}{{"2026-05-01", 1, 0, 2}, {"2026-05-02", 2.0 / 3, 1.0 / 3, 2}, {"2026-05-04", 1.0 / 3, 2.0 / 3, 1}}
	if len(got.Days) != len(want) {
		t.Fatalf("days %+v", got.Days)
	}
	for i, w := range want {
		d := got.Days[i]
		if d.Date != w.date || math.Abs(d.NewShare-w.newS) > 1e-12 || math.Abs(d.ExistingShare-w.existsS) > 1e-12 || d.Stages["N"] != w.n {
			t.Errorf("day %d: %+v, want %+v", i, d, w)
		}
	}
	e.get(t, "/v1/metrics/nes?from=2026-05-02&to=2026-05-03", &got)
	if len(got.Days) != 1 || got.Days[0].Date != "2026-05-02" {
		t.Errorf("one day: %+v", got.Days)
	}
}

func TestCampaignResultsGiveConversionAndLiftOverHoldoutWithAnInterval(t *testing.T) {
	e := start(t, nil, nil)
	e.srvResults(t)
	// Stats as the trigger service keeps them: variants A and B, 35 sent
	// each, 30 and 26 converted; the holdout 80 held out, 48 converted.
	err := e.rdb.HSet(context.Background(), "tr:{#stats:welcome}",
		"A|treated|decided", 35, "A|treated|converted", 30, "A|treated|revenue", 1_500_000_000,
		"B|treated|decided", 35, "B|treated|converted", 26, "B|treated|revenue", 1_250_500_000,
		"|holdout|decided", 80, "|holdout|converted", 48, "|holdout|revenue", 2_000_000_000).Err()
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Campaigns []api.CampaignResult }
	e.get(t, "/v1/campaigns", &got)
	if len(got.Campaigns) != 1 {
		t.Fatalf("campaigns %+v", got.Campaigns)
	}
	c := got.Campaigns[0]
	// 56/70 against 48/80: Newcombe (1998) gives 0.2000, 95% CI 0.0524 to 0.3339.
	tr := c.Treated
	if c.Campaign != "welcome" || tr.Decided != 70 || tr.Converted != 56 || tr.Rate != 0.8 || tr.Revenue != "2750.50" {
		t.Errorf("treated %+v", tr)
	}
	if c.Holdout.Decided != 80 || c.Holdout.Converted != 48 || c.Holdout.Rate != 0.6 || c.Holdout.Lift != nil {
		t.Errorf("holdout %+v", c.Holdout)
	}
	if tr.Lift == nil || math.Abs(tr.Lift.Difference-0.2) > 1e-12 || math.Abs(tr.Lift.CI[0]-0.0524) > 5e-5 || math.Abs(tr.Lift.CI[1]-0.3339) > 5e-5 ||
		tr.Lift.Relative == nil || math.Abs(*tr.Lift.Relative-1.0/3) > 1e-12 {
		t.Errorf("lift %+v", tr.Lift)
	}
	if len(c.Variants) != 2 || c.Variants[0].Variant != "A" || c.Variants[0].Rate != 30.0/35 || c.Variants[1].Revenue != "1250.50" || c.Variants[1].Lift == nil {
		t.Errorf("variants %+v", c.Variants)
	}
}

// srvResults makes the server read campaign results from the trigger
// service's records.
func (e *env) srvResults(t *testing.T) {
	t.Helper()
	e.serve(t, trigger.NewEngine(nil, e.rdb, e.store, nil), nil)
}
