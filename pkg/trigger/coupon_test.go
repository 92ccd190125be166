package trigger_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/coupon"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

const couponSecret = "a test secret of more than sixteen bytes"

// couponCampaigns is a campaign entered by a cart add that issues a
// generated code worth 200 (500 for gold), valid 7 days, in two variants;
// and one that issues codes of the pool file, with a cooldown.
const couponCampaigns = `
coupons:
  - name: welcome
    generate: {prefix: "W-", secret_env: SEGFLOW_TRIGGER_TEST_SECRET}
    value: {amount: "200", tiers: {gold: "500"}}
    valid: {days: 7}
  - name: spring
    pool: %s
    value: {percent: "10"}
    valid: {until: "2026-06-01T00:00:00Z"}
campaigns:
  - name: welcome_coupon
    kind: lifecycle
    on: [segflow.cart.product_added]
    channel: email
    action: {type: coupon, params: {template: welcome}}
    coupon: welcome
    variants: [{name: a, weight: 1}, {name: b, weight: 1}]
  - name: spring_sale
    kind: lifecycle
    on: [segflow.cart.checkout_started]
    channel: email
    action: {type: coupon}
    coupon: spring
    cooldown: 1h
`

// couponConfig parses couponCampaigns with a pool of the given codes.
func couponConfig(t *testing.T, codes ...string) *campaign.Config {
	t.Helper()
	t.Setenv("SEGFLOW_TRIGGER_TEST_SECRET", couponSecret)
	path := filepath.Join(t.TempDir(), "spring.txt")
	if err := os.WriteFile(path, []byte(strings.Join(codes, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := campaign.Parse(fmt.Appendf(nil, couponCampaigns, path))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// consenting records each customer's consent to email, as the
// profile-updater would.
func (e *env) consenting(customers ...string) {
	e.t.Helper()
	for _, c := range customers {
		op, err := profile.OpOf(identify(c, true), "USD")
		if err != nil {
			e.t.Fatal(err)
		}
		if _, _, err := e.store.Apply(context.Background(), t0, []profile.Op{op}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// order is an order message of customer carrying code.
func order(t *testing.T, id, customer, code, total string, at time.Time) kafka.Message {
	return testenv.Message(t, "o-"+id, event.OrderCompleted, customer, at,
		fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":%s,"currency":"USD","coupon":%q}`, customer, id, total, code))
}

// run runs the trigger service as consumer group group, with its clock at
// t0, until it has handled everything on the topics, and returns its engine.
func (e *env) run(cfg *campaign.Config, w *kafka.Writer, group string, topics ...string) *trigger.Engine {
	e.t.Helper()
	en := trigger.NewEngine(cfg, e.rdb, e.store, w)
	s, err := trigger.NewService(trigger.Config{Brokers: e.kafka.Brokers, GroupID: group, Now: func() time.Time { return t0 }}, en, zaptest.NewLogger(e.t), prometheus.NewRegistry())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for _, topic := range topics {
		e.waitCommitted(group, topic, 30*time.Second)
	}
	cancel()
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
	return en
}

// TestACouponIsIssuedRedeemedAndReportedThroughTheTriggerService runs the
// service on cart adds of four customers, reads their codes from the
// triggers, then on orders: three redeem (one of them delivered twice), one
// reuses a code, one uses another customer's, one comes after the expiry, and
// one carries a code segflow never issued. The report counts each once.
func TestACouponIsIssuedRedeemedAndReportedThroughTheTriggerService(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	cfg := couponConfig(t, "UNUSED")
	customers := []string{"ann", "bo", "cy", "dan"}
	e.consenting(customers...)
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	var adds []kafka.Message
	for _, c := range customers {
		adds = append(adds, testenv.Message(t, "add-"+c, event.ProductAdded, c, t0, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"MUG","price":"1"}}`, c)))
	}
	if err := w.WriteMessages(ctx, adds...); err != nil {
		t.Fatal(err)
	}
	e.run(cfg, w, "coupons", event.TopicCart)

	code := map[string]string{}
	variants := map[string]int64{}
	for _, d := range e.decisions(trigger.TopicTriggers, len(customers)) {
		c := d.Coupon
		if c == nil {
			t.Fatalf("trigger %+v carries no coupon", d)
		}
		// Independently: HMAC-SHA256 of coupon, customer and decision id.
		mac := hmac.New(sha256.New, []byte(couponSecret))
		mac.Write([]byte("welcome\x00" + d.Customer + "\x00" + d.id))
		want := "W-" + base32.StdEncoding.EncodeToString(mac.Sum(nil))[:coupon.DefaultGenerated]
		if c.Code != want || c.Kind != coupon.Amount || c.Value != "200" || !c.Expires.Equal(t0.AddDate(0, 0, 7)) {
			t.Errorf("%s's coupon %+v, want code %s worth 200 until 7 days later", d.Customer, c, want)
		}
		code[d.Customer] = c.Code
		variants[d.Variant]++
	}

	orders := []kafka.Message{
		order(t, "1", "ann", code["ann"], `"59.90"`, t0.Add(2*time.Hour)),
		order(t, "1", "ann", code["ann"], `"59.90"`, t0.Add(2*time.Hour)), // delivered twice
		order(t, "2", "ann", code["ann"], `"10"`, t0.Add(3*time.Hour)),    // used
		order(t, "3", "cy", code["bo"], `"10"`, t0.Add(time.Hour)),        // foreign
		order(t, "4", "bo", code["bo"], `"10"`, t0.AddDate(0, 0, 8)),      // expired
		order(t, "5", "cy", " "+strings.ToLower(code["cy"])+" ", `1250`, t0.Add(30*time.Hour)),
		order(t, "6", "dan", code["dan"], `"0.01"`, t0.Add(5*time.Hour)),
		order(t, "7", "dan", "MAYDEALS", `"3"`, t0.Add(5*time.Hour)), // not segflow's
	}
	if err := w.WriteMessages(ctx, orders...); err != nil {
		t.Fatal(err)
	}
	en := e.run(cfg, w, "coupons", event.TopicPurchase)
	// The redeeming order delivered again, after a restart.
	if err := w.WriteMessages(ctx, orders[0]); err != nil {
		t.Fatal(err)
	}
	e.run(cfg, w, "coupons", event.TopicPurchase)

	res, err := en.Results(ctx, "welcome_coupon")
	if err != nil {
		t.Fatal(err)
	}
	var total coupon.Result
	for _, r := range res {
		if r.Coupons == nil {
			t.Fatalf("variant %s of group %s has no coupon results", r.Variant, r.Group)
		}
		if r.Coupons.Issued != variants[r.Variant] {
			t.Errorf("variant %s: %d issued, want the %d triggers it had", r.Variant, r.Coupons.Issued, variants[r.Variant])
		}
		total = total.Plus(*r.Coupons)
	}
	wantRefused := map[coupon.Reason]int64{coupon.Used: 1, coupon.Foreign: 1, coupon.Expired: 1}
	if total.Issued != 4 || total.Redeemed != 3 || total.Rate() != 0.75 || fmt.Sprint(total.Refused) != fmt.Sprint(wantRefused) {
		t.Errorf("issued %d, redeemed %d (rate %v), refused %v; want 4, 3 (0.75), %v", total.Issued, total.Redeemed, total.Rate(), total.Refused, wantRefused)
	}
	if got := money.FormatSum(total.Revenue, "USD"); got != "72.41" {
		t.Errorf("revenue %s, want 59.90 + 12.50 + 0.01 = 72.41", got)
	}
	ttr := []time.Duration{2 * time.Hour, 30 * time.Hour, 5 * time.Hour}
	slices.Sort(ttr)
	if m, want := total.MedianToRedeem(), ttr[1]; float64(m-want) > coupon.RelativeAccuracy*float64(want) || float64(want-m) > coupon.RelativeAccuracy*float64(want) {
		t.Errorf("median time to redeem %s, want %s within 1%%", m, want)
	}
}

// TestAnExhaustedPoolSuppressesTheDecisionWithItsReason gives three
// customers' checkouts two pool codes: two triggers carry distinct codes of
// the pool, the third decision is suppressed as no_coupon, and handling every
// event again after a restart changes nothing.
func TestAnExhaustedPoolSuppressesTheDecisionWithItsReason(t *testing.T) {
	e := start(t)
	cfg := couponConfig(t, "spring-1", "SPRING-2")
	e.consenting("ann", "bo", "cy")
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	checkout := func(c string) kafka.Message {
		return testenv.Message(t, "co-"+c, event.CheckoutStarted, c, t0, fmt.Sprintf(`{"user_id":%q}`, c))
	}
	for range 2 { // the second time, a restart and every event redelivered
		en := trigger.NewEngine(cfg, e.rdb, e.store, w)
		for _, c := range []string{"ann", "bo", "cy"} {
			ev, err := stream.FromMessage(checkout(c))
			if err != nil {
				t.Fatal(err)
			}
			if err := en.Handle(context.Background(), t0, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	var codes []string
	for _, d := range e.decisions(trigger.TopicTriggers, 2) {
		if d.Coupon == nil || d.Coupon.Kind != coupon.Percent || d.Coupon.Value != "10" || !d.Coupon.Expires.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("trigger %+v, want a 10 percent code until June", d)
		}
		codes = append(codes, d.Coupon.Code)
	}
	slices.Sort(codes)
	if !slices.Equal(codes, []string{"SPRING-1", "SPRING-2"}) {
		t.Errorf("codes %v, want each of the pool's once", codes)
	}
	d := e.decisions(trigger.TopicDecisions, 1)[0]
	if d.Outcome != trigger.NoCoupon || d.Reason.Detail != "coupon spring: exhausted" || d.Coupon != nil {
		t.Errorf("decision %+v, want suppressed: no_coupon, coupon spring exhausted", d)
	}
}

// TestACodeTakenForADecisionTheGuardsRefuseGoesBackToThePool has ann check
// out twice within the cooldown and then bo, with two codes in the pool: the
// code taken for ann's second decision goes back, and bo gets it.
func TestACodeTakenForADecisionTheGuardsRefuseGoesBackToThePool(t *testing.T) {
	e := start(t)
	cfg := couponConfig(t, "S-1", "S-2")
	e.consenting("ann", "bo")
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	en := trigger.NewEngine(cfg, e.rdb, e.store, w)
	for i, c := range []string{"ann", "ann", "bo"} {
		ev := testenv.Event(fmt.Sprintf("co-%d", i), event.CheckoutStarted, c, t0, fmt.Sprintf(`{"user_id":%q}`, c))
		if err := en.Handle(context.Background(), t0.Add(time.Duration(i)*time.Minute), ev); err != nil {
			t.Fatal(err)
		}
	}
	sent := e.decisions(trigger.TopicTriggers, 2)
	if sent[0].Coupon == nil || sent[1].Coupon == nil || sent[0].Coupon.Code == sent[1].Coupon.Code {
		t.Errorf("triggers %+v, want ann and bo each with a code of their own", sent)
	}
	if d := e.decisions(trigger.TopicDecisions, 1)[0]; d.Outcome != trigger.Cooldown || d.Customer != "ann" {
		t.Errorf("decision %+v, want ann's second suppressed by the cooldown", d)
	}
}

// failOnce fails its first write, as a broker out of reach would, and
// passes the others on.
type failOnce struct {
	w      *kafka.Writer
	failed bool
}

func (f *failOnce) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if !f.failed {
		f.failed = true
		return fmt.Errorf("broker out of reach")
	}
	return f.w.WriteMessages(ctx, msgs...)
}

// TestADecisionHandledAgainAfterAFailedPublishKeepsItsPoolCode fails the
// publication of ann's trigger after its code was taken and the send
// recorded; the event handled again announces the same decision with the
// code it took, so the pool's two other codes go to the next two customers
// and the third finds it exhausted.
func TestADecisionHandledAgainAfterAFailedPublishKeepsItsPoolCode(t *testing.T) {
	e := start(t)
	cfg := couponConfig(t, "S-1", "S-2", "S-3")
	e.consenting("ann", "bo", "cy", "dan")
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	en := trigger.NewEngine(cfg, e.rdb, e.store, &failOnce{w: w})
	checkout := func(c string) error {
		return en.Handle(context.Background(), t0, testenv.Event("co-"+c, event.CheckoutStarted, c, t0, fmt.Sprintf(`{"user_id":%q}`, c)))
	}
	if err := checkout("ann"); err == nil {
		t.Fatal("the first publication did not fail")
	}
	for _, c := range []string{"ann", "bo", "cy", "dan"} {
		if err := checkout(c); err != nil {
			t.Fatal(err)
		}
	}
	codes := map[string]string{}
	for _, d := range e.decisions(trigger.TopicTriggers, 3) {
		codes[d.Coupon.Code] = d.Customer
	}
	if len(codes) != 3 {
		t.Errorf("codes %v, want the pool's three, one each to ann, bo and cy", codes)
	}
	if d := e.decisions(trigger.TopicDecisions, 1)[0]; d.Customer != "dan" || d.Outcome != trigger.NoCoupon {
		t.Errorf("decision %+v, want dan's suppressed: no_coupon", d)
	}
}
