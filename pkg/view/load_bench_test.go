package view_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/view"
)

// BenchmarkLoad builds a view from a store of 20,000 customers with three
// orders each, as a read-API replica does at start, beside the baseline of
// reading the same profiles' hashes with plain pipelined HGETALLs (what
// Redis and the network cost for the same data, whatever the view does).
func BenchmarkLoad(b *testing.B) {
	const n = 20_000
	rdb := testenv.StartNode(b).Client(b)
	ctx := context.Background()
	store := profile.New(rdb, profile.Config{})
	var ops []profile.Op
	customers := make([]string, n)
	for i := range n {
		c := fmt.Sprintf("c%06d", i)
		customers[i] = c
		for o := range 3 {
			at := T.Add(-time.Duration(i%300+o*40) * 24 * time.Hour)
			id := fmt.Sprint(c, "-", o)
			op, err := profile.OpOf(testenv.Event(id, event.OrderCompleted, c, at,
				fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":"%d.00","currency":"USD"}`, c, id, 10+i%90)), "USD")
			if err != nil {
				b.Fatal(err)
			}
			ops = append(ops, op)
		}
	}
	for i := 0; i < len(ops); i += 5000 {
		if _, err := store.Write(ctx, T, ops[i:min(i+5000, len(ops))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := store.Rescore(ctx, T, profile.Cause{}, func([]profile.Change, []string) error { return nil }); err != nil {
		b.Fatal(err)
	}
	var load, raw time.Duration
	for b.Loop() {
		t0 := time.Now()
		v := view.New(store.NES(), nil)
		if err := view.Load(ctx, store, v); err != nil || v.Len() != n {
			b.Fatalf("loaded %d customers: %v", v.Len(), err)
		}
		load += time.Since(t0)
		t0 = time.Now()
		pipe := rdb.Pipeline()
		for _, c := range customers {
			pipe.HGetAll(ctx, keys.Customer("sf", c)+"p")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t0)
	}
	b.ReportMetric(float64(n)/load.Seconds()*float64(b.N), "customers/s")
	b.ReportMetric(float64(n)/raw.Seconds()*float64(b.N), "baseline-HGETALL-customers/s")
	b.ReportMetric(raw.Seconds()/load.Seconds(), "ratio")
}
