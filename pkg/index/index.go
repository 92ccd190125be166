// Package index keeps who is in each NES stage, tier, tag and published RFM
// segment, as Redis sets per namespace, from the profile.changed events of
// the profiles topic; and a daily record of the NES distribution.
//
// # Exactness
//
// Each change replaces the customer's entry with its after snapshot, in one
// script: the customer leaves the sets of the recorded snapshot and joins
// those of the new one. A change older than the recorded one (an earlier
// At) is ignored, so a redelivery, a replay of the topic or a consumer
// restarted from older offsets leaves the index as the latest changes made
// it: the index is a function of each customer's latest change, whatever the
// delivery. Changes of erased customers are dropped (pkg/privacy).
//
// Stages, tiers and tags are exact as of each customer's last published
// change: the profile-updater publishes every change, including the stage
// moves time alone makes. Segments are published as they were at the
// customer's last evaluation, while RFM scores of customers who did not change
// can shift as the population changes; exact segment counts are computed from
// the population indexes instead (see pkg/api).
//
// # Keys
//
// One slot, {#ix}, under the store's prefix (default "sf"):
//
//	sf:{#ix}:snap         hash customer -> "<At ms>|<snapshot JSON>"
//	sf:{#ix}:stage:<s>    set of customers in NES stage s
//	sf:{#ix}:seg:<s>      set of customers whose published segment is s
//	sf:{#ix}:tier:<t>     set of customers in tier t
//	sf:{#ix}:tag:<t>      set of customers with tag t
//	sf:{#ix}:day:<date>   hash stage -> customers in it at the last change of
//	                     that UTC day (date YYYY-MM-DD)
//	sf:{#ix}:days         zset date -> day (Unix days), the days recorded
//	sf:{#ix}:names:<kind> set of the names of kind (stage, seg, tier, tag)
//	                     ever indexed, so that counting needs no key scan
//
// The script names keys of the {#ix} slot that it derives from the recorded
// snapshot; they share one slot, so it runs on Redis Cluster as well.
package index

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/profile"
)

// Kinds of sets.
const (
	Stage   = "stage"
	Segment = "seg"
	Tier    = "tier"
	Tag     = "tag"
)

// Index is the segment index of one namespace.
type Index struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns the index of the namespace prefix ("" is "sf") in rdb.
func New(rdb redis.UniversalClient, prefix string) *Index {
	if prefix == "" {
		prefix = "sf"
	}
	return &Index{rdb: rdb, prefix: prefix}
}

func (ix *Index) base() string { return keys.Shared(ix.prefix, "ix") + ":" }

// Prefix is the namespace of the index.
func (ix *Index) Prefix() string { return ix.prefix }

// applyScript replaces a customer's entry. KEYS: 1 snap hash, 2 days zset.
// ARGV: 1 key base, 2 customer, 3 At (ms), 4 snapshot JSON, 5 day (date),
// 6 day number. An empty snapshot erases the entry.
var applyScript = redis.NewScript(`
local base, c, at = ARGV[1], ARGV[2], tonumber(ARGV[3])
local cur = redis.call('HGET', KEYS[1], c)
-- sets returns the {kind, name} pairs of a snapshot's sets.
local function sets(raw)
  local s = cjson.decode(raw)
  local out = {{'stage', s.stage or ''}}
  if type(s.segment) == 'string' and s.segment ~= '' then out[#out + 1] = {'seg', s.segment} end
  if type(s.tier) == 'string' and s.tier ~= '' then out[#out + 1] = {'tier', s.tier} end
  if type(s.tags) == 'table' then
    for _, t in ipairs(s.tags) do out[#out + 1] = {'tag', t} end
  end
  return out
end
if cur then
  local ct, craw = string.match(cur, '^(%d+)|(.*)$')
  if tonumber(ct) > at then return 0 end
  for _, kn in ipairs(sets(craw)) do redis.call('SREM', base .. kn[1] .. ':' .. kn[2], c) end
end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], c)
  return 1
end
for _, kn in ipairs(sets(ARGV[4])) do
  redis.call('SADD', base .. kn[1] .. ':' .. kn[2], c)
  redis.call('SADD', base .. 'names:' .. kn[1], kn[2])
end
redis.call('HSET', KEYS[1], c, ARGV[3] .. '|' .. ARGV[4])
local day = base .. 'day:' .. ARGV[5]
for _, st in ipairs({'prospect', 'N', 'E0', 'S1', 'S2', 'S3'}) do
  redis.call('HSET', day, st, redis.call('SCARD', base .. 'stage:' .. st))
end
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
return 1
`)

