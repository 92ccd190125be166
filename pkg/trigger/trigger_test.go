package trigger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

const campaigns = `
campaigns:
  - name: cart_abandon
    kind: cart_abandon
    on: [segflow.cart.product_added]
    when: profile.cart_value > 0.0
    delay: 30m
    restart: true
    cancel_on: [segflow.purchase.order_completed]
    channel: email
    action: {type: coupon, params: {cart_value: "${profile.cart_value}"}}
  - name: first_purchase_welcome
    kind: first_purchase
    on: [segflow.purchase.order_completed]
    when: profile.orders == 1
    channel: sms
    action: {type: message, params: {template: welcome}}
`

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// farFuture is after every timer: Backlog at farFuture counts them all.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	kafka  *testenv.Kafka
	rdb    redis.UniversalClient
	store  *profile.Store
	engine func() *trigger.Engine
}

func start(t *testing.T) *env {
	k := testenv.StartKafka(t, stream.Topic{Name: trigger.TopicTriggers, Partitions: 3}, stream.Topic{Name: trigger.TopicDecisions, Partitions: 3},
		stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	cfg, err := campaign.Parse([]byte(campaigns))
	if err != nil {
		t.Fatal(err)
	}
	store := profile.New(rdb, profile.Config{})
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	return &env{t: t, kafka: k, rdb: rdb, store: store, engine: func() *trigger.Engine { return trigger.NewEngine(cfg, rdb, store, w) }}
}

// send applies an event to the profile (as the profile-updater would) and
// then hands it to the engine, at T.
func (e *env) send(en *trigger.Engine, T time.Time, ev cloudevents.Event) {
	e.t.Helper()
	e.apply(T, ev)
	if err := en.Handle(context.Background(), T, ev); err != nil {
		e.t.Fatal(err)
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

func (e *env) tick(en *trigger.Engine, T time.Time) {
	e.t.Helper()
	if _, err := en.Due(context.Background(), T, 100); err != nil {
		e.t.Fatal(err)
	}
}

type decision struct {
	id string
	trigger.Decision
}

func (e *env) decisions(topic string, want int) []decision {
	e.t.Helper()
	var out []decision
	for _, m := range e.kafka.ReadTopic(e.t, topic, want, 5*time.Second) {
		ev, err := stream.FromMessage(m)
		if err != nil {
			e.t.Fatalf("%s: not a CloudEvent: %v", topic, err)
		}
		var d trigger.Decision
		if err := json.Unmarshal(ev.Data(), &d); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, decision{ev.ID(), d})
	}
	if len(out) != want {
		e.t.Fatalf("%s: %d decisions, want %d: %+v", topic, len(out), want, out)
	}
	return out
}

func identify(customer string, consent bool) cloudevents.Event {
	return testenv.Event("id-"+customer, event.Identify, customer, t0.Add(-time.Hour), fmt.Sprintf(`{"user_id":%q,"consent":{"email":%v,"sms":%v}}`, customer, consent, consent))
}

func cartAdd(id, customer string, at time.Time) cloudevents.Event {
	return testenv.Event(id, event.ProductAdded, customer, at, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"MUG","price":"12.50"},"quantity":2}`, customer))
}

func TestAnAbandonedCartFiresOnceAfterTheDelayAcrossRestarts(t *testing.T) {
	e := start(t)
	en := e.engine()
	e.send(en, t0, identify("ann", true))
	e.send(en, t0, cartAdd("add-1", "ann", t0))
	e.send(en, t0.Add(20*time.Minute), cartAdd("add-2", "ann", t0.Add(20*time.Minute))) // restarts the wait: due at 50m

	e.tick(en, t0.Add(49*time.Minute))
	en = e.engine() // the service restarts between the cart and its due time
	e.tick(en, t0.Add(51*time.Minute))
	e.tick(en, t0.Add(90*time.Minute))
	// The first cart event is redelivered after the trigger: it starts a wait
	// whose decision was already made and announced.
	if err := en.Handle(context.Background(), t0.Add(91*time.Minute), cartAdd("add-1", "ann", t0)); err != nil {
		t.Fatal(err)
	}
	e.tick(en, t0.Add(3*time.Hour))

	got := e.decisions(trigger.TopicTriggers, 1)[0]
	if got.Campaign != "cart_abandon" || got.Customer != "ann" || got.Outcome != trigger.Sent || got.Action.Type != "coupon" || got.Action.Params["cart_value"] != "25" {
		t.Errorf("trigger %+v, want a cart_abandon coupon for ann with cart value 25", got)
	}
	if !got.DecidedAt.Equal(t0.Add(51*time.Minute)) || fmt.Sprint(got.Reason.Events) != "[add-1 add-2]" {
		t.Errorf("decided at %s for %v, want 51m after the first add, caused by both adds", got.DecidedAt.Sub(t0), got.Reason.Events)
	}
	e.decisions(trigger.TopicDecisions, 0)
}

func TestAPurchaseCancelsThePendingCartReminderEvenWhenItArrivesLate(t *testing.T) {
	e := start(t)
	en := e.engine()
	e.send(en, t0, identify("bo", true))
	e.send(en, t0, cartAdd("add-1", "bo", t0))
	// The purchase happened at 25m but is delivered at 29m.
	e.send(en, t0.Add(29*time.Minute), testenv.Event("o-1", event.OrderCompleted, "bo", t0.Add(25*time.Minute), `{"user_id":"bo","order_id":"1","total":"25","currency":"USD"}`))
	e.tick(en, t0.Add(2*time.Hour))
	e.decisions(trigger.TopicTriggers, 1) // only the first-purchase welcome
	for _, d := range e.decisions(trigger.TopicTriggers, 1) {
		if d.Campaign != "first_purchase_welcome" {
			t.Errorf("unexpected trigger %+v", d)
		}
	}
}

func TestCustomersWithoutConsentAreSuppressedNotSilentlyDropped(t *testing.T) {
	e := start(t)
	en := e.engine()
	e.send(en, t0, identify("cy", false))
	e.send(en, t0, cartAdd("add-1", "cy", t0))
	e.tick(en, t0.Add(31*time.Minute))
	e.decisions(trigger.TopicTriggers, 0)
	d := e.decisions(trigger.TopicDecisions, 1)[0]
	if d.Outcome != trigger.Consent || d.Campaign != "cart_abandon" {
		t.Errorf("decision %+v, want cart_abandon suppressed for consent", d)
	}
}

func TestADelayedLifecycleOfferKeepsItsProfileChangeUntilItFires(t *testing.T) {
	const cfg = `
campaigns:
  - name: welcome
    kind: first_purchase
    on: [profile.changed]
    when: '"stage" in change.changed && change.after.stage == "N"'
    delay: 72h
    channel: email
    action: {type: message, params: {template: welcome}}
`
	e := start(t)
	camps, err := campaign.Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	defer w.Close()
	en := trigger.NewEngine(camps, e.rdb, e.store, w)
	e.send(en, t0, identify("di", true))
	change := testenv.Event("chg-1", event.ProfileChanged, "di", t0, `{"customer":"di","before":{"stage":"prospect"},"after":{"stage":"N"},"changed":["stage"]}`)
	if err := en.Handle(context.Background(), t0, change); err != nil {
		t.Fatal(err)
	}
	e.tick(en, t0.Add(71*time.Hour))
	e.decisions(trigger.TopicTriggers, 0)
	e.tick(en, t0.Add(73*time.Hour))
	if d := e.decisions(trigger.TopicTriggers, 1)[0]; d.Campaign != "welcome" || d.Action.Params["template"] != "welcome" {
		t.Errorf("trigger %+v, want the welcome message", d)
	}
}

// guarded starts an engine with campaigns that fire on every order.
func guarded(t *testing.T, cfg string) (*env, *trigger.Engine) {
	t.Helper()
	e := start(t)
	camps, err := campaign.Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	return e, trigger.NewEngine(camps, e.rdb, e.store, w)
}

func orderAt(customer string, n int, at time.Time) cloudevents.Event {
	return testenv.Event(fmt.Sprint("o-", customer, n), event.OrderCompleted, customer, at, fmt.Sprintf(`{"user_id":%q,"order_id":"%d","total":"10","currency":"USD"}`, customer, n))
}

func outcomes(e *env, triggers, suppressed int) []string {
	var out []string
	for _, d := range e.decisions(trigger.TopicTriggers, triggers) {
		out = append(out, d.Customer+":"+d.Outcome+"@"+d.DecidedAt.Sub(t0).String())
	}
	for _, d := range e.decisions(trigger.TopicDecisions, suppressed) {
		out = append(out, d.Customer+":"+d.Outcome+"@"+d.DecidedAt.Sub(t0).String())
	}
	sort.Strings(out)
	return out
}

func TestCooldownAndCapsSuppressWithTheirReason(t *testing.T) {
	e, en := guarded(t, `
caps: [{max: 2, per: 24h}]
campaigns:
  - {name: thanks, kind: first_purchase, on: [segflow.purchase.order_completed], channel: email, action: {type: message}, cooldown: 1h}
`)
	e.send(en, t0, identify("ed", true))
	for i, at := range []time.Duration{0, 30 * time.Minute, 2 * time.Hour, 4 * time.Hour, 25 * time.Hour} {
		e.send(en, t0.Add(at), orderAt("ed", i, t0.Add(at)))
	}
	got := outcomes(e, 3, 2)
	want := []string{"ed:cap@4h0m0s", "ed:cooldown@30m0s", "ed:sent@0s", "ed:sent@25h0m0s", "ed:sent@2h0m0s"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decisions %v, want %v", got, want)
	}
}

func TestTheDailyBudgetSuppressesOnceSpent(t *testing.T) {
	e, en := guarded(t, `
default_timezone: UTC
campaigns:
  - {name: thanks, kind: first_purchase, on: [segflow.purchase.order_completed], channel: email, action: {type: message}, daily_budget: 2}
`)
	for _, c := range []string{"f1", "f2", "f3"} {
		e.send(en, t0, identify(c, true))
		e.send(en, t0, orderAt(c, 1, t0))
	}
	e.send(en, t0.Add(24*time.Hour), orderAt("f3", 2, t0.Add(24*time.Hour))) // a new day, a new budget
	got := outcomes(e, 3, 1)
	want := []string{"f1:sent@0s", "f2:sent@0s", "f3:budget@0s", "f3:sent@24h0m0s"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decisions %v, want %v", got, want)
	}
}

func TestQuietHoursDelayATriggerToTheirEnd(t *testing.T) {
	e, en := guarded(t, `
default_timezone: Asia/Taipei
quiet_hours: {start: "21:00", end: "09:00"}
campaigns:
  - {name: thanks, kind: first_purchase, on: [segflow.purchase.order_completed], channel: email, action: {type: message}}
`)
	// t0 is 18:00 in Taipei; the order comes at 22:30 Taipei time.
	at := t0.Add(4*time.Hour + 30*time.Minute)
	e.send(en, at, identify("gus", true))
	e.send(en, at, orderAt("gus", 1, at))
	e.decisions(trigger.TopicTriggers, 0)
	e.tick(en, t0.Add(14*time.Hour+59*time.Minute)) // 08:59 Taipei: still quiet
	e.decisions(trigger.TopicTriggers, 0)
	e.tick(en, t0.Add(15*time.Hour+time.Minute)) // 09:01 Taipei
	if got := outcomes(e, 1, 0); fmt.Sprint(got) != "[gus:sent@15h1m0s]" {
		t.Errorf("decisions %v, want one sent at 09:01 Taipei", got)
	}
}

func TestHeldOutCustomersAreRecordedNotTriggered(t *testing.T) {
	e, en := guarded(t, `
campaigns:
  - {name: thanks, kind: first_purchase, on: [segflow.purchase.order_completed], channel: email, action: {type: message}, holdout: 0.5}
`)
	var held, treated string
	for i := 0; held == "" || treated == ""; i++ {
		c := fmt.Sprint("h", i)
		if _, h := campaign.Assign("thanks", c, []campaign.Variant{{Name: campaign.DefaultVariant, Weight: 1}}, 0.5); h {
			held = c
		} else {
			treated = c
		}
	}
	for _, c := range []string{held, treated} {
		e.send(en, t0, identify(c, true))
		e.send(en, t0, orderAt(c, 1, t0))
	}
	got := outcomes(e, 1, 1)
	want := []string{held + ":holdout@0s", treated + ":sent@0s"}
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decisions %v, want %v", got, want)
	}
}

func TestPurchasesWithinTheWindowAreAttributedOnceToTreatedAndHoldout(t *testing.T) {
	e, en := guarded(t, `
campaigns:
  - {name: promo, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: coupon}, holdout: 0.5, attribution: 7d}
`)
	var held, treated []string
	for i := 0; len(held) < 2 || len(treated) < 2; i++ {
		c := fmt.Sprint("a", i)
		if _, h := campaign.Assign("promo", c, []campaign.Variant{{Name: campaign.DefaultVariant, Weight: 1}}, 0.5); h {
			held = append(held, c)
		} else {
			treated = append(treated, c)
		}
	}
	held, treated = held[:2], treated[:2]
	for _, c := range append(append([]string{}, held...), treated...) {
		e.send(en, t0, identify(c, true))
		e.send(en, t0, cartAdd("add-"+c, c, t0))
	}
	day := 24 * time.Hour
	e.send(en, t0.Add(day), testenv.Event("o-t0", event.OrderCompleted, treated[0], t0.Add(day), fmt.Sprintf(`{"user_id":%q,"order_id":"t0","total":"40.00","currency":"USD"}`, treated[0])))
	// Redelivered: counted once.
	if err := en.Handle(context.Background(), t0.Add(day), testenv.Event("o-t0", event.OrderCompleted, treated[0], t0.Add(day), fmt.Sprintf(`{"user_id":%q,"order_id":"t0","total":"40.00","currency":"USD"}`, treated[0]))); err != nil {
		t.Fatal(err)
	}
	e.send(en, t0.Add(8*day), testenv.Event("o-t1", event.OrderCompleted, treated[1], t0.Add(8*day), fmt.Sprintf(`{"user_id":%q,"order_id":"t1","total":"99","currency":"USD"}`, treated[1]))) // after the window
	e.send(en, t0.Add(2*day), testenv.Event("o-h0", event.OrderCompleted, held[0], t0.Add(2*day), fmt.Sprintf(`{"user_id":%q,"order_id":"h0","total":"15","currency":"USD"}`, held[0])))
	rs, err := en.Results(context.Background(), "promo")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rs)
	want := fmt.Sprint([]trigger.Result{
		{Group: trigger.Held, Decided: 2, Converted: 1, Revenue: 15_000_000},
		{Variant: campaign.DefaultVariant, Group: trigger.Treated, Decided: 2, Converted: 1, Revenue: 40_000_000},
	})
	if got != want {
		t.Errorf("results %s, want %s", got, want)
	}
}

func TestABirthdayCouponComesOnTheDayInTheCustomersTimeZoneValuedByTier(t *testing.T) {
	e, en := guarded(t, `
default_timezone: UTC
campaigns:
  - name: birthday
    kind: birthday
    when: profile.orders > 0
    channel: email
    action: {type: coupon, params: {value: '${profile.tier == "gold" ? "500" : "200"}'}}
`)
	// t0 is 2026-05-04 10:00 UTC; the birthday is 6 May, in Taipei (UTC+8).
	e.send(en, t0, testenv.Event("o-1", event.OrderCompleted, "hal", t0, `{"user_id":"hal","order_id":"1","total":"10","currency":"USD"}`))
	e.send(en, t0, testenv.Event("id-hal", event.Identify, "hal", t0, `{"user_id":"hal","traits":{"birthday":"--05-06","timezone":"Asia/Taipei"},"consent":{"email":true}}`))
	start := time.Date(2026, 5, 5, 16, 0, 0, 0, time.UTC) // 6 May 00:00 in Taipei
	e.tick(en, start.Add(-time.Minute))
	e.decisions(trigger.TopicTriggers, 0)
	e.tick(en, start)
	e.tick(en, start.Add(time.Hour)) // once
	d := e.decisions(trigger.TopicTriggers, 1)[0]
	if d.Campaign != "birthday" || d.Action.Params["value"] != "200" || !d.DecidedAt.Equal(start) {
		t.Errorf("trigger %+v, want the 200 birthday coupon at 6 May 00:00 Taipei", d)
	}
	// Next year's is scheduled.
	e.tick(en, start.AddDate(1, 0, 0))
	e.decisions(trigger.TopicTriggers, 2)
}

func TestAHabitCouponComesBeforeTheUsualHour(t *testing.T) {
	e, en := guarded(t, `
default_timezone: UTC
campaigns:
  - {name: coffee, kind: habit, lead: 2h, channel: email, action: {type: coupon}}
`)
	e.send(en, t0, identify("ivy", true))
	// Mondays at 08:15 UTC, three weeks running (t0 is Monday 4 May 2026).
	monday := time.Date(2026, 4, 13, 8, 15, 0, 0, time.UTC)
	for i := range 3 {
		at := monday.AddDate(0, 0, 7*i)
		e.send(en, at, testenv.Event(fmt.Sprint("o-", i), event.OrderCompleted, "ivy", at, fmt.Sprintf(`{"user_id":"ivy","order_id":"%d","total":"4","currency":"USD"}`, i)))
	}
	due := time.Date(2026, 5, 4, 6, 0, 0, 0, time.UTC) // the next Monday 08:00 less 2h
	e.tick(en, due.Add(-time.Minute))
	e.decisions(trigger.TopicTriggers, 0)
	e.tick(en, due)
	if d := e.decisions(trigger.TopicTriggers, 1)[0]; d.Campaign != "coffee" || !d.DecidedAt.Equal(due) {
		t.Errorf("trigger %+v, want the coffee coupon at %s", d, due)
	}
}

func TestRepeatedViewsWithoutACartTriggerABrowseReminder(t *testing.T) {
	e, en := guarded(t, `
campaigns:
  - name: browse
    kind: browse_abandon
    on: [segflow.browse.product_viewed]
    views: 3
    window: 24h
    delay: 2h
    restart: true
    cancel_on: [segflow.cart.product_added]
    channel: email
    action: {type: message, params: {sku: "${event.data.product.sku}"}}
`)
	view := func(id, c string, at time.Time) cloudevents.Event {
		return testenv.Event(id, event.ProductViewed, c, at, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"JKT"}}`, c))
	}
	for _, c := range []string{"jo", "kai", "lee"} {
		e.send(en, t0, identify(c, true))
	}
	// jo views the jacket three times; kai twice; lee three times and then carts it.
	for i, at := range []time.Duration{0, time.Hour, 3 * time.Hour} {
		e.send(en, t0.Add(at), view(fmt.Sprint("jo-", i), "jo", t0.Add(at)))
		e.send(en, t0.Add(at), view(fmt.Sprint("lee-", i), "lee", t0.Add(at)))
		if i < 2 {
			e.send(en, t0.Add(at), view(fmt.Sprint("kai-", i), "kai", t0.Add(at)))
		}
	}
	e.send(en, t0.Add(4*time.Hour), cartAdd("lee-add", "lee", t0.Add(4*time.Hour)))
	e.tick(en, t0.Add(6*time.Hour))
	d := e.decisions(trigger.TopicTriggers, 1)[0]
	if d.Customer != "jo" || d.Action.Params["sku"] != "JKT" || !d.DecidedAt.Equal(t0.Add(6*time.Hour)) {
		t.Errorf("trigger %+v, want one reminder of JKT for jo, 2h after the third view", d)
	}
}

