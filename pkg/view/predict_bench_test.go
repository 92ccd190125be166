package view

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/testenv"
)

// BenchmarkPredict measures predictions at n customers (randomCustomer,
// with purchase days and repeat spend): a refresh (every customer's
// P(alive) and CLV of a year, and the deciles), and the questions that
// read it — predicted CLV by segment (/v1/metrics/clv) and a page of a
// decile with its total (/v1/members?q=pclv_decile:10) — beside a
// baseline that does not depend on the view: evaluating P(alive) alone,
// the cheapest of the closed forms, for the same customers' inputs in a
// plain loop.
func BenchmarkPredict(b *testing.B) {
	m := testenv.CDNOWModel
	for _, n := range benchSizes[:1] {
		r := rand.New(rand.NewPCG(5, uint64(n)))
		v := New(nes.Config{}, nil)
		var inputs []predict.Customer
		for i := range n {
			c := randomCustomer(r, "cust-"+strconv.Itoa(i), 1)
			if c.Orders > 0 {
				c.Days = 1
				if day := 24 * time.Hour; c.Last.Truncate(day).After(c.First.Truncate(day)) {
					c.Days = min(c.Orders, 1+int(c.Last.Sub(c.First)/day))
				}
				c.Repeat = c.Lifetime * int64(c.Days-1) / int64(c.Days)
				d := predict.DaysOf(c.Days, c.First, c.Last, 0)
				in, _ := d.Customer(T, predict.Week)
				inputs = append(inputs, in)
			}
			v.Put(c)
		}
		b.Run(fmt.Sprintf("refresh/%d", n), func(b *testing.B) {
			for b.Loop() {
				v.Predict(m, T, "USD")
			}
		})
		i := 0
		expr := audience.Name{Name: "top"}
		attrs := map[string]Attr{"top": {Kind: KindPCLVDecile, Score: 10}}
		for _, q := range []struct {
			name string
			ask  func(T time.Time)
		}{
			{"clv", func(T time.Time) { v.PredictedCLV(T) }},
			{"decile-members", func(T time.Time) { v.Members(T, expr, attrs, "", 100) }},
		} {
			b.Run(fmt.Sprintf("%s/%d", q.name, n), func(b *testing.B) {
				for b.Loop() {
					i++ // a new T each time: nothing is kept between questions
					q.ask(T.Add(time.Duration(i) * time.Millisecond))
				}
			})
		}
		b.Run(fmt.Sprintf("baseline-p-alive/%d", n), func(b *testing.B) {
			var sum float64
			for b.Loop() {
				for _, c := range inputs {
					sum += m.Purchases.PAlive(c)
				}
			}
			b.ReportMetric(sum/float64(b.N)/float64(len(inputs)), "mean-p-alive")
		})
	}
}
