package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

const promo = `
journeys:
  - name: promo
    holdout: 0.5
    entry: {on: [segflow.cart.product_added]}
    goal: {on: [segflow.purchase.order_completed]}
    steps:
      - name: pick
        split:
          - {name: a, weight: 1}
          - {name: b, weight: 1, next: mail_b}
      - {name: mail_a, send: {channel: email, action: {type: message, params: {template: a}}}, next: end}
      - {name: mail_b, send: {channel: email, action: {type: message, params: {template: b}}}}
  - name: later
    entry: {on: [segflow.cart.product_added]}
    steps:
      - {name: wait, wait: 7d}
      - {name: mail, send: {channel: email, action: {type: message, params: {template: later}}}}
`

// TestJourneyResultsCountEachStepAndArmAgainstTheJourneysHoldout runs 60
// customers into a journey with a half holdout and a split, through the
// trigger engine, and has every customer with an even number buy within the
// attribution window. The expected counts come from the triggers published:
// the treated are exactly the customers with one.
func TestJourneyResultsCountEachStepAndArmAgainstTheJourneysHoldout(t *testing.T) {
	e := start(t, nil, nil)
	k := testenv.StartKafka(t, stream.Topic{Name: trigger.TopicTriggers, Partitions: 1}, stream.Topic{Name: trigger.TopicDecisions, Partitions: 1})
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	camps, err := campaign.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	js, err := journey.Parse([]byte(promo), camps)
	if err != nil {
		t.Fatal(err)
	}
	en := trigger.NewEngine(camps, e.rdb, e.store, w)
	en.SetJourneys(js)
	ctx := context.Background()
	const n = 60
	for i := range n {
		c := fmt.Sprint("c", i)
		id := testenv.Event("id-"+c, event.Identify, c, T, fmt.Sprintf(`{"user_id":%q,"consent":{"email":true}}`, c))
		add := testenv.Event("add-"+c, event.ProductAdded, c, T, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"MUG","price":"10"},"quantity":1}`, c))
		e.apply(t, id, add)
		if err := en.HandleBatch(ctx, T, []cloudevents.Event{id, add}); err != nil {
			t.Fatal(err)
		}
	}
	arm := map[string]string{} // customer -> template of their trigger
	// Every trigger is published before HandleBatch returns.
	for _, m := range k.ReadTopic(t, trigger.TopicTriggers, 1, 5*time.Second) {
		var d trigger.Decision
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		arm[d.Customer] = d.Action.Params["template"]
	}
	type tally struct{ n, bought int64 }
	var treated, held tally
	per := map[string]*tally{"a": {}, "b": {}}
	for i := range n {
		c := fmt.Sprint("c", i)
		buys := i%2 == 0
		if buys {
			o := testenv.Event("o-"+c, event.OrderCompleted, c, T.Add(time.Hour), fmt.Sprintf(`{"user_id":%q,"order_id":"%d","total":"10","currency":"USD"}`, c, i))
			e.apply(t, o)
			if err := en.Handle(ctx, T.Add(time.Hour), o); err != nil {
				t.Fatal(err)
			}
		}
		g := &held
		if a, ok := arm[c]; ok {
			g = &treated
			per[a].n++
			if buys {
				per[a].bought++
			}
		}
		g.n++
		if buys {
			g.bought++
		}
	}
	if treated.n == 0 || held.n == 0 || per["a"].n == 0 || per["b"].n == 0 {
		t.Fatalf("treated %d (a %d, b %d), held %d: the split and holdout should each have some of %d", treated.n, per["a"].n, per["b"].n, held.n, n)
	}

	srv, err := api.New(api.Config{Tokens: map[string]api.Holder{token: {Name: "analyst"}}, Now: func() time.Time { return T },
		Journeys: func() *journey.Config { return js }}, e.rdb, e.store, e.ix, trigger.NewEngine(nil, e.rdb, e.store, nil), nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	e.url = hs.URL
	var got struct{ Journeys []api.JourneyResult }
	e.get(t, "/v1/journeys", &got)
	if len(got.Journeys) != 2 {
		t.Fatalf("journeys %+v", got.Journeys)
	}
	if l := got.Journeys[1]; l.Journey != "later" || l.Entered.Treated.Decided != n || l.InFlight != n || l.Steps[0].Reached != n || l.Steps[1].Reached != 0 {
		t.Errorf("later: %+v, want all %d entered, in flight, waiting", l, n)
	}
	j := got.Journeys[0]
	rate := func(t tally) float64 { return float64(t.bought) / float64(t.n) }
	if j.Journey != "promo" || j.Version != 1 ||
		j.Entered.Treated.Decided != treated.n || j.Entered.Treated.Converted != treated.bought ||
		j.Entered.Holdout.Decided != held.n || j.Entered.Holdout.Converted != held.bought ||
		j.Entered.Treated.Lift == nil || math.Abs(j.Entered.Treated.Lift.Difference-(rate(treated)-rate(held))) > 1e-12 {
		t.Errorf("entered %+v, want treated %+v and held %+v", j.Entered, treated, held)
	}
	// The journey has no wait: the treated are through it before they buy,
	// and their purchases count as conversions, not as goals.
	if j.Ended["holdout"] != held.n || j.Ended["end"] != treated.n || j.Ended["goal"] != 0 || j.InFlight != 0 {
		t.Errorf("ended %v, want %d held out and %d through", j.Ended, held.n, treated.n)
	}
	if len(j.Steps) != 3 || j.Steps[0].Reached != treated.n || len(j.Steps[0].Arms) != 2 {
		t.Fatalf("steps %+v", j.Steps)
	}
	for i, name := range []string{"a", "b"} {
		br, sent := j.Steps[0].Arms[i], j.Steps[1+i].Sent
		want := per[name]
		if br.Arm != name || br.Reached != want.n || br.Result.Converted != want.bought || j.Steps[1+i].Reached != want.n ||
			sent == nil || sent.Decided != want.n || sent.Converted != want.bought ||
			sent.Lift == nil || math.Abs(sent.Lift.Difference-(rate(*want)-rate(held))) > 1e-12 {
			t.Errorf("arm %s: %+v, send %+v; want %+v against held %+v", name, br, sent, *want, held)
		}
	}
}
