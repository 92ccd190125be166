package trigger

import (
	"context"
	"time"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/points"
)

// Points (pkg/points): a trigger whose action is points credits the
// customer's ledger under its decision id, before it is announced, so a
// decision redelivered after a crash credits once; an order whose
// points_spent is a positive whole number spends them, once per order.

// PointsSpent is the field of an order's data that carries the points it
// spends (schemas/segflow.purchase.order_completed.json).
const PointsSpent = "points_spent"

// credit credits the points of a sent points action.
func (e *Engine) credit(ctx context.Context, customer, id string, a Action, T time.Time) error {
	if a.Type != "points" {
		return nil
	}
	n, valid, err := campaign.PointsOf(a.Params)
	if err != nil {
		return nil // an expression that gave no whole number: the trigger says what it gave
	}
	if valid == 0 {
		valid = points.DefaultValidity
	}
	return e.points.Credit(ctx, customer, id, n, T, T.Add(valid))
}

// spend spends the points an order carries. The collector's schema admits
// only a positive whole number; anything else is no spend.
func (e *Engine) spend(ctx context.Context, customer, order string, at time.Time, data map[string]any) error {
	n, ok := data[PointsSpent].(float64)
	if !ok || n < 1 || n != float64(int64(n)) || order == "" {
		return nil
	}
	_, err := e.points.Spend(ctx, customer, order, int64(n), at)
	return err
}
