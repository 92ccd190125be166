package trigger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

func anonCartAdd(id, visitor string, at time.Time) cloudevents.Event {
	return testenv.Event(id, event.ProductAdded, event.AnonymousPrefix+visitor, at, fmt.Sprintf(`{"anonymous_id":%q,"product":{"sku":"MUG","price":"12.50"},"quantity":2}`, visitor))
}

// login is the identify a website sends when a visitor logs in: the user id,
// the visitor's anonymous id, and the consent given.
func login(id, customer, visitor string, at time.Time) cloudevents.Event {
	return testenv.Event(id, event.Identify, customer, at, fmt.Sprintf(`{"user_id":%q,"anonymous_id":%q,"consent":{"email":true,"sms":true}}`, customer, visitor))
}

func TestAnAnonymousCartFollowsTheVisitorWhoLogsInAndTriggersOnceForTheCustomer(t *testing.T) {
	e := start(t)
	en := e.engine()
	e.send(en, t0, anonCartAdd("add-1", "v1", t0))
	e.send(en, t0.Add(5*time.Minute), login("login-1", "mei", "v1", t0.Add(5*time.Minute)))
	// A cart event of the visitor from before the login, delivered after it
	// (another partition): it is mei's, and restarts her wait to 36m.
	e.send(en, t0.Add(7*time.Minute), anonCartAdd("add-2", "v1", t0.Add(6*time.Minute)))
	// The login is delivered again: the move is not made twice.
	if err := en.Handle(context.Background(), t0.Add(8*time.Minute), login("login-1", "mei", "v1", t0.Add(5*time.Minute))); err != nil {
		t.Fatal(err)
	}
	e.tick(en, t0.Add(31*time.Minute))
	e.decisions(trigger.TopicTriggers, 0)
	e.tick(en, t0.Add(37*time.Minute))
	e.tick(en, t0.Add(3*time.Hour))

	got := e.decisions(trigger.TopicTriggers, 1)[0]
	if got.Campaign != "cart_abandon" || got.Customer != "mei" || got.Outcome != trigger.Sent || got.Action.Params["cart_value"] != "25" {
		t.Errorf("trigger %+v, want mei's cart_abandon coupon for her cart of two mugs (25)", got)
	}
	if !got.DecidedAt.Equal(t0.Add(37*time.Minute)) || fmt.Sprint(got.Reason.Events) != "[add-1 add-2]" {
		t.Errorf("decided at %s for %v, want at 37m for both adds", got.DecidedAt.Sub(t0), got.Reason.Events)
	}
	e.decisions(trigger.TopicDecisions, 0) // not suppressed for the visitor's missing consent
}

func TestAPurchaseByTheCustomerCancelsTheCartReminderTheyBeganAnonymously(t *testing.T) {
	e := start(t)
	en := e.engine()
	e.send(en, t0, anonCartAdd("add-1", "v2", t0))
	e.send(en, t0.Add(5*time.Minute), login("login-2", "noa", "v2", t0.Add(5*time.Minute)))
	e.send(en, t0.Add(10*time.Minute), testenv.Event("o-1", event.OrderCompleted, "noa", t0.Add(10*time.Minute), `{"user_id":"noa","order_id":"1","total":"25","currency":"USD"}`))
	e.tick(en, t0.Add(2*time.Hour))
	for _, d := range e.decisions(trigger.TopicTriggers, 1) {
		if d.Campaign != "first_purchase_welcome" || d.Customer != "noa" {
			t.Errorf("trigger %+v, want only noa's first-purchase welcome", d)
		}
	}
	e.decisions(trigger.TopicDecisions, 0)
}

func TestAVisitorsHoldoutExposureFollowsThemSoTheirPurchaseAfterLoginIsAttributed(t *testing.T) {
	e, en := guarded(t, `
campaigns:
  - {name: promo, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: coupon}, holdout: 0.5, attribution: 7d}
`)
	var visitor string
	for i := 0; visitor == ""; i++ {
		v := fmt.Sprint("v-held-", i)
		if _, h := campaign.Assign("promo", event.AnonymousPrefix+v, []campaign.Variant{{Name: campaign.DefaultVariant, Weight: 1}}, 0.5); h {
			visitor = v
		}
	}
	e.send(en, t0, anonCartAdd("add-1", visitor, t0)) // held out as a visitor
	e.send(en, t0.Add(time.Hour), login("login-3", "ori", visitor, t0.Add(time.Hour)))
	e.send(en, t0.Add(24*time.Hour), testenv.Event("o-1", event.OrderCompleted, "ori", t0.Add(24*time.Hour), `{"user_id":"ori","order_id":"1","total":"15","currency":"USD"}`))
	rs, err := en.Results(context.Background(), "promo")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]trigger.Result{{Group: trigger.Held, Decided: 1, Converted: 1, Revenue: 15_000_000}})
	if fmt.Sprint(rs) != want {
		t.Errorf("results %v, want %s: the visitor's holdout converted by the customer's order", rs, want)
	}
}
