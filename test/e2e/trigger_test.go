package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/trigger"
)

// TestAnAbandonedCartTriggersACouponThroughThePipeline sends a customer's
// identify and cart add to the collector, lets the profile-updater apply them,
// moves the clock past the example cart-abandon campaign's 30 minutes, and
// expects exactly one coupon trigger on the triggers topic.
func TestAnAbandonedCartTriggersACouponThroughThePipeline(t *testing.T) {
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// 11:00 in Taipei (the campaigns' default time zone), outside quiet hours.
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	p := startPipeline(t, clk.now, "USD")
	customer := treated(camps, "shopper-", "cart_abandon_coupon")
	p.startTrigger(t, camps, clk.now)
	p.post(t, []map[string]any{
		{"specversion": "1.0", "id": "identify-1", "source": "/shop", "type": event.Identify, "time": t0.Add(-time.Minute),
			"data": map[string]any{"user_id": customer, "consent": map[string]bool{"email": true}}},
		{"specversion": "1.0", "id": "add-1", "source": "/shop", "type": event.ProductAdded, "time": t0,
			"data": map[string]any{"user_id": customer, "cart_id": "c1", "product": map[string]any{"sku": "MUG", "price": "12.50"}, "quantity": 2}},
	})
	p.waitApplied(t, 2, 30*time.Second)
	time.Sleep(2 * time.Second) // the trigger service consumes the cart add and starts the wait

	clk.set(t0.Add(31 * time.Minute))
	p.kafka.ReadTopic(t, trigger.TopicTriggers, 1, 15*time.Second)
	clk.set(t0.Add(3 * time.Hour))
	time.Sleep(2 * time.Second)
	msgs := p.kafka.ReadTopic(t, trigger.TopicTriggers, 1, time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d triggers, want exactly 1", len(msgs))
	}
	ev, err := stream.FromMessage(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	var d trigger.Decision
	if err := json.Unmarshal(ev.Data(), &d); err != nil {
		t.Fatal(err)
	}
	if ev.Type() != trigger.TypeTrigger || string(msgs[0].Key) != customer || d.Campaign != "cart_abandon_coupon" || d.Action.Type != "coupon" || d.Action.Params["cart_value"] != "25" {
		t.Errorf("trigger %s key %s: %+v, want a cart_abandon_coupon coupon with cart value 25 for %s", ev.Type(), msgs[0].Key, d, customer)
	}
	if d.Variant != "ten_percent" && d.Variant != "free_shipping" {
		t.Errorf("variant %q, want one of the campaign's", d.Variant)
	}
	checkWithKcat(t, p.kafka.Brokers[0], trigger.TopicTriggers, customer)
}

// checkWithKcat reads topic with kcat, a Kafka client that shares no code with
// segflow (librdkafka), and checks that each message is a CloudEvent in the
// Kafka protocol binding's binary content mode: ce_specversion, ce_id,
// ce_source and ce_type headers, a JSON content-type and payload, and the
// customer as the key.
func checkWithKcat(t *testing.T, broker, topic, key string) {
	t.Helper()
	bin, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("kcat is required when CI is set: %v", err)
		}
		t.Logf("kcat not installed; skipping the independent client check")
		return
	}
	out, err := exec.Command(bin, "-b", broker, "-C", "-t", topic, "-e", "-q", "-J").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines {
		var m struct {
			Key     string   `json:"key"`
			Payload string   `json:"payload"`
			Headers []string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("kcat output %q: %v", line, err)
		}
		h := map[string]string{}
		for i := 0; i+1 < len(m.Headers); i += 2 {
			h[m.Headers[i]] = m.Headers[i+1]
		}
		if h["ce_specversion"] != "1.0" || h["ce_id"] == "" || h["ce_source"] == "" || h["ce_type"] != trigger.TypeTrigger {
			t.Errorf("headers %v lack the CloudEvent attributes", h)
		}
		if _, err := time.Parse(time.RFC3339Nano, h["ce_time"]); err != nil {
			t.Errorf("ce_time %q: %v", h["ce_time"], err)
		}
		if h["content-type"] != "application/json" || !json.Valid([]byte(m.Payload)) {
			t.Errorf("content-type %q, payload %q: want JSON", h["content-type"], m.Payload)
		}
		if m.Key != key {
			t.Errorf("key %q, want the customer %q", m.Key, key)
		}
	}
	t.Logf("kcat read %d trigger(s) as valid CloudEvents", len(lines))
}

