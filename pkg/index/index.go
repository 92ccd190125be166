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
// The index is split by customer into the 256 shards of [keys.Shard], so
// that on Redis Cluster no master holds it all; a customer's entry and
// counts are in the shard of their id, under the store's prefix (default
// "sf"):
//
//	sf:{#ix.<n>.<k>}:snap          hash customer -> "<At ms>|<snapshot JSON>"
//	sf:{#ix.<n>.<k>}:count:<kind>  hash name -> customers of the shard in the
//	                               set kind:name (stage, seg, tier, tag)
//	sf:{#ix.<n>.<k>}:days          zset "<date>|<count of each of dayStages>"
//	                               by Unix day: the shard's stage counts at
//	                               its last change of that UTC day
//
// A change touches its customer's shard only, in one script whose keys are
// all declared. Readers go through every shard in one pipeline: a count is
// the sum of the shards', the customers the union; the NES record of a day
// adds up, for each shard, its record of the latest day up to that one — a
// shard's counts stay as they were until its next change — so it is the
// distribution after the day's last change, as one record would hold it.
//
// Only counts are kept, not the customers of each set: nothing reads the
// members (counts and audiences come from the population view, pkg/view),
// and counts cost a field per name per shard where sets cost an entry per
// customer per set.
package index

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// shard is the shard of the index that holds customer c's entry.
func (ix *Index) shard(c string) shardKeys { return ix.shardKeys(keys.Shard(ix.prefix, record, c)) }

// shards are every shard of the index.
func (ix *Index) shards() []shardKeys {
	out := make([]shardKeys, keys.Shards)
	for n := range out {
		out[n] = ix.shardKeys(keys.ShardN(ix.prefix, record, n))
	}
	return out
}

// Prefix is the namespace of the index.
func (ix *Index) Prefix() string { return ix.prefix }

// dayStages are the stages whose counts the NES record by day holds, in the
// order of a record.
var dayStages = []string{"prospect", "N", "E0", "S1", "S2", "S3"}

// recordDayLua records the day ARGV[day] (date) numbered ARGV[day+1] in the
// shard's days (KEYS[6]) from its stage counts (KEYS[2]).
var recordDayLua = `
local rec = {ARGV[day]}
for i, n in ipairs(redis.call('HMGET', KEYS[2], '` + strings.Join(dayStages, "', '") + `')) do
  rec[i + 1] = n or '0'
end
redis.call('ZREMRANGEBYSCORE', KEYS[6], ARGV[day + 1], ARGV[day + 1])
redis.call('ZADD', KEYS[6], ARGV[day + 1], table.concat(rec, '|'))
`

// applyScript replaces a customer's entry in their shard.
//
//	KEYS[1] -> <prefix>:{#ix.<n>.<k>}:snap
//	KEYS[2..5] -> <prefix>:{#ix.<n>.<k>}:count:stage, seg, tier, tag
//	KEYS[6] -> <prefix>:{#ix.<n>.<k>}:days
//	ARGV[1] -> customer
//	ARGV[2] -> At (Unix ms)
//	ARGV[3] -> snapshot JSON; empty erases the entry (and records no day)
//	ARGV[4] -> day (date), ARGV[5] -> its Unix day
var applyScript = redis.NewScript(`
local c, at = ARGV[1], tonumber(ARGV[2])
local counts = {stage = KEYS[2], seg = KEYS[3], tier = KEYS[4], tag = KEYS[5]}
-- sets returns the {kind, name} pairs of a snapshot's sets, each once.
local function sets(raw)
  local s = cjson.decode(raw)
  local out = {{'stage', s.stage or ''}}
  if type(s.segment) == 'string' and s.segment ~= '' then out[#out + 1] = {'seg', s.segment} end
  if type(s.tier) == 'string' and s.tier ~= '' then out[#out + 1] = {'tier', s.tier} end
  if type(s.tags) == 'table' then
    local seen = {}
    for _, t in ipairs(s.tags) do
      if not seen[t] then seen[t] = true; out[#out + 1] = {'tag', t} end
    end
  end
  return out
end
local function count(raw, by)
  for _, kn in ipairs(sets(raw)) do
    local h = counts[kn[1]]
    if redis.call('HINCRBY', h, kn[2], by) <= 0 then redis.call('HDEL', h, kn[2]) end
  end
end
local cur = redis.call('HGET', KEYS[1], c)
if cur then
  local ct, craw = string.match(cur, '^(%d+)|(.*)$')
  if tonumber(ct) > at then return 0 end
  count(craw, -1)
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], c)
  return 1
end
count(ARGV[3], 1)
redis.call('HSET', KEYS[1], c, ARGV[2] .. '|' .. ARGV[3])
local day = 4
` + recordDayLua + `
return 1
`)

