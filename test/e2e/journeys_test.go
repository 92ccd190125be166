package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/trigger"
)

// deployedJourneys returns the guards of deploy/campaigns.yaml (caps, quiet
// hours in Taipei) without its campaigns, and deploy/journeys.yaml.
func deployedJourneys(t *testing.T) (*campaign.Config, *journey.Config) {
	t.Helper()
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	camps.Campaigns = nil
	js, err := journey.Load("../../deploy/journeys.yaml", camps)
	if err != nil {
		t.Fatal(err)
	}
	return camps, js
}

// inJourneys returns the first customer id prefix<n> that none of the named
// journeys holds out.
func inJourneys(js *journey.Config, prefix string, names ...string) string {
	for i := 0; ; i++ {
		c := fmt.Sprint(prefix, i)
		held := false
		for k := range js.Journeys {
			j := &js.Journeys[k]
			for _, name := range names {
				if j.Name == name {
					_, h := campaign.Assign(journey.CampaignName(j, ""), c, nil, j.Holdout)
					held = held || h
				}
			}
		}
		if !held {
			return c
		}
	}
}

// startJourneys runs the trigger service on the journeys, with the clock
// now, and returns the function that stops it.
func (p *pipeline) startJourneys(t *testing.T, camps *campaign.Config, js *journey.Config, now func() time.Time) (stop func()) {
	t.Helper()
	en := trigger.NewEngine(camps, p.rdb, p.store, p.writer)
	en.SetJourneys(js)
	svc, err := trigger.NewService(trigger.Config{Brokers: p.kafka.Brokers, Now: now}, en, p.log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// journeySteps reads the triggers topic, expecting exactly n, as
// "<customer> <campaign>@day<d>", sorted.
func (p *pipeline) journeySteps(t *testing.T, n int, t0 time.Time) []string {
	t.Helper()
	p.kafka.ReadTopic(t, trigger.TopicTriggers, n, 20*time.Second)
	time.Sleep(2 * time.Second) // and no more
	var out []string
	for _, m := range p.kafka.ReadTopic(t, trigger.TopicTriggers, n, time.Second) {
		var d trigger.Decision
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s@%s", d.Customer, d.Campaign, d.DecidedAt.Sub(t0).Round(time.Minute)))
	}
	sort.Strings(out)
	return out
}

// TestTheCartJourneyRunsThroughThePipelineAcrossARestartAndALatePurchase:
// ann and bob add to their carts through the collector; an hour later both
// get the email. The trigger service is stopped; bob buys while it is down;
// it starts again a day later, and only ann gets the SMS.
func TestTheCartJourneyRunsThroughThePipelineAcrossARestartAndALatePurchase(t *testing.T) {
	camps, js := deployedJourneys(t)
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC) // 11:00 in Taipei, outside quiet hours
	clk := newClock(t0)
	p := startPipeline(t, clk.now, "USD")
	ann, bob := inJourneys(js, "ann-", "cart_abandon"), inJourneys(js, "bob-", "cart_abandon")
	stop := p.startJourneys(t, camps, js, clk.now)
	var evs []map[string]any
	for _, c := range []string{ann, bob} {
		evs = append(evs,
			map[string]any{"specversion": "1.0", "id": "identify-" + c, "source": "/shop", "type": event.Identify, "time": t0.Add(-time.Minute),
				"data": map[string]any{"user_id": c, "consent": map[string]bool{"email": true, "sms": true}}},
			map[string]any{"specversion": "1.0", "id": "add-" + c, "source": "/shop", "type": event.ProductAdded, "time": t0,
				"data": map[string]any{"user_id": c, "cart_id": "c-" + c, "product": map[string]any{"sku": "MUG", "price": "12.50"}, "quantity": 2}})
	}
	p.post(t, evs)
	p.waitApplied(t, 4, 30*time.Second)
	time.Sleep(2 * time.Second) // the trigger service enters both

	clk.set(t0.Add(61 * time.Minute))
	emails := p.journeySteps(t, 2, t0)
	stop()
	p.post(t, []map[string]any{{"specversion": "1.0", "id": "order-" + bob, "source": "/shop", "type": event.OrderCompleted, "time": t0.Add(2 * time.Hour),
		"data": map[string]any{"user_id": bob, "order_id": "1", "total": "25", "currency": "USD"}}})
	p.waitApplied(t, 5, 30*time.Second)
	clk.set(t0.Add(25*time.Hour + time.Minute))
	p.startJourneys(t, camps, js, clk.now)
	got := p.journeySteps(t, 3, t0)

	want := []string{
		ann + " journey:cart_abandon@1/email@1h1m0s",
		ann + " journey:cart_abandon@1/sms@25h1m0s",
		bob + " journey:cart_abandon@1/email@1h1m0s",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(emails) != 2 {
		t.Errorf("triggers %q, want %q", got, want)
	}
}

// TestTheNewCustomerAndWakeUpJourneysRunThroughThePipeline: a customer's
// first order through the collector makes them new (N) and, as the
// profile-updater's clock moves on without another order, dozing (S1, S2,
// S3). The new-customer chain sends its three steps, the wake-up chain one
// offer per stage, with the trigger service restarted between stages.
func TestTheNewCustomerAndWakeUpJourneysRunThroughThePipeline(t *testing.T) {
	camps, js := deployedJourneys(t)
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC) // 11:00 in Taipei
	clk := newClock(t0)
	p := startPipeline(t, clk.now, "USD")
	c := inJourneys(js, "sleeper-", "new_customer", "wake_up")
	stop := p.startJourneys(t, camps, js, clk.now)
	p.post(t, []map[string]any{
		{"specversion": "1.0", "id": "identify-1", "source": "/shop", "type": event.Identify, "time": t0.Add(-time.Minute),
			"data": map[string]any{"user_id": c, "traits": map[string]any{"timezone": "Asia/Taipei"}, "consent": map[string]bool{"email": true, "sms": true}}},
		{"specversion": "1.0", "id": "order-1", "source": "/shop", "type": event.OrderCompleted, "time": t0,
			"data": map[string]any{"user_id": c, "order_id": "1", "total": "30", "currency": "USD"}},
	})
	p.waitApplied(t, 2, 30*time.Second)
	time.Sleep(2 * time.Second) // the trigger service sees N

	day := 24 * time.Hour
	// thank_you 3 days after; feedback 7 days later at 10:00 in Taipei
	// (day 11, 02:00 UTC); the coupon 14 days after that.
	for i, d := range []time.Duration{4 * day, 11 * day, 25 * day} {
		clk.set(t0.Add(d))
		p.kafka.ReadTopic(t, trigger.TopicTriggers, i+1, 20*time.Second)
		if i == 1 {
			stop()
			stop = p.startJourneys(t, camps, js, clk.now)
		}
	}
	// S1 at day 31 (a 30-day cycle), S2 at 61, S3 at 91.
	for i, d := range []int{31, 61, 91} {
		clk.set(t0.AddDate(0, 0, d))
		p.kafka.ReadTopic(t, trigger.TopicTriggers, i+4, 20*time.Second)
		stop()
		stop = p.startJourneys(t, camps, js, clk.now)
	}
	got := p.journeySteps(t, 6, t0)
	// The split's arm is the customer's; either coupon, once.
	offer := "second_purchase"
	if slices.Contains(got, c+" journey:new_customer@1/second_purchase_large@600h0m0s") {
		offer = "second_purchase_large"
	}
	want := []string{
		c + " journey:new_customer@1/feedback@264h0m0s",
		c + " journey:new_customer@1/" + offer + "@600h0m0s",
		c + " journey:new_customer@1/thank_you@96h0m0s",
		c + " journey:wake_up@1/s1_reminder@744h0m0s",
		c + " journey:wake_up@1/s2_offer@1464h0m0s",
		c + " journey:wake_up@1/s3_offer@2184h0m0s",
	}
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("triggers\n%q\nwant\n%q", got, want)
	}
}
