package points_test

import (
	"context"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/points"
	"github.com/segflow/segflow/pkg/testenv"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// TestSpendsTakeFromTheCreditsThatExpireFirstAndNeverMoreThanTheBalance
// credits 500 points valid 30 days and 300 valid 10 days, then spends, and
// checks each balance against the ledger worked out by hand.
func TestSpendsTakeFromTheCreditsThatExpireFirstAndNeverMoreThanTheBalance(t *testing.T) {
	ctx := context.Background()
	s := points.NewStore(testenv.StartRedis(t).Client(t))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Credit(ctx, "ann", "d1", 500, t0, t0.Add(30*day)))
	must(s.Credit(ctx, "ann", "d2", 300, t0, t0.Add(10*day)))
	must(s.Credit(ctx, "ann", "d2", 300, t0, t0.Add(10*day))) // the same decision again
	spend := func(order string, n int64, at time.Time, want points.Outcome) {
		t.Helper()
		got, err := s.Spend(ctx, "ann", order, n, at)
		must(err)
		if got != want {
			t.Fatalf("order %s spending %d: %s, want %s", order, n, got, want)
		}
	}
	balance := func(at time.Time, want points.Balance) {
		t.Helper()
		got, err := s.Balance(ctx, "ann", at)
		must(err)
		if got != want {
			t.Fatalf("balance at %s: %+v, want %+v", at.Sub(t0), got, want)
		}
	}
	balance(t0.Add(-time.Hour), points.Balance{}) // before the credits
	balance(t0, points.Balance{Points: 800, Expiring: 300, NextExpiry: t0.Add(10 * day)})
	// 200 from the credit expiring first (300 → 100).
	spend("o1", 200, t0.Add(day), points.Spent)
	spend("o1", 200, t0.Add(day), points.Spent) // delivered again: spent once
	balance(t0.Add(day), points.Balance{Points: 600, Expiring: 100, NextExpiry: t0.Add(10 * day)})
	// 100 left of d2 and 200 of d1's 500.
	spend("o2", 300, t0.Add(2*day), points.Spent)
	balance(t0.Add(2*day), points.Balance{Points: 300, Expiring: 300, NextExpiry: t0.Add(30 * day)})
	spend("o3", 301, t0.Add(3*day), points.Refused)
	spend("o3", 1, t0.Add(3*day), points.Refused) // the order's outcome stands
	balance(t0.Add(3*day), points.Balance{Points: 300, Expiring: 300, NextExpiry: t0.Add(30 * day)})
	balance(t0.Add(30*day), points.Balance{}) // all expired
	spend("o4", 1, t0.Add(31*day), points.Refused)
}

func TestACreditOrSpendOfNoPointsIsAnError(t *testing.T) {
	s := points.NewStore(testenv.StartRedis(t).Client(t))
	if err := s.Credit(context.Background(), "ann", "d", 0, t0, t0.Add(day)); err == nil {
		t.Error("a credit of 0 points was accepted")
	}
	if _, err := s.Spend(context.Background(), "ann", "o", -5, t0); err == nil {
		t.Error("a spend of -5 points was accepted")
	}
}
