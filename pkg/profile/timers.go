package profile

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keys"
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
	_, _, changes, err := s.settle(ctx, T, customers, causes, true)
	return changes, customers, err
}

// dueTimers returns the earliest limit timers due at or before upTo, from
// every shard (the sole scheduler: from those that may hold one), earliest
// first.
func (s *Store) dueTimers(ctx context.Context, upTo time.Time, limit int) ([]redis.Z, error) {
	ms := upTo.UnixMilli()
	zsets := s.timerKeys()
	w := &s.soonest
	w.mu.Lock()
	if !w.sole {
		w.mu.Unlock()
		due, err := keyspace.Earliest(ctx, s.rdb, zsets, ms, limit)
		if err != nil {
			return nil, fmt.Errorf("read due timers: %w", err)
		}
		return due, nil
	}
	// The lock is held through the read, so that a timer scheduled
	// meanwhile lowers its shard's bound after the read set it.
	defer w.mu.Unlock()
	var read []int
	for n := range zsets {
		if w.ms[n] <= ms {
			read = append(read, n)
		}
	}
	if len(read) == 0 {
		return nil, nil
	}
	some := make([]string, len(read))
	for i, n := range read {
		some[i] = zsets[n]
	}
	// Each shard's timers due, and its first one after: its bound.
	each, next, err := keyspace.DueAndNext(ctx, s.rdb, some, ms, limit)
	if err != nil {
		return nil, fmt.Errorf("read due timers: %w", err)
	}
	for i, n := range read {
		w.ms[n] = math.MaxInt64
		if len(each[i]) > 0 {
			w.ms[n] = int64(each[i][0].Score)
		} else if !math.IsInf(next[i], 1) {
			w.ms[n] = int64(next[i])
		}
	}
	return keyspace.Merge(each, limit), nil
}

// SoleScheduler tells the store whether it is the only one to schedule
// timers in its namespace, as a replay building a namespace of its own is
// until it switches it live. While it is, the store keeps a lower bound of
// the due times of each shard's timers, and reads only the shards whose
// bound has come, not every shard, when it looks for timers due. The sole
// scheduler applies and looks for timers in turn, as a replay does: a timer
// an Apply or Due schedules is in Redis when the call returns.
func (s *Store) SoleScheduler(sole bool) {
	w := &s.soonest
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sole = sole
	for n := range w.ms {
		w.ms[n] = math.MinInt64 // unknown: read it
	}
}

// watermark holds, for a namespace's sole scheduler, a lower bound of the
// due times of each timer shard: scheduling lowers it, a read of the shard
// sets it, and unscheduling leaves it (a lower bound still).
type watermark struct {
	mu   sync.Mutex
	sole bool
	ms   [keys.Shards]int64 // no timer of shard n is due before ms[n]
}

// scheduled records that customer c's timer is due at ms.
func (w *watermark) scheduled(c string, ms int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sole {
		n := keys.ShardOf(c)
		w.ms[n] = min(w.ms[n], ms)
	}
}

// Backlog returns how many timers are due at T and not yet applied.
func (s *Store) Backlog(ctx context.Context, T time.Time) (int64, error) {
	n, err := keyspace.CountUpTo(ctx, s.rdb, s.timerKeys(), T.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("count due timers: %w", err)
	}
	return n, nil
}
