package trigger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

// TestTheTimersOfManyCustomersAreSpreadOverShardsAndFallDueInOrder starts a
// cart wait for each of 1,000 customers, due a second apart: the timers
// land in at least 200 of the 256 shards (on a cluster, no master holds all
// of them), and Due decides the earliest waits of all shards first — the 50
// earliest customers, whichever shards hold them.
func TestTheTimersOfManyCustomersAreSpreadOverShardsAndFallDueInOrder(t *testing.T) {
	e := start(t)
	en := e.engine()
	ctx := context.Background()
	const n = 1000
	var evs []cloudevents.Event
	var ops []profile.Op
	for i := range n {
		ev := cartAdd(fmt.Sprintf("add-%04d", i), fmt.Sprintf("c%04d", i), t0.Add(time.Duration(i)*time.Second))
		op, err := profile.OpOf(ev, "USD")
		if err != nil {
			t.Fatal(err)
		}
		evs, ops = append(evs, ev), append(ops, op)
	}
	T := t0.Add(time.Duration(n) * time.Second)
	if _, _, err := e.store.Apply(ctx, T, ops); err != nil {
		t.Fatal(err)
	}
	if err := en.HandleBatch(ctx, T, evs); err != nil {
		t.Fatal(err)
	}

	shards := 0
	for _, k := range testenv.Keys(t, e.rdb, "tr:{#timers*") {
		if e.rdb.ZCard(ctx, k).Val() > 0 {
			shards++
		}
	}
	if shards < 200 {
		t.Errorf("the timers of %d customers are in %d shards, want at least 200", n, shards)
	}
	if got, err := trigger.Backlog(ctx, e.rdb, farFuture); err != nil || got != n {
		t.Fatalf("backlog %d (%v), want %d", got, err, n)
	}

	// Every wait is due by the end; Due takes the 50 earliest.
	end := T.Add(time.Hour)
	if got, err := en.Due(ctx, end, 50); err != nil || got != 50 {
		t.Fatalf("Due found %d waits (%v), want 50", got, err)
	}
	var decided, want []string
	for _, d := range e.decisions(trigger.TopicDecisions, 50) {
		decided = append(decided, d.Customer)
	}
	for i := range 50 {
		want = append(want, fmt.Sprintf("c%04d", i))
	}
	slices.Sort(decided)
	if !slices.Equal(decided, want) {
		t.Errorf("decided %v, want the 50 earliest %v", decided, want)
	}
	if got, _ := trigger.Backlog(ctx, e.rdb, end); got != n-50 {
		t.Errorf("backlog after Due %d, want %d", got, n-50)
	}
}
