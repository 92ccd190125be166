package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/points"
	"github.com/segflow/segflow/pkg/trigger"
)

// TestPointsAreEarnedByTierAndSpentByOrdersThroughThePipeline: a first
// order of 6000 makes a customer gold and important_value, and the example
// VIP campaign credits 1000 points (500 for other tiers); an order through
// the collector spending 300 leaves 700, one spending 5000 is refused, and
// one whose points_spent is not a whole number is rejected by the collector.
func TestPointsAreEarnedByTierAndSpentByOrdersThroughThePipeline(t *testing.T) {
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC) // 11:00 in Taipei
	clk := newClock(t0)
	p := startPipeline(t, clk.now, "USD")
	vip := treated(camps, "gold-", "vip_points")
	p.startTrigger(t, camps, clk.now)
	order := func(id, total string, at time.Time, data map[string]any) map[string]any {
		data["user_id"], data["order_id"], data["total"], data["currency"] = vip, id, total, "USD"
		return map[string]any{"specversion": "1.0", "id": "order-" + id, "source": "/shop", "type": event.OrderCompleted, "time": at, "data": data}
	}
	// The consent is applied before the order, as it would be an hour
	// before: sent together, the two topics' events may be applied in
	// either order, and the order's change decided on without the consent.
	p.post(t, []map[string]any{{"specversion": "1.0", "id": "identify-1", "source": "/shop", "type": event.Identify, "time": t0.Add(-time.Hour),
		"data": map[string]any{"user_id": vip, "consent": map[string]bool{"line": true}}}})
	p.waitApplied(t, 1, 30*time.Second)
	p.post(t, []map[string]any{order("1", "6000", t0, map[string]any{})}) // gold from 5000 (tag.DefaultConfig)
	p.waitApplied(t, 2, 30*time.Second)
	var d trigger.Decision
	if err := json.Unmarshal(p.kafka.ReadTopic(t, trigger.TopicTriggers, 1, 20*time.Second)[0].Value, &d); err != nil {
		t.Fatal(err)
	}
	if d.Campaign != "vip_points" || d.Action.Params["points"] != "1000" {
		t.Fatalf("trigger %+v, want 1000 VIP points for gold", d)
	}
	ledger := points.NewStore(p.rdb)
	waitBalance := func(at time.Time, want int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, err := ledger.Balance(context.Background(), vip, at)
			if err != nil {
				t.Fatal(err)
			}
			if b.Points == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("balance %d, want %d", b.Points, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitBalance(t0.Add(time.Minute), 1000)
	p.post(t, []map[string]any{order("2", "10", t0.Add(time.Hour), map[string]any{"points_spent": 300})})
	waitBalance(t0.Add(time.Hour), 700)
	p.post(t, []map[string]any{order("3", "10", t0.Add(2*time.Hour), map[string]any{"points_spent": 5000})})
	p.waitApplied(t, 4, 30*time.Second)
	time.Sleep(2 * time.Second) // the trigger service refuses it
	waitBalance(t0.Add(2*time.Hour), 700)

	status, body := p.collect(t, "/v1/events", "application/cloudevents-batch+json",
		[]map[string]any{order("4", "10", t0.Add(3*time.Hour), map[string]any{"points_spent": 2.5})})
	var res struct {
		Accepted int `json:"accepted"`
	}
	_ = json.Unmarshal(body, &res)
	if res.Accepted != 0 {
		t.Errorf("collector: status %d, %s: accepted an order spending 2.5 points", status, body)
	}
}
