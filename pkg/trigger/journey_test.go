package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/keyspace"
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
		"wait_1h|reached": 3, "has_cart:then|reached": 2, "email|reached": 2, "wait_24h|reached": 2, "still_in_cart:then|reached": 1, "sms|reached": 1,
		"ended|end": 1, "ended|goal": 2,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", counts, want)
	}
	// Journeys are reported as journeys, not among the campaigns.
	if names, err := trigger.Campaigns(context.Background(), e.rdb); err != nil || len(names) != 0 {
		t.Errorf("campaigns %v (%v), want none", names, err)
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

// reminder is a journey of one wait and one email, at version v, with the
// email's template t: an hour after a cart add, unless bought.
func reminder(v int, tmpl string, retired bool) string {
	return fmt.Sprintf(`
  - name: reminder
    version: %d
    retired: %v
    entry: {on: [segflow.cart.product_added]}
    goal: {on: [segflow.purchase.order_completed]}
    exit:
      - on: [segflow.identify.identify]
        when: has(event.data.consent) && has(event.data.consent.email) && !event.data.consent.email
    reentry: 2d
    steps:
      - {name: wait, wait: 1h}
      - {name: mail, send: {channel: email, action: {type: message, params: {template: %s}}}}
`, v, retired, tmpl)
}

// engineOf returns a constructor of engines running the campaigns cfg and
// the journeys js (YAML).
func engineOf(t *testing.T, e *env, cfg, js string) func() *trigger.Engine {
	t.Helper()
	camps, err := campaign.Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	j, err := journey.Parse([]byte("journeys:"+js), camps)
	if err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	return func() *trigger.Engine {
		en := trigger.NewEngine(camps, e.rdb, e.store, w)
		en.SetJourneys(j)
		return en
	}
}

// TestAnEditedJourneyKeepsCustomersInFlightOnTheVersionTheyEntered: ann and
// dee enter version 1; version 2 replaces it, with version 1 retired, and
// bob enters version 2. Ann gets version 1's email. Then version 1 is
// removed from the file: dee, still waiting on it, leaves it with no email,
// and bob gets version 2's.
func TestAnEditedJourneyKeepsCustomersInFlightOnTheVersionTheyEntered(t *testing.T) {
	e := start(t)
	v1 := engineOf(t, e, "", reminder(1, "old", false))
	v1and2 := engineOf(t, e, "", reminder(1, "old", true)+reminder(2, "new", false))
	v2 := engineOf(t, e, "", reminder(2, "new", false))
	en := v1()
	for _, c := range []string{"ann", "dee", "bob"} {
		e.send(en, t0, identify(c, true))
	}
	e.send(en, t0, cartAdd("add-ann", "ann", t0))
	e.send(en, t0.Add(30*time.Minute), cartAdd("add-dee", "dee", t0.Add(30*time.Minute)))
	en = v1and2()
	e.send(en, t0.Add(40*time.Minute), cartAdd("add-bob", "bob", t0.Add(40*time.Minute)))
	e.send(en, t0.Add(41*time.Minute), cartAdd("add-ann-2", "ann", t0.Add(41*time.Minute))) // in flight: no second entry
	e.tick(en, t0.Add(61*time.Minute))
	en = v2()
	e.tick(en, t0.Add(2*time.Hour))
	same(t, steps(e, 2), []string{"ann journey:reminder@1/mail old", "bob journey:reminder@2/mail new"})
	counts, err := en.JourneyCounts(context.Background(), "reminder@1")
	if err != nil {
		t.Fatal(err)
	}
	if counts["ended|version_removed"] != 1 || counts["ended|end"] != 1 {
		t.Errorf("version 1 endings %v, want ann through and dee removed", counts)
	}
}

// TestExitsEndAJourneyEvenWhenTheirEventsComeLate: ann's order at 30
// minutes reaches the trigger service at 50 minutes, before her email is
// due, and before the profile-updater has applied it; bob withdraws his
// consent to email; cy's order is from before her cart, delivered late, and
// does not end the journey she entered after it. Re-entry is allowed two
// days after an entry: ann's next cart the same day enters nothing, a cart
// three days later enters again.
func TestExitsEndAJourneyEvenWhenTheirEventsComeLate(t *testing.T) {
	e := start(t)
	engine := engineOf(t, e, "", reminder(1, "r", false))
	en := engine()
	for _, c := range []string{"ann", "bob", "cy"} {
		e.send(en, t0, identify(c, true))
		e.send(en, t0, cartAdd("add-"+c, c, t0))
	}
	annOrder := orderAt("ann", 1, t0.Add(30*time.Minute))
	if err := en.Handle(context.Background(), t0.Add(50*time.Minute), annOrder); err != nil {
		t.Fatal(err)
	}
	withdraw := testenv.Event("id-bob-2", event.Identify, "bob", t0.Add(40*time.Minute), `{"user_id":"bob","consent":{"email":false}}`)
	if err := en.Handle(context.Background(), t0.Add(40*time.Minute), withdraw); err != nil {
		t.Fatal(err)
	}
	if err := en.Handle(context.Background(), t0.Add(45*time.Minute), orderAt("cy", 1, t0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	e.send(en, t0.Add(55*time.Minute), cartAdd("add-ann-2", "ann", t0.Add(55*time.Minute)))
	en = engine()
	e.tick(en, t0.Add(2*time.Hour))
	same(t, steps(e, 1), []string{"cy journey:reminder@1/mail r"})

	e.send(en, t0.Add(72*time.Hour), cartAdd("add-ann-3", "ann", t0.Add(72*time.Hour)))
	e.tick(en, t0.Add(74*time.Hour))
	same(t, steps(e, 2), []string{"ann journey:reminder@1/mail r", "cy journey:reminder@1/mail r"})
	counts, err := en.JourneyCounts(context.Background(), "reminder@1")
	if err != nil {
		t.Fatal(err)
	}
	if counts["ended|goal"] != 1 || counts["ended|exit"] != 1 || counts["ended|end"] != 2 || counts["wait|reached"] != 4 {
		t.Errorf("counts %v, want ann's goal, bob's exit, and cy and ann (again) through, of 4 entries", counts)
	}
}

// TestAJourneysSendsKeepTheCampaignGuards: quiet hours (21:00 to 09:00 UTC)
// hold a send due at 22:00 until 09:00, the caps across campaigns count a
// journey's sends with the campaigns', and a step's own cap suppresses a
// second send of it within its period, with the reason.
func TestAJourneysSendsKeepTheCampaignGuards(t *testing.T) {
	e := start(t)
	const guards = `
quiet_hours: {start: "21:00", end: "09:00"}
caps: [{max: 2, per: 24h}]
`
	const js = `
  - name: chain
    entry: {on: [segflow.cart.product_added]}
    reentry: 0s
    steps:
      - {name: wait, wait: 12h}
      - {name: first, send: {channel: email, action: {type: message, params: {template: first}}, caps: [{max: 1, per: 7d}]}}
      - {name: second, send: {channel: email, action: {type: message, params: {template: second}}}}
      - {name: third, send: {channel: email, action: {type: message, params: {template: third}}}}
`
	engine := engineOf(t, e, guards, js)
	en := engine()
	e.send(en, t0, identify("ann", true))
	e.send(en, t0, cartAdd("add-1", "ann", t0)) // t0 is 10:00: due at 22:00, quiet
	e.tick(en, t0.Add(12*time.Hour+time.Minute))
	e.decisions(trigger.TopicTriggers, 0)
	en = engine()
	nine := time.Date(2026, 5, 5, 9, 0, 0, 0, time.UTC)
	e.tick(en, nine.Add(-time.Minute))
	e.tick(en, nine)
	// first and second are sent at 09:00; third is over the cap of 2 a day.
	got := outcomes(e, 2, 1)
	same(t, got, []string{"ann:cap@23h0m0s", "ann:sent@23h0m0s", "ann:sent@23h0m0s"})
	// Entered again two days later: first is within its own 7-day cap.
	e.send(en, t0.Add(48*time.Hour), cartAdd("add-2", "ann", t0.Add(48*time.Hour)))
	e.tick(en, t0.Add(60*time.Hour)) // 22:00, quiet
	e.tick(en, nine.Add(48*time.Hour))
	// The topics hold both entries' decisions: the second's first is
	// capped by its own cap, and its second and third are sent, the day's
	// sends being 24 hours ago.
	var got2 []string
	for _, d := range e.decisions(trigger.TopicDecisions, 2) {
		got2 = append(got2, d.Campaign+":"+d.Outcome+"@"+d.DecidedAt.Sub(t0).String())
	}
	for _, d := range e.decisions(trigger.TopicTriggers, 4) {
		got2 = append(got2, d.Campaign+":"+d.Outcome+"@"+d.DecidedAt.Sub(t0).String())
	}
	sort.Strings(got2)
	same(t, got2, []string{
		"journey:chain@1/first:cap@71h0m0s", "journey:chain@1/first:sent@23h0m0s",
		"journey:chain@1/second:sent@23h0m0s", "journey:chain@1/second:sent@71h0m0s",
		"journey:chain@1/third:cap@23h0m0s", "journey:chain@1/third:sent@71h0m0s",
	})
	counts, err := en.JourneyCounts(context.Background(), "chain@1")
	if err != nil {
		t.Fatal(err)
	}
	if counts["first|reached"] != 2 || counts["second|reached"] != 2 || counts["ended|end"] != 2 {
		t.Errorf("counts %v, want each step reached once per entry, though the first waited out quiet hours", counts)
	}
}

// TestAJourneyBegunAnonymouslyFollowsTheVisitorWhoLogsIn: a visitor's cart
// enters the journey; they log in as mei before the email is due, and the
// email goes to mei, once, though the login is delivered twice.
func TestAJourneyBegunAnonymouslyFollowsTheVisitorWhoLogsIn(t *testing.T) {
	e := start(t)
	en := engineOf(t, e, "", reminder(1, "r", false))()
	e.send(en, t0, anonCartAdd("add-1", "v1", t0))
	e.send(en, t0.Add(5*time.Minute), login("login-1", "mei", "v1", t0.Add(5*time.Minute)))
	if err := en.Handle(context.Background(), t0.Add(8*time.Minute), login("login-1", "mei", "v1", t0.Add(5*time.Minute))); err != nil {
		t.Fatal(err)
	}
	e.tick(en, t0.Add(61*time.Minute))
	e.tick(en, t0.Add(3*time.Hour))
	same(t, steps(e, 1), []string{"mei journey:reminder@1/mail r"})
	e.decisions(trigger.TopicDecisions, 0)
}

// TestErasingACustomerRemovesTheirJourneysAndTimers: ann is erased while
// she waits in a journey; nothing of hers is left, and nothing is sent.
func TestErasingACustomerRemovesTheirJourneysAndTimers(t *testing.T) {
	e := start(t)
	en := engineOf(t, e, "", reminder(1, "r", false))()
	e.send(en, t0, identify("ann", true))
	e.send(en, t0, cartAdd("add-1", "ann", t0))
	n, err := trigger.Backlog(context.Background(), e.rdb, farFuture)
	if err != nil || n != 1 {
		t.Fatalf("backlog %d (%v), want ann's journey timer", n, err)
	}
	if _, err := trigger.Erase(context.Background(), e.rdb, "ann"); err != nil {
		t.Fatal(err)
	}
	if n, err := trigger.Backlog(context.Background(), e.rdb, farFuture); err != nil || n != 0 {
		t.Fatalf("backlog %d (%v) after the erasure, want 0", n, err)
	}
	var left []string
	for _, match := range []string{"tr:{ann}*", "pt:{ann}*"} { // the profile's are the profile store's to erase
		err = keyspace.Scan(context.Background(), e.rdb, match, func(keys []string) error { left = append(left, keys...); return nil })
		if err != nil || len(left) != 0 {
			t.Fatalf("keys left %v (%v)", left, err)
		}
	}
	e.tick(en, t0.Add(2*time.Hour))
	e.decisions(trigger.TopicTriggers, 0)
}

// TestABroadcastEntersItsJourneyOnceAndNoOther: a journey that takes
// broadcasts (segflow.broadcast in its entry's on) is entered by a
// broadcast to journey:<name>; the occurrence decided again (a restarted
// broadcast) enters nobody twice, a journey not named is not entered, and
// a customer the entry's condition excludes is a premise.
func TestABroadcastEntersItsJourneyOnceAndNoOther(t *testing.T) {
	e := start(t)
	js := `
  - name: welcome_back
    version: 1
    entry: {on: [segflow.broadcast], when: 'profile.stage != "S3"'}
    steps:
      - {name: wait, wait: 1h}
      - {name: mail, send: {channel: email, action: {type: message, params: {template: back}}}}
  - name: other
    version: 1
    entry: {on: [segflow.broadcast]}
    steps:
      - {name: mail, send: {channel: email, action: {type: message, params: {template: other}}}}
`
	engine := engineOf(t, e, "", js)
	en := engine()
	for _, c := range []string{"ann", "bob"} {
		e.send(en, t0, identify(c, true))
	}
	ctx := context.Background()
	const cause = "broadcast:back:once"
	for range 2 { // the second time: the broadcast's step run again after a crash
		got, err := engine().Broadcast(ctx, t0, "journey:welcome_back", cause, []string{"ann", "bob"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint([]string{trigger.Entered, trigger.Entered}) && fmt.Sprint(got) != fmt.Sprint([]string{trigger.InJourney, trigger.InJourney}) {
			t.Fatalf("outcomes %v", got)
		}
	}
	e.tick(en, t0.Add(61*time.Minute))
	same(t, steps(e, 2), []string{"ann journey:welcome_back@1/mail back", "bob journey:welcome_back@1/mail back"})
	if _, err := engine().Broadcast(ctx, t0, "journey:nosuch", cause, []string{"ann"}); !errors.Is(err, trigger.ErrNoCampaign) {
		t.Errorf("a broadcast to a journey that does not exist: %v, want ErrNoCampaign", err)
	}
}
