package stream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

// sized returns a message for topic whose MessageSize is exactly size.
func sized(t *testing.T, topic, key string, size int) kafka.Message {
	t.Helper()
	m := kafka.Message{Topic: topic, Key: []byte(key), Headers: []kafka.Header{{Key: "ce_id", Value: []byte(key)}}}
	m.Value = []byte(strings.Repeat("x", size-stream.MessageSize(m)))
	if got := stream.MessageSize(m); got != size {
		t.Fatalf("MessageSize %d, want %d", got, size)
	}
	return m
}

func TestMessagesUpToTheLimitAreWrittenEvenWhenTheyShareAPartition(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: "big", Partitions: 1})
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Alone, exactly at the broker's default limit.
	if err := w.WriteMessages(ctx, sized(t, "big", "at-limit", stream.DefaultMaxMessageBytes)); err != nil {
		t.Fatalf("a message of MessageSize at the limit: %v", err)
	}
	// Three in one write to one partition: together over the limit, so the
	// writer must send them in batches the broker takes.
	third := stream.DefaultMaxMessageBytes / 2
	err := w.WriteMessages(ctx, sized(t, "big", "a", third), sized(t, "big", "b", third), sized(t, "big", "c", third))
	if err != nil {
		t.Fatalf("three messages of half the limit: %v", err)
	}
	if n := len(k.ReadTopic(t, "big", 4, 10*time.Second)); n != 4 {
		t.Errorf("%d messages on the topic, want 4", n)
	}
}

func TestMessageSizeIsWithinAFewBytesOfWhatTheBrokerMeasures(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: "big", Partitions: 1})
	// A writer that lets anything through to the broker, which judges.
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	w.BatchBytes = 16 << 20
	w.MaxAttempts = 1
	t.Cleanup(func() { w.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := w.WriteMessages(ctx, sized(t, "big", "over", stream.DefaultMaxMessageBytes+16))
	var perMessage kafka.WriteErrors
	if !errors.As(err, &perMessage) || !errors.Is(perMessage[0], kafka.MessageSizeTooLarge) {
		t.Fatalf("a message 16 bytes over by MessageSize: %v, want the broker's MessageSizeTooLarge", err)
	}
}

// TestAConsumerReadsARecordBatchLargerThanAFetch writes a message whose
// record batch is the broker's whole limit, above the FetchBytes a reader
// asks a partition for, between two small ones: the consumer is given the
// three in order, as a broker answers a fetch with at least its first batch
// whatever the fetch's size.
func TestAConsumerReadsARecordBatchLargerThanAFetch(t *testing.T) {
	if stream.DefaultMaxMessageBytes <= stream.FetchBytes {
		t.Fatalf("the broker's limit %d is not above a fetch's %d: the test would not test", stream.DefaultMaxMessageBytes, stream.FetchBytes)
	}
	k := testenv.StartKafka(t, stream.Topic{Name: "big", Partitions: 1})
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	// One write each, so that the large message is a batch of its own.
	for _, m := range []kafka.Message{
		{Topic: "big", Key: []byte("before"), Value: []byte("before")},
		sized(t, "big", "large", stream.DefaultMaxMessageBytes),
		{Topic: "big", Key: []byte("after"), Value: []byte("after")},
	} {
		write(t, w, m)
	}

	got := make(chan string, 3)
	consume(t, &stream.Consumer{
		Brokers: k.Brokers, GroupID: "g", Topics: []string{"big"},
		Handle: func(ctx context.Context, batch []kafka.Message) error {
			for _, m := range batch {
				got <- fmt.Sprintf("%s:%d", m.Key, len(m.Value))
			}
			return nil
		},
	})
	large := sized(t, "big", "large", stream.DefaultMaxMessageBytes)
	want := []string{"before:6", fmt.Sprintf("large:%d", len(large.Value)), "after:5"}
	for i, w := range want {
		select {
		case g := <-got:
			if g != w {
				t.Fatalf("message %d handled: %s, want %s", i, g, w)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("message %d (%s) not handled in 30s", i, w)
		}
	}
}
