package view

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rfm"
)

// benchSizes are the populations the view benchmarks build: two, so that
// growth can be read off (and 10M extrapolated).
var benchSizes = []int{1_000_000, 2_000_000}

// heapAfterGC is the bytes of heap in use after a collection.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkBuild builds a view of n customers (5 in 6 buyers, ids of 11 or
// 12 characters) from summaries in memory: the Put path, which a replica's
// load and the summaries it follows take. It reports the time a customer
// and for all, and the view's heap a customer after a collection, beside
// two baselines that do not depend on the view's design: the same
// summaries put in a map[string]profile.Summary by id, keeping the newer
// (time and heap), and a map[string]struct{} of the ids alone (heap).
func BenchmarkBuild(b *testing.B) {
	for _, n := range benchSizes {
		sums := make([]profile.Summary, n)
		r := rand.New(rand.NewPCG(5, uint64(n)))
		for i := range sums {
			sums[i] = randomCustomer(r, "cust-"+strconv.Itoa(i), 1)
		}
		// build builds a structure of the n summaries with put, and reports
		// its time and heap a customer.
		build := func(b *testing.B, put func() any) {
			var bytes float64
			var took time.Duration
			for b.Loop() {
				before := heapAfterGC()
				t0 := time.Now()
				x := put()
				took += time.Since(t0)
				bytes = float64(heapAfterGC() - before)
				runtime.KeepAlive(x)
			}
			b.ReportMetric(bytes/float64(n), "B/customer")
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N)/float64(n), "ns/customer")
			b.ReportMetric(took.Seconds()/float64(b.N), "s/build")
		}
		b.Run(fmt.Sprintf("view/%d", n), func(b *testing.B) {
			build(b, func() any {
				v := New(nes.Config{}, nil)
				for i := 0; i < n; i += 1000 {
					v.Put(sums[i:min(i+1000, n)]...)
				}
				return v
			})
		})
		// The same customers with traits: a city of four, an age from 15 to
		// 40, vip and a sign-up day of 800 (withTraits); and with an income
		// besides, a number of each customer's own, so that no two share
		// their traits' set.
		withLow, withUnique := make([]profile.Summary, n), make([]profile.Summary, n)
		for i, s := range sums {
			withLow[i], _ = withTraits(r, s)
			withUnique[i] = withLow[i]
			withUnique[i].Traits = append(slices.Clone(withLow[i].Traits), event.Trait{Name: "income", Kind: event.TraitNumber, Text: strconv.Itoa(20_000 + i)})
		}
		for name, sums := range map[string][]profile.Summary{"view-with-traits": withLow, "view-with-unique-traits": withUnique} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				build(b, func() any {
					v := New(nes.Config{}, nil)
					for i := 0; i < n; i += 1000 {
						v.Put(sums[i:min(i+1000, n)]...)
					}
					return v
				})
			})
		}
		b.Run(fmt.Sprintf("baseline-map-of-summaries/%d", n), func(b *testing.B) {
			build(b, func() any {
				m := map[string]profile.Summary{}
				for _, s := range sums {
					if old, ok := m[s.Customer]; !ok || s.Newer(old) {
						s.Customer = strings.Clone(s.Customer) // the map's own, as the view's
						m[s.Customer] = s
					}
				}
				return m
			})
		})
		b.Run(fmt.Sprintf("baseline-set-of-ids/%d", n), func(b *testing.B) {
			build(b, func() any {
				m := map[string]struct{}{}
				for _, s := range sums {
					m[strings.Clone(s.Customer)] = struct{}{}
				}
				return m
			})
		})
	}
}

