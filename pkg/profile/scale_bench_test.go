package profile_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// BenchmarkApplyTwoWriters measures how the updater scales out: the same
// batches (the mix of BenchmarkApply over customers with a typical year) are
// applied as the updater applies them (Apply, Summaries, Commit) by one
// writer, then by two writers at once, each given the customers of its
// Kafka partitions (half the customers, by the hash of their id) and its own
// cache, as two processes of one consumer group are. It reports both rates
// and two-writers-speedup, the ratio of the two, and fails if the two
// namespaces do not hold the same profiles. Both writers run in this
// process and share its cores and the one redis-server: the speedup is a
// floor for two processes on machines of their own.
func BenchmarkApplyTwoWriters(b *testing.B) {
	rdb := benchRedis(b)
	g := newBenchGen(b, uint64(b.N)+7)
	customers := make([]string, benchCustomers)
	for i := range customers {
		customers[i] = fmt.Sprintf("c%07d", i)
	}
	benchApply(b, newBenchStore(b, rdb, "one"), g.typicalYear(customers))
	copyPrefix(b, rdb, "one", "two")
	batches := make([][]profile.Op, b.N)
	for i := range batches {
		batches[i] = g.mixed(benchBatch)
	}

	b.ResetTimer()
	t0 := time.Now()
	one := newBenchStore(b, rdb, "one")
	for _, ops := range batches {
		updaterBatch(b, one, ops)
	}
	alone := time.Since(t0)

	t0 = time.Now()
	var wg sync.WaitGroup
	for w := range 2 {
		s := newBenchStore(b, rdb, "two")
		wg.Go(func() {
			for _, ops := range batches {
				var mine []profile.Op
				for _, op := range ops {
					if keys.ShardOf(op.Customer)%2 == w {
						mine = append(mine, op)
					}
				}
				updaterBatch(b, s, mine)
			}
		})
	}
	wg.Wait()
	two := time.Since(t0)
	b.StopTimer()

	events := float64(b.N * benchBatch)
	b.ReportMetric(events/alone.Seconds(), "one-writer-events/s")
	b.ReportMetric(events/two.Seconds(), "two-writers-events/s")
	b.ReportMetric(alone.Seconds()/two.Seconds(), "two-writers-speedup")
	// Scores and tags depend on the population each writer saw (updaters
	// follow each other's summaries; these do not), so the profiles are
	// compared by what the events made of them (CustomerKeys).
	if one, two := testenv.CustomerKeys(b, rdb, "one"), testenv.CustomerKeys(b, rdb, "two"); len(one) < benchCustomers || !maps.Equal(one, two) {
		b.Fatal("two writers left other profiles than one")
	}
}

// updaterBatch applies ops as the updater does: Apply, the summaries of the
// customers evaluated, Commit.
func updaterBatch(b *testing.B, s *profile.Store, ops []profile.Op) {
	ctx := context.Background()
	changes, _, err := s.Apply(ctx, benchT, ops)
	if err != nil {
		b.Error(err)
		return
	}
	customers := make([]string, len(ops))
	for i, op := range ops {
		customers[i] = op.Customer
	}
	if _, err := s.Summaries(ctx, customers); err != nil {
		b.Error(err)
		return
	}
	if err := s.Commit(ctx, changes); err != nil {
		b.Error(err)
	}
}
