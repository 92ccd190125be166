package view_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/view"
)

// BenchmarkFollow measures what a follower does with a summary message of a
// customer with a typical year and some more (15 tags, two traits): a
// population follower reads what the population keeps of it from its header
// (view.PopulationOf); a view's follower decodes the CloudEvent and its JSON
// (stream.FromMessage, profile.SummaryOf, with segmentio/encoding's json).
// The baseline is the same decode with encoding/json, the standard
// library's cost for the same work.
func BenchmarkFollow(b *testing.B) {
	m, err := view.Message(benchSummary(), "/profile-updater", "sf")
	if err != nil {
		b.Fatal(err)
	}
	var header, decode, baseline time.Duration
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
		t0 = time.Now()
		for range 100 {
			e, err := stream.FromMessage(m)
			if err != nil {
				b.Fatal(err)
			}
			var got profile.Summary
			if err := json.Unmarshal(e.Data(), &got); err != nil {
				b.Fatal(err)
			}
		}
		baseline += time.Since(t0)
	}
	n := float64(100 * b.N)
	b.ReportMetric(header.Seconds()*1e9/n, "header-ns/summary")
	b.ReportMetric(decode.Seconds()*1e9/n, "decode-ns/summary")
	b.ReportMetric(baseline.Seconds()*1e9/n, "baseline-encoding-json-ns/summary")
	b.ReportMetric(header.Seconds()/baseline.Seconds(), "header-ratio-to-baseline")
	b.ReportMetric(decode.Seconds()/baseline.Seconds(), "decode-ratio-to-baseline")
}

// benchSummary is the summary of a customer with a typical year and some
// more: 15 tags, two traits.
func benchSummary() profile.Summary {
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
	return s
}

// BenchmarkPublish measures what the updater does to publish a summary
// (view.Message: the CloudEvent, its JSON, the Kafka message of the binary
// content mode and the population's header), one per customer evaluated.
// The baseline is the summary's JSON alone with encoding/json, the
// standard library's cost for the message's payload.
func BenchmarkPublish(b *testing.B) {
	s := benchSummary()
	var publish, baseline time.Duration
	for b.Loop() {
		t0 := time.Now()
		for range 100 {
			if _, err := view.Message(s, "/profile-updater", "sf"); err != nil {
				b.Fatal(err)
			}
		}
		publish += time.Since(t0)
		t0 = time.Now()
		for range 100 {
			if _, err := json.Marshal(s); err != nil {
				b.Fatal(err)
			}
		}
		baseline += time.Since(t0)
	}
	n := float64(100 * b.N)
	b.ReportMetric(publish.Seconds()*1e9/n, "publish-ns/summary")
	b.ReportMetric(baseline.Seconds()*1e9/n, "baseline-encoding-json-ns/summary")
	b.ReportMetric(publish.Seconds()/baseline.Seconds(), "publish-ratio-to-baseline")
}
