package trigger_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

// TestEventsThatCanNeverBeHandledAreDeadLetteredAndTheGroupMovesOn puts on
// cart an event that is no CloudEvent, one without a customer and one whose
// data is not JSON, and on profiles one that is no CloudEvent, each before a
// good event of its partition. Before, the trigger service retried the first
// it could not handle forever and decided nothing after it.
func TestEventsThatCanNeverBeHandledAreDeadLetteredAndTheGroupMovesOn(t *testing.T) {
	e := start(t)
	cfg, err := campaign.Parse([]byte(`
campaigns:
  - {name: instant, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: message}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"ana", "bo"} {
		e.send(e.engine(), t0, identify(c, true))
	}
	ctx := context.Background()
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	noCustomer := testenv.Message(t, "add-nobody", event.ProductAdded, "", t0, `{"product":{"sku":"MUG","price":"1"}}`)
	noCustomer.Key = nil // a key would be taken for the customer
	bad := []kafka.Message{
		{Topic: event.TopicCart, Key: []byte("ana"), Value: []byte("not a cloudevent")},
		noCustomer,
		testenv.Message(t, "add-garbled", event.ProductAdded, "ana", t0, `{"product":`),
		{Topic: event.TopicProfiles, Key: []byte("bo"), Value: []byte("not a cloudevent")},
	}
	good := []kafka.Message{
		testenv.Message(t, "add-ana", event.ProductAdded, "ana", t0, `{"user_id":"ana","product":{"sku":"MUG","price":"1"}}`),
		testenv.Message(t, "add-bo", event.ProductAdded, "bo", t0, `{"user_id":"bo","product":{"sku":"MUG","price":"1"}}`),
	}
	if err := w.WriteMessages(ctx, append(bad, good...)...); err != nil {
		t.Fatal(err)
	}

	en := trigger.NewEngine(cfg, e.rdb, e.store, w)
	s, err := trigger.NewService(trigger.Config{Brokers: e.kafka.Brokers, GroupID: "g", Now: func() time.Time { return t0 }}, en, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	e.waitCommitted("g", event.TopicCart, 30*time.Second)
	e.waitCommitted("g", event.TopicProfiles, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	sent := e.decisions(trigger.TopicTriggers, 2)
	if got := map[string]bool{sent[0].Customer: true, sent[1].Customer: true}; !got["ana"] || !got["bo"] {
		t.Errorf("triggered %v, want ana and bo, whose events came after the bad ones", got)
	}
	letters := e.kafka.ReadTopic(t, event.TopicInvalid, len(bad), 5*time.Second)
	reasons := map[string]int{}
	for _, m := range letters {
		ev, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		var d event.DeadLetter
		if err := json.Unmarshal(ev.Data(), &d); err != nil {
			t.Fatal(err)
		}
		if ev.Source() != "/trigger" {
			t.Errorf("dead letter from %s, want /trigger", ev.Source())
		}
		reasons[d.Reason]++
	}
	if len(letters) != len(bad) || reasons["undecodable"] != 3 || reasons["no-customer"] != 1 {
		t.Errorf("dead letters by reason %v, want 3 undecodable and 1 no-customer", reasons)
	}
}
