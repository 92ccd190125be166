package profile

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keyspace"
)

// Due applies up to limit of the time-driven changes due at or before T —
// customers whose window values age or whose NES stage moves on — and returns
// the changes and the customers it evaluated. Timers are a sorted set of
// customers by due time, so they survive restarts; a customer is rescheduled
// by its evaluation. Evaluating a customer twice is harmless: the second
// evaluation finds the snapshot already published.
func (s *Store) Due(ctx context.Context, T time.Time, limit int) ([]Change, []string, error) {
	due, err := s.dueTimers(ctx, T, limit)
	if err != nil {
		return nil, nil, err
	}
	if len(due) == 0 {
		return nil, nil, nil
	}
	customers := make([]string, len(due))
	causes := make([]Cause, len(due))
	for i, z := range due {
		customers[i] = fmt.Sprint(z.Member)
		causes[i] = Cause{Due: time.UnixMilli(int64(z.Score)).UTC()}
	}
	_, _, changes, err := s.settle(ctx, T, customers, causes)
	return changes, customers, err
}

// dueTimers returns the earliest limit timers due at or before upTo, from
// every shard, earliest first.
func (s *Store) dueTimers(ctx context.Context, upTo time.Time, limit int) ([]redis.Z, error) {
	due, err := keyspace.Earliest(ctx, s.rdb, s.timerKeys(), upTo.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("read due timers: %w", err)
	}
	return due, nil
}

// Backlog returns how many timers are due at T and not yet applied.
func (s *Store) Backlog(ctx context.Context, T time.Time) (int64, error) {
	n, err := keyspace.CountUpTo(ctx, s.rdb, s.timerKeys(), T.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("count due timers: %w", err)
	}
	return n, nil
}
