package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/trigger"
)

// shopVisit is a visitor's Segment calls on a shop: the product page, a cart
// add, then logging in (identify with the visitor's anonymous id and email
// consent), and, if they buy, the order, at t0 minus a few minutes.
func shopVisit(visitor, customer string, t0 time.Time, buy bool) []map[string]any {
	at := func(d time.Duration) string { return t0.Add(-d).Format(time.RFC3339Nano) }
	product := map[string]any{"product_id": "P-1", "sku": "JACKET", "price": 59.9, "currency": "USD"}
	calls := []map[string]any{
		{"type": "track", "messageId": visitor + "-view", "anonymousId": visitor, "event": "Product Viewed", "properties": product, "timestamp": at(10 * time.Minute)},
		{"type": "track", "messageId": visitor + "-add", "anonymousId": visitor, "event": "Product Added",
			"properties": map[string]any{"cart_id": "c-" + visitor, "product_id": "P-1", "sku": "JACKET", "price": 59.9, "quantity": 1}, "timestamp": at(5 * time.Minute)},
		{"type": "identify", "messageId": visitor + "-login", "anonymousId": visitor, "userId": customer,
			"traits": map[string]any{"consent": map[string]bool{"email": true}}, "timestamp": at(3 * time.Minute)},
	}
	if buy {
		calls = append(calls, map[string]any{"type": "track", "messageId": visitor + "-order", "anonymousId": visitor, "userId": customer, "event": "Order Completed",
			"properties": map[string]any{"order_id": "o-" + visitor, "total": 59.9, "currency": "USD", "products": []any{product}}, "timestamp": at(time.Minute)})
	}
	return calls
}

// TestAnAnonymousCartFollowsTheShopperWhoLogsInThroughThePipeline sends shop
// visits as a website's Segment library would, through the collector, the
// profile-updater and the trigger service on redis-server: a visitor who
// adds to the cart, logs in and leaves gets exactly one cart coupon, as the
// customer; one who logs in and buys gets none. Whether the library sends
// each call on its own or the login in one batch with the cart events, the
// profile and the decisions are the same.
func TestAnAnonymousCartFollowsTheShopperWhoLogsInThroughThePipeline(t *testing.T) {
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC) // 11:00 in Taipei, outside quiet hours
	clk := newClock(t0)
	p := startPipeline(t, clk.now, "USD")
	p.startTrigger(t, camps, clk.now)
	const coupon = "cart_abandon_coupon"
	one := treated(camps, "leaver-one-", coupon)       // one call a request
	batched := treated(camps, "leaver-batch-", coupon) // identify batched with the cart events
	buyer := treated(camps, "buyer-", coupon)

	n := 0
	send := func(calls []map[string]any) {
		t.Helper()
		if accepted, rejected := p.segmentBatch(t, calls); accepted != len(calls) {
			t.Fatalf("collector accepted %d of %d: %v", accepted, len(calls), rejected)
		}
		n += len(calls)
	}
	for _, c := range shopVisit("v-one", one, t0, false) {
		send([]map[string]any{c})
	}
	send(shopVisit("v-batch", batched, t0, false))
	for _, c := range shopVisit("v-buyer", buyer, t0, true) {
		send([]map[string]any{c})
	}
	p.waitApplied(t, n, 30*time.Second)
	time.Sleep(2 * time.Second) // the trigger service consumes the events and starts the waits

	clk.set(t0.Add(31 * time.Minute)) // the cart waits (30 minutes from the adds) are due
	p.kafka.ReadTopic(t, trigger.TopicTriggers, 2, 15*time.Second)
	clk.set(t0.Add(3 * time.Hour))
	time.Sleep(2 * time.Second)

	decisions := map[string][]string{}
	for _, topic := range []string{trigger.TopicTriggers, trigger.TopicDecisions} {
		for _, m := range p.kafka.ReadTopic(t, topic, 0, time.Second) {
			ev, err := stream.FromMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			var d trigger.Decision
			if err := json.Unmarshal(ev.Data(), &d); err != nil {
				t.Fatal(err)
			}
			if string(m.Key) != d.Customer {
				t.Errorf("decision for %s keyed %s", d.Customer, m.Key)
			}
			decisions[d.Customer] = append(decisions[d.Customer], fmt.Sprintf("%s:%s:%s:cart_value=%s", d.Campaign, d.Outcome, d.Action.Type, d.Action.Params["cart_value"]))
		}
	}
	for _, c := range []string{one, batched, buyer} {
		sort.Strings(decisions[c])
	}
	for _, visitor := range []string{"anon:v-one", "anon:v-batch", "anon:v-buyer"} {
		if len(decisions[visitor]) > 0 {
			t.Errorf("decisions for the visitor %s: %v, want none: their cart is their customer's", visitor, decisions[visitor])
		}
	}
	wantLeaver := []string{coupon + ":sent:coupon:cart_value=59.9"}
	if fmt.Sprint(decisions[one]) != fmt.Sprint(wantLeaver) {
		t.Errorf("%s (one call a request) got %v, want %v", one, decisions[one], wantLeaver)
	}
	if fmt.Sprint(decisions[batched]) != fmt.Sprint(decisions[one]) {
		t.Errorf("%s (login batched with the cart) got %v, want what one call a request got: %v", batched, decisions[batched], decisions[one])
	}
	// The buyer's cart wait may have started before the trigger service saw
	// the order (the cart and purchase topics are consumed independently);
	// it then ends suppressed by its premise, the cart being empty. Either
	// way no coupon is sent.
	for _, d := range decisions[buyer] {
		if strings.HasPrefix(d, coupon+":") && !strings.HasPrefix(d, coupon+":"+trigger.Premise+":") {
			t.Errorf("%s bought after logging in, yet %s", buyer, d)
		}
	}

	ps, err := p.store.Get(context.Background(), clk.now(), []string{one, batched})
	if err != nil {
		t.Fatal(err)
	}
	a, b := ps[0], ps[1]
	if a.CartValue != 59_900_000 || a.CartItems != 1 || !a.Consent["email"] || a.Stage != b.Stage || a.CartValue != b.CartValue || a.CartItems != b.CartItems ||
		a.Consent["email"] != b.Consent["email"] || !a.LastCart.Equal(b.LastCart) {
		t.Errorf("profiles differ or lack the visitor's cart:\none call a request: %+v\nbatched: %+v", a, b)
	}
}
