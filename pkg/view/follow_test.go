package view_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/updater"
	"github.com/segflow/segflow/pkg/view"
)

var T = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// shop returns the events of n customers over two years: orders, refunds,
// views of visitors who never buy, visitors who log in.
func shop(t *testing.T, n int, seed uint64) []kafka.Message {
	r := rand.New(rand.NewPCG(seed, 1))
	var msgs []kafka.Message
	id := 0
	next := func() string { id++; return fmt.Sprint("e-", seed, "-", id) }
	for i := range n {
		c := fmt.Sprintf("c%04d", i)
		at := func() time.Time { return T.Add(-time.Duration(r.Int64N(int64(730 * 24 * time.Hour)))) }
		switch r.IntN(5) {
		case 0: // a visitor who only looks
			msgs = append(msgs, testenv.Message(t, next(), event.ProductViewed, "anon:"+c, at(), `{"anonymous_id":"`+c+`","product":{"sku":"S1","category":"coats"}}`))
			continue
		case 1: // a visitor who logs in, then buys
			msgs = append(msgs,
				testenv.Message(t, next(), event.ProductViewed, "anon:v"+c, at(), `{"anonymous_id":"v`+c+`","product":{"sku":"S2"}}`),
				testenv.Message(t, next(), event.Identify, c, at(), `{"user_id":"`+c+`","anonymous_id":"v`+c+`"}`))
		}
		for range 1 + r.IntN(5) {
			o := next()
			msgs = append(msgs, testenv.Message(t, o, event.OrderCompleted, c, at(),
				fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":"%d.%02d","currency":"USD","items":[{"sku":"S3","category":"cat%d"}]}`, c, o, 5+r.IntN(400), r.IntN(100), r.IntN(4))))
			if r.IntN(8) == 0 {
				msgs = append(msgs, testenv.Message(t, next(), event.OrderRefunded, c, at(), fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":"3.00","currency":"USD"}`, c, o)))
			}
		}
	}
	r.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	return msgs
}

// reference counts what the store's own profiles say at T.
func reference(t *testing.T, store *profile.Store) view.Counts {
	ctx := context.Background()
	want := view.Counts{Segments: map[string]int64{}, Stages: map[nes.Stage]int64{}, Tiers: map[string]int64{}}
	for _, s := range rfm.Segments {
		want.Segments[s] = 0
	}
	err := store.Customers(ctx, func(cs []string) error {
		sums, err := store.Summaries(ctx, cs)
		if err != nil {
			return err
		}
		var own []string // merged visitors are no customers of their own
		for _, s := range sums {
			if !s.Gone {
				own = append(own, s.Customer)
			}
		}
		ps, err := store.Get(ctx, T, own)
		if err != nil {
			return err
		}
		for _, p := range ps {
			want.Stages[p.Stage]++
			want.Tiers[p.Tier]++
			if p.Segment == "" {
				continue
			}
			want.Buyers++
			want.Segments[p.Segment]++
			want.Grid[p.RScore-1][p.FScore-1]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func same(got, want view.Counts) bool {
	return got.Buyers == want.Buyers && got.Grid == want.Grid && fmt.Sprint(got.Segments) == fmt.Sprint(want.Segments) &&
		fmt.Sprint(got.Stages) == fmt.Sprint(want.Stages) && fmt.Sprint(got.Tiers) == fmt.Sprint(want.Tiers)
}

func TestAViewLoadedMidStreamThenFollowingCountsWhatTheProfilesSay(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	store := profile.New(rdb, profile.Config{Rules: rules})
	reg := prometheus.NewRegistry()
	up, err := updater.New(updater.Config{Brokers: k.Brokers, Now: func() time.Time { return T }}, store, w, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = up.Run(ctx) }()
	applied := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "segflow_updater_events_applied_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for applied() < float64(n) {
			if time.Now().After(deadline) {
				t.Fatalf("%v of %d events applied", applied(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	msgs := shop(t, 400, 1)
	half := len(msgs) / 2
	if err := w.WriteMessages(ctx, msgs[:half]...); err != nil {
		t.Fatal(err)
	}
	wait(half / 2) // the view is loaded while the updater is busy
	views := &view.Views{Brokers: k.Brokers, Store: store, Log: zaptest.NewLogger(t)}
	go func() { _ = views.Run(ctx) }()
	v, err := views.Of(ctx, store.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, msgs[half:]...); err != nil {
		t.Fatal(err)
	}
	wait(len(msgs))
	testenv.WaitTimers(t, store, T, 30*time.Second)

	want := reference(t, store)
	deadline := time.Now().Add(30 * time.Second)
	got := v.Counts(T)
	for !same(got, want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		got = v.Counts(T)
	}
	if !same(got, want) {
		t.Errorf("the view counts\n%+v\nthe profiles say\n%+v", got, want)
	}
	if want.Buyers < 200 || want.Stages[nes.Prospect] < 50 {
		t.Errorf("the shop has %d buyers and %d prospects: too few to show anything", want.Buyers, want.Stages[nes.Prospect])
	}
	t.Logf("%d events, %d customers, %d buyers", len(msgs), v.Len(), got.Buyers)
}

// A namespace that cannot load stops Run, and with it the followers of the
// others, so that the supervisor sees the failure.
func TestAViewThatCannotLoadStopsThemAll(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	if !r.Real {
		t.Skip("needs a redis-server to stop")
	}
	store := profile.New(r.Client(t), profile.Config{})
	views := &view.Views{Brokers: k.Brokers, Store: store, Log: zaptest.NewLogger(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- views.Run(ctx) }()
	if _, err := views.Of(ctx, "sf"); err != nil {
		t.Fatal(err)
	}
	r.Stop(t)
	if _, err := views.Of(ctx, "sf2"); err == nil {
		t.Fatal("a view loaded with Redis down")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run stopped without the load's error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run kept running after a view failed to load")
	}
}
