package view_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/view"
)

// BenchmarkFollow measures what a population follower does with a summary
// message of a customer with a typical year and some more (15 tags, two
// traits): read what the population keeps of it from its header
// (view.PopulationOf), beside the baseline of decoding the CloudEvent and
// its JSON data (stream.FromMessage, profile.SummaryOf), what a follower
// without the header does with the same message.
func BenchmarkFollow(b *testing.B) {
	s := profile.Summary{
		Customer: "c0001234", Version: 14, At: T, Orders: 6, First: T.AddDate(-1, 0, 0), Last: T.AddDate(0, -1, 0),
		F: 4, M: 412_500_000, Lifetime: 690_250_000, Days: 6, Repeat: 590_000_000, Tier: "member",
		Traits: []event.Trait{{Name: "plan", Kind: event.TraitString, Text: "pro"}, {Name: "age", Kind: event.TraitNumber, Text: "41"}},
	}
	for i := range 5 {
		s.Tags = append(s.Tags, fmt.Sprintf("bought:category:cat-%02d", i*7))
	}
	for i := range 10 {
		s.Tags = append(s.Tags, fmt.Sprintf("viewed_not_bought:SKU-%04d", i*131))
	}
	m, err := view.Message(s, "/profile-updater", "sf")
	if err != nil {
		b.Fatal(err)
	}
	var header, decode time.Duration
	for b.Loop() {
		t0 := time.Now()
		for range 100 {
			if _, _, ok := view.PopulationOf(m); !ok {
				b.Fatal("no population header")
			}
		}
		header += time.Since(t0)
		t0 = time.Now()
		for range 100 {
			e, err := stream.FromMessage(m)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := profile.SummaryOf(e); err != nil {
				b.Fatal(err)
			}
		}
		decode += time.Since(t0)
	}
	n := float64(100 * b.N)
	b.ReportMetric(header.Seconds()*1e9/n, "header-ns/summary")
	b.ReportMetric(decode.Seconds()*1e9/n, "baseline-decode-ns/summary")
	b.ReportMetric(decode.Seconds()/header.Seconds(), "speedup")
}
