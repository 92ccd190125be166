package profile

import "github.com/redis/go-redis/v9"

// applyScript applies one event to one customer's keys and returns whether it
// changed anything and the profile it was merged into. Every write is a join —
// insert-if-absent by a natural id, maximum, or last-writer-wins by event time
// — so applying an event twice, or events in any order, leaves the same state
// (see doc.go).
//
// With the op prefixed "+" it also returns the window values as of T and the
// profile version they belong to; the rest of the state (the profile hash, the
// cart and the item lists) is read by plain commands pipelined after it, which
// Redis answers without copying them through Lua.
//
// KEYS: 1 profile hash, 2 history zset, 3 amounts hash, 4 viewed skus zset,
// 5 viewed categories zset, 6 bought zset, 7 cart hash, 8 merged ids set.
// ARGV: 1 op, 2 T (ms), 3 window (ms), 4 event time (ms), 5.. op arguments.
// Returns {changed, merged into} or, with "+", {changed, merged into, version,
// F, M, due}: M is a decimal string of micros, not below 0 and not capped (it
// may exceed int64); due is when the window values next change by time alone
// (ms), or -1.
var applyScript = redis.NewScript(`
local p, h, amt, vs, vc, b, cart = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local op, read = ARGV[1], false
if string.sub(op, 1, 1) == '+' then op, read = string.sub(op, 2), true end
local T, W = tonumber(ARGV[2]), tonumber(ARGV[3])
local changed = 0

-- Numbers are written from their string forms, never formatted by Lua.
local function maxf(field, ts)
  local cur = redis.call('HGET', p, field)
  if (not cur) or tonumber(ts) > tonumber(cur) then redis.call('HSET', p, field, ts) end
end
local function minf(field, ts)
  local cur = redis.call('HGET', p, field)
  if (not cur) or tonumber(ts) < tonumber(cur) then redis.call('HSET', p, field, ts) end
end
-- lww stores value ("<ms>|...") unless the stored one is newer; ties go to the
-- larger value, so the outcome does not depend on arrival order.
local function lww(key, field, value)
  local cur = redis.call('HGET', key, field)
  if cur then
    local ct, vt = tonumber(string.match(cur, '^(%d+)|')), tonumber(string.match(value, '^(%d+)|'))
    if ct and ct > vt then return end
    if ct == vt and cur >= value then return end
  end
  redis.call('HSET', key, field, value)
end
local function trim(key, keep) redis.call('ZREMRANGEBYRANK', key, 0, -keep - 1) end
` + splitLua + `
-- addLifetime moves lifetime spend (ltvh * 10^9 + ltv micros) by sign * micros.
local function addLifetime(micros, sign)
  local hi, lo = split(micros)
  if lo ~= 0 then redis.call('HINCRBY', p, 'ltv', string.format('%.0f', sign * lo)) end
  if hi ~= 0 then redis.call('HINCRBY', p, 'ltvh', string.format('%.0f', sign * hi)) end
end
-- history inserts an order ("o:<id>") or refund ("r:<id>") unless present.
local function history(id, ts, micros)
  if redis.call('ZADD', h, 'NX', ts, id) == 0 then return false end
  redis.call('HSET', amt, id, micros)
  redis.call('HINCRBY', p, 'ver', 1)
  if string.sub(id, 1, 2) == 'o:' then
    redis.call('HINCRBY', p, 'n', 1)
    addLifetime(micros, 1)
    minf('first', ts)
    maxf('last', ts)
    maxf('cart_clear', ts)
  else
    addLifetime(micros, -1)
  end
  return true
end

if op == 'order' or op == 'refund' then
  local prefix = (op == 'order') and 'o:' or 'r:'
  if history(prefix .. ARGV[5], ARGV[4], ARGV[6]) then
    changed = 1
    for i = 7, #ARGV do redis.call('ZADD', b, 'GT', ARGV[4], ARGV[i]) end
    trim(b, 200)
  end
elseif op == 'view' then
  maxf('last_browse', ARGV[4])
  if ARGV[5] ~= '' then
    redis.call('ZADD', vs, 'GT', ARGV[4], ARGV[5])
    trim(vs, 100)
  end
  if ARGV[6] ~= '' then
    redis.call('ZADD', vc, 'GT', ARGV[4], ARGV[6])
    trim(vc, 100)
  end
  changed = 1
elseif op == 'browse' then
  maxf('last_browse', ARGV[4])
elseif op == 'cart' then
  maxf('last_cart', ARGV[4])
  for i = 5, #ARGV, 2 do lww(cart, ARGV[i], ARGV[4] .. '|' .. ARGV[i + 1]) end
  changed = 1
elseif op == 'traits' then
  for i = 5, #ARGV, 2 do lww(p, 'a:' .. ARGV[i], ARGV[4] .. '|' .. ARGV[i + 1]) end
  changed = 1
elseif op == 'merge' then
  -- ARGV[5] is another profile's content (see mergeData), joined into this one.
  local d = cjson.decode(ARGV[5])
  for i = 1, #d.h, 2 do history(d.h[i], d.h[i + 1], d.amt[d.h[i]] or '0') end
  for i = 1, #d.vs, 2 do redis.call('ZADD', vs, 'GT', d.vs[i + 1], d.vs[i]) end
  for i = 1, #d.vc, 2 do redis.call('ZADD', vc, 'GT', d.vc[i + 1], d.vc[i]) end
  for i = 1, #d.b, 2 do redis.call('ZADD', b, 'GT', d.b[i + 1], d.b[i]) end
  trim(vs, 100)
  trim(vc, 100)
  trim(b, 200)
  for i = 1, #d.cart, 2 do lww(cart, d.cart[i], d.cart[i + 1]) end
  for i = 1, #d.p, 2 do
    local f, v = d.p[i], d.p[i + 1]
    if f == 'last_browse' or f == 'last_cart' or f == 'cart_clear' then maxf(f, v)
    elseif string.sub(f, 1, 2) == 'a:' then lww(p, f, v) end
  end
  redis.call('SADD', KEYS[8], ARGV[6])
  changed = 1
end

local pv = redis.call('HMGET', p, 'merged_into', 'ver')
if not read then return {changed, pv[1] or ''} end

-- Window values as of T: orders and refunds in (T-W, T]. Entries after T
-- (event times ahead of T) are not counted; the first of them is due. The
-- order and refund totals are each kept as hi * 10^9 + lo with lo < 10^9, so
-- they stay exact whatever their size (see split).
local f, oh, ol, rh, rl, due = 0, 0, 0, 0, 0, -1
local rows = redis.call('ZRANGEBYSCORE', h, '(' .. string.format('%.0f', T - W), '+inf', 'WITHSCORES')
local ids = {}
for i = 1, #rows, 2 do
  if tonumber(rows[i + 1]) > T then
    local at = tonumber(rows[i + 1])
    if due < 0 or at < due then due = at end
    break
  end
  ids[#ids + 1] = rows[i]
end
if #ids > 0 then
  -- Read in chunks: unpack takes at most a few thousand values.
  local amounts = {}
  for i = 1, #ids, 1000 do
    local part = redis.call('HMGET', amt, unpack(ids, i, math.min(i + 999, #ids)))
    for j = 1, #part do amounts[i + j - 1] = part[j] end
  end
  for i, id in ipairs(ids) do
    local hi, lo = split(amounts[i] or '0')
    if string.sub(id, 1, 2) == 'o:' then
      f, oh, ol = f + 1, oh + hi, ol + lo
      if ol >= 1e9 then oh, ol = oh + 1, ol - 1e9 end
    else
      rh, rl = rh + hi, rl + lo
      if rl >= 1e9 then rh, rl = rh + 1, rl - 1e9 end
    end
  end
  -- The earliest entry is the first to leave the window.
  local leaves = tonumber(rows[2]) + W
  if due < 0 or leaves < due then due = leaves end
end
-- M = orders - refunds, as a decimal string ("0" if negative).
local dh, dl, m = oh - rh, ol - rl, '0'
if dl < 0 then dh, dl = dh - 1, dl + 1e9 end
if dh > 0 then m = string.format('%.0f', dh) .. string.format('%09.0f', dl)
elseif dh == 0 then m = string.format('%.0f', dl) end
return {changed, pv[1] or '', pv[2] or '0', f, m, due}
`)

// readScript returns a profile's content for merging it into another, and
// marks it merged into ARGV[1] so that events still arriving for it are
// forwarded; it leaves the population (its entry is dropped). KEYS: as applyScript.
var readScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'merged_into', ARGV[1])
redis.call('HDEL', KEYS[1], 'pe')
return {redis.call('HGETALL', KEYS[1]), redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[3]),
  redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES'), redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES'),
  redis.call('ZRANGE', KEYS[6], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[7])}
`)

// splitLua defines split(s): a non-negative integer string of micros as two
// numbers hi and lo with s = hi * 10^9 + lo and lo < 10^9. Lua numbers are
// doubles, exact only to 2^53; sums of the parts stay exact (and fit in the
// int64 fields Redis increments) for fewer than 2^32 terms of at most
// money.MaxSum, where sums of whole amounts would not (see money.MaxSum).
const splitLua = `
local function split(s)
  if #s <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, -10)), tonumber(string.sub(s, -9))
end
`
