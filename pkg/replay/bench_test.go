package replay_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/replay"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
)

// benchEvents is a year of 10 events a customer, a third orders, the rest
// views and cart adds, in time order: 20,000 events of 2,000 customers, or
// SEGFLOW_BENCH_EVENTS (such as 1000000 for the figure at 1M events).
func benchEvents(b *testing.B) []kafka.Message {
	const perCustomer = 10
	customers := 2000
	if n, err := strconv.Atoi(os.Getenv("SEGFLOW_BENCH_EVENTS")); err == nil && n >= perCustomer {
		customers = n / perCustomer
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	for k := 0; k < perCustomer; k++ {
		for i := 0; i < customers; i++ {
			c := fmt.Sprintf("cust-%05d", i)
			at := start.Add(time.Duration(k*customers+i) * (365 * 24 * time.Hour / time.Duration(customers*perCustomer)))
			id := fmt.Sprintf("%s-%d", c, k)
			switch k % 3 {
			case 0:
				msgs = append(msgs, testenv.Message(b, id, event.OrderCompleted, c, at,
					fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":"%d.25","currency":"USD","items":[{"sku":"S%d","category":"c%d"}]}`, c, id, 5+i%90, i%50, i%7)))
			case 1:
				msgs = append(msgs, testenv.Message(b, id, event.ProductViewed, c, at, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"S%d","category":"c%d"}}`, c, k, i%7)))
			default:
				msgs = append(msgs, testenv.Message(b, id, event.ProductAdded, c, at, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"S%d","price":"3.00"},"quantity":1}`, c, k)))
			}
		}
	}
	return msgs
}

// BenchmarkReplay measures a replay of 20,000 events (see benchEvents) from kfake into a fresh
// namespace on redis-server, in event time and in bulk. Each rate is
// reported beside, and as a ratio to, a baseline independent of the design
// measured in the same run: reading the same messages from the same broker
// with a plain reader and decoding them (kafka-read-events/s). Two more
// figures on the same events show where a replay's time goes: the store's
// bulk write alone (Store.Write: no evaluation, no Kafka) and the live
// updater's apply (Store.Apply in batches of 500 at one T).
func BenchmarkReplay(b *testing.B) {
	k := testenv.StartKafka(b)
	rdb := testenv.StartRedis(b).Client(b)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	b.Cleanup(func() { w.Close() })
	msgs := benchEvents(b)
	ctx := context.Background()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		b.Fatal(err)
	}
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	base := profile.New(rdb, profile.Config{Currency: "USD", Rules: rules})
	ops := make([]profile.Op, len(msgs))
	for i, m := range msgs {
		ev, err := stream.FromMessage(m)
		if err != nil {
			b.Fatal(err)
		}
		if ops[i], err = profile.OpOf(ev, "USD"); err != nil {
			b.Fatal(err)
		}
	}
	T := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	fresh := func() *profile.Store {
		n++
		return base.In(fmt.Sprint("bench", n))
	}
	// The baseline independent of the design: a plain kafka-go reader of
	// every partition of the same topics on the same broker (all at once,
	// fetches of up to 16 MiB: testenv's ReadTopic), decoding each
	// CloudEvent and doing nothing with it — the least any replay from Kafka
	// costs.
	perTopic := map[string]int{}
	for _, m := range msgs {
		perTopic[m.Topic]++
	}
	readStart := time.Now()
	for topic, n := range perTopic {
		for _, m := range k.ReadTopic(b, topic, n, 5*time.Minute) {
			if _, err := stream.FromMessage(m); err != nil {
				b.Fatal(err)
			}
		}
	}
	readRate := float64(len(msgs)) / time.Since(readStart).Seconds()
	rate := func(b *testing.B, start time.Time) {
		r := float64(len(msgs)*b.N) / time.Since(start).Seconds()
		b.ReportMetric(r, "events/s")
		b.ReportMetric(readRate, "kafka-read-events/s")
		b.ReportMetric(r/readRate, "ratio-to-kafka-read")
	}

	for _, bulk := range []bool{false, true} {
		name := "replay_event_time"
		if bulk {
			name = "replay_bulk"
		}
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				r, err := replay.New(replay.Config{Brokers: k.Brokers, Bulk: bulk, Now: func() time.Time { return T }}, fresh(), rdb, nil, zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				res, err := r.Run(ctx)
				if err != nil || res.Applied != int64(len(msgs)) {
					b.Fatalf("replay: %+v %v", res, err)
				}
			}
			rate(b, start)
		})
	}
	b.Run("store_write_baseline", func(b *testing.B) {
		start := time.Now()
		for i := 0; i < b.N; i++ {
			s := fresh()
			for j := 0; j < len(ops); j += 500 {
				if _, err := s.Write(ctx, T, ops[j:min(j+500, len(ops))]); err != nil {
					b.Fatal(err)
				}
			}
		}
		rate(b, start)
	})
	b.Run("store_apply_baseline", func(b *testing.B) {
		start := time.Now()
		for i := 0; i < b.N; i++ {
			s := fresh()
			for j := 0; j < len(ops); j += 500 {
				if _, _, err := s.Apply(ctx, T, ops[j:min(j+500, len(ops))]); err != nil {
					b.Fatal(err)
				}
			}
		}
		rate(b, start)
	})
}
