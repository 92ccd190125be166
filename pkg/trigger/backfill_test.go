package trigger_test

import (
	"context"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

// TestChangesOfTheBackfillAreRecordedAsSuppressedAndImportedOrdersIgnored
// hands the engine a profile change marked backfill (a replay of the past)
// for a delayed and an immediate campaign, and an imported order: nothing is
// sent, nothing waits, and each campaign the change enters is recorded once
// as suppressed with reason backfill.
func TestChangesOfTheBackfillAreRecordedAsSuppressedAndImportedOrdersIgnored(t *testing.T) {
	const cfg = `
campaigns:
  - name: welcome
    kind: first_purchase
    on: [profile.changed]
    when: '"stage" in change.changed && change.after.stage == "N"'
    delay: 72h
    channel: email
    action: {type: message, params: {template: welcome}}
  - name: vip
    kind: rfm_segment
    on: [profile.changed]
    when: change.after.stage == "N"
    channel: email
    action: {type: points, params: {points: "5"}}
  - name: thanks
    kind: first_purchase
    on: [segflow.purchase.order_completed]
    when: "true"
    channel: email
    action: {type: message, params: {template: thanks}}
`
	e := start(t)
	camps, err := campaign.Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	defer w.Close()
	en := trigger.NewEngine(camps, e.rdb, e.store, w)
	e.send(en, t0, identify("bo", true))
	change := testenv.Event("chg-1", event.ProfileChanged, "bo", t0, `{"customer":"bo","before":{"stage":"prospect"},"after":{"stage":"N"},"changed":["stage"]}`)
	change.SetExtension(event.ExtBackfill, "true")
	order := orderAt("bo", 1, t0)
	order.SetExtension(event.ExtBackfill, true)
	for _, ev := range []cloudevents.Event{change, change, order} {
		if err := en.Handle(context.Background(), t0, ev); err != nil {
			t.Fatal(err)
		}
	}
	e.tick(en, t0.Add(100*time.Hour))
	e.decisions(trigger.TopicTriggers, 0)
	got := map[string]string{}
	for _, d := range e.decisions(trigger.TopicDecisions, 2) {
		got[d.Campaign] = d.Outcome
	}
	if got["welcome"] != trigger.Backfill || got["vip"] != trigger.Backfill {
		t.Errorf("decisions %v, want welcome and vip suppressed with reason backfill", got)
	}
	if n, _ := trigger.Backlog(context.Background(), e.rdb, farFuture); n != 0 {
		t.Errorf("%d waits scheduled, want none", n)
	}
}
