package api_test

import (
	"context"
	"encoding/json"
	"fmt"
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
  - name: welcome
    kind: first_purchase
    on: [segflow.purchase.order_completed]
    when: profile.orders == 1
    channel: email
    action: {type: message, params: {template: welcome}}
`

// sink is a Kafka producer that keeps what it is given.
type sink struct{ msgs []kafka.Message }

func (s *sink) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	s.msgs = append(s.msgs, msgs...)
	return nil
}

// pipeline applies events to the profile, the index and the trigger engine,
// as the profile-updater, the indexer and the trigger service do.
func (e *env) pipeline(t *testing.T) func(evs ...cloudevents.Event) {
	cfg, err := campaign.Parse([]byte(campaigns))
	if err != nil {
		t.Fatal(err)
	}
	engine := trigger.NewEngine(cfg, e.rdb, e.store, &sink{})
	return func(evs ...cloudevents.Event) {
		t.Helper()
		for _, ev := range evs {
			e.apply(t, ev)
			if err := engine.Handle(context.Background(), T, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// leftovers returns every key, and every member, field or value of any key,
// that mentions one of ids.
func leftovers(t *testing.T, rdb redis.UniversalClient, ids ...string) []string {
	t.Helper()
	var out []string
	prefixes := map[string]bool{}
	for _, k := range testenv.Keys(t, rdb, "*") {
		p, _, _ := strings.Cut(k, ":")
		prefixes[p] = true
	}
	for p := range prefixes {
		for k, v := range testenv.Dump(t, rdb, p) {
			for _, id := range ids {
				if strings.Contains(k, id) || strings.Contains(v, id) {
					out = append(out, fmt.Sprintf("%s%s = %.300s", p, k, v))
				}
			}
		}
	}
	return out
}

func TestErasureLeavesNothingOfTheCustomerEvenAfterTheirEventsAreReplayed(t *testing.T) {
	e := start(t, nil, nil)
	send := e.pipeline(t)
	const alice, visitor = "alice-7f3", "visitor-9c1"
	anon := event.AnonymousPrefix + visitor
	at := func(d time.Duration) time.Time { return T.Add(-d) }
	aliceEvents := []cloudevents.Event{
		testenv.Event("a1", event.ProductViewed, anon, at(3*time.Hour), `{"anonymous_id":"visitor-9c1","product":{"sku":"jacket","category":"coats"}}`),
		testenv.Event("a2", event.ProductAdded, anon, at(170*time.Minute), `{"anonymous_id":"visitor-9c1","product":{"sku":"jacket","price":"80.00"},"quantity":1}`),
		testenv.Event("a3", event.Identify, alice, at(160*time.Minute), `{"user_id":"alice-7f3","anonymous_id":"visitor-9c1","traits":{"email":"alice@example.com","birthday":"1990-02-03","address.city":"Hong Kong","age":34,"vip":true},"consent":{"email":true}}`),
		e.order(alice, at(150*time.Minute), "80.00", "coats"),
		e.order(alice, at(day(40)), "35.50", "shoes"),
		testenv.Event("a6", event.ProductAdded, alice, at(time.Minute), `{"user_id":"alice-7f3","product":{"sku":"scarf","price":"20.00"},"quantity":2}`),
	}
	bobEvents := []cloudevents.Event{
		e.order("bob", at(day(3)), "10.00", "coats"), e.order("bob", at(day(90)), "99.00"),
		testenv.Event("b3", event.ProductAdded, "bob", at(time.Minute), `{"user_id":"bob","product":{"sku":"hat","price":"5.00"},"quantity":1}`),
	}
	send(bobEvents...)
	send(aliceEvents...)
	// The collector's identity link of the visitor.
	if err := e.rdb.Set(context.Background(), "sf:{"+anon+"}:link", alice, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if len(leftovers(t, e.rdb, alice)) < 5 || len(leftovers(t, e.rdb, visitor)) < 2 {
		t.Fatalf("the setup left too little to erase: %v", leftovers(t, e.rdb, alice, visitor))
	}
	if n, _ := trigger.Backlog(context.Background(), e.rdb, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); n != 2 {
		t.Fatalf("%d trigger timers, want alice's cart wait (the visitor's moved to her at the identify) and bob's", n)
	}

	status, body, _ := e.do(t, "DELETE", "/v1/profiles/"+alice, token, nil)
	var er struct {
		CustomerHash string `json:"customer_hash"`
		Profiles     int    `json:"profiles"`
	}
	_ = json.Unmarshal(body, &er)
	if status != 200 || er.CustomerHash != privacy.Hash(alice) || er.Profiles != 2 {
		t.Fatalf("erase: %d %s", status, body)
	}
	if left := leftovers(t, e.rdb, alice, visitor); len(left) > 0 {
		t.Errorf("after the erasure, Redis still holds:\n%s", strings.Join(left, "\n"))
	}
	if n, _ := trigger.Backlog(context.Background(), e.rdb, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); n != 1 {
		t.Errorf("%d trigger timers left, want bob's", n)
	}

	// Replay every event through the store with the profile-updater's drop
	// rule: alice's (and the visitor's) are dropped; bob's apply again and
	// change nothing.
	erased, err := privacy.New(e.rdb).Erased(context.Background(), []string{alice, anon, "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range append(append([]cloudevents.Event{}, aliceEvents...), bobEvents...) {
		c, _ := ev.Extensions()[event.ExtPartitionKey].(string)
		if privacy.Dropped(erased, c, ev.Time()) {
			continue
		}
		e.apply(t, ev)
	}
	if left := leftovers(t, e.rdb, alice, visitor); len(left) > 0 {
		t.Errorf("after a replay, Redis holds:\n%s", strings.Join(left, "\n"))
	}

	// The population is exactly bob's, as if alice had never been recorded.
	fresh := testenv.StartRedis(t).Client(t)
	other := profile.New(fresh, profile.Config{})
	for _, ev := range bobEvents {
		op, _ := profile.OpOf(ev, "USD")
		if _, _, err := other.Apply(context.Background(), T, []profile.Op{op}); err != nil {
			t.Fatal(err)
		}
	}
	// As a process restarting now loads it from Redis.
	wantPop, err := profile.New(fresh, profile.Config{}).Population(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gotPop, err := profile.New(e.rdb, profile.Config{}).Population(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantBob, _ := wantPop.Get("bob")
	gotBob, _ := gotPop.Get("bob")
	if gotPop.Len() != 1 || wantPop.Len() != 1 || gotBob.F != wantBob.F || gotBob.M != wantBob.M || gotBob.Last != wantBob.Last ||
		gotPop.Scorer(T).Population != wantPop.Scorer(T).Population {
		t.Errorf("population after the erasure: %d customers, bob %+v, %+v\nwant bob alone: %+v, %+v",
			gotPop.Len(), gotBob, gotPop.Scorer(T).Population, wantBob, wantPop.Scorer(T).Population)
	}

	// The audit log has the hashed id, the time and the requester.
	entries, err := e.rdb.XRange(context.Background(), "privacy:{#audit}", "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit log: %v %v", entries, err)
	}
	v := entries[0].Values
	if v["customer_hash"] != privacy.Hash(alice) || v["requester"] != "analyst" || v["at"] == "" {
		t.Errorf("audit entry %v", v)
	}
	// Erasing again is harmless.
	if status, body, _ := e.do(t, "DELETE", "/v1/profiles/"+alice, token, nil); status != 200 {
		t.Errorf("second erasure: %d %s", status, body)
	}
	if status, _, _ := e.do(t, "GET", "/v1/profiles/"+alice, token, nil); status != 404 {
		t.Errorf("profile after erasure: %d, want 404", status)
	}
}

func TestConsentChangeTakesEffectForTheNextTriggerDecision(t *testing.T) {
	out := &sink{}
	e := start(t, nil, out)
	cfg, err := campaign.Parse([]byte(campaigns))
	if err != nil {
		t.Fatal(err)
	}
	decisions := &sink{}
	engine := trigger.NewEngine(cfg, e.rdb, e.store, decisions)
	optIn := testenv.Event("c1", event.Identify, "carol", T.Add(-time.Hour), `{"user_id":"carol","consent":{"email":true}}`)
	e.apply(t, optIn)

	status, body, _ := e.do(t, "PUT", "/v1/profiles/carol/consent", token, strings.NewReader(`{"email": false}`))
	if status != 200 || !strings.Contains(string(body), `"email": false`) {
		t.Fatalf("consent: %d %s", status, body)
	}
	if len(out.msgs) != 1 || out.msgs[0].Topic != event.TopicIdentify || string(out.msgs[0].Key) != "carol" {
		t.Fatalf("published %d messages: %+v", len(out.msgs), out.msgs)
	}
	// The first order would trigger the welcome message by email.
	order := e.order("carol", T, "12.00")
	e.apply(t, order)
	if err := engine.Handle(context.Background(), T, order); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, m := range decisions.msgs {
		var d struct {
			Outcome  string `json:"outcome"`
			Campaign string `json:"campaign"`
		}
		ev, err := fromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(ev, &d)
		outcomes = append(outcomes, d.Campaign+":"+d.Outcome)
	}
	if len(outcomes) != 1 || outcomes[0] != "welcome:consent" {
		t.Errorf("decisions %v, want the welcome suppressed for consent", outcomes)
	}
	// An unknown channel is refused.
	if status, body, _ := e.do(t, "PUT", "/v1/profiles/carol/consent", token, strings.NewReader(`{"fax": true}`)); status != 400 {
		t.Errorf("unknown channel: %d %s", status, body)
	}
	if status, _, _ := e.do(t, "PUT", "/v1/profiles/carol/consent", token, strings.NewReader(`[]`)); status != 400 {
		t.Errorf("malformed body: %d", status)
	}
}

func TestAnErasureTellsThePopulationViewsTheCustomerIsGone(t *testing.T) {
	out := &sink{}
	e := start(t, nil, out)
	e.apply(t, e.order("gil", T.Add(-time.Hour), "12.00"))
	if status, body, _ := e.do(t, "DELETE", "/v1/profiles/gil", token, nil); status != 200 {
		t.Fatalf("erase: %d %s", status, body)
	}
	var gone []string
	for _, m := range out.msgs {
		if m.Topic != event.TopicSummaries {
			continue
		}
		ev, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		s, ns, err := profile.SummaryOf(ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != s.Customer || !s.Gone {
			t.Errorf("summary %+v keyed %q, want a Gone summary keyed by its customer", s, m.Key)
		}
		gone = append(gone, ns+"/"+s.Customer)
	}
	if fmt.Sprint(gone) != "[sf/gil]" {
		t.Errorf("gone summaries %v, want gil's in namespace sf", gone)
	}
}
