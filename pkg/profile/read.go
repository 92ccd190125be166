package profile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Readers of many profiles at once, for reporting: per-customer figures read
// in one pipeline.

// OrdersBetween returns how many orders each customer placed in [from, to).
func (s *Store) OrdersBetween(ctx context.Context, customers []string, from, to time.Time) ([]int, error) {
	cmds := make([]*redis.StringSliceCmd, len(customers))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, c := range customers {
			cmds[i] = pipe.ZRangeByScore(ctx, s.customerKeys(c)[keyHistory], &redis.ZRangeBy{Min: ms(from), Max: "(" + ms(to)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d purchase histories: %w", len(customers), err)
	}
	out := make([]int, len(customers))
	for i, cmd := range cmds {
		for _, id := range cmd.Val() {
			if strings.HasPrefix(id, "o:") {
				out[i]++
			}
		}
	}
	return out, nil
}
