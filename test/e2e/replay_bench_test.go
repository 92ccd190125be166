package e2e

import (
	"context"
	"fmt"
	"strings"
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

// BenchmarkRebuildOnlineRetail measures the time to rebuild every profile of
// the largest data set, UCI Online Retail (541,909 rows: 22,190 invoices and
// refunds of 4,372 customers over a year, with their line items), from kfake
// into a fresh namespace on redis-server, in event time and in bulk, up to
// the day after the last invoice.
func BenchmarkRebuildOnlineRetail(b *testing.B) {
	orders := loadOnlineRetail(b, dataPath(b, "online-retail/online_retail.csv"), 0)
	k := testenv.StartKafka(b)
	rdb := testenv.StartRedis(b).Client(b)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	b.Cleanup(func() { w.Close() })
	ctx := context.Background()
	msgs := make([]kafka.Message, 0, len(orders))
	customers := map[string]bool{}
	for _, o := range orders {
		typ, id := event.OrderCompleted, "order-"+o.ID
		if o.Refund {
			typ, id = event.OrderRefunded, "refund-"+o.ID
		}
		var items []string
		for _, it := range o.Items {
			items = append(items, fmt.Sprintf(`{"sku":%q,"quantity":%d}`, it.SKU, it.Quantity))
		}
		data := fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":"%d.%02d","currency":"GBP","items":[%s]}`, o.Customer, o.ID, o.Cents/100, o.Cents%100, strings.Join(items, ","))
		msgs = append(msgs, testenv.Message(b, id, typ, o.Customer, o.Time, data))
		customers[o.Customer] = true
	}
	for i := 0; i < len(msgs); i += 5000 {
		if err := w.WriteMessages(ctx, msgs[i:min(i+5000, len(msgs))]...); err != nil {
			b.Fatal(err)
		}
	}
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	base := profile.New(rdb, profile.Config{Currency: "GBP", Rules: rules})
	T := time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
	n := 0
	for _, bulk := range []bool{false, true} {
		name := "event_time"
		if bulk {
			name = "bulk"
		}
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				n++
				r, err := replay.New(replay.Config{Brokers: k.Brokers, Bulk: bulk, Now: func() time.Time { return T }}, base.In(fmt.Sprint("rebuild", n)), rdb, nil, zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				res, err := r.Run(ctx)
				if err != nil || res.Applied != int64(len(msgs)) {
					b.Fatalf("rebuild: %+v %v", res, err)
				}
			}
			elapsed := time.Since(start)
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/rebuild")
			b.ReportMetric(float64(len(msgs)*b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(len(customers)), "customers")
		})
	}
}
