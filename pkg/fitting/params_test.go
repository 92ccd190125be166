package fitting_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/fitting"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/testenv"
)

var fitted = predict.NewModel(
	predict.BGNBD{R: 0.2425, Alpha: 4.4136, A: 0.7929, B: 2.4259, Unit: predict.Week,
		FittedAt: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), Customers: 2357, LogLikelihood: -9582.43},
	predict.GammaGamma{P: 6.2488, Q: 3.7444, Gamma: 15.4437,
		FittedAt: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), Customers: 946, LogLikelihood: -4000.1},
)

func TestAStoredModelLoadsBackWholeUnderItsVersion(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	if _, ok, err := fitting.Load(ctx, rdb, "sf"); ok || err != nil {
		t.Fatalf("before any fit: ok %v, err %v; want none", ok, err)
	}
	if err := fitting.Save(ctx, rdb, "sf", fitted); err != nil {
		t.Fatal(err)
	}
	got, ok, err := fitting.Load(ctx, rdb, "sf")
	if err != nil || !ok {
		t.Fatalf("load: %v, %v", ok, err)
	}
	if got.Version() != fitted.Version() || got.Purchases != fitted.Purchases || got.Spend != fitted.Spend {
		t.Errorf("loaded %+v, stored %+v", got, fitted)
	}
	if _, ok, _ := fitting.Load(ctx, rdb, "sf2"); ok {
		t.Error("another namespace has the model")
	}
	c := fitting.NewCurrent(rdb, "sf")
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if m, ok := c.Model(); !ok || m.Version() != fitted.Version() {
		t.Errorf("current model %q (%v), want %q", m.Version(), ok, fitted.Version())
	}
}

func TestAStoredModelWhoseParametersAreNotItsVersionIsRefused(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	if err := fitting.Save(ctx, rdb, "sf", fitted); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "sf:{#model}*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("model keys %v, %v", keys, err)
	}
	v, _ := rdb.Get(ctx, keys[0]).Result()
	tampered := strings.Replace(v, `"r":0.2425`, `"r":0.3`, 1)
	if tampered == v {
		t.Fatalf("stored %s has no r", v)
	}
	rdb.Set(ctx, keys[0], tampered, 0)
	if _, _, err := fitting.Load(ctx, rdb, "sf"); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("load of a tampered model: %v, want a version error", err)
	}
}