// BenchmarkCounts answers the read API's questions of the population view
// of n customers (5 in 6 buyers) as of T: counts of segments, grid,
// stages, tiers and tags (/v1/counts); a page of 100 of an expression with
// its total (/v1/members); a page of a segment (/v1/segments/{s}/members);
// lifetime spend by segment and a page of customers (/v1/metrics/clv).
// The baseline is the same scoring done from scratch by rfm.Compute on the
// same values (sorting each dimension), what reading the population and
// scoring it per request costs in Go alone.
func BenchmarkCounts(b *testing.B) {
	for _, n := range benchSizes {
		r := rand.New(rand.NewPCG(5, uint64(n)))
		v := New(nes.Config{}, nil)
		vals := make([]rfm.Values, 0, n)
		for i := range n {
			c := randomCustomer(r, "cust-"+strconv.Itoa(i), 1)
			v.Put(c)
			vals = append(vals, rfm.Values{R: int(recency(T.UnixMilli(), c.Last.UnixMilli())), F: c.F, M: c.M})
		}
		attrs := map[string]Attr{
			rfm.ImportantValue: {Kind: KindSegment, Value: rfm.ImportantValue},
			rfm.GeneralRetain:  {Kind: KindSegment, Value: rfm.GeneralRetain},
			"S3":               {Kind: KindStage, Value: string(nes.DeepAsleep)},
		}
		expr, _ := audience.Parse("important_value AND S3")
		i := 0
		for _, q := range []struct {
			name string
			ask  func(T time.Time)
		}{
			{"counts", func(T time.Time) { v.Counts(T) }},
			{"members", func(T time.Time) { v.Members(T, expr, attrs, "", 100) }},
			{"segment-members", func(T time.Time) { v.Members(T, audience.Name{Name: rfm.GeneralRetain}, attrs, "", 100) }},
			{"clv", func(T time.Time) { v.Lifetimes(T); v.Members(T, nil, nil, "", 100) }},
		} {
			b.Run(fmt.Sprintf("%s/%d", q.name, n), func(b *testing.B) {
				for b.Loop() {
					i++ // a new T each time: nothing is kept between questions
					q.ask(T.Add(time.Duration(i) * time.Millisecond))
				}
			})
		}
		b.Run(fmt.Sprintf("baseline-rfm.Compute/%d", n), func(b *testing.B) {
			for b.Loop() {
				rfm.Compute(vals)
			}
		})
	}
}

// BenchmarkTraitMembers answers an audience of trait comparisons,
// trait:city = "Hong Kong" AND trait:age >= 18 AND trait:age <= 24, a page of
// 100 with its total, over n customers with traits (withTraits). The
// baseline filters the same summaries' traits in a plain loop: what the
// question costs in Go without the view.
func BenchmarkTraitMembers(b *testing.B) {
	n := benchSizes[0]
	r := rand.New(rand.NewPCG(5, uint64(n)))
	v := New(nes.Config{}, nil)
	sums := make([]profile.Summary, n)
	for i := range sums {
		sums[i], _ = withTraits(r, randomCustomer(r, "cust-"+strconv.Itoa(i), 1))
		v.Put(sums[i])
	}
	expr, err := audience.Parse(`trait:city = "Hong Kong" AND trait:age >= 18 AND trait:age <= 24`)
	if err != nil {
		b.Fatal(err)
	}
	var members, filtered int
	b.Run(fmt.Sprintf("view/%d", n), func(b *testing.B) {
		for b.Loop() {
			members = v.Members(T, expr, nil, "", 100).Total
		}
	})
	b.Run(fmt.Sprintf("baseline-loop-over-summaries/%d", n), func(b *testing.B) {
		for b.Loop() {
			filtered = 0
			for _, s := range sums {
				var city, age bool
				for _, t := range s.Traits {
					switch t.Name {
					case "city":
						city = t.Kind == event.TraitString && t.Text == "Hong Kong"
					case "age":
						x, err := strconv.ParseFloat(t.Text, 64)
						age = t.Kind == event.TraitNumber && err == nil && x >= 18 && x <= 24
					}
				}
				if city && age {
					filtered++
				}
			}
		}
	})
	if members != filtered {
		b.Fatalf("the view selects %d, the loop %d", members, filtered)
	}
}
