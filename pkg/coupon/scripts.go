package coupon

import "github.com/redis/go-redis/v9"

// loadScript adds codes to a pool shard, each once ever: a code already
// loaded, issued or not, is not added again, so loading a file again after
// a restart or an edit adds only its new codes. It returns how many it added.
//
// KEYS[1] -> cp:{#pool:<coupon>:<n>}:all
// KEYS[2] -> cp:{#pool:<coupon>:<n>}:free
// ARGV    -> the codes
var loadScript = redis.NewScript(`
local n = 0
for _, c in ipairs(ARGV) do
  if redis.call('SADD', KEYS[1], c) == 1 then
    redis.call('SADD', KEYS[2], c)
    n = n + 1
  end
end
return n
`)

// takeScript takes a free code of a pool shard for a decision, once: the
// decision's code if it took one before, else a random free one, recorded as
// the decision's. It returns false when the shard has none.
//
// KEYS[1] -> cp:{#pool:<coupon>:<n>}:free
// KEYS[2] -> cp:{#pool:<coupon>:<n>}:taken
// ARGV[1] -> decision id
var takeScript = redis.NewScript(`
local c = redis.call('HGET', KEYS[2], ARGV[1])
if c then return c end
c = redis.call('SPOP', KEYS[1])
if not c then return false end
redis.call('HSET', KEYS[2], ARGV[1], c)
return c
`)

// putBackScript returns the code a decision took to its pool shard.
//
// KEYS[1] -> cp:{#pool:<coupon>:<n>}:free
// KEYS[2] -> cp:{#pool:<coupon>:<n>}:taken
// ARGV[1] -> decision id
var putBackScript = redis.NewScript(`
local c = redis.call('HGET', KEYS[2], ARGV[1])
if c then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('SADD', KEYS[1], c)
end
return 1
`)

// reserveScript creates a code's record for a decision, reserved (not yet
// issued). It returns the code's expiry (ms) when the record is the
// decision's (new, or made before: its expiry then), false when the code
// belongs to another decision.
//
// KEYS[1] -> cp:{#codes:<n>}:code:<code>
// ARGV[1] -> decision id, ARGV[2] campaign, ARGV[3] variant, ARGV[4] owner
// (hash of the customer), ARGV[5] expiry (ms), ARGV[6] how long the
// record is kept (ms)
var reserveScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'decision', 'expires')
if r[1] then
  if r[1] == ARGV[1] then return r[2] end
  return false
end
redis.call('HSET', KEYS[1], 'decision', ARGV[1], 'campaign', ARGV[2], 'variant', ARGV[3],
  'owner', ARGV[4], 'expires', ARGV[5], 'state', 'reserved')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return ARGV[5]
`)

// confirmScript issues a decision's reserved code at a time and counts it
// issued, once.
//
// KEYS[1] -> cp:{#codes:<n>}:code:<code>
// KEYS[2] -> cp:{#codes:<n>}:stats:<campaign>
// ARGV[1] -> decision id, ARGV[2] issue time (ms)
var confirmScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'decision', 'state', 'variant')
if r[1] ~= ARGV[1] or r[2] ~= 'reserved' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'issued', 'issued', ARGV[2])
redis.call('HINCRBY', KEYS[2], r[3] .. '|issued', 1)
return 1
`)

// dropScript deletes a decision's reserved code; an issued one stays. It
// returns 1 when the code is nobody's now (deleted, or never recorded), 0
// when it is issued or another decision's.
//
// KEYS[1] -> cp:{#codes:<n>}:code:<code>
// ARGV[1] -> decision id
var dropScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'decision', 'state')
if not r[1] then return 1 end
if r[1] == ARGV[1] and r[2] == 'reserved' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// redeemScript applies an order carrying an issued code: it redeems the
// code, or refuses it with a reason — foreign (issued to another customer),
// used (redeemed by another order), expired — and counts that, once per
// order: an order seen before changes nothing and gets its answer again. It
// returns "redeemed", "refused:<reason>", with "|again" for an order seen
// before, or "unknown" for a code not issued for campaign.
//
// KEYS[1] -> cp:{#codes:<n>}:code:<code>
// KEYS[2] -> cp:{#codes:<n>}:stats:<campaign>
// ARGV[1] -> order id, ARGV[2] owner (hash of the order's customer),
// ARGV[3] order time (ms), ARGV[4] revenue below 10^9 micros, ARGV[5]
// revenue in 10^9 micros, ARGV[6] campaign, ARGV[7] the issue time (ms) the
// bucket was computed from, ARGV[8] the time-to-redeem bucket (sketch.go)
var redeemScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'campaign', 'state', 'owner', 'variant', 'issued', 'expires', 'order')
if r[1] ~= ARGV[6] or r[2] ~= 'issued' or r[5] ~= ARGV[7] then return 'unknown' end
local order, at = ARGV[1], tonumber(ARGV[3])
if r[7] == order then return 'redeemed|again' end
local prev = redis.call('HGET', KEYS[1], 'refused:' .. order)
if prev then return 'refused:' .. prev .. '|again' end
local reason
if r[3] ~= ARGV[2] then reason = 'foreign'
elseif r[7] then reason = 'used'
elseif at > tonumber(r[6]) then reason = 'expired' end
local v = r[4] .. '|'
if reason then
  redis.call('HSET', KEYS[1], 'refused:' .. order, reason)
  redis.call('HINCRBY', KEYS[2], v .. 'refused:' .. reason, 1)
  return 'refused:' .. reason
end
redis.call('HSET', KEYS[1], 'order', order, 'redeemed', ARGV[3])
redis.call('HINCRBY', KEYS[2], v .. 'redeemed', 1)
redis.call('HINCRBY', KEYS[2], v .. 'revenue', ARGV[4])
redis.call('HINCRBY', KEYS[2], v .. 'revenue_hi', ARGV[5])
redis.call('HINCRBY', KEYS[2], v .. 'ttr:' .. ARGV[8], 1)
return 'redeemed'
`)
