package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/event"
)

// Identity merges. When an identify or alias joins an anonymous customer to
// a user (event.Merged), the profile-updater merges the profiles, and the
// trigger service follows: the anonymous customer's waits, decisions, sends
// (caps and cooldowns), exposures, conversions, purchase and view history
// move to the user, and tr:{anon}:merged names the user, so that an event
// of the anonymous customer handled later — from another partition, or
// redelivered — is handled as the user's. A moved wait keeps the customer it
// began for as its origin, and decision ids are derived from the origin, so
// a decision made before the move is found after it and never made twice.
//
// The move is a sequence of idempotent steps, each on one customer's keys
// (so it works on Redis Cluster): mark, read, join into the user's keys
// (followScript), then delete the anonymous keys and move the timers. A
// crash between steps is repaired when the identify is redelivered, or when
// a wait of the anonymous customer falls due.

// owners returns, for each event, the customer whose trigger state it
// changes: its own, or the user its anonymous customer was merged into,
// before the batch or by an earlier event of it; and, for each event that
// merges another customer into its own, that customer ("" for the rest).
func (e *Engine) owners(ctx context.Context, evs []cloudevents.Event) (owners, merges []string, err error) {
	var anon []string
	seen := map[string]bool{}
	for _, ev := range evs {
		if c := customerOf(ev); strings.HasPrefix(c, event.AnonymousPrefix) && !seen[c] {
			seen[c] = true
			anon = append(anon, c)
		}
	}
	into, err := e.mergedInto(ctx, anon)
	if err != nil {
		return nil, nil, err
	}
	owners, merges = make([]string, len(evs)), make([]string, len(evs))
	for i, ev := range evs {
		c := customerOf(ev)
		if u, ok := into[c]; ok {
			c = u
		}
		owners[i] = c
		if from := mergedFrom(ev); from != "" && from != c {
			merges[i] = from
			into[from] = c
		}
	}
	return owners, merges, nil
}

// mergedInto returns the users the given customers were merged into, for
// those that were.
func (e *Engine) mergedInto(ctx context.Context, customers []string) (map[string]string, error) {
	into := map[string]string{}
	if len(customers) == 0 {
		return into, nil
	}
	cmds := make([]*redis.StringCmd, len(customers))
	pipe := e.rdb.Pipeline()
	for i, c := range customers {
		cmds[i] = pipe.Get(ctx, mergedKey(c))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read identity merges: %w", err)
	}
	for i, cmd := range cmds {
		if u := cmd.Val(); u != "" {
			into[customers[i]] = u
		}
	}
	return into, nil
}

// mergedFrom returns the customer an identity event merges into its own.
func mergedFrom(ev cloudevents.Event) string {
	if ev.Type() != event.Identify && ev.Type() != event.Alias {
		return ""
	}
	var d struct {
		AnonymousID string `json:"anonymous_id"`
		PreviousID  string `json:"previous_id"`
	}
	if json.Unmarshal(ev.Data(), &d) != nil {
		return ""
	}
	return event.Merged(ev.Type(), d.AnonymousID, d.PreviousID)
}

// moved is an anonymous customer's trigger state as followScript joins it:
// hashes and sorted sets as flat lists of field (member) and value (score).
type moved struct {
	Pending   []string   `json:"pending"`
	Decided   []string   `json:"decided"`
	Sent      []string   `json:"sent"`
	Last      []string   `json:"last"`
	Exposed   []string   `json:"exposed"`
	Converted []string   `json:"converted"`
	Buys      []string   `json:"buys"`
	Views     []string   `json:"views"`
	ViewsTTL  int64      `json:"views_ttl"` // ms, 0 for none
	CSent     [][]string `json:"csent"`     // the sends of each campaign of Last, in its order
}

func (m *moved) empty() bool {
	return len(m.Pending)+len(m.Decided)+len(m.Sent)+len(m.Last)+len(m.Exposed)+len(m.Converted)+len(m.Buys)+len(m.Views) == 0
}

