package trigger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/points"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

func spending(customer string, n int, pts string, at time.Time) cloudevents.Event {
	return testenv.Event(fmt.Sprint("o-", customer, n), event.OrderCompleted, customer, at,
		fmt.Sprintf(`{"user_id":%q,"order_id":"%d","total":"10","currency":"USD","points_spent":%s}`, customer, n, pts))
}

// TestAPointsTriggerCreditsTheLedgerOnceAndOrdersSpendFromIt: a first
// order earns 500 points valid 30 days, once though the order comes twice;
// an order spending 200 leaves 300 (once, though it comes twice); one
// spending 400 is refused; the points expire after 30 days.
func TestAPointsTriggerCreditsTheLedgerOnceAndOrdersSpendFromIt(t *testing.T) {
	e, en := guarded(t, `
campaigns:
  - name: first_order_points
    kind: first_purchase
    on: [segflow.purchase.order_completed]
    when: profile.orders == 1
    channel: email
    action: {type: points, params: {points: "500", valid: 30d, reason: first_order}}
`)
	ctx := context.Background()
	ledger := points.NewStore(e.rdb)
	balance := func(at time.Time, want int64) {
		t.Helper()
		b, err := ledger.Balance(ctx, "ann", at)
		if err != nil {
			t.Fatal(err)
		}
		if b.Points != want {
			t.Fatalf("balance at %s: %d, want %d", at.Sub(t0), b.Points, want)
		}
	}
	e.send(en, t0, identify("ann", true))
	first := orderAt("ann", 1, t0)
	e.send(en, t0, first)
	if err := en.Handle(ctx, t0.Add(time.Minute), first); err != nil { // redelivered
		t.Fatal(err)
	}
	balance(t0, 500)
	second := spending("ann", 2, "200", t0.Add(24*time.Hour))
	e.send(en, t0.Add(24*time.Hour), second)
	if err := en.Handle(ctx, t0.Add(25*time.Hour), second); err != nil {
		t.Fatal(err)
	}
	balance(t0.Add(24*time.Hour), 300)
	e.send(en, t0.Add(48*time.Hour), spending("ann", 3, "400", t0.Add(48*time.Hour)))
	balance(t0.Add(48*time.Hour), 300)
	balance(t0.Add(30*24*time.Hour), 0)

	d := e.decisions(trigger.TopicTriggers, 1)[0]
	if d.Action.Type != "points" || d.Action.Params["points"] != "500" {
		t.Errorf("trigger %+v, want 500 points", d.Decision)
	}
	if _, err := trigger.Erase(ctx, e.rdb, "ann"); err != nil {
		t.Fatal(err)
	}
	balance(t0, 0)
}

func TestTheCollectorAdmitsOnlyAPositiveWholeNumberOfPointsSpent(t *testing.T) {
	v, err := event.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for pts, ok := range map[string]bool{"100": true, "1000000000": true, "0": false, "-5": false, "1.5": false, `"100"`: false, "1000000001": false} {
		err := v.Validate(event.OrderCompleted, fmt.Appendf(nil, `{"user_id":"u","order_id":"o","total":"10","currency":"USD","points_spent":%s}`, pts))
		if (err == nil) != ok {
			t.Errorf("points_spent %s: error %v, want accepted %v", pts, err, ok)
		}
	}
}
