package trigger_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

// journeys returns the env and a constructor of engines that run the
// journeys of deploy/journeys.yaml, and no campaign; each engine is the
// trigger service started afresh on the same Redis.
func journeys(t *testing.T) (*env, func() *trigger.Engine) {
	t.Helper()
	e := start(t)
	camps, err := campaign.Parse([]byte("default_timezone: UTC"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := journey.Load("../../deploy/journeys.yaml", camps)
	if err != nil {
		t.Fatal(err)
	}
	// The tests follow the treated path: the holdout is tested on its own.
	for i := range js.Journeys {
		js.Journeys[i].Holdout = 0
	}
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	return e, func() *trigger.Engine {
		en := trigger.NewEngine(camps, e.rdb, e.store, w)
		en.SetJourneys(js)
		return en
	}
}

// steps returns the triggers as "<customer> <campaign> <template>", sorted,
// and fails unless every decision id is distinct.
func steps(e *env, n int) []string {
	e.t.Helper()
	var out []string
	ids := map[string]bool{}
	for _, d := range e.decisions(trigger.TopicTriggers, n) {
		if ids[d.id] {
			e.t.Fatalf("decision %s published twice", d.id)
		}
		ids[d.id] = true
		out = append(out, d.Customer+" "+d.Campaign+" "+d.Action.Params["template"])
	}
	sort.Strings(out)
	return out
}

func same(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// TestTheCartJourneySendsEachStepOnceAcrossRestartsAndAPurchaseEndsIt runs
// three carts through the cart-abandon journey, restarting the service
// between every step: ann never buys and gets the email after an hour and
// the SMS a day later; bob buys between the two, and his order reaches the
// trigger service only after the SMS was due (the profile-updater had
// applied it); cy's order, at 30 minutes, is delivered after her email was
// due. Entry events and ticks are repeated throughout.
func TestTheCartJourneySendsEachStepOnceAcrossRestartsAndAPurchaseEndsIt(t *testing.T) {
	e, engine := journeys(t)
	en := engine()
	for _, c := range []string{"ann", "bob", "cy"} {
		e.send(en, t0, identify(c, true))
		e.send(en, t0, cartAdd("add-"+c, c, t0))
	}
	// cy's order reaches the profile at 30m, and the trigger service late.
	cyOrder := orderAt("cy", 1, t0.Add(30*time.Minute))
	e.apply(t0.Add(30*time.Minute), cyOrder)

	e.tick(en, t0.Add(59*time.Minute))
	en = engine()
	e.tick(en, t0.Add(61*time.Minute)) // the emails: ann's and bob's
	if err := en.Handle(context.Background(), t0.Add(62*time.Minute), cyOrder); err != nil {
		t.Fatal(err)
	}
	en = engine()
	e.tick(en, t0.Add(62*time.Minute))
	e.send(en, t0.Add(63*time.Minute), cartAdd("add-ann", "ann", t0)) // redelivered
	bobOrder := orderAt("bob", 1, t0.Add(2*time.Hour))
	e.apply(t0.Add(2*time.Hour), bobOrder)
	en = engine()
	e.tick(en, t0.Add(25*time.Hour+time.Minute)) // ann's SMS; bob has bought
	if err := en.Handle(context.Background(), t0.Add(26*time.Hour), bobOrder); err != nil {
		t.Fatal(err)
	}
	e.tick(en, t0.Add(48*time.Hour))
	en = engine()
	e.tick(en, t0.Add(72*time.Hour))

	same(t, steps(e, 3), []string{
		"ann journey:cart_abandon@1/email cart_reminder",
		"ann journey:cart_abandon@1/sms cart_last_call",
		"bob journey:cart_abandon@1/email cart_reminder",
	})
	counts, err := en.JourneyCounts(context.Background(), "cart_abandon@1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"wait_1h|reached": 3, "email|reached": 2, "wait_24h|reached": 2, "still_in_cart:then|reached": 1, "sms|reached": 1,
		"ended|end": 1, "ended|goal": 2,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", counts, want)
	}
}

// apply applies ev to the profile only, as the profile-updater does before
// the trigger service sees the event.
func (e *env) apply(T time.Time, ev cloudevents.Event) {
	e.t.Helper()
	op, err := profile.OpOf(ev, "USD")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := e.store.Apply(context.Background(), T, []profile.Op{op}); err != nil {
		e.t.Fatal(err)
	}
}

func stageChange(id, customer, from, to string, at time.Time) cloudevents.Event {
	return testenv.Event(id, event.ProfileChanged, customer, at,
		fmt.Sprintf(`{"customer":%q,"before":{"stage":%q},"after":{"stage":%q},"changed":["stage"]}`, customer, from, to))
}

// TestTheWakeUpChainFollowsTheCustomerFromS1ToS3AsOneJourney: ann dozes
// off through S1, S2 and S3 and gets the three offers, one per stage, with
// restarts between and her S2 change delivered twice; bob buys after the
// first and gets no more; cy never reaches S2 and leaves at the timeout.
func TestTheWakeUpChainFollowsTheCustomerFromS1ToS3AsOneJourney(t *testing.T) {
	e, engine := journeys(t)
	en := engine()
	day := 24 * time.Hour
	for _, c := range []string{"ann", "bob", "cy"} {
		e.send(en, t0, identify(c, true))
		if err := en.Handle(context.Background(), t0, stageChange("s1-"+c, c, "A", "S1", t0)); err != nil {
			t.Fatal(err)
		}
	}
	e.send(en, t0.Add(10*day), orderAt("bob", 1, t0.Add(10*day)))
	en = engine()
	for _, c := range []string{"ann", "bob"} {
		if err := en.Handle(context.Background(), t0.Add(30*day), stageChange("s2-"+c, c, "S1", "S2", t0.Add(30*day))); err != nil {
			t.Fatal(err)
		}
	}
	en = engine()
	for _, ev := range []cloudevents.Event{stageChange("s2-ann", "ann", "S1", "S2", t0.Add(30*day)), stageChange("s3-ann", "ann", "S2", "S3", t0.Add(60*day))} {
		if err := en.Handle(context.Background(), t0.Add(60*day), ev); err != nil {
			t.Fatal(err)
		}
	}
	e.tick(en, t0.Add(181*day))

	same(t, steps(e, 5), []string{
		"ann journey:wake_up@1/s1_reminder we_miss_you",
		"ann journey:wake_up@1/s2_offer we_miss_you",
		"ann journey:wake_up@1/s3_offer come_back",
		"bob journey:wake_up@1/s1_reminder we_miss_you",
		"cy journey:wake_up@1/s1_reminder we_miss_you",
	})
	counts, err := en.JourneyCounts(context.Background(), "wake_up@1")
	if err != nil {
		t.Fatal(err)
	}
	if counts["ended|end"] != 2 || counts["ended|goal"] != 1 {
		t.Fatalf("endings %v, want 2 at the end (ann, cy at the timeout) and 1 at the goal (bob)", counts)
	}
}

// TestTheNewCustomerChainWaitsUntilMorningInTheCustomersTimeZone: di, in
// Taipei, becomes a new customer at t0 (10:00 UTC); the thank-you comes 3
// days later, the feedback request 7 days after that at the next 10:00 in
// Taipei (02:00 UTC), and the second-purchase coupon 14 days later.
func TestTheNewCustomerChainWaitsUntilMorningInTheCustomersTimeZone(t *testing.T) {
	e, engine := journeys(t)
	en := engine()
	e.send(en, t0, testenv.Event("id-di", event.Identify, "di", t0.Add(-time.Hour),
		`{"user_id":"di","traits":{"timezone":"Asia/Taipei"},"consent":{"email":true}}`))
	if err := en.Handle(context.Background(), t0, stageChange("n-di", "di", "prospect", "N", t0)); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	e.tick(en, t0.Add(3*day-time.Minute))
	en = engine()
	e.tick(en, t0.Add(3*day))
	morning := time.Date(2026, 5, 15, 2, 0, 0, 0, time.UTC) // 10:00 in Taipei, after 05-14 10:00 UTC
	e.tick(en, morning.Add(-time.Minute))
	same(t, steps(e, 1), []string{"di journey:new_customer@1/thank_you thank_you"})
	en = engine()
	e.tick(en, morning)
	e.tick(en, morning.Add(14*day))
	got := steps(e, 3)
	if got[0] != "di journey:new_customer@1/feedback feedback_request" ||
		got[1] != "di journey:new_customer@1/second_purchase second_purchase" && got[1] != "di journey:new_customer@1/second_purchase_large second_purchase" {
		t.Fatalf("triggers %q, want the thank-you, the feedback request and one second-purchase coupon", got)
	}
}
