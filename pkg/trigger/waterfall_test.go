package trigger_test

import (
	"fmt"
	"testing"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
	"github.com/segflow/segflow/pkg/waterfall"
)

func TestACampaignConditionReadsTheCustomersWaterfallSegment(t *testing.T) {
	e := start(t)
	wf, err := waterfall.Compile(waterfall.Config{Segments: []waterfall.Segment{{Name: "big", When: "lifetime >= 100.0"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.store = profile.New(e.rdb, profile.Config{Waterfall: wf})
	camps, err := campaign.Parse([]byte(`
campaigns:
  - name: big_welcome
    kind: first_purchase
    on: [segflow.purchase.order_completed]
    when: profile.waterfall == "big"
    channel: sms
    action: {type: message, params: {template: "${profile.waterfall}"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	t.Cleanup(func() { w.Close() })
	en := trigger.NewEngine(camps, e.rdb, e.store, w)
	for _, c := range []struct{ customer, total string }{{"amy", "150.00"}, {"bo", "20.00"}} {
		e.send(en, t0, identify(c.customer, true))
		e.send(en, t0, testenv.Event("o-"+c.customer, event.OrderCompleted, c.customer, t0,
			fmt.Sprintf(`{"user_id":%q,"order_id":"1","total":%q,"currency":"USD"}`, c.customer, c.total)))
	}
	d := e.decisions(trigger.TopicTriggers, 1)[0]
	if d.Customer != "amy" || d.Action.Params["template"] != "big" {
		t.Errorf("trigger %+v, want amy's, with her waterfall segment big", d.Decision)
	}
}