// Apply records changes, in order.
func (ix *Index) Apply(ctx context.Context, changes []profile.Change) error {
	if len(changes) == 0 {
		return nil
	}
	keys := []string{ix.base() + "snap", ix.base() + "days"}
	_, err := ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, ch := range changes {
			b, err := json.Marshal(ch.After)
			if err != nil {
				return err
			}
			day := ch.At.UTC()
			applyScript.Eval(ctx, pipe, keys, ix.base(), ch.Customer, ch.At.UnixMilli(), b,
				day.Format(time.DateOnly), day.Unix()/86400)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index %d changes: %w", len(changes), err)
	}
	return nil
}

// Erase removes customers from the index.
func (ix *Index) Erase(ctx context.Context, customers ...string) error {
	keys := []string{ix.base() + "snap", ix.base() + "days"}
	for _, c := range customers {
		// The largest At: no change recorded before can win over the erasure.
		if err := applyScript.Run(ctx, ix.rdb, keys, ix.base(), c, int64(1)<<52, "", "", 0).Err(); err != nil {
			return fmt.Errorf("erase index entry: %w", err)
		}
	}
	return nil
}

// Counts returns how many customers each set of kind holds, by name.
func (ix *Index) Counts(ctx context.Context, kind string) (map[string]int64, error) {
	names, err := ix.names(ctx, kind)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.IntCmd, len(names))
	_, err = ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = pipe.SCard(ctx, ix.base()+kind+":"+n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count %s sets: %w", kind, err)
	}
	out := make(map[string]int64, len(names))
	for i, n := range names {
		if v := cmds[i].Val(); v > 0 {
			out[n] = v
		}
	}
	return out, nil
}

// names lists the names of kind ever indexed; their sets may be empty now.
func (ix *Index) names(ctx context.Context, kind string) ([]string, error) {
	out, err := ix.rdb.SMembers(ctx, ix.base()+"names:"+kind).Result()
	if err != nil {
		return nil, fmt.Errorf("list %s sets: %w", kind, err)
	}
	sort.Strings(out)
	return out, nil
}

// Members returns the customers in the set kind:name, sorted.
func (ix *Index) Members(ctx context.Context, kind, name string) ([]string, error) {
	m, err := ix.rdb.SMembers(ctx, ix.base()+kind+":"+name).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s set: %w", kind, err)
	}
	sort.Strings(m)
	return m, nil
}

// Customers returns every customer indexed, sorted.
func (ix *Index) Customers(ctx context.Context) ([]string, error) {
	m, err := ix.rdb.HKeys(ctx, ix.base()+"snap").Result()
	if err != nil {
		return nil, fmt.Errorf("read indexed customers: %w", err)
	}
	sort.Strings(m)
	return m, nil
}

// Day is the NES distribution recorded for a day.
type Day struct {
	Date   string           `json:"date"`
	Stages map[string]int64 `json:"stages"`
}

// Days returns the days recorded in [from, to] (dates, inclusive), in order.
func (ix *Index) Days(ctx context.Context, from, to time.Time) ([]Day, error) {
	dates, err := ix.rdb.ZRangeByScore(ctx, ix.base()+"days", &redis.ZRangeBy{
		Min: fmt.Sprint(from.UTC().Unix() / 86400), Max: fmt.Sprint(to.UTC().Unix() / 86400),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read recorded days: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(dates))
	_, err = ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, d := range dates {
			cmds[i] = pipe.HGetAll(ctx, ix.base()+"day:"+d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read days: %w", err)
	}
	out := make([]Day, len(dates))
	for i, d := range dates {
		out[i] = Day{Date: d, Stages: map[string]int64{}}
		for st, v := range cmds[i].Val() {
			var n int64
			fmt.Sscan(v, &n)
			out[i].Stages[st] = n
		}
	}
	return out, nil
}
