package fitting_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/fitting"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// The profile-updaters of a group refit once per interval: the first to
// take the interval's lease fits (here it fails: the namespace has no
// customers yet), and the others skip the interval; another namespace has
// its own lease.
func TestAGroupOfUpdatersRefitsOncePerInterval(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	refitter := func(ns string) *fitting.Refitter {
		store := profile.New(rdb, profile.Config{Prefix: ns})
		return &fitting.Refitter{Redis: rdb, Every: time.Hour, Now: time.Now, Log: zap.NewNop(),
			Store: func(context.Context) (*profile.Store, error) { return store, nil }}
	}
	if fitted, err := refitter("sf").Once(ctx); fitted || err == nil {
		t.Fatalf("the first updater: fitted %t, %v; want a fit tried, failing without customers", fitted, err)
	}
	for range 2 {
		if fitted, err := refitter("sf").Once(ctx); fitted || err != nil {
			t.Fatalf("another updater of the group: fitted %t, %v; want the interval skipped", fitted, err)
		}
	}
	if _, err := refitter("sf2").Once(ctx); err == nil {
		t.Fatal("another namespace: no fit tried, want its own")
	}
}