// TestADozingCustomerGetsEachWakeUpOfferOnce lets time alone move a customer
// from N through S1, S2 and S3 (the profile-updater's timers publish the
// changes) and expects the example campaigns' welcome and three wake-up
// offers, each once, through the whole pipeline.
func TestADozingCustomerGetsEachWakeUpOfferOnce(t *testing.T) {
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC) // 11:00 in Taipei
	clk := newClock(t0)
	p := startPipeline(t, clk.now, "USD")
	customer := treated(camps, "sleeper-", "first_purchase_welcome", "wake_up_s1", "wake_up_s2", "wake_up_s3")
	p.startTrigger(t, camps, clk.now)
	p.post(t, []map[string]any{
		{"specversion": "1.0", "id": "identify-1", "source": "/shop", "type": event.Identify, "time": t0.Add(-time.Minute),
			"data": map[string]any{"user_id": customer, "traits": map[string]any{"timezone": "Asia/Taipei"}, "consent": map[string]bool{"email": true, "sms": true}}},
		{"specversion": "1.0", "id": "order-1", "source": "/shop", "type": event.OrderCompleted, "time": t0,
			"data": map[string]any{"user_id": customer, "order_id": "1", "total": "30", "currency": "USD"}},
	})
	p.waitApplied(t, 2, 30*time.Second)
	time.Sleep(2 * time.Second) // the trigger service sees N and starts the welcome's 72 h wait

	// Day 31: S1 (cycle 30 days), and the welcome's wait is long due. Day 61: S2. Day 91: S3.
	for i, day := range []int{31, 61, 91} {
		clk.set(t0.AddDate(0, 0, day))
		p.kafka.ReadTopic(t, trigger.TopicTriggers, i+2, 20*time.Second)
	}
	time.Sleep(2 * time.Second)
	var got []string
	for _, m := range p.kafka.ReadTopic(t, trigger.TopicTriggers, 4, time.Second) {
		var d trigger.Decision
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s@day%d", d.Campaign, int(d.DecidedAt.Sub(t0).Hours()/24)))
	}
	sort.Strings(got)
	want := []string{"first_purchase_welcome@day31", "wake_up_s1@day31", "wake_up_s2@day61", "wake_up_s3@day91"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("triggers %v, want %v", got, want)
	}
}

// TestBrowseAbandonRFMSegmentAndBirthdayCampaignsThroughThePipeline drives
// three customers through the example campaigns: one views a jacket three
// times and leaves, one becomes important_value with a big first order, one
// has a birthday (at midnight in Taipei, inside quiet hours). Exactly their
// three triggers come, at the expected times.
func TestBrowseAbandonRFMSegmentAndBirthdayCampaignsThroughThePipeline(t *testing.T) {
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC) // 11:00 in Taipei
	clk := newClock(t0)
	p := startPipeline(t, clk.now, "USD")
	browser, vip, birthday := treated(camps, "browser-", "browse_abandon_reminder"), treated(camps, "vip-", "vip_points"), treated(camps, "bday-", "birthday_coupon")
	p.startTrigger(t, camps, clk.now)

	ev := func(id, typ, customer string, at time.Time, data map[string]any) map[string]any {
		data["user_id"] = customer
		return map[string]any{"specversion": "1.0", "id": id, "source": "/shop", "type": typ, "time": at, "data": data}
	}
	consent := func(ch string) map[string]bool { return map[string]bool{ch: true} }
	evs := []map[string]any{
		ev("id-b", event.Identify, browser, t0.Add(-time.Hour), map[string]any{"consent": consent("push")}),
		ev("id-v", event.Identify, vip, t0.Add(-time.Hour), map[string]any{"consent": consent("line")}),
		ev("id-d", event.Identify, birthday, t0.Add(-time.Hour), map[string]any{"consent": consent("email"), "traits": map[string]any{"birthday": "1990-05-06", "timezone": "Asia/Taipei"}}),
		ev("o-v", event.OrderCompleted, vip, t0, map[string]any{"order_id": "v1", "total": "500", "currency": "USD"}),
		ev("o-d", event.OrderCompleted, birthday, t0, map[string]any{"order_id": "d1", "total": "30", "currency": "USD"}),
	}
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Hour)
		evs = append(evs, ev(fmt.Sprint("view-", i), event.ProductViewed, browser, at, map[string]any{"product": map[string]any{"sku": "JKT", "category": "coats"}}))
	}
	// The consents go first, as they would an hour before the orders: Kafka
	// keeps a customer's events in order within a topic, not across topics,
	// so an identify sent with an order may be applied after the trigger
	// service has decided on the order's change (a consent suppression).
	p.post(t, evs[:3])
	p.waitApplied(t, 3, 30*time.Second)
	p.post(t, evs[3:])
	p.waitApplied(t, len(evs), 30*time.Second)
	p.kafka.ReadTopic(t, trigger.TopicTriggers, 1, 20*time.Second) // vip points, at once

	clk.set(t0.Add(5 * time.Hour)) // 2 h after the third view
	p.kafka.ReadTopic(t, trigger.TopicTriggers, 2, 20*time.Second)
	clk.set(time.Date(2026, 5, 5, 16, 30, 0, 0, time.UTC)) // 00:30 on 6 May in Taipei: quiet
	time.Sleep(2 * time.Second)
	clk.set(time.Date(2026, 5, 6, 1, 5, 0, 0, time.UTC)) // 09:05 in Taipei
	p.kafka.ReadTopic(t, trigger.TopicTriggers, 3, 20*time.Second)
	time.Sleep(2 * time.Second)

	var got []string
	for _, m := range p.kafka.ReadTopic(t, trigger.TopicTriggers, 3, time.Second) {
		var d trigger.Decision
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%s@%s", d.Campaign, strings.Split(d.Customer, "-")[0], d.DecidedAt.Sub(t0)))
	}
	sort.Strings(got)
	want := []string{"birthday_coupon:bday@46h5m0s", "browse_abandon_reminder:browser@5h0m0s", "vip_points:vip@0s"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("triggers %v, want %v", got, want)
	}
}
