package keyspace_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/testenv"
)

// TestShardReadersMergeEveryShardExactly spreads 500 scored members and 500
// hash fields over the shards of a record: Earliest gives the lowest limit
// of them all in order, CountUpTo how many score up to a bound, and HMGet
// each field's value from its shard (nil for one never written), as
// computed from the members themselves.
func TestShardReadersMergeEveryShardExactly(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	zkey := func(m string) string { return keys.Shard("t", "z", m) }
	hkey := func(f string) string { return keys.Shard("t", "h", f) }
	var all []redis.Z
	var fields []string
	pipe := rdb.Pipeline()
	for i := range 500 {
		m := fmt.Sprintf("m%03d", i)
		z := redis.Z{Score: float64((i * 7919) % 1000), Member: m}
		all = append(all, z)
		pipe.ZAdd(ctx, zkey(m), z)
		pipe.HSet(ctx, hkey(m), m, i)
		fields = append(fields, m, "never-"+m)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	zsets := make([]string, keys.Shards)
	for n := range zsets {
		zsets[n] = keys.ShardN("t", "z", n)
	}
	slices.SortFunc(all, func(a, b redis.Z) int { return cmp.Compare(a.Score, b.Score) })

	got, err := keyspace.Earliest(ctx, rdb, zsets, 400, 30)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, all[:30]) {
		t.Errorf("Earliest gives %v, want %v", got, all[:30])
	}
	n, err := keyspace.CountUpTo(ctx, rdb, zsets, 400)
	want := int64(0)
	for _, z := range all {
		if z.Score <= 400 {
			want++
		}
	}
	if err != nil || n != want {
		t.Errorf("CountUpTo gives %d (%v), want %d", n, err, want)
	}
	vals, err := keyspace.HMGet(ctx, rdb, fields, hkey)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if w := fmt.Sprint(i / 2); i%2 == 0 && v != w || i%2 == 1 && v != nil {
			t.Errorf("field %s: %v", fields[i], v)
		}
	}
}
