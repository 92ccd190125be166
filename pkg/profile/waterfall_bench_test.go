package profile_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/waterfall"
)

// BenchmarkApplyWithWaterfall measures what evaluating a waterfall costs an
// updater: the mix of BenchmarkApply, with the default tag rules, through a
// store without a waterfall and one with the example waterfall
// (deploy/waterfall.yaml, eight segments), each batch applied to both in
// turn on their own copies of the same customers, and to the raw ceiling of
// BenchmarkApply (one small script an event), the baseline that does not
// depend on segflow's design. It reports each rate and its ratio to the
// ceiling. An op (ns/op) is one batch of 500 events through all three.
func BenchmarkApplyWithWaterfall(b *testing.B) {
	rdb := benchRedis(b)
	ctx := context.Background()
	c, err := waterfall.LoadConfig(filepath.Join("..", "..", "deploy", "waterfall.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	wf, err := waterfall.Compile(c)
	if err != nil {
		b.Fatal(err)
	}
	customers := make([]string, benchCustomers)
	for i := range customers {
		customers[i] = fmt.Sprintf("c%07d", i)
	}
	g := newBenchGen(b, uint64(b.N))
	year := g.typicalYear(customers)
	plain := newBenchStore(b, rdb, "plain")
	with := profile.New(rdb, profile.Config{Prefix: "wf", Rules: plain.Rules(), Waterfall: wf})
	benchApply(b, plain, year)
	benchApply(b, with, year)
	batches := make([][]profile.Op, b.N)
	for i := range batches {
		batches[i] = g.mixed(benchBatch)
	}
	if err := ceilingScript.Load(ctx, rdb).Err(); err != nil {
		b.Fatal(err)
	}
	var took [3]time.Duration // without, with, raw
	b.ResetTimer()
	for _, ops := range batches {
		for i, s := range []*profile.Store{plain, with} {
			t0 := time.Now()
			changes, _, err := s.Apply(ctx, benchT, ops)
			took[i] += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := s.Commit(ctx, changes); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		t0 := time.Now()
		if err := ceiling(ctx, rdb, ops); err != nil {
			b.Fatal(err)
		}
		took[2] += time.Since(t0)
	}
	events := float64(len(batches) * benchBatch)
	rate := func(d time.Duration) float64 { return events / d.Seconds() }
	b.ReportMetric(rate(took[0]), "events/s-without")
	b.ReportMetric(rate(took[1]), "events/s-waterfall")
	b.ReportMetric(rate(took[2]), "events/s-raw")
	b.ReportMetric(rate(took[0])/rate(took[2]), "without/raw")
	b.ReportMetric(rate(took[1])/rate(took[2]), "waterfall/raw")
}
