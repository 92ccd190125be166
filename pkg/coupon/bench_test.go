package coupon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/testenv"
)

// BenchmarkCoupon measures a code's life — reserved, issued and redeemed by
// an order, four round trips to Redis — beside the baseline of four plain
// round trips (HSET, HGET) of the same key sizes; and loading a pool of
// 100 000 codes beside the baseline of SADDing them in one pipeline.
func BenchmarkCoupon(b *testing.B) {
	ctx := context.Background()
	rdb := testenv.StartNode(b).Client(b)
	b.Setenv("SEGFLOW_COUPON_BENCH_SECRET", "a benchmark secret, long enough")
	gen := &Definition{Name: "bench", Generate: &Generate{SecretEnv: "SEGFLOW_COUPON_BENCH_SECRET"}, Value: Value{Percent: "10"}, Valid: Validity{Days: 30}}
	if errs := gen.Compile(""); len(errs) > 0 {
		b.Fatal(errs)
	}
	s := NewStore(rdb)
	b.Run("issue+redeem", func(b *testing.B) {
		for i := range b.N {
			d := Decision{ID: fmt.Sprint("d", i), Campaign: "c", Variant: "a", Customer: fmt.Sprint("cust-", i), At: t0}
			code, _, err := reserve(ctx, s, gen, d)
			if err == nil {
				err = s.Confirm(ctx, code, d)
			}
			if err == nil {
				_, err = s.Redeem(ctx, Order{ID: fmt.Sprint("o", i), Customer: d.Customer, Code: code, At: t0.Add(time.Hour), Revenue: 1})
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline/4-round-trips", func(b *testing.B) {
		for i := range b.N {
			key := fmt.Sprint("cp:{#codes:1}:code:BENCH", i)
			for _, err := range []error{
				rdb.HSet(ctx, key, "decision", i, "campaign", "c", "variant", "a", "state", "reserved").Err(),
				rdb.HSet(ctx, key, "state", "issued").Err(),
				rdb.HGet(ctx, key, "campaign").Err(),
				rdb.HSet(ctx, key, "order", i).Err(),
			} {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	const n = 100_000
	var codes strings.Builder
	for i := range n {
		fmt.Fprintf(&codes, "CODE-%08d\n", i)
	}
	path := pool(b, codes.String())
	b.Run(fmt.Sprintf("pool-load/%d", n), func(b *testing.B) {
		for i := range b.N {
			d := &Definition{Name: fmt.Sprint("p", i), Pool: path, Value: Value{Percent: "10"}, Valid: Validity{Days: 1}}
			if errs := d.Compile(""); len(errs) > 0 {
				b.Fatal(errs)
			}
			if err := NewStore(rdb).load(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "codes/s")
	})
	b.Run(fmt.Sprintf("baseline/sadd-pipeline/%d", n), func(b *testing.B) {
		list := strings.Fields(codes.String())
		for i := range b.N {
			pipe := rdb.Pipeline()
			for j := 0; j < n; j += 1000 {
				args := make([]any, 0, 1000)
				for _, c := range list[j:min(j+1000, n)] {
					args = append(args, c)
				}
				pipe.SAdd(ctx, fmt.Sprint("bench:sadd:", i), args...)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "codes/s")
	})
}
