package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Published returns the snapshots last published of customers, as Commit
// recorded them, by customer. Customers without a published snapshot are left
// out. A rebuild of what was published (the segment index of a namespace)
// reads them.
func (s *Store) Published(ctx context.Context, customers []string) (map[string]Snapshot, error) {
	cmds := make([]*redis.StringCmd, len(customers))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, c := range customers {
			cmds[i] = pipe.HGet(ctx, s.customerKeys(c)[keyProfile], "derived")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read %d published snapshots: %w", len(customers), err)
	}
	out := make(map[string]Snapshot, len(customers))
	for i, c := range customers {
		raw, err := cmds[i].Result()
		if errors.Is(err, redis.Nil) || raw == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read a published snapshot: %w", err)
		}
		var snap Snapshot
		if err := json.Unmarshal([]byte(raw), &snap); err != nil {
			return nil, fmt.Errorf("published snapshot of a customer: %w", err)
		}
		out[c] = snap
	}
	return out, nil
}
