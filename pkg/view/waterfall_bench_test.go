package view

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/waterfall"
)

// BenchmarkCountsWithWaterfall is BenchmarkCounts' counts and a page of
// members of 1M customers, with a live waterfall of four segments over the
// segment, scores, stage, tier and tags ("with") and without one, beside
// the baseline of BenchmarkCounts, rfm.Compute on the same values.
func BenchmarkCountsWithWaterfall(b *testing.B) {
	const n = 1_000_000
	wf, err := waterfall.Compile(waterfall.Config{Segments: []waterfall.Segment{
		{Name: "champions", When: `segment == "important_value" && f_score >= 3`},
		{Name: "top_m", When: `m_score == 5`},
		{Name: "gold_lapsed", When: `tier == "gold" && stage in ["S2", "S3"]`},
		{Name: "coats", When: `"bought:category:coats" in tags`},
	}})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, n))
	with, without := newView(nes.Config{}, nil, wf), New(nes.Config{}, nil)
	vals := make([]rfm.Values, 0, n)
	for i := range n {
		c := randomCustomer(r, "cust-"+strconv.Itoa(i), 1)
		with.Put(c)
		without.Put(c)
		vals = append(vals, rfm.Values{R: int(recency(T.UnixMilli(), c.Last.UnixMilli())), F: c.F, M: c.M})
	}
	attrs := map[string]Attr{"waterfall:top_m": {Kind: KindWaterfall, Value: "top_m"}, "S3": {Kind: KindStage, Value: string(nes.DeepAsleep)}}
	i := 0
	for _, v := range []struct {
		name string
		v    *View
		q    string
	}{{"with", with, "waterfall:top_m"}, {"without", without, "S3"}} {
		expr, _ := audience.Parse(v.q)
		b.Run(fmt.Sprintf("counts-%s/%d", v.name, n), func(b *testing.B) {
			for b.Loop() {
				i++
				v.v.Counts(T.Add(time.Duration(i) * time.Millisecond))
			}
		})
		b.Run(fmt.Sprintf("members-%s/%d", v.name, n), func(b *testing.B) {
			for b.Loop() {
				i++
				v.v.Members(T.Add(time.Duration(i)*time.Millisecond), expr, attrs, "", 100)
			}
		})
	}
	b.Run(fmt.Sprintf("baseline-rfm.Compute/%d", n), func(b *testing.B) {
		for b.Loop() {
			rfm.Compute(vals)
		}
	})
}