// follow moves the trigger state of customer from to customer into (see the
// comment at the top of this file). Doing it again changes nothing.
func (e *Engine) follow(ctx context.Context, from, into string) error {
	if err := e.rdb.Set(ctx, mergedKey(from), into, 0).Err(); err != nil {
		return fmt.Errorf("mark a merged customer: %w", err)
	}
	if err := e.followJourneys(ctx, from, into); err != nil {
		return err
	}
	pipe := e.rdb.Pipeline()
	pending := pipe.HGetAll(ctx, pendingKey(from))
	decided := pipe.HGetAll(ctx, decidedKey(from))
	sent := pipe.ZRangeWithScores(ctx, sentKey(from), 0, -1)
	last := pipe.HGetAll(ctx, lastKey(from))
	exposed := pipe.HGetAll(ctx, exposedKey(from))
	converted := pipe.SMembers(ctx, convertedKey(from))
	buys := pipe.ZRangeWithScores(ctx, buysKey(from), 0, -1)
	views := pipe.ZRangeWithScores(ctx, viewsKey(from), 0, -1)
	viewsTTL := pipe.PTTL(ctx, viewsKey(from))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("read the trigger state of a merged customer: %w", err)
	}
	m := &moved{Decided: flat(decided.Val()), Sent: flatZ(sent.Val()), Last: flat(last.Val()), Exposed: flat(exposed.Val()),
		Converted: nonNil(converted.Val()), Buys: flatZ(buys.Val()), Views: flatZ(views.Val()), CSent: [][]string{}}
	if ttl := viewsTTL.Val(); ttl > 0 {
		m.ViewsTTL = ttl.Milliseconds()
	}
	// A moved wait keeps the customer it began for, so that its decision
	// has the id it would have had.
	due := map[string]float64{}
	m.Pending = []string{}
	for name, raw := range pending.Val() {
		var w wait
		if json.Unmarshal([]byte(raw), &w) != nil {
			continue
		}
		if w.Origin == "" {
			w.Origin = from
		}
		b, _ := json.Marshal(w)
		m.Pending = append(m.Pending, name, string(b))
		due[name] = float64(w.Due.UnixMilli())
	}
	if m.empty() {
		return nil
	}
	keys := stateKeys(into)
	del := stateKeys(from)
	if len(m.Last) > 0 {
		pipe = e.rdb.Pipeline()
		cmds := make([]*redis.ZSliceCmd, 0, len(m.Last)/2)
		for i := 0; i < len(m.Last); i += 2 {
			cmds = append(cmds, pipe.ZRangeWithScores(ctx, campaignSentKey(from, m.Last[i]), 0, -1))
			keys = append(keys, campaignSentKey(into, m.Last[i]))
			del = append(del, campaignSentKey(from, m.Last[i]))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("read the sends of a merged customer: %w", err)
		}
		for _, cmd := range cmds {
			m.CSent = append(m.CSent, flatZ(cmd.Val()))
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode the trigger state of a merged customer: %w", err)
	}
	names, err := followScript.Run(ctx, e.rdb, keys, b).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("join the trigger state of a merged customer: %w", err)
	}
	// The moved waits' timers first, then the anonymous state, then its
	// timers: a crash in between leaves a timer that finds no wait (dropped
	// when due) or state that the next follow moves again.
	if len(names) > 0 {
		zs := make([]redis.Z, len(names))
		for i, name := range names {
			zs[i] = redis.Z{Score: due[name], Member: member(name, into)}
		}
		if err := e.rdb.ZAdd(ctx, dueKey(into), zs...).Err(); err != nil {
			return fmt.Errorf("move the timers of a merged customer: %w", err)
		}
	}
	if err := e.rdb.Del(ctx, del...).Err(); err != nil {
		return fmt.Errorf("delete the trigger state of a merged customer: %w", err)
	}
	if len(due) > 0 {
		old := make([]any, 0, len(due))
		for name := range due {
			old = append(old, member(name, from))
		}
		if err := e.rdb.ZRem(ctx, dueKey(from), old...).Err(); err != nil {
			return fmt.Errorf("remove the timers of a merged customer: %w", err)
		}
	}
	return nil
}

func flat(h map[string]string) []string {
	out := make([]string, 0, 2*len(h))
	for k, v := range h {
		out = append(out, k, v)
	}
	return out
}

func flatZ(zs []redis.Z) []string {
	out := make([]string, 0, 2*len(zs))
	for _, z := range zs {
		out = append(out, z.Member.(string), strconv.FormatFloat(z.Score, 'f', -1, 64))
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// followScript joins a merged customer's trigger state (ARGV[1], a moved
// as JSON) into the keys of the customer it was merged into. Every write is
// a join, so joining twice changes nothing: a wait is moved only for a
// campaign the customer has none of (their own goes on), decisions and
// sends are added, the last send of a campaign and its exposure are the
// later of the two, conversions, purchase and view times are added (the
// purchases trimmed to the newest 50). It returns the campaigns whose waits
// it moved.
//
// KEYS: 1 pending hash, 2 decided hash, 3 sends zset, 4 last-send hash,
// 5 exposures hash, 6 conversions set, 7 purchase times zset, 8 view times
// zset, then the sends zset of each campaign of the last-send list, in its
// order. ARGV: 1 the state.
var followScript = redis.NewScript(`
local d = cjson.decode(ARGV[1])
local moved = {}
for i = 1, #d.pending, 2 do
  if redis.call('HSETNX', KEYS[1], d.pending[i], d.pending[i + 1]) == 1 then moved[#moved + 1] = d.pending[i] end
end
for i = 1, #d.decided, 2 do redis.call('HSETNX', KEYS[2], d.decided[i], d.decided[i + 1]) end
for i = 1, #d.sent, 2 do redis.call('ZADD', KEYS[3], d.sent[i + 1], d.sent[i]) end
for i = 1, #d.last, 2 do
  local cur = redis.call('HGET', KEYS[4], d.last[i])
  if not cur or tonumber(cur) < tonumber(d.last[i + 1]) then redis.call('HSET', KEYS[4], d.last[i], d.last[i + 1]) end
end
local function ms(v) return tonumber(string.match(v, '^(%d+)')) or 0 end
for i = 1, #d.exposed, 2 do
  local cur = redis.call('HGET', KEYS[5], d.exposed[i])
  if not cur or ms(cur) < ms(d.exposed[i + 1]) then redis.call('HSET', KEYS[5], d.exposed[i], d.exposed[i + 1]) end
end
for _, c in ipairs(d.converted) do redis.call('SADD', KEYS[6], c) end
for i = 1, #d.buys, 2 do redis.call('ZADD', KEYS[7], d.buys[i + 1], d.buys[i]) end
redis.call('ZREMRANGEBYRANK', KEYS[7], 0, -51)
for i = 1, #d.views, 2 do redis.call('ZADD', KEYS[8], d.views[i + 1], d.views[i]) end
if d.views_ttl > 0 and redis.call('PTTL', KEYS[8]) < d.views_ttl then redis.call('PEXPIRE', KEYS[8], d.views_ttl) end
for k, s in ipairs(d.csent) do
  for i = 1, #s, 2 do redis.call('ZADD', KEYS[8 + k], s[i + 1], s[i]) end
end
return moved
`)
