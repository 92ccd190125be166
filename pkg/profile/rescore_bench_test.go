package profile_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/profile"
)

// BenchmarkRescore measures Store.Rescore over 10,000 customers (or
// SEGFLOW_BENCH_CUSTOMERS) with a typical year each, every change
// committed, against a baseline from the same run that is independent of the
// design: reading every record of the namespace once, a SCAN page and an
// MGET of its keys at a time, and doing nothing with them (the least any
// rescore of state kept in Redis costs). It reports customers/s of both and
// their ratio; a rescore reads every record twice and evaluates everyone.
// An op is one rescore of every customer.
func BenchmarkRescore(b *testing.B) {
	rdb := benchRedis(b)
	ctx := context.Background()
	s := newBenchStore(b, rdb, "rescore")
	customers := make([]string, benchCustomers)
	for i := range customers {
		customers[i] = fmt.Sprintf("r-c%07d", i)
	}
	benchApply(b, s, newBenchGen(b, 3).typicalYear(customers))

	var rescore, read time.Duration
	changes := 0
	T := benchT
	for b.Loop() {
		T = T.Add(24 * time.Hour) // a day later: stages and windows move
		start := time.Now()
		err := s.Rescore(ctx, T, profile.Cause{Due: T}, func(chs []profile.Change, _ []string) error {
			changes += len(chs)
			return s.Commit(ctx, chs)
		})
		if err != nil {
			b.Fatal(err)
		}
		rescore += time.Since(start)

		start = time.Now()
		n := 0
		err = keyspace.Scan(ctx, rdb, "rescore:{*}:r", func(keys []string) error {
			vals, err := rdb.MGet(ctx, keys...).Result()
			n += len(vals)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if n < len(customers) {
			b.Fatalf("read %d records of %d customers", n, len(customers))
		}
		read += time.Since(start)
	}
	total := float64(b.N * len(customers))
	b.ReportMetric(total/rescore.Seconds(), "customers/s")
	b.ReportMetric(total/read.Seconds(), "read-once-customers/s")
	b.ReportMetric(read.Seconds()/rescore.Seconds(), "ratio-to-read-once")
	b.ReportMetric(float64(changes)/total, "changes/customer")
}
