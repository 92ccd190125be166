package updater_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/updater"
)

// changesOf returns the profile.changed events of customer c on the
// profiles topic, once at least want of all customers are there.
func changesOf(t *testing.T, k *testenv.Kafka, c string, want int) []profile.Change {
	t.Helper()
	var out []profile.Change
	for _, ch := range k.Changes(t, want, 30*time.Second) {
		if ch.Customer == c {
			out = append(out, ch)
		}
	}
	return out
}

// A customer whose segment moves because others bought, with no event of
// their own, gets that change published at the next rescore boundary, once
// though two updaters of the group run their rescores, and though an updater
// that died while rescoring the boundary left its lease; before it, the
// change they published last is stale.
func TestARescorePublishesOnceTheSegmentOthersPurchasesMoved(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	for range 2 {
		store := profile.New(rdb, profile.Config{Currency: "USD", Rules: rules})
		up, err := updater.New(updater.Config{Brokers: k.Brokers, Now: now, TimerInterval: 50 * time.Millisecond, RescoreEvery: 24 * time.Hour},
			store, w, zaptest.NewLogger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 2)
		go func() { _ = up.Run(ctx); done <- struct{}{} }()
		go func() { _ = up.Rescores(ctx); done <- struct{}{} }()
		t.Cleanup(func() { cancel(); <-done; <-done })
	}

	orders := func(amount string, at time.Time, customers ...string) {
		t.Helper()
		var msgs []kafka.Message
		for _, c := range customers {
			msgs = append(msgs, testenv.Message(t, "o-"+c, event.OrderCompleted, c, at,
				fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":%q,"currency":"USD"}`, c, "order-"+c, amount)))
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
	}
	// sam spends 50 against others' 10: above the mean M. Then ten others
	// spend 500 each: sam is below it, with no event of sam's.
	orders("50.00", start.Add(-24*time.Hour), "sam")
	orders("10.00", start.Add(-24*time.Hour), "a", "b", "c", "d", "e")
	first := changesOf(t, k, "sam", 6)
	if len(first) != 1 {
		t.Fatalf("sam: %d changes for the first order, want 1", len(first))
	}
	var big []string
	for i := range 10 {
		big = append(big, fmt.Sprintf("big-%d", i))
	}
	orders("500.00", start.Add(-time.Hour), big...)
	changesOf(t, k, "sam", 16)
	store := profile.New(rdb, profile.Config{Currency: "USD", Rules: rules})
	ps, err := store.Get(context.Background(), now(), []string{"sam", "a", "b", "c", "d", "e", big[0]})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Segment == first[0].After.Segment {
		t.Fatalf("sam is still %s: the test moves nobody", ps[0].Segment)
	}

	// An updater that died while rescoring the boundary left its lease,
	// which lapses.
	boundary := start.Truncate(24 * time.Hour).Add(24 * time.Hour)
	lease := updater.RescoreLeaseKey("sf", boundary)
	if err := rdb.Set(context.Background(), lease, "running", 700*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	// The clock passes midnight: the boundary is rescored, once the lease
	// has lapsed.
	clock.Store(boundary.Add(time.Second).UnixNano())
	var rescored []profile.Change
	deadline := time.Now().Add(30 * time.Second)
	for len(rescored) == 0 && time.Now().Before(deadline) {
		rescored = rescored[:0]
		for _, ch := range changesOf(t, k, "sam", 16) {
			if ch.Cause.Due.Equal(boundary) {
				rescored = append(rescored, ch)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // both updaters have looked at the boundary
	rescored = rescored[:0]
	for _, ch := range changesOf(t, k, "sam", 16) {
		if ch.Cause.Due.Equal(boundary) {
			rescored = append(rescored, ch)
		}
	}
	if len(rescored) != 1 {
		t.Fatalf("sam: %d changes caused by the rescore at %s, want 1", len(rescored), boundary)
	}
	if state, err := rdb.Get(context.Background(), lease).Result(); err != nil || state != "done" {
		t.Errorf("the boundary's lease: %q, %v; want it recorded done", state, err)
	}
	ch := rescored[0]
	if ch.Before.Segment != first[0].After.Segment || ch.After.Segment != ps[0].Segment {
		t.Errorf("sam's rescore change %s -> %s; want %s -> %s", ch.Before.Segment, ch.After.Segment, first[0].After.Segment, ps[0].Segment)
	}
}