// TestEverythingReadAgainPublishesNoSecondDecision runs the service over a
// stream of causes, then runs it again from the start of the topics under
// another consumer group — what a crash before any offset commit would
// redeliver — and shows that every cause was decided and published once.
func TestEverythingReadAgainPublishesNoSecondDecision(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	cfg, err := campaign.Parse([]byte(`
campaigns:
  - {name: instant, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: message}}
`))
	if err != nil {
		t.Fatal(err)
	}
	const customers = 60
	var msgs []kafka.Message
	for i := range customers {
		c := fmt.Sprint("c", i)
		op, err := profile.OpOf(identify(c, i%4 != 0), "USD") // a quarter without consent: suppressed
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.store.Apply(ctx, t0, []profile.Op{op}); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, testenv.Message(t, fmt.Sprint("add-", i), event.ProductAdded, c, t0, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"MUG","price":"1"}}`, c)))
	}
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	e.serve(cfg, w, "first")
	e.serve(cfg, w, "again")
	sent := e.decisions(trigger.TopicTriggers, customers*3/4)
	suppressed := e.decisions(trigger.TopicDecisions, customers/4)
	ids := map[string]int{}
	for _, d := range append(sent, suppressed...) {
		ids[d.id]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("decision %s published %d times", id, n)
		}
	}
	if len(ids) != customers {
		t.Errorf("%d distinct decisions for %d causes", len(ids), customers)
	}
}

// serve runs the trigger service as consumer group group, with its clock
// at t0, until it has handled everything on the cart topic.
func (e *env) serve(cfg *campaign.Config, w *kafka.Writer, group string) {
	e.t.Helper()
	e.run(cfg, w, group, event.TopicCart)
}

func TestEventsOfAnErasedCustomerFromBeforeTheErasureDecideNothing(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	cfg, err := campaign.Parse([]byte(`
campaigns:
  - {name: instant, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: message}}
  - {name: later, kind: cart_abandon, on: [segflow.cart.product_added], delay: 1h, channel: email, action: {type: message}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"gone", "kept"} {
		op, err := profile.OpOf(identify(c, true), "USD")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.store.Apply(ctx, t0, []profile.Op{op}); err != nil {
			t.Fatal(err)
		}
	}
	if err := privacy.New(e.rdb).Record(ctx, "gone", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	err = w.WriteMessages(ctx, testenv.Message(t, "add-gone", event.ProductAdded, "gone", t0, `{"user_id":"gone","product":{"sku":"MUG","price":"1"}}`),
		testenv.Message(t, "add-kept", event.ProductAdded, "kept", t0, `{"user_id":"kept","product":{"sku":"MUG","price":"1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	e.serve(cfg, w, "first")
	sent := e.decisions(trigger.TopicTriggers, 1)
	if sent[0].Customer != "kept" {
		t.Errorf("triggered %s, want kept only", sent[0].Customer)
	}
	for k := range testenv.Dump(t, e.rdb, "tr") {
		if strings.Contains(k, "gone") {
			t.Errorf("trigger state of the erased customer: %s", k)
		}
	}
	if n, _ := trigger.Backlog(ctx, e.rdb, farFuture); n != 1 {
		t.Errorf("%d waits, want kept's only", n)
	}
}

// waitCommitted waits until group has committed the end of every partition
// of topic.
func (e *env) waitCommitted(group, topic string, timeout time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	c := &kafka.Client{Addr: kafka.TCP(e.kafka.Brokers...)}
	parts := []int{0, 1, 2}
	var want []kafka.OffsetRequest
	for _, p := range parts {
		want = append(want, kafka.LastOffsetOf(p))
	}
	deadline := time.Now().Add(timeout)
	for {
		end, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: want}})
		if err != nil {
			e.t.Fatal(err)
		}
		got, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
		if err != nil {
			e.t.Fatal(err)
		}
		last := map[int]int64{}
		for _, p := range end.Topics[topic] {
			last[p.Partition] = p.LastOffset
		}
		caughtUp := true
		for _, p := range got.Topics[topic] {
			if last[p.Partition] > 0 && p.CommittedOffset < last[p.Partition] {
				caughtUp = false
			}
		}
		if caughtUp && len(got.Topics[topic]) == len(parts) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("group %s has not committed the end of %s: %+v, end %+v", group, topic, got.Topics[topic], end.Topics[topic])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
