package profile

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Due applies up to limit of the time-driven changes due at or before T —
// customers whose window values age or whose NES stage moves on — and returns
// the changes and the customers it evaluated. Timers are a sorted set of
// customers by due time, so they survive restarts; a customer is rescheduled
// by its evaluation. Evaluating a customer twice is harmless: the second
// evaluation finds the snapshot already published.
func (s *Store) Due(ctx context.Context, T time.Time, limit int) ([]Change, []string, error) {
	due, err := s.rdb.ZRangeByScoreWithScores(ctx, s.timerKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(T.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("read due timers: %w", err)
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
	states, err := s.read(ctx, T, customers)
	if err != nil {
		return nil, nil, err
	}
	changes, _, err := s.evaluate(ctx, T, states, causes)
	return changes, customers, err
}

// Backlog returns how many timers are due at T and not yet applied.
func (s *Store) Backlog(ctx context.Context, T time.Time) (int64, error) {
	return s.rdb.ZCount(ctx, s.timerKey(), "-inf", strconv.FormatInt(T.UnixMilli(), 10)).Result()
}
