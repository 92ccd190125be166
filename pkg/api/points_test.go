package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/points"
)

// TestAProfileShowsItsPointsBalanceAtTheAPIsClock: 500 points valid past
// the API's clock and 200 that expired before it, with 150 spent from the
// first: the profile shows 350, all expiring together.
func TestAProfileShowsItsPointsBalanceAtTheAPIsClock(t *testing.T) {
	e := start(t, nil, nil)
	e.apply(t, e.order("c1", T.Add(-48*time.Hour), "10.00"))
	ctx := context.Background()
	ledger := points.NewStore(e.rdb)
	expiry := T.Add(30 * 24 * time.Hour)
	for _, err := range []error{
		ledger.Credit(ctx, "c1", "d1", 500, T.Add(-24*time.Hour), expiry),
		ledger.Credit(ctx, "c1", "d2", 200, T.Add(-72*time.Hour), T.Add(-time.Hour)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ledger.Spend(ctx, "c1", "o9", 150, T.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	var p api.ProfileView
	e.get(t, "/v1/profiles/c1", &p)
	if want := (points.Balance{Points: 350, Expiring: 350, NextExpiry: expiry}); p.Points != want {
		t.Errorf("points %+v, want %+v", p.Points, want)
	}
}
