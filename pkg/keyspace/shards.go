package keyspace

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Earliest returns the limit members of lowest score at or below upTo among
// the sorted sets zsets — the shards of one record (pkg/keys.ShardN) — lowest
// first, in one pipeline: each shard gives at most limit, so the merge is
// exact.
func Earliest(ctx context.Context, rdb redis.UniversalClient, zsets []string, upTo int64, limit int) ([]redis.Z, error) {
	each, err := EarliestEach(ctx, rdb, zsets, upTo, limit)
	if err != nil {
		return nil, err
	}
	return Merge(each, limit), nil
}

// EarliestEach returns the limit members of lowest score at or below upTo of
// each sorted set of zsets, lowest first, in one pipeline.
func EarliestEach(ctx context.Context, rdb redis.UniversalClient, zsets []string, upTo int64, limit int) ([][]redis.Z, error) {
	cmds := make([]*redis.ZSliceCmd, len(zsets))
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, k := range zsets {
			cmds[i] = pipe.ZRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{
				Min: "-inf", Max: strconv.FormatInt(upTo, 10), Count: int64(limit),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([][]redis.Z, len(cmds))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out, nil
}

// DueAndNext is EarliestEach that also returns, for each sorted set, the
// lowest score above upTo (+Inf if it has none), one more command per set.
func DueAndNext(ctx context.Context, rdb redis.UniversalClient, zsets []string, upTo int64, limit int) ([][]redis.Z, []float64, error) {
	due := make([]*redis.ZSliceCmd, len(zsets))
	next := make([]*redis.ZSliceCmd, len(zsets))
	to := strconv.FormatInt(upTo, 10)
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, k := range zsets {
			due[i] = pipe.ZRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{Min: "-inf", Max: to, Count: int64(limit)})
			next[i] = pipe.ZRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{Min: "(" + to, Max: "+inf", Count: 1})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	outDue := make([][]redis.Z, len(zsets))
	outNext := make([]float64, len(zsets))
	for i := range zsets {
		outDue[i], outNext[i] = due[i].Val(), math.Inf(1)
		if n := next[i].Val(); len(n) > 0 {
			outNext[i] = n[0].Score
		}
	}
	return outDue, outNext, nil
}

// Merge returns the limit members of lowest score of the lists each, lowest
// first.
func Merge(each [][]redis.Z, limit int) []redis.Z {
	var out []redis.Z
	for _, zs := range each {
		out = append(out, zs...)
	}
	slices.SortStableFunc(out, func(a, b redis.Z) int { return cmp.Compare(a.Score, b.Score) })
	return out[:min(len(out), limit)]
}

// CountUpTo returns how many members of the sorted sets zsets — the shards
// of one record — score at or below upTo, in one pipeline.
func CountUpTo(ctx context.Context, rdb redis.UniversalClient, zsets []string, upTo int64) (int64, error) {
	cmds := make([]*redis.IntCmd, len(zsets))
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, k := range zsets {
			cmds[i] = pipe.ZCount(ctx, k, "-inf", strconv.FormatInt(upTo, 10))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, cmd := range cmds {
		n += cmd.Val()
	}
	return n, nil
}

// HMGet returns the values of fields, each read from the hash key(field) —
// its shard of a record split by field — in one pipeline of one HMGET per
// hash; a missing field's value is nil.
func HMGet(ctx context.Context, rdb redis.UniversalClient, fields []string, key func(field string) string) ([]any, error) {
	byKey := map[string][]int{} // hash -> indexes in fields
	for i, f := range fields {
		k := key(f)
		byKey[k] = append(byKey[k], i)
	}
	cmds := make(map[string]*redis.SliceCmd, len(byKey))
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for k, idx := range byKey {
			fs := make([]string, len(idx))
			for j, i := range idx {
				fs[j] = fields[i]
			}
			cmds[k] = pipe.HMGet(ctx, k, fs...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]any, len(fields))
	for k, idx := range byKey {
		for j, v := range cmds[k].Val() {
			out[idx[j]] = v
		}
	}
	return out, nil
}
