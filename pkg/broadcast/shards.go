package broadcast

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keys"
)

// Fields of a shard's counts hash (countsKey).
const (
	sEpoch   = "epoch"   // when the occurrence the shard holds opened (ms)
	sMembers = "members" // queued in that occurrence
	sDecided = "decided" // decided in that occurrence
)

// shardCall is one run of a script on the keys of one shard.
type shardCall struct {
	keys []string
	args []any
}

// evalShards runs script once per call, in one pipeline, by hash; a server
// that does not know the script (new, restarted) is given it and the
// pipeline runs again, which is safe because every script on shards changes
// nothing the second time that it changed the first.
func evalShards(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, calls []shardCall) ([]*redis.Cmd, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	for attempt := 0; ; attempt++ {
		cmds := make([]*redis.Cmd, len(calls))
		pipe := rdb.Pipeline()
		for i, c := range calls {
			cmds[i] = script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
		_, err := pipe.Exec(ctx)
		if err == nil || attempt > 0 || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			return cmds, err
		}
		if err := script.Load(ctx, rdb).Err(); err != nil {
			return nil, fmt.Errorf("load script: %w", err)
		}
	}
}

// byShard groups members by the shard of the queue that holds them.
func byShard(members []string) map[int][]int {
	out := map[int][]int{}
	for i, c := range members {
		n := keys.ShardOf(c)
		out[n] = append(out[n], i)
	}
	return out
}

// shardCounts is what the shards of a broadcast count: members and decided
// in the occurrence of epoch, outcomes in every occurrence.
type shardCounts struct {
	members, decided int64
	outcomes         map[string]int64
}

// readCounts sums the counts of every shard of broadcast id, in one
// pipeline; members and decided are those of the occurrence that opened at
// epoch.
func readCounts(ctx context.Context, rdb redis.UniversalClient, id, epoch string) (shardCounts, error) {
	cmds := make([]*redis.MapStringStringCmd, keys.Shards)
	pipe := rdb.Pipeline()
	for n := range cmds {
		cmds[n] = pipe.HGetAll(ctx, countsKey(id, n))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return shardCounts{}, fmt.Errorf("read counts of broadcast %s: %w", id, err)
	}
	out := shardCounts{outcomes: map[string]int64{}}
	for _, cmd := range cmds {
		h := cmd.Val()
		num := func(f string) int64 { n, _ := strconv.ParseInt(h[f], 10, 64); return n }
		if h[sEpoch] == epoch {
			out.members += num(sMembers)
			out.decided += num(sDecided)
		}
		for f := range h {
			if o, ok := strings.CutPrefix(f, fOutcome); ok {
				out.outcomes[o] += num(f)
			}
		}
	}
	for o, n := range out.outcomes {
		if n == 0 {
			delete(out.outcomes, o) // waiting, all settled
		}
	}
	return out, nil
}
