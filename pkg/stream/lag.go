package stream

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// LagMetrics are the lag gauges of every consumer group of a process, by
// group: register them once and give them to each LagMonitor.
type LagMetrics struct {
	lag        *prometheus.GaugeVec
	noProgress *prometheus.GaugeVec
}

// NewLagMetrics registers the lag gauges on reg.
func NewLagMetrics(reg prometheus.Registerer) (*LagMetrics, error) {
	m := &LagMetrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "segflow_consumer_lag",
			Help: "Messages between a consumer group's committed offset and the end of a partition, for every partition of its topics, owned or not.",
		}, []string{"group", "topic", "partition"}),
		noProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "segflow_consumer_partitions_without_progress",
			Help: "Partitions with lag whose committed offset has not moved for the group's no-progress time (a dead or stuck member holds them).",
		}, []string{"group"}),
	}
	for _, c := range []prometheus.Collector{m.lag, m.noProgress} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// PartitionLag is where a consumer group is in one partition.
type PartitionLag struct {
	Topic     string
	Partition int
	// Committed is the group's committed offset, -1 if it committed none.
	Committed int64
	// First and End are the partition's first offset and the offset the
	// next message will get.
	First, End int64
}

// Lag is the number of messages the group has not committed: from its
// committed offset, or from the first offset if it committed none (where a
// Consumer starts), to the end.
func (p PartitionLag) Lag() int64 {
	from := p.Committed
	if from < 0 {
		from = p.First
	}
	return max(p.End-from, 0)
}

// GroupLag reads where group is in every partition of topics, from the
// brokers: it does not depend on which members own which partitions, or on
// there being any.
func GroupLag(ctx context.Context, brokers []string, sec *Security, group string, topics []string) ([]PartitionLag, error) {
	c := sec.Client(brokers)
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("read partitions of %v: %w", topics, err)
	}
	parts := map[string][]int{}
	offsets := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("read partitions of %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			offsets[t.Name] = append(offsets[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: offsets})
	if err != nil {
		return nil, fmt.Errorf("read the ends of %v: %w", topics, err)
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return nil, fmt.Errorf("read the offsets of group %s: %w", group, err)
	}
	if committed.Error != nil {
		return nil, fmt.Errorf("read the offsets of group %s: %w", group, committed.Error)
	}
	type key struct {
		topic     string
		partition int
	}
	at := map[key]int64{}
	for topic, ps := range committed.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("read the offset of group %s in %s/%d: %w", group, topic, p.Partition, p.Error)
			}
			at[key{topic, p.Partition}] = p.CommittedOffset
		}
	}
	var out []PartitionLag
	for topic, ps := range ends.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("read the end of %s/%d: %w", topic, p.Partition, p.Error)
			}
			c, ok := at[key{topic, p.Partition}]
			if !ok {
				c = -1
			}
			out = append(out, PartitionLag{Topic: topic, Partition: p.Partition, Committed: c, First: p.FirstOffset, End: p.LastOffset})
		}
	}
	return out, nil
}

// LagMonitor reports a consumer group's lag in every partition of its topics
// and the partitions that make no progress. Every member of a group may run
// one: they report the same numbers.
type LagMonitor struct {
	Brokers  []string
	Security *Security
	Group    string
	Topics   []string
	Metrics  *LagMetrics
	// Interval is how often the lag is read. Default 10s.
	Interval time.Duration
	// NoProgressAfter is how long a partition with lag may keep its
	// committed offset before it counts as making no progress. Default 1m.
	NoProgressAfter time.Duration
	// Failed, if set, is told of each failed read.
	Failed func(err error)

	// since is, per partition, its last committed offset and when it was
	// first seen there.
	since map[string]seen
}

type seen struct {
	committed int64
	at        time.Time
}

// Run reports until ctx is cancelled, then returns nil.
func (m *LagMonitor) Run(ctx context.Context) error {
	if m.Interval <= 0 {
		m.Interval = 10 * time.Second
	}
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, m.Interval)
		err := m.Report(rctx, time.Now())
		cancel()
		if err != nil && ctx.Err() == nil && m.Failed != nil {
			m.Failed(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Report reads the group's lag once and sets the gauges, as of now.
func (m *LagMonitor) Report(ctx context.Context, now time.Time) error {
	if m.NoProgressAfter <= 0 {
		m.NoProgressAfter = time.Minute
	}
	parts, err := GroupLag(ctx, m.Brokers, m.Security, m.Group, m.Topics)
	if err != nil {
		return err
	}
	if m.since == nil {
		m.since = map[string]seen{}
	}
	stuck := 0
	for _, p := range parts {
		partition := strconv.Itoa(p.Partition)
		m.Metrics.lag.WithLabelValues(m.Group, p.Topic, partition).Set(float64(p.Lag()))
		k := p.Topic + "/" + partition
		s, ok := m.since[k]
		if !ok || s.committed != p.Committed {
			s = seen{committed: p.Committed, at: now}
			m.since[k] = s
		}
		if p.Lag() > 0 && now.Sub(s.at) >= m.NoProgressAfter {
			stuck++
		}
	}
	m.Metrics.noProgress.WithLabelValues(m.Group).Set(float64(stuck))
	return nil
}
