package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
)

const (
	benchBatch   = 100 // events per request
	benchClients = 8   // concurrent HTTP clients, and baseline writers
)

// BenchmarkIngest measures the collector end to end — HTTP batch in, schema
// validation, identity and dedup in Redis, an acks=all write to kfake — and, as
// the baseline in the same run, the same events written straight to kfake by as
// many concurrent kafka-go writers. It reports events/s of both, their ratio,
// and the p50/p99 latency of a 100-event request.
func BenchmarkIngest(b *testing.B) {
	e := start(b, func(c *collector.Config) { c.MaxEvents = benchBatch })
	run := fmt.Sprint(time.Now().UnixNano())
	bodies := benchBodies(b.N, run)
	direct := make([][]kafka.Message, b.N)
	for i, body := range bodies {
		direct[i] = benchMessages(b, body)
	}
	ctx := context.Background()

	w := stream.NewWriter(e.kafka.Brokers, e.kafka.Security, 0)
	defer w.Close()
	t0 := time.Now()
	concurrently(b.N, func(i int) {
		if err := w.WriteMessages(ctx, direct[i]...); err != nil {
			b.Error(err)
		}
	})
	baseline := time.Since(t0)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	t0 = time.Now()
	concurrently(b.N, func(i int) {
		req, _ := http.NewRequest("POST", e.url+"/v1/events", strings.NewReader(bodies[i]))
		req.SetBasicAuth(webKey, "")
		req.Header.Set("Content-Type", "application/cloudevents-batch+json")
		s := time.Now()
		resp, err := client.Do(req)
		lat[i] = time.Since(s)
		if err != nil {
			b.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("status %d", resp.StatusCode)
		}
	})
	elapsed := time.Since(t0)
	b.StopTimer()

	events := float64(b.N * benchBatch)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(events/elapsed.Seconds(), "events/s")
	b.ReportMetric(events/baseline.Seconds(), "baseline-events/s")
	b.ReportMetric(baseline.Seconds()/elapsed.Seconds(), "ratio-to-baseline")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// concurrently calls fn(0..n-1) from benchClients goroutines.
func concurrently(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// benchBodies returns n batches of cart events from 5,000 customers.
func benchBodies(n int, run string) []string {
	bodies := make([]string, n)
	for i := range bodies {
		evs := make([]string, benchBatch)
		for j := range evs {
			user := fmt.Sprintf("u%d", (i*benchBatch+j)%5000)
			evs[j] = ce(fmt.Sprintf("%s-%d-%d", run, i, j), event.ProductAdded,
				fmt.Sprintf(`{"user_id":%q,"cart_id":"c-%s","product":{"sku":"SKU-%d","name":"Jacket","category":"apparel","price":"59.90"},"quantity":1,"cart_value":"59.90","currency":"USD"}`, user, user, j))
		}
		bodies[i] = "[" + strings.Join(evs, ",") + "]"
	}
	return bodies
}

// benchMessages encodes a batch body as the Kafka messages the collector
// would write, for the baseline.
func benchMessages(b *testing.B, body string) []kafka.Message {
	var evs []cloudevents.Event
	if err := json.Unmarshal([]byte(body), &evs); err != nil {
		b.Fatal(err)
	}
	msgs := make([]kafka.Message, len(evs))
	for i, e := range evs {
		e.SetExtension(event.ExtPartitionKey, "u")
		m, err := stream.ToMessage(event.TopicCart, e)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = m
	}
	return msgs
}
