package stream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

// consume runs c until the test ends.
func consume(t *testing.T, c *stream.Consumer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
}

func write(t *testing.T, w *kafka.Writer, msgs ...kafka.Message) {
	t.Helper()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// TestAnEventRedisRefusesIsFoundInItsBatchAndDeadLettered has a handler that
// counts each batch's customers in Redis hashes, where one customer's key is
// a string: Redis refuses every batch holding that customer. The consumer
// dead-letters that customer's message only and handles the others.
func TestAnEventRedisRefusesIsFoundInItsBatchAndDeadLettered(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: "in", Partitions: 1})
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	if err := rdb.Set(ctx, "n:broken", "a string", 0).Err(); err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	var msgs []kafka.Message
	for _, c := range []string{"a", "b", "broken", "c", "d"} {
		msgs = append(msgs, kafka.Message{Topic: "in", Key: []byte(c), Value: []byte(c)})
	}
	write(t, w, msgs...)

	consume(t, &stream.Consumer{
		Brokers: k.Brokers, GroupID: "g", Topics: []string{"in"}, DeadLetters: w, Source: "/test",
		BatchWait: time.Second, // one batch, if it can
		Handle: func(ctx context.Context, batch []kafka.Message) error {
			_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				for _, m := range batch {
					p.HIncrBy(ctx, "n:"+string(m.Key), "seen", 1)
				}
				return nil
			})
			return err
		},
	})

	letters := k.ReadTopic(t, event.TopicInvalid, 1, 30*time.Second)
	if len(letters) != 1 || string(letters[0].Key) != "broken" {
		t.Fatalf("dead letters %v, want broken's message only", letters)
	}
	var d event.DeadLetter
	ev, err := stream.FromMessage(letters[0])
	if err != nil || json.Unmarshal(ev.Data(), &d) != nil || d.Reason != stream.ReasonRefused || d.Source != "in/0/2" {
		t.Errorf("dead letter %s (%v), want broken's message in/0/2 refused", ev.Data(), err)
	}
	for _, c := range []string{"a", "b", "c", "d"} {
		deadline := time.Now().Add(30 * time.Second)
		for rdb.HGet(ctx, "n:"+c, "seen").Val() == "" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if rdb.HGet(ctx, "n:"+c, "seen").Val() == "" {
			t.Errorf("%s was not handled", c)
		}
	}
}

// TestAMessageTheHandlerNamesIsDeadLetteredAndTheRestHandledAgain has a
// handler that rejects a message of its batch by name: the consumer
// dead-letters it with the handler's reason and hands the handler the rest.
func TestAMessageTheHandlerNamesIsDeadLetteredAndTheRestHandledAgain(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: "in", Partitions: 1})
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	write(t, w, kafka.Message{Topic: "in", Value: []byte("1")}, kafka.Message{Topic: "in", Value: []byte("x")}, kafka.Message{Topic: "in", Value: []byte("2")})

	var mu sync.Mutex
	handled := map[string]int{}
	consume(t, &stream.Consumer{
		Brokers: k.Brokers, GroupID: "g", Topics: []string{"in"}, DeadLetters: w, Source: "/test",
		Handle: func(ctx context.Context, batch []kafka.Message) error {
			for _, m := range batch {
				if string(m.Value) == "x" {
					return stream.RejectMessage(m, "not-a-number", fmt.Errorf("%q is not a number", m.Value))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range batch {
				handled[string(m.Value)]++
			}
			return nil
		},
	})

	letters := k.ReadTopic(t, event.TopicInvalid, 1, 30*time.Second)
	ev, err := stream.FromMessage(letters[0])
	var d event.DeadLetter
	if err != nil || json.Unmarshal(ev.Data(), &d) != nil || d.Reason != "not-a-number" || d.RawText != "x" {
		t.Errorf("dead letter %s (%v), want x, not-a-number", ev.Data(), err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		ok := handled["1"] > 0 && handled["2"] > 0
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %v, want 1 and 2", handled)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if handled["x"] > 0 {
		t.Error("the rejected message was handled")
	}
}

// TestARedisOutageIsRetriedNotDeadLettered stops Redis under a handler that
// writes to it: each attempt fails, is retried, and nothing is dead-lettered.
func TestARedisOutageIsRetriedNotDeadLettered(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: "in", Partitions: 1})
	r := testenv.StartRedis(t)
	if !r.Real {
		t.Skip("needs a redis-server to stop")
	}
	rdb := r.Client(t)
	r.Stop(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	write(t, w, kafka.Message{Topic: "in", Value: []byte("1")})

	retries := make(chan error, 100)
	consume(t, &stream.Consumer{
		Brokers: k.Brokers, GroupID: "g", Topics: []string{"in"}, DeadLetters: w, Source: "/test",
		Handle: func(ctx context.Context, batch []kafka.Message) error {
			return rdb.Incr(ctx, "n").Err()
		},
		Retry: func(step string, err error, _ time.Duration) {
			select {
			case retries <- err:
			default:
			}
		},
	})
	for range 3 {
		select {
		case err := <-retries:
			if _, permanent := stream.Permanent(err); permanent {
				t.Fatalf("an outage classed as permanent: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the failing batch was not retried")
		}
	}
	if letters := k.ReadTopic(t, event.TopicInvalid, 0, time.Second); len(letters) > 0 {
		t.Errorf("%d dead letters during an outage, want none", len(letters))
	}
}
