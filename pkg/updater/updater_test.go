package updater_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/updater"
)

func message(t *testing.T, id, typ, key string, data string) kafka.Message {
	return testenv.Message(t, id, typ, key, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), data)
}

func TestOrdersInAnotherCurrencyAreDeadLetteredNotSummed(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	msgs := []kafka.Message{
		message(t, "o1", event.OrderCompleted, "kim", `{"user_id":"kim","order_id":"1","total":"10.00","currency":"USD"}`),
		message(t, "o2", event.OrderCompleted, "kim", `{"user_id":"kim","order_id":"2","total":"99.00","currency":"EUR"}`),
		{Topic: event.TopicBrowse, Key: []byte("kim"), Value: []byte("not a cloudevent")},
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	store := profile.New(rdb, profile.Config{Currency: "USD"})
	T := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	run(t, k.Brokers, store, w, T)

	dead := k.ReadTopic(t, event.TopicInvalid, 2, 30*time.Second)
	reasons := map[string]bool{}
	for _, m := range dead {
		var d struct {
			Reason string          `json:"reason"`
			Raw    json.RawMessage `json:"raw"`
			Source string          `json:"source"`
		}
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		reasons[d.Reason] = true
		if d.Source == "" {
			t.Errorf("dead letter %s does not say where the message was", m.Value)
		}
	}
	if !reasons["currency"] || !reasons["undecodable"] {
		t.Errorf("dead-letter reasons %v, want currency and undecodable", reasons)
	}
	ps, err := store.Evaluate(context.Background(), T, []string{"kim"})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Values.F != 1 || ps[0].Values.M != 10_000_000 || ps[0].Lifetime != 10_000_000 {
		t.Errorf("kim: %+v lifetime %d, want only the USD order (F 1, M 10.00)", ps[0].Values, ps[0].Lifetime)
	}
}

func TestAnEventRedisRefusesIsDeadLetteredAndTheRestApplied(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	// A key of the wrong type where the profile record belongs: every read
	// of this customer fails, whatever is retried.
	if err := rdb.HSet(context.Background(), "sf:{broken}:r", "not", "a record").Err(); err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	msgs := []kafka.Message{
		message(t, "o1", event.OrderCompleted, "lou", `{"user_id":"lou","order_id":"1","total":"10.00","currency":"USD"}`),
		message(t, "o2", event.OrderCompleted, "broken", `{"user_id":"broken","order_id":"2","total":"5.00","currency":"USD"}`),
		message(t, "o3", event.OrderCompleted, "lou", `{"user_id":"lou","order_id":"3","total":"7.00","currency":"USD"}`),
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	store := profile.New(rdb, profile.Config{Currency: "USD"})
	T := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	run(t, k.Brokers, store, w, T)

	dead := k.ReadTopic(t, event.TopicInvalid, 1, 30*time.Second)
	var d struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(dead[0].Value, &d); err != nil || d.Reason != "refused" || string(dead[0].Key) != "broken" {
		t.Errorf("dead letter %s (key %s), want the broken customer's order refused", dead[0].Value, dead[0].Key)
	}
	// The broken customer's dead letter says nothing of lou's orders, which
	// may sit on another partition, or later in the same one: wait for them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ps, err := store.Evaluate(context.Background(), T, []string{"lou"})
		if err != nil {
			t.Fatal(err)
		}
		if ps[0].Orders == 2 && ps[0].Lifetime == 17_000_000 {
			break
		}
		if ps[0].Orders > 2 || time.Now().After(deadline) {
			t.Fatalf("lou: %d orders, lifetime %d; want both orders applied", ps[0].Orders, ps[0].Lifetime)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs an updater with its clock stopped at T until the test ends.
func run(t *testing.T, brokers []string, store *profile.Store, w *kafka.Writer, T time.Time) {
	up, err := updater.New(updater.Config{Brokers: brokers, Now: func() time.Time { return T }}, store, w, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = up.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestEventsOfAnErasedCustomerFromBeforeTheErasureAreDropped(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	erasedAt := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := privacy.New(rdb).Record(context.Background(), "nia", erasedAt); err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	msgs := []kafka.Message{
		// Replayed from before the erasure: dropped.
		testenv.Message(t, "o1", event.OrderCompleted, "nia", erasedAt.Add(-time.Hour), `{"user_id":"nia","order_id":"1","total":"10.00","currency":"USD"}`),
		testenv.Message(t, "v1", event.ProductViewed, "nia", erasedAt, `{"user_id":"nia","product":{"sku":"KEPT-NOT"}}`),
		// New activity after it: a new profile.
		testenv.Message(t, "o2", event.OrderCompleted, "nia", erasedAt.Add(time.Hour), `{"user_id":"nia","order_id":"2","total":"4.00","currency":"USD"}`),
		testenv.Message(t, "o3", event.OrderCompleted, "lou", erasedAt.Add(-time.Hour), `{"user_id":"lou","order_id":"3","total":"7.00","currency":"USD"}`),
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	store := profile.New(rdb, profile.Config{Currency: "USD"})
	T := erasedAt.Add(24 * time.Hour)
	run(t, k.Brokers, store, w, T)

	deadline := time.Now().Add(30 * time.Second)
	for {
		ps, err := store.Evaluate(context.Background(), T, []string{"nia", "lou"})
		if err != nil {
			t.Fatal(err)
		}
		if ps[0].Orders > 0 && ps[1].Orders > 0 {
			if ps[0].Orders != 1 || ps[0].Lifetime != 4_000_000 {
				t.Errorf("nia: %d orders, lifetime %d; want only the order after the erasure (4.00)", ps[0].Orders, ps[0].Lifetime)
			}
			if ps[1].Orders != 1 || ps[1].Lifetime != 7_000_000 {
				t.Errorf("lou: %d orders, lifetime %d; want the order applied", ps[1].Orders, ps[1].Lifetime)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders not applied: nia %d, lou %d", ps[0].Orders, ps[1].Orders)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := rdb.Exists(context.Background(), "sf:{nia}:vs").Val(); n != 0 {
		t.Errorf("nia's view from before the erasure was applied")
	}
}

func TestChangesCausedByAnImportedOrderAreMarkedBackfill(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	imported := testenv.Event("o1", event.OrderCompleted, "ivy", at, `{"user_id":"ivy","order_id":"1","total":"10.00","currency":"USD"}`)
	imported.SetExtension(event.ExtBackfill, true)
	m, err := stream.ToMessage(event.TopicPurchase, imported)
	if err != nil {
		t.Fatal(err)
	}
	live := testenv.Message(t, "o2", event.OrderCompleted, "max", at, `{"user_id":"max","order_id":"2","total":"10.00","currency":"USD"}`)
	if err := w.WriteMessages(context.Background(), m, live); err != nil {
		t.Fatal(err)
	}
	run(t, k.Brokers, profile.New(rdb, profile.Config{Currency: "USD"}), w, at.Add(time.Hour))

	backfill := map[string]bool{}
	for _, m := range k.ReadTopic(t, event.TopicProfiles, 2, 30*time.Second) {
		e, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		backfill[string(m.Key)] = event.Backfill(e)
	}
	if !backfill["ivy"] || backfill["max"] {
		t.Errorf("marked backfill: %v; want the imported order's change only", backfill)
	}
}
