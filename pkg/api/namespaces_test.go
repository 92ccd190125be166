package api_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/api"
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

// TestTheAPIFollowsASwitchToARebuiltNamespace serves profiles of "sf", builds
// "sf2" with other orders and more customers, rebuilds its index from the
// published snapshots and switches, as segflow replay --switch does: the next
// requests answer from "sf2" — a profile only it holds, its counts (those of
// its profiles) and its members.
func TestTheAPIFollowsASwitchToARebuiltNamespace(t *testing.T) {
	e := start(t, nil, nil)
	ctx := context.Background()
	old := e.population(t, 150, 1)
	oldDogs := e.all(t, "tag:bought:category:dog", 1000)

	e.store, e.ix = e.store.In("sf2"), e.ix.In("sf2")
	ids := e.population(t, 160, 3)
	n, err := e.ix.Rebuild(ctx, e.store, T)
	if err != nil || n != len(ids) {
		t.Fatalf("rebuilt the index of %d customers (%v), want %d", n, err, len(ids))
	}
	if status, _, _ := e.do(t, "GET", "/v1/profiles/cust-155", token, nil); status != 404 {
		t.Fatalf("before the switch, a customer only sf2 holds: %d, want 404", status)
	}

	if err := profile.SetLive(ctx, e.rdb, "sf2"); err != nil {
		t.Fatal(err)
	}
	var got api.ProfileView
	e.get(t, "/v1/profiles/cust-155", &got)
	if want := e.profiles(t, []string{"cust-155"})["cust-155"]; got.Activity.Orders != want.Orders || got.Stage != string(want.Stage) {
		t.Errorf("profile after the switch: %d orders, stage %s; want sf2's %d, %s", got.Activity.Orders, got.Stage, want.Orders, want.Stage)
	}
	e.checkCounts(t, ids)

	var dogs []string
	for _, p := range e.profiles(t, ids) {
		if slices.Contains(p.Tags, "bought:category:dog") {
			dogs = append(dogs, p.Customer)
		}
	}
	slices.Sort(dogs)
	if members := e.all(t, "tag:bought:category:dog", 1000); !slices.Equal(members, dogs) || slices.Equal(members, oldDogs) {
		t.Errorf("members after the switch: %v\nwant sf2's %v\n(sf's were %v)", members, dogs, oldDogs)
	}
	t.Logf("%d customers in sf, %d in sf2", len(old), len(ids))
}
