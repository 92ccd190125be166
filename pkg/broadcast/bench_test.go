package broadcast_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/broadcast"
	"github.com/segflow/segflow/pkg/trigger"
	"github.com/segflow/segflow/pkg/view"
)

// loaded is a population view loaded once, as the trigger service's is.
type loaded struct{ v *view.View }

func (l loaded) Of(context.Context, string) (*view.View, error) { return l.v, nil }

func benchMembers(b *testing.B) int {
	n := 10000
	if v := os.Getenv("SEGFLOW_BENCH_CUSTOMERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	return n
}

// BenchmarkBroadcast measures the time to decide every member of a
// broadcast (SEGFLOW_BENCH_CUSTOMERS members, default 10000) from the
// audience on a loaded view to the decisions published and counted, and
// reports it as a ratio to a baseline independent of the design: the same
// Redis server and Kafka broker doing the least any design must per member,
// one pipelined write to Redis and one decision-sized message to Kafka.
func BenchmarkBroadcast(b *testing.B) {
	n := benchMembers(b)
	e := start(b, campaigns)
	e.customers(n, nil, nil)
	ctx := context.Background()
	v := view.New(e.store.NES(), e.store.Rules())
	if err := view.Load(ctx, e.store, v); err != nil {
		b.Fatal(err)
	}
	aud := api.Audiences{RDB: e.rdb, Store: e.store, Views: loaded{v}}
	payload := make([]byte, 420) // about a decision's CloudEvent
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%05d", i)
	}

	var took, floor time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprint("bench-", i)
		if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: id, Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: broadcast.MaxRate, CreatedAt: T}); err != nil {
			b.Fatal(err)
		}
		r := &broadcast.Runner{Store: e.bs, Decider: e.engine(), Audience: aud, Batch: 1000, Fill: 20000}
		began := time.Now()
		e.run(r, T, time.Second)
		took += time.Since(began)

		began = time.Now()
		for from := 0; from < n; from += 1000 {
			to := min(n, from+1000)
			pipe := e.rdb.Pipeline()
			msgs := make([]kafka.Message, 0, to-from)
			for _, c := range ids[from:to] {
				pipe.HSet(ctx, "baseline:"+c, id, "sent")
				msgs = append(msgs, kafka.Message{Topic: trigger.TopicTriggers, Key: []byte(c), Value: payload})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
			if err := e.writer.WriteMessages(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
		}
		floor += time.Since(began)
	}
	b.ReportMetric(float64(n)*float64(b.N)/took.Seconds(), "members/s")
	b.ReportMetric(took.Seconds()/floor.Seconds(), "x_baseline")
	b.ReportMetric(0, "ns/op")
}
