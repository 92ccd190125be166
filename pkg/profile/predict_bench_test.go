package profile_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/tag"
)

// BenchmarkPredictionsPerEvent applies the same batches of mixed events to
// two copies of one population: a store without a model (the baseline,
// measured in the same run) and one that predicts with the CDNOW model (at
// risk tag and timer at every evaluation). with/without is the ratio of
// their times per event; pred-ns/event the time predictions add.
func BenchmarkPredictionsPerEvent(b *testing.B) {
	rdb := benchRedis(b)
	g := newBenchGen(b, uint64(b.N))
	customers := make([]string, benchCustomers)
	for i := range customers {
		customers[i] = fmt.Sprintf("c%07d", i)
	}
	benchApply(b, newBenchStore(b, rdb, "sf"), g.typicalYear(customers))
	copyPrefix(b, rdb, "sf", "pm")
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	without := newBenchStore(b, rdb, "sf")
	with := profile.New(rdb, profile.Config{Prefix: "pm", Rules: rules, Models: fixedModel{cdnowModel}})
	batches := make([][]profile.Op, max(b.N/benchBatch, 1))
	events := 0
	for i := range batches {
		batches[i] = g.mixed(benchBatch)
		events += len(batches[i])
	}
	run := func(s *profile.Store) time.Duration {
		ctx := context.Background()
		t0 := time.Now()
		for _, ops := range batches {
			changes, _, err := s.Apply(ctx, benchT, ops)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Commit(ctx, changes); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	b.ResetTimer()
	base := run(without)
	pred := run(with)
	b.StopTimer()
	b.ReportMetric(float64(base.Nanoseconds())/float64(events), "base-ns/event")
	b.ReportMetric(float64((pred-base).Nanoseconds())/float64(events), "pred-ns/event")
	b.ReportMetric(float64(pred)/float64(base), "with/without")
}
