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

// fillScript queues a page of an occurrence's audience, if the fill is where
// the page began (a page queued twice is queued once), and moves the fill's
// cursor past it. It returns 1 if it queued the page.
// KEYS[1] -> bc:{<id>}:state
// KEYS[2] -> bc:{<id>}:queue
// ARGV[1] -> the occurrence
// ARGV[2] -> the fill's cursor before the page ("" at the start)
// ARGV[3] -> the cursor after it: the page's last member
// ARGV[4] -> "1" if the page is the audience's last
// ARGV[5] -> members of the page left out (skipped)
// ARGV[6…] -> pairs of due time (ms), member
var fillScript = redis.NewScript(`
local state, queue = KEYS[1], KEYS[2]
local cur = redis.call('HGET', state, 'fill') or ''
if redis.call('HGET', state, 'occurrence') ~= ARGV[1] or cur ~= ARGV[2] or redis.call('HGET', state, 'filled') then
  return 0
end
local added = 0
for i = 6, #ARGV, 2 do
  added = added + redis.call('ZADD', queue, 'NX', ARGV[i], ARGV[i + 1])
end
redis.call('HINCRBY', state, 'members', added)
redis.call('HINCRBY', state, 'skipped', ARGV[5])
redis.call('HSET', state, 'fill', ARGV[3])
if ARGV[4] == '1' then redis.call('HSET', state, 'filled', '1') end
return 1
`)

// decidedScript takes decided members off an occurrence's queue and counts
// their outcomes: a member off the queue already (decided by another
// runner) is not counted again. It returns how many it counted.
// KEYS[1] -> bc:{<id>}:state
// KEYS[2] -> bc:{<id>}:queue
// ARGV[1] -> the occurrence
// ARGV[2…] -> pairs of member, outcome
var decidedScript = redis.NewScript(`
local state, queue = KEYS[1], KEYS[2]
if redis.call('HGET', state, 'occurrence') ~= ARGV[1] then return 0 end
local n = 0
for i = 2, #ARGV, 2 do
  if redis.call('ZREM', queue, ARGV[i]) == 1 then
    redis.call('HINCRBY', state, 'n:' .. ARGV[i + 1], 1)
    n = n + 1
  end
end
redis.call('HINCRBY', state, 'decided', n)
return n
`)

// finishScript ends an occurrence: it counts it and moves to the next, or
// marks the broadcast finished if there is none.
// KEYS[1] -> bc:{<id>}:state
// ARGV[1] -> the occurrence
// ARGV[2] -> the next occurrence ("" for none)
// ARGV[3] -> when it opens (ms)
// ARGV[4] -> now (ms)
var finishScript = redis.NewScript(`
local state = KEYS[1]
if redis.call('HGET', state, 'occurrence') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', state, 'occurrences', 1)
if ARGV[2] == '' then
  redis.call('HSET', state, 'finished', ARGV[4])
  return 1
end
redis.call('HSET', state, 'occurrence', ARGV[2], 'opens', ARGV[3], 'members', 0, 'decided', 0, 'skipped', 0)
redis.call('HDEL', state, 'fill', 'filled')
return 1
`)
