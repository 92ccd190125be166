package view_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/view"
)

// models is a model source whose model the test changes.
type models struct{ m atomic.Pointer[predict.Model] }

func (s *models) Model() (predict.Model, bool) {
	if m := s.m.Load(); m != nil {
		return *m, true
	}
	return predict.Model{}, false
}

func TestViewsPredictWithTheStoresModelAndFollowItsChanges(t *testing.T) {
	k := testenv.StartKafka(t)
	src := &models{}
	store := profile.New(testenv.StartRedis(t).Client(t), profile.Config{Models: src, Currency: "USD"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ops []profile.Op
	for i, c := range []string{"a", "a", "b"} {
		e := testenv.Event(fmt.Sprint("o", i), event.OrderCompleted, c, T.Add(-time.Duration(10*(i+1))*24*time.Hour),
			fmt.Sprintf(`{"user_id":%q,"order_id":"o%d","total":"10.00","currency":"USD"}`, c, i))
		op, err := profile.OpOf(e, "USD")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if _, _, err := store.Apply(ctx, T, ops); err != nil {
		t.Fatal(err)
	}
	views := &view.Views{Brokers: k.Brokers, Store: store, Now: func() time.Time { return T }, PredictEvery: 20 * time.Millisecond, Log: zaptest.NewLogger(t)}
	go func() { _ = views.Run(ctx) }()
	v, err := views.Of(ctx, store.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	// until reports whether the view's predictions come to be by version
	// (none for ""), within a generous deadline.
	until := func(version string) bool {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if got, at, ok := v.PredictedAt(); got == version && (!ok || at.Equal(T)) {
				return true
			}
		}
		return false
	}
	other := predict.NewModel(predict.BGNBD{R: 1, Alpha: 2, A: 3, B: 4, Unit: predict.Week}, predict.GammaGamma{P: 5, Q: 6, Gamma: 7})
	for _, m := range []*predict.Model{&testenv.CDNOWModel, &other, nil} {
		src.m.Store(m)
		want := ""
		if m != nil {
			want = m.Version()
		}
		if !until(want) {
			got, _, _ := v.PredictedAt()
			t.Fatalf("the view predicts with %q, want %q", got, want)
		}
		if p, ok := v.PredictedCLV(T); m != nil && (!ok || p.All.Customers != 2) {
			t.Errorf("model %s predicted %d customers, want a and b", want, p.All.Customers)
		}
	}
}
