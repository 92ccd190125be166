package replay_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/replay"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/waterfall"
)

// TestVerifyComparesTheWaterfallSegment: the same orders evaluated with two
// waterfalls differ in the waterfall segment of exactly the customers the
// two put apart, and in nothing else.
func TestVerifyComparesTheWaterfallSegment(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	compile := func(segments ...waterfall.Segment) *waterfall.Engine {
		wf, err := waterfall.Compile(waterfall.Config{Segments: segments})
		if err != nil {
			t.Fatal(err)
		}
		return wf
	}
	repeat := waterfall.Segment{Name: "repeat", When: "orders >= 2"}
	big := waterfall.Segment{Name: "big", When: "lifetime >= 100.0"}
	a := profile.New(rdb, profile.Config{Prefix: "a", Waterfall: compile(repeat, big)})
	b := profile.New(rdb, profile.Config{Prefix: "b", Waterfall: compile(big, repeat)})
	T := day(10)
	// ann: 2 orders, 150 in all (repeat in a, big in b); bea: 2 orders, 20;
	// cid: 1 order, 120.
	var ops []profile.Op
	for i, o := range []struct{ customer, total string }{{"ann", "50"}, {"ann", "100"}, {"bea", "10"}, {"bea", "10"}, {"cid", "120"}} {
		op, err := profile.OpOf(testenv.Event(fmt.Sprint("o", i), event.OrderCompleted, o.customer, day(i),
			fmt.Sprintf(`{"user_id":%q,"order_id":"%d","total":%q,"currency":"USD"}`, o.customer, i, o.total)), "USD")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	for _, s := range []*profile.Store{a, b} {
		if _, _, err := s.Apply(ctx, T, ops); err != nil {
			t.Fatal(err)
		}
	}
	diffs, n, err := replay.Compare(ctx, a, b, T)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || fmt.Sprint(diffs) != "[ann waterfall: repeat != big]" {
		t.Errorf("compared %d customers, differences %v; want 3 and ann's waterfall segment only", n, diffs)
	}
}
