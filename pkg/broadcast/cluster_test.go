package broadcast_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/broadcast"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/testenv"
)

func TestABroadcastsQueueIsSpreadOverEveryMasterOfAClusterAndDecidesEachMemberOnce(t *testing.T) {
	e := startOn(t, campaigns, testenv.StartCluster(t))
	members := e.customers(300, nil, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "b1", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	r := e.runner(e.engine())
	r.Fill = 1000
	if err := r.Step(ctx, T); err != nil { // the whole audience queued
		t.Fatal(err)
	}
	// Every master holds members of the queue, and together they hold each
	// member once.
	var mu sync.Mutex
	queued := map[string]int{}
	perMaster := map[string]int{}
	err := keyspace.ForEachMaster(ctx, e.rdb, func(ctx context.Context, node redis.UniversalClient) error {
		addr := node.(*redis.Client).Options().Addr
		iter := node.Scan(ctx, 0, "bc:*:queue", 1000).Iterator()
		for iter.Next(ctx) {
			zs, err := node.ZRange(ctx, iter.Val(), 0, -1).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			perMaster[addr] += len(zs)
			for _, c := range zs {
				queued[c]++
			}
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(perMaster) != 3 {
		t.Errorf("members queued on %d masters (%v), want all 3", len(perMaster), perMaster)
	}
	for addr, n := range perMaster {
		if n == 0 {
			t.Errorf("master %s holds no member of the queue", addr)
		}
	}
	for _, c := range members {
		if queued[c] != 1 {
			t.Errorf("%s queued %d times, want 1", c, queued[c])
		}
	}
	if len(queued) != len(members) {
		t.Errorf("%d queued, want the %d members", len(queued), len(members))
	}
	e.run(r, T, time.Second)
	want := expected("anniversary_points", 0.2, members, nil)
	checkOnePerMember(t, e.decisions(len(members)), want)
	v, err := e.bs.Get(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Progress.Status != broadcast.Done || v.Progress.Members != int64(len(members)) || v.Progress.Decided != int64(len(members)) {
		t.Errorf("progress %+v, want done with %d members decided", v.Progress, len(members))
	}
	sameCounts(t, v.Progress.Outcomes, counts(want))
	left := 0
	if err := keyspace.Scan(ctx, e.rdb, "bc:*:queue", func(keys []string) error { left += len(keys); return nil }); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d keys of the queue left after the broadcast finished", left)
	}
}
