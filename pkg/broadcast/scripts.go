package broadcast

import "github.com/redis/go-redis/v9"

// leaseScript gives a broadcast to a runner for a while, or keeps it for
// the runner that has it. It returns 1 if the runner has the lease.
// KEYS[1] -> bc:{<id>}:lease
// ARGV[1] -> the runner
// ARGV[2] -> how long (ms)
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// fillScript moves an occurrence's fill past a page of its audience, if the
// fill is where the page began (a page filled twice moves it once), and
// counts the page's members left out. The page's members are queued in
// their shards before (shardFillScript). It returns 1 if it moved the fill.
// KEYS[1] -> bc:{<id>}:state
// ARGV[1] -> the occurrence
// ARGV[2] -> the fill's cursor before the page ("" at the start)
// ARGV[3] -> the cursor after it: the page's last member
// ARGV[4] -> "1" if the page is the audience's last
// ARGV[5] -> members of the page left out (skipped)
var fillScript = redis.NewScript(`
local state = KEYS[1]
local cur = redis.call('HGET', state, 'fill') or ''
if redis.call('HGET', state, 'occurrence') ~= ARGV[1] or cur ~= ARGV[2] or redis.call('HGET', state, 'filled') then
  return 0
end
redis.call('HINCRBY', state, 'skipped', ARGV[5])
redis.call('HSET', state, 'fill', ARGV[3])
if ARGV[4] == '1' then redis.call('HSET', state, 'filled', '1') end
return 1
`)

// shardFillScript queues members of an occurrence in one shard. The shard
// belongs to the occurrence that opened last (its epoch, when it opened): a
// later occurrence empties it first, an earlier one (a runner that fell
// behind) is refused. A member queued already, decided or not, is not
// queued again. It returns how many members it queued.
// KEYS[1] -> bc:{#queue.<n>.<k>}:<id>:counts
// KEYS[2] -> bc:{#queue.<n>.<k>}:<id>:queue
// ARGV[1] -> the occurrence's epoch (ms)
// ARGV[2…] -> pairs of due time (ms), member
var shardFillScript = redis.NewScript(`
local counts, queue = KEYS[1], KEYS[2]
local cur = tonumber(redis.call('HGET', counts, 'epoch') or '-1')
local e = tonumber(ARGV[1])
if cur > e then return 0 end
if cur < e then
  redis.call('DEL', queue)
  redis.call('HSET', counts, 'epoch', ARGV[1], 'members', 0, 'decided', 0)
end
local added = 0
for i = 2, #ARGV, 2 do
  added = added + redis.call('ZADD', queue, 'NX', ARGV[i], ARGV[i + 1])
end
redis.call('HINCRBY', counts, 'members', added)
return added
`)

// shardDueScript reads one shard of an occurrence's queue: how many of its
// members are not decided, then up to a limit of those due, with their due
// times. A shard of another occurrence has none.
// KEYS[1] -> bc:{#queue.<n>.<k>}:<id>:counts
// KEYS[2] -> bc:{#queue.<n>.<k>}:<id>:queue
// ARGV[1] -> the occurrence's epoch (ms)
// ARGV[2] -> now (ms)
// ARGV[3] -> the limit
var shardDueScript = redis.NewScript(`
local counts, queue = KEYS[1], KEYS[2]
if redis.call('HGET', counts, 'epoch') ~= ARGV[1] then return {0} end
local due = redis.call('ZRANGEBYSCORE', queue, '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', 0, ARGV[3])
-- Members not yet decided: decided ones are at +inf, above any due time
-- (a finite bound: the embedded Redis counts +inf in an exclusive '(+inf').
table.insert(due, 1, redis.call('ZCOUNT', queue, '-inf', '1e300'))
return due
`)