// dayScript records a day in a shard from its counts as they are (KEYS as
// applyScript's; ARGV[1] -> day (date), ARGV[2] -> its Unix day).
var dayScript = redis.NewScript(`local day = 1
` + recordDayLua + `
return 1
`)

// Apply records changes, in order.
func (ix *Index) Apply(ctx context.Context, changes []profile.Change) error {
	if len(changes) == 0 {
		return nil
	}
	_, err := ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, ch := range changes {
			b, err := json.Marshal(ch.After)
			if err != nil {
				return err
			}
			day := ch.At.UTC()
			applyScript.Eval(ctx, pipe, ix.shard(ch.Customer).all(), ch.Customer, ch.At.UnixMilli(), b,
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
	for _, c := range customers {
		// The largest At: no change recorded before can win over the erasure.
		if err := applyScript.Run(ctx, ix.rdb, ix.shard(c).all(), c, int64(1)<<52, "", "", 0).Err(); err != nil {
			return fmt.Errorf("erase index entry: %w", err)
		}
	}
	return nil
}

// Counts returns how many customers each set of kind holds, by name.
func (ix *Index) Counts(ctx context.Context, kind string) (map[string]int64, error) {
	shards := ix.shards()
	cmds := make([]*redis.MapStringStringCmd, len(shards))
	_, err := ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, sh := range shards {
			cmds[i] = pipe.HGetAll(ctx, sh.count(kind))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count %s sets: %w", kind, err)
	}
	out := map[string]int64{}
	for _, cmd := range cmds {
		for name, v := range cmd.Val() {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("count %s sets: bad count %q of %s", kind, v, name)
			}
			out[name] += n
		}
	}
	return out, nil
}

// Customers returns every customer indexed, sorted.
func (ix *Index) Customers(ctx context.Context) ([]string, error) {
	shards := ix.shards()
	cmds := make([]*redis.StringSliceCmd, len(shards))
	_, err := ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, sh := range shards {
			cmds[i] = pipe.HKeys(ctx, sh.snap())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read indexed customers: %w", err)
	}
	var out []string
	for _, cmd := range cmds {
		out = append(out, cmd.Val()...)
	}
	sort.Strings(out)
	return out, nil
}

// Day is the NES distribution recorded for a day.
type Day struct {
	Date   string           `json:"date"`
	Stages map[string]int64 `json:"stages"`
}

// Days returns the days recorded in [from, to] (dates, inclusive), in order.
func (ix *Index) Days(ctx context.Context, from, to time.Time) ([]Day, error) {
	lo, hi := from.UTC().Unix()/86400, to.UTC().Unix()/86400
	shards := ix.shards()
	in := make([]*redis.StringSliceCmd, len(shards))
	before := make([]*redis.StringSliceCmd, len(shards))
	_, err := ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, sh := range shards {
			in[i] = pipe.ZRangeByScore(ctx, sh.days(), &redis.ZRangeBy{Min: fmt.Sprint(lo), Max: fmt.Sprint(hi)})
			before[i] = pipe.ZRevRangeByScore(ctx, sh.days(), &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(lo - 1), Count: 1})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read recorded days: %w", err)
	}
	// Each shard's records up to to, oldest first; the dates of any.
	recs := make([][]dayRecord, len(shards))
	var dates []string
	for i := range shards {
		for _, m := range append(before[i].Val(), in[i].Val()...) {
			r, err := parseDay(m)
			if err != nil {
				return nil, err
			}
			recs[i] = append(recs[i], r)
		}
		for _, m := range in[i].Val() {
			date, _, _ := strings.Cut(m, "|")
			dates = append(dates, date)
		}
	}
	sort.Strings(dates)
	dates = slices.Compact(dates)
	out := make([]Day, len(dates))
	for j, d := range dates {
		out[j] = Day{Date: d, Stages: map[string]int64{}}
		for i := range recs {
			// The shard's latest record up to d, the first one being before.
			k := -1
			for k+1 < len(recs[i]) && recs[i][k+1].date <= d {
				k++
			}
			if k < 0 {
				continue
			}
			recs[i] = recs[i][k:] // the dates only grow
			for s, n := range recs[i][0].counts {
				out[j].Stages[dayStages[s]] += n
			}
		}
	}
	return out, nil
}

// dayRecord is a shard's record of a day.
type dayRecord struct {
	date   string
	counts []int64 // of dayStages
}

// parseDay reads a member of a shard's days.
func parseDay(m string) (dayRecord, error) {
	f := strings.Split(m, "|")
	if len(f) != 1+len(dayStages) {
		return dayRecord{}, fmt.Errorf("read recorded days: bad record %q", m)
	}
	r := dayRecord{date: f[0], counts: make([]int64, len(dayStages))}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return dayRecord{}, fmt.Errorf("read recorded days: bad record %q", m)
		}
		r.counts[i] = n
	}
	return r, nil
}
