package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topic describes a topic segflow creates at start-up.
type Topic struct {
	Name       string
	Partitions int
	// Retention is how long the brokers keep a message before deleting it;
	// zero or less keeps every message forever (retention.ms=-1), so the
	// topic can be replayed from its beginning. Unused when Compact is set.
	Retention time.Duration
	// Compact keeps the latest message of each key instead of deleting
	// messages by age (cleanup.policy=compact): for topics where only a
	// key's latest value matters.
	Compact bool
}

// Configs returns the topic configuration t is created with.
func (t Topic) Configs() map[string]string {
	if t.Compact {
		return map[string]string{
			"cleanup.policy": "compact",
			// A reader up to a day behind the end still sees every
			// message, not only each key's latest.
			"min.compaction.lag.ms": strconv.FormatInt(CompactionLag.Milliseconds(), 10),
		}
	}
	ms := int64(-1)
	if t.Retention > 0 {
		ms = t.Retention.Milliseconds()
	}
	return map[string]string{"cleanup.policy": "delete", "retention.ms": strconv.FormatInt(ms, 10)}
}

// CompactionLag is how long a message of a compacted topic is kept even when
// its key has a later one (min.compaction.lag.ms).
const CompactionLag = 24 * time.Hour

// WriteAttempts is how often a writer tries a write before it gives up.
const WriteAttempts = 3

// MaxWriteDuration bounds how long a writer made by NewWriter with the given
// per-attempt timeout can take to settle a write, success or failure.
func MaxWriteDuration(timeout time.Duration) time.Duration {
	return WriteAttempts * (timeout + time.Second)
}

// DefaultMaxMessageBytes is Kafka's default limit of one record batch
// (message.max.bytes, and each topic's max.message.bytes): 1 MiB plus the
// 12 bytes of log overhead. kfake has the same default.
const DefaultMaxMessageBytes = 1048588

// batchHeader is the size of a record batch's header (format v2), which the
// broker counts against max.message.bytes together with the records.
const batchHeader = 61

// MessageSize is the bytes m takes in a record batch of its own, as the
// broker measures it against max.message.bytes; it is an upper bound (record
// lengths are varints, counted here at their widest), so a message with
// MessageSize(m) <= limit is never refused as too large. It is also the
// measure a writer made by NewWriter batches by, plus the batch header.
func MessageSize(m kafka.Message) int {
	// Record: length, attributes, timestamp and offset deltas, key and value
	// lengths — at most 22 bytes, as kafka-go counts them.
	n := batchHeader + 22 + len(m.Key) + len(m.Value) + varintLen(len(m.Headers))
	for _, h := range m.Headers {
		n += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return n
}

func varintLen(n int) int { return len(binary.AppendVarint(nil, int64(n))) }

// BatchBytes is the kafka.Writer BatchBytes that keeps every batch the writer
// sends within maxMessageBytes: the writer adds up the MessageSize of each
// message without the batch header.
func BatchBytes(maxMessageBytes int) int64 { return int64(maxMessageBytes - batchHeader) }

// NewWriter returns a writer that waits for all in-sync replicas to acknowledge
// each write and keys messages to partitions the way Java clients do (murmur2),
// so other producers keying by customer id agree on partitions. Messages name
// their own topic. timeout bounds each attempt; zero means 10s. Batches stay
// within DefaultMaxMessageBytes; for topics that take larger messages set
// BatchBytes with [BatchBytes].
//
// A write whose context is cancelled is not withdrawn: kafka-go still sends the
// batch. Callers that must know the outcome should not cancel the context and
// rely on the timeout instead, as the collector does.
func NewWriter(brokers []string, sec *Security, timeout time.Duration) *kafka.Writer {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Transport:    sec.Transport(),
		Balancer:     kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		// Writes are synchronous; a short batch timeout keeps ingest latency low
		// while concurrent requests still share batches.
		BatchTimeout:    2 * time.Millisecond,
		BatchSize:       1000,
		BatchBytes:      BatchBytes(DefaultMaxMessageBytes),
		MaxAttempts:     WriteAttempts,
		WriteBackoffMax: time.Second,
		WriteTimeout:    timeout,
		ReadTimeout:     timeout,
	}
}

// EnsureTopics creates the topics that do not exist yet, with their
// Configs. Existing topics are left as they are, whatever their partition
// count and configuration.
func EnsureTopics(ctx context.Context, brokers []string, sec *Security, replication int, topics ...Topic) error {
	if replication <= 0 {
		replication = 1
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		p := t.Partitions
		if p <= 0 {
			p = 1
		}
		tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: p, ReplicationFactor: replication}
		for name, v := range t.Configs() {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: name, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := sec.Client(brokers).CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	names := make([]string, 0, len(resp.Errors))
	for name := range resp.Errors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := resp.Errors[name]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Ping checks that the cluster answers a metadata request.
func Ping(ctx context.Context, brokers []string, sec *Security) error {
	var last error
	for _, b := range brokers {
		conn, err := sec.Dialer().DialContext(ctx, "tcp", b)
		if err != nil {
			last = err
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		last = err
	}
	if last == nil {
		last = errors.New("no brokers configured")
	}
	return fmt.Errorf("kafka unreachable: %w", last)
}
