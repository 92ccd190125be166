package trigger

import "github.com/redis/go-redis/v9"

// decideScript makes a campaign decision for one customer exactly once. If the
// decision id was decided before it returns that outcome again, so a decision
// redelivered after a crash is re-announced with the same id and never made
// twice. Otherwise it applies the guards that need the customer's send
// history — cooldown, the campaign's caps, the caps across campaigns — and,
// for a send, records it.
//
// KEYS: 1 decisions hash (id -> outcome), 2 sends zset (all campaigns),
// 3 the campaign's sends zset, 4 last-send hash (campaign -> ms).
// ARGV: 1 id, 2 now (ms), 3 campaign, 4 an outcome decided already ("" if
// none: "holdout", "consent"), 5 cooldown (ms), 6 number of campaign caps n,
// then n pairs (max, per ms), then "|", then pairs of the caps across
// campaigns.
var decideScript = redis.NewScript(`
local done, sends, csends, last = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, now, campaign = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local prev = redis.call('HGET', done, id)
if prev then return prev end

local function capped(key, from)
  for i = from, #ARGV, 2 do
    if ARGV[i] == '|' then return false end
    local max, per = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
    if redis.call('ZCOUNT', key, '(' .. string.format('%.0f', now - per), '+inf') >= max then return true end
  end
  return false
end

local outcome = 'sent'
local n = tonumber(ARGV[6])
local l = redis.call('HGET', last, campaign)
if ARGV[4] ~= '' then
  outcome = ARGV[4]
elseif l and tonumber(ARGV[5]) > 0 and now - tonumber(l) < tonumber(ARGV[5]) then
  outcome = 'cooldown'
elseif capped(csends, 7) or capped(sends, 7 + 2 * n + 1) then
  outcome = 'cap'
end
if outcome == 'sent' then
  redis.call('ZADD', sends, ARGV[2], id)
  redis.call('ZADD', csends, ARGV[2], id)
  redis.call('HSET', last, campaign, ARGV[2])
  -- Sends older than 400 days no longer count against any cap.
  local old = string.format('%.0f', now - 400 * 86400000)
  redis.call('ZREMRANGEBYSCORE', sends, '-inf', old)
  redis.call('ZREMRANGEBYSCORE', csends, '-inf', old)
end
redis.call('HSET', done, id, outcome)
return outcome
`)

// budgetScript takes one of a campaign's daily budget slots for a decision.
// The slots are a set of decision ids, so taking a slot twice for the same
// decision takes one. It returns 1 when the decision has a slot.
// KEYS: 1 the campaign's slots of the day. ARGV: 1 decision id, 2 budget,
// 3 expiry (seconds).
var budgetScript = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`)
