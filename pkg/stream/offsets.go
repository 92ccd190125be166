package stream

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// EndOffsets returns the end offset of each partition of topic: where a
// reader that wants only what comes from now on starts.
func EndOffsets(ctx context.Context, brokers []string, sec *Security, topic string) (map[int]int64, error) {
	client := sec.Client(brokers)
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("read the partitions of %s: %w", topic, err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list the offsets of %s: %w", topic, err)
	}
	out := map[int]int64{}
	for _, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("offset of %s/%d: %w", topic, p.Partition, p.Error)
			}
			out[p.Partition] = p.LastOffset
		}
	}
	return out, nil
}
