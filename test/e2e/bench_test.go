package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/trigger"
)

const benchCampaigns = `
campaigns:
  - {name: instant, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: message}}
  - {name: later, kind: lifecycle, on: [segflow.cart.product_added], delay: 2s, channel: email, action: {type: message}}
`

// BenchmarkEndToEnd drives the whole pipeline — collector, Kafka (kfake),
// profile-updater and trigger service on one real redis-server — with cart
// events at 1,000 events/s for 5 s, in batches of 10 every 10 ms, one cart
// add per customer. For a campaign without delay it reports the latency from
// sending the HTTP request to the trigger being readable on the triggers
// topic (p50, p99); for a campaign with a 2 s delay, the timer lag: the
// decision time minus the due time (p50, p99).
func BenchmarkEndToEnd(b *testing.B) {
	const rate, seconds = 1000, 5
	const customers = rate * seconds // one cart each: a delayed campaign waits once per customer
	p := startPipeline(b, time.Now, "USD")
	camps, err := campaign.Parse([]byte(benchCampaigns))
	if err != nil {
		b.Fatal(err)
	}
	p.startTrigger(b, camps, time.Now)
	var ids []map[string]any
	for i := range customers {
		ids = append(ids, map[string]any{"specversion": "1.0", "id": fmt.Sprint("id-", i), "source": "/bench", "type": event.Identify,
			"data": map[string]any{"user_id": fmt.Sprint("c", i), "consent": map[string]bool{"email": true}}})
	}
	p.post(b, ids)
	p.waitApplied(b, customers, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Read the triggers as they come.
	type seen struct {
		at time.Time
		d  trigger.Decision
	}
	var mu sync.Mutex
	got := map[string][]seen{}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: p.kafka.Brokers, GroupID: "bench-reader", Topic: trigger.TopicTriggers, MaxWait: 100 * time.Millisecond, ReadBackoffMin: 5 * time.Millisecond, StartOffset: kafka.FirstOffset})
	defer r.Close()
	go func() {
		for {
			// Fetched, not committed: a commit per message would make this
			// reader, not the pipeline, the bottleneck.
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return
			}
			at := time.Now()
			ev, err := stream.FromMessage(m)
			if err != nil {
				continue
			}
			var d trigger.Decision
			if json.Unmarshal(ev.Data(), &d) == nil && len(d.Reason.Events) > 0 {
				mu.Lock()
				got[d.Reason.Events[0]] = append(got[d.Reason.Events[0]], seen{at, d})
				mu.Unlock()
			}
		}
	}()

	b.ResetTimer()
	sent := map[string]time.Time{}
	tick := time.NewTicker(10 * time.Millisecond)
	n := 0
	for range rate * seconds / 10 {
		<-tick.C
		now := time.Now()
		var evs []map[string]any
		for range 10 {
			id := fmt.Sprint("add-", n)
			sent[id] = now
			evs = append(evs, map[string]any{"specversion": "1.0", "id": id, "source": "/bench", "type": event.ProductAdded, "time": now,
				"data": map[string]any{"user_id": fmt.Sprint("c", n%customers), "product": map[string]any{"sku": "S", "price": "5"}}})
			n++
		}
		p.post(b, evs)
	}
	tick.Stop()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		complete := len(got) == n && func() bool {
			for _, s := range got {
				if len(s) < 2 {
					return false
				}
			}
			return true
		}()
		mu.Unlock()
		if complete || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	var e2e, decided, lag []float64
	mu.Lock()
	for id, ss := range got {
		for _, s := range ss {
			switch s.d.Campaign {
			case "instant":
				e2e = append(e2e, float64(s.at.Sub(sent[id]).Microseconds())/1000)
				decided = append(decided, float64(s.d.DecidedAt.Sub(sent[id]).Microseconds())/1000)
			case "later":
				lag = append(lag, float64(s.d.DecidedAt.Sub(sent[id].Add(2*time.Second)).Microseconds())/1000)
			}
		}
	}
	mu.Unlock()
	if len(e2e) != n || len(lag) != n {
		b.Fatalf("%d immediate and %d delayed triggers for %d events", len(e2e), len(lag), n)
	}
	sort.Float64s(e2e)
	sort.Float64s(decided)
	sort.Float64s(lag)
	b.ReportMetric(float64(n)/seconds, "events/s")
	b.ReportMetric(e2e[len(e2e)/2], "e2e-p50-ms")
	b.ReportMetric(e2e[len(e2e)*99/100], "e2e-p99-ms")
	b.ReportMetric(decided[len(decided)/2], "decided-p50-ms")
	b.ReportMetric(decided[len(decided)*99/100], "decided-p99-ms")
	b.ReportMetric(lag[len(lag)/2], "timer-lag-p50-ms")
	b.ReportMetric(lag[len(lag)*99/100], "timer-lag-p99-ms")
}
