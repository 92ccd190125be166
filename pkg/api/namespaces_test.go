package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// TestErasureReachesEveryProfileNamespace erases a customer who has a
// profile in the configured namespace, in the live one a rebuild was
// switched to, and in one a replay is building: none is left anywhere, and
// another customer keeps theirs.
func TestErasureReachesEveryProfileNamespace(t *testing.T) {
	e := start(t, nil, nil)
	ctx := context.Background()
	for _, ns := range []string{"sf2", "sf3"} {
		if err := profile.RegisterNamespace(ctx, e.rdb, ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := profile.SetLive(ctx, e.rdb, "sf2"); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"sf", "sf2", "sf3"} {
		for _, c := range []string{"gus", "ivy"} {
			op, err := profile.OpOf(testenv.Event("o-"+c, event.OrderCompleted, c, T.Add(-time.Hour), `{"user_id":"`+c+`","order_id":"1","total":"5.00","currency":"USD"}`), "USD")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.store.In(ns).Apply(ctx, T, []profile.Op{op}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if status, body, _ := e.do(t, "DELETE", "/v1/profiles/gus", token, nil); status != 200 {
		t.Fatalf("erase: %d %s", status, body)
	}
	if left := leftovers(t, e.rdb, "gus"); len(left) > 0 {
		t.Errorf("after the erasure, Redis still holds: %v", left)
	}
	for _, ns := range []string{"sf", "sf2", "sf3"} {
		ps, err := e.store.In(ns).Get(ctx, T, []string{"ivy"})
		if err != nil || ps[0].Orders != 1 {
			t.Errorf("ivy in %s: %+v %v, want her order kept", ns, ps, err)
		}
	}
}
