package trigger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

type discard struct{}

func (discard) WriteMessages(context.Context, ...kafka.Message) error { return nil }

// BenchmarkJourney measures a customer's entry into a journey that waits
// an hour, the wait's end with its send, and an event of an exit's type of
// a customer in no journey, per customer, beside the
// baseline of one round trip to the same Redis (an HGETALL of a small
// hash): the ratios are the journey's cost in round trips. Decisions go to
// a producer that discards them (the Kafka write is a campaign's too).
func BenchmarkJourney(b *testing.B) {
	ctx := context.Background()
	rdb := testenv.StartNode(b).Client(b)
	store := profile.New(rdb, profile.Config{})
	camps, err := campaign.Parse(nil)
	if err != nil {
		b.Fatal(err)
	}
	js, err := journey.Parse([]byte(`journeys:
  - name: bench
    entry: {on: [segflow.cart.product_added]}
    goal: {on: [segflow.purchase.order_completed]}
    exit: [{on: [segflow.identify.identify], when: "!profile.consent.email"}]
    steps:
      - {name: wait, wait: 1h}
      - {name: mail, send: {channel: email, action: {type: message, params: {template: t}}}}
`), camps)
	if err != nil {
		b.Fatal(err)
	}
	en := trigger.NewEngine(camps, rdb, store, discard{})
	en.SetJourneys(js)
	run := 0
	enter := func(b *testing.B, n int) {
		run++
		for i := range n {
			c := fmt.Sprintf("r%d-c%d", run, i)
			if err := en.Handle(ctx, t0, cartAdd(fmt.Sprint("add-", c), c, t0)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("entry", func(b *testing.B) { enter(b, b.N) })
	b.Run("wait-then-send", func(b *testing.B) {
		b.StopTimer()
		if _, err := rdb.FlushAll(ctx).Result(); err != nil {
			b.Fatal(err)
		}
		enter(b, b.N)
		b.StartTimer()
		for {
			n, err := en.Due(ctx, t0.Add(time.Hour), 200)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
	})
	// An identify (an exit's event type) of a customer in no journey.
	b.Run("exit-event-of-no-journey", func(b *testing.B) {
		for i := range b.N {
			if err := en.Handle(ctx, t0, identify(fmt.Sprint("n", i), true)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline/round-trip", func(b *testing.B) {
		rdb.HSet(ctx, "bench:h", "a", "1", "b", "2")
		for range b.N {
			if err := rdb.HGetAll(ctx, "bench:h").Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
