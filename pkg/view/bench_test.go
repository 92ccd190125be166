package view

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/rfm"
)

// BenchmarkCounts counts a population of n customers (5 in 6 buyers) as of
// T, and selects a page of 100 of an audience expression (members), beside the baseline of the same work done from scratch: rfm.Compute
// scoring the same values (sorting each dimension), which is what reading
// the population and scoring it per request costs in Go alone. It reports
// the view's heap per customer.
func BenchmarkCounts(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		r := rand.New(rand.NewPCG(5, uint64(n)))
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		v := New(nes.Config{}, nil)
		vals := make([]rfm.Values, 0, n)
		for i := range n {
			c := randomCustomer(r, "cust-"+strconv.Itoa(i), 1)
			v.Put(c)
			vals = append(vals, rfm.Values{R: int(recency(T.UnixMilli(), c.Last.UnixMilli())), F: c.F, M: c.M})
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		perCustomer := float64(after.HeapAlloc-before.HeapAlloc-uint64(cap(vals))*24) / float64(n)
		b.Run(fmt.Sprintf("view/%d", n), func(b *testing.B) {
			for b.Loop() {
				v.Counts(T.Add(time.Duration(b.N) * time.Millisecond))
			}
			b.ReportMetric(perCustomer, "B/customer")
		})
		expr, _ := audience.Parse("important_value AND S3")
		attrs := map[string]Attr{"important_value": {Kind: KindSegment, Value: rfm.ImportantValue}, "S3": {Kind: KindStage, Value: string(nes.DeepAsleep)}}
		b.Run(fmt.Sprintf("members/%d", n), func(b *testing.B) {
			for b.Loop() {
				v.Members(T, expr, attrs, "", 100)
			}
		})
		b.Run(fmt.Sprintf("rfm.Compute/%d", n), func(b *testing.B) {
			for b.Loop() {
				rfm.Compute(vals)
			}
		})
	}
}