// shardDecidedScript marks decided members of one shard of an occurrence's
// queue (due time +inf) and counts their outcomes: a member marked already
// (decided by another runner) or not queued is not counted again. A member
// waiting for the end of the quiet hours is remembered in the shard's
// waiting set. It returns how many it counted.
// KEYS[1] -> bc:{#queue.<n>.<k>}:<id>:counts
// KEYS[2] -> bc:{#queue.<n>.<k>}:<id>:queue
// KEYS[3] -> bc:{#queue.<n>.<k>}:<id>:waiting
// ARGV[1] -> the occurrence's epoch (ms)
// ARGV[2] -> the occurrence
// ARGV[3] -> the outcome of a member waiting
// ARGV[4…] -> pairs of member, outcome
var shardDecidedScript = redis.NewScript(`
local counts, queue, waiting = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HGET', counts, 'epoch') ~= ARGV[1] then return 0 end
local n = 0
for i = 4, #ARGV, 2 do
  local due = redis.call('ZSCORE', queue, ARGV[i])
  if due and due ~= 'inf' then
    redis.call('ZADD', queue, 'XX', '+inf', ARGV[i])
    redis.call('HINCRBY', counts, 'n:' .. ARGV[i + 1], 1)
    if ARGV[i + 1] == ARGV[3] then redis.call('SADD', waiting, ARGV[2] .. '|' .. ARGV[i]) end
    n = n + 1
  end
end
redis.call('HINCRBY', counts, 'decided', n)
return n
`)

// shardSettleScript counts the final outcome of members who were waiting
// for the end of the quiet hours, in place of waiting, once each.
// KEYS[1] -> bc:{#queue.<n>.<k>}:<id>:counts
// KEYS[2] -> bc:{#queue.<n>.<k>}:<id>:waiting
// ARGV[1] -> the outcome of a member waiting
// ARGV[2…] -> pairs of "<occurrence>|<member>", final outcome
var shardSettleScript = redis.NewScript(`
local counts, waiting = KEYS[1], KEYS[2]
local n = 0
for i = 2, #ARGV, 2 do
  if redis.call('SREM', waiting, ARGV[i]) == 1 then
    redis.call('HINCRBY', counts, 'n:' .. ARGV[1], -1)
    redis.call('HINCRBY', counts, 'n:' .. ARGV[i + 1], 1)
    n = n + 1
  end
end
return n
`)

// shardResetScript empties one shard of a broadcast's queue for the
// occurrence of epoch ARGV[1], unless it holds that occurrence or a later
// one already.
// KEYS[1] -> bc:{#queue.<n>.<k>}:<id>:counts
// KEYS[2] -> bc:{#queue.<n>.<k>}:<id>:queue
// ARGV[1] -> the occurrence's epoch (ms)
var shardResetScript = redis.NewScript(`
local counts, queue = KEYS[1], KEYS[2]
local cur = tonumber(redis.call('HGET', counts, 'epoch') or '-1')
if cur >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', queue)
redis.call('HSET', counts, 'epoch', ARGV[1], 'members', 0, 'decided', 0)
return 1
`)

// finishScript ends an occurrence: it counts it (as sent in full, or as
// skipped) and moves to the next, or marks the broadcast finished if there
// is none.
// KEYS[1] -> bc:{<id>}:state
// ARGV[1] -> the occurrence
// ARGV[2] -> the next occurrence ("" for none)
// ARGV[3] -> when it opens (ms)
// ARGV[4] -> now (ms)
// ARGV[5] -> the field that counts it: "occurrences", or "stale" if skipped
var finishScript = redis.NewScript(`
local state = KEYS[1]
if redis.call('HGET', state, 'occurrence') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', state, ARGV[5], 1)
if ARGV[2] == '' then
  redis.call('HSET', state, 'finished', ARGV[4])
  return 1
end
redis.call('HSET', state, 'occurrence', ARGV[2], 'opens', ARGV[3], 'skipped', 0)
redis.call('HDEL', state, 'fill', 'filled')
return 1
`)
