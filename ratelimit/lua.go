package ratelimit

import "github.com/redis/go-redis/v9"

// The scripts keep time in Redis's own clock (TIME), in microseconds since the
// epoch (about 1.8e15, exact in a Lua double), so that workers on machines with
// skewed clocks still share one rate. Numbers written to Redis go through
// string.format('%.0f'): Lua's tostring would print a large number as 1.8e+15.
//
// The keys of one API key share the hash tag {keyID}, so each script touches a
// single Redis Cluster slot.
//
// Each script is a redis.Script run with Run (EVALSHA, then EVAL on NOSCRIPT), as
// in store. Config.RedisTimeout bounds a run through the ctx deadline its caller
// sets.

// acquireScript is the shared stage of Acquire, one atomic step: it checks the
// cool-down, the GCRA on requests, the candidates in the last minute and the
// in-flight leases, and only when all of them allow the request does it record it
// (new TAT, a lease, the per-second counters). Otherwise it writes nothing but the
// heartbeat and says how long to wait.
//
// KEYS: 1 gcra (TAT, µs), 2 cooldown, 3 inflight (zset lease -> expiry ms),
// 4 stats (hash r:<sec>, c:<sec>, w), 5 adaptive (hash rate, hold, next, max,
// streak, since, n), 6 procs (zset instance -> last seen ms).
// ARGV: 1 rate (req/s, configured), 2 burst, 3 candidates per minute (0 none),
// 4 candidates of this request, 5 max in flight, 6 lease id, 7 lease ttl (ms),
// 8 adaptive ("1"/"0"), 9 instance id for the heartbeat ("" none), 10 heartbeat
// window (ms), 11 adaptive state ttl (ms).
// Reply: {allowed 0/1, wait µs, reason, effective rate, processes (-1 unknown)}.
var acquireScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local function num(x) return string.format('%.0f', x) end

local rate = tonumber(ARGV[1])
if ARGV[8] == '1' then
  local a = tonumber(redis.call('HGET', KEYS[5], 'rate'))
  if a and a < rate then rate = a end
end
local burst = tonumber(ARGV[2])
local cpm = tonumber(ARGV[3])
local cand = tonumber(ARGV[4])
local max_inflight = tonumber(ARGV[5])
local ttl = tonumber(ARGV[7])

local procs = -1
if ARGV[9] ~= '' then
  local win = tonumber(ARGV[10])
  redis.call('ZADD', KEYS[6], num(now_ms), ARGV[9])
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', num(now_ms - win))
  redis.call('PEXPIRE', KEYS[6], num(2 * win))
  procs = redis.call('ZCARD', KEYS[6])
end

local function reply(ok, wait, reason)
  return {ok, math.ceil(wait), reason, tostring(rate), procs}
end

local cd = redis.call('PTTL', KEYS[2])
if cd > 0 then return reply(0, cd * 1000, 'cooldown') end

local wait = 0
local reason = 'ok'

-- GCRA: a request may go when its new TAT, less the burst tolerance, is not in the future.
local interval = 1000000 / rate
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  wait = allow_at - now
  reason = 'rate'
end

-- Candidates: the sum over the 61 one-second buckets that any 60-second window
-- ending now can touch stays within the cap.
if cpm > 0 and cand > 0 then
  if cand > cpm then return reply(0, 0, 'too_many') end
  local fields = {}
  for i = 1, 61 do fields[i] = 'c:' .. (sec - 61 + i) end
  local vals = redis.call('HMGET', KEYS[4], unpack(fields))
  local sum = 0
  for i = 1, 61 do sum = sum + (tonumber(vals[i]) or 0) end
  local excess = sum + cand - cpm
  if excess > 0 then
    local freed = 0
    for i = 1, 61 do
      freed = freed + (tonumber(vals[i]) or 0)
      if freed >= excess then
        -- bucket sec-61+i leaves every window that ends at second sec+i or later
        local w = (sec + i) * 1000000 - now
        if w > wait then
          wait = w
          reason = 'candidates'
        end
        break
      end
    end
  end
end

-- In flight: expired leases (crashed holders) go first.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', num(now_ms))
if redis.call('ZCARD', KEYS[3]) >= max_inflight then
  -- no event tells us of a release: look again after one emission interval
  -- (5ms..100ms), or when the oldest lease expires if that is sooner
  local poll = math.min(math.max(interval, 5000), 100000)
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if first[2] then
    local e = (tonumber(first[2]) - now_ms) * 1000
    if e < poll then poll = e end
  end
  if poll > wait then
    wait = poll
    reason = 'inflight'
  end
end

if wait > 0 then return reply(0, wait, reason) end

redis.call('SET', KEYS[1], num(new_tat), 'PX', num(math.ceil((new_tat - now) / 1000) + 1))
redis.call('ZADD', KEYS[3], num(now_ms + ttl), ARGV[6])
redis.call('PEXPIRE', KEYS[3], num(ttl + 1000))

-- per-second counters: keep seconds sec-61..sec, drop older ones
local last = tonumber(redis.call('HGET', KEYS[4], 'w'))
if last and sec - last > 61 then
  redis.call('DEL', KEYS[4])
elseif last then
  for s = last - 61, sec - 62 do redis.call('HDEL', KEYS[4], 'r:' .. s, 'c:' .. s) end
end
-- adaptive: the requests granted since sending resumed after the last cool-down
-- (throttleScript resets them), or since the first grant of a fresh state
if ARGV[8] == '1' and redis.call('HINCRBY', KEYS[5], 'n', 1) == 1 then
  redis.call('HSETNX', KEYS[5], 'since', num(now_ms))
  redis.call('PEXPIRE', KEYS[5], ARGV[11])
end
redis.call('HINCRBY', KEYS[4], 'r:' .. sec, 1)
if cand > 0 then redis.call('HINCRBY', KEYS[4], 'c:' .. sec, cand) end
redis.call('HSET', KEYS[4], 'w', sec)
redis.call('PEXPIRE', KEYS[4], 65000)
return reply(1, 0, 'ok')
`)

// throttleScript records a 429: it extends (never shortens) the shared cool-down,
// moves the TAT so that the first request after the cool-down goes alone and the
// rest follow at the steady rate (no burst into a vendor that just refused us),
// and in adaptive mode lowers the effective rate unless a decrease is still
// holding (adaptiveDecrease, adaptiveStreak and adaptiveHold in Go say how; the
// two must agree). Every 429 starts a new count of grants from the end of the
// cool-down in force.
//
// KEYS: 1 gcra, 2 cooldown, 3 adaptive, 4 inflight.
// ARGV: 1 cool-down (ms), 2 rate, 3 burst, 4 adaptive ("1"/"0"), 5 decrease
// factor, 6 min rate, 7 adaptive interval (ms), 8 adaptive state ttl (ms).
// Reply: {cool-down in force (ms), effective rate, lowered 0/1}.
var throttleScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local function num(x) return string.format('%.0f', x) end

local cd = tonumber(ARGV[1])
local cur = redis.call('PTTL', KEYS[2])
if cur < cd then
  redis.call('SET', KEYS[2], '1', 'PX', num(cd))
else
  cd = cur
end

local rate = tonumber(ARGV[2])
local lowered = 0
if ARGV[4] == '1' then
  local a = redis.call('HMGET', KEYS[3], 'rate', 'hold', 'streak', 'since', 'n')
  local r = tonumber(a[1])
  if r and r < rate then rate = r end
  local hold = tonumber(a[2]) or 0
  local interval = tonumber(ARGV[7])
  if now_ms >= hold then
    local streak = 0
    if now_ms < hold + 3 * interval then streak = (tonumber(a[3]) or 0) + 1 end
    local dec = tonumber(ARGV[5])
    local burst = tonumber(ARGV[3])
    local mult = rate * dec ^ (2 ^ math.min(streak, 8))
    local new, seen = mult, rate
    -- the vendor accepted ok requests in span ms since its bucket was last full
    -- (the end of the last cool-down): ok = burst + limit * span, less under one
    -- token, so the limit is in [lo, lo + 1/span]
    local since = tonumber(a[4])
    local span = since and (now_ms - since) or 0
    local ok = (tonumber(a[5]) or 0) - redis.call('ZCOUNT', KEYS[4], '(' .. num(now_ms), '+inf') - 1
    if span > 0 and span >= interval / 10 and ok > burst then
      local lo = (ok - burst) * 1000 / span
      local hi = (ok - burst + 1) * 1000 / span
      if streak == 0 then
        new = math.min(math.max(lo, mult), rate * (1 - (1 - dec) / 5))
      else
        new = math.max(math.min(lo, mult), math.min(mult, rate / 2))
      end
      new = math.max(new, tonumber(ARGV[6]))
      seen = math.max(new, math.min(rate, hi))
    else
      new = math.max(new, tonumber(ARGV[6]))
    end
    rate = new
    local until_ = num(now_ms + cd + interval / 10)
    redis.call('HSET', KEYS[3], 'rate', tostring(rate), 'hold', until_, 'next', until_,
      'max', tostring(seen), 'streak', streak)
    lowered = 1
  end
  redis.call('HSET', KEYS[3], 'since', num(now_ms + cd), 'n', 0)
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end

local interval = 1000000 / rate
local target = now + cd * 1000 + (tonumber(ARGV[3]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < target then
  redis.call('SET', KEYS[1], num(target), 'PX', num(math.ceil((target - now) / 1000) + 1))
end
return {cd, tostring(rate), lowered}
`)

// succeedScript climbs the adaptive rate back by one step, at most once per
// adaptive interval for all workers, and forgets the state once it is back at the
// configured rate. The step is adaptiveStep's: the full increase far below the
// vendor's limit as last estimated (max), half the distance left from 80% of it
// up to it, a fiftieth of the increase from it to 5% above it, so that the rate
// spends its time just under the limit and crosses it rarely and gently; well
// above it (the vendor's limit rose) the full step again.
//
// KEYS: 1 adaptive. ARGV: 1 rate, 2 increase, 3 adaptive interval (ms), 4 ttl (ms).
// Reply: the effective rate.
var succeedScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cfg = tonumber(ARGV[1])
local a = redis.call('HMGET', KEYS[1], 'rate', 'next', 'max')
local r = tonumber(a[1])
if not r then return ARGV[1] end
if r >= cfg then
  redis.call('DEL', KEYS[1])
  return ARGV[1]
end
if now_ms < (tonumber(a[2]) or 0) then return tostring(r) end
local inc = tonumber(ARGV[2])
local step = inc
local seen = tonumber(a[3])
if seen and seen > 0 and r >= 0.8 * seen and r < 1.05 * seen then
  if r < seen then
    step = math.min(inc, math.max(inc / 20, (seen - r) / 2))
  else
    step = inc / 50
  end
end
r = r + step
if r >= cfg then
  redis.call('DEL', KEYS[1])
  return ARGV[1]
end
redis.call('HSET', KEYS[1], 'rate', tostring(r), 'next', string.format('%.0f', now_ms + tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return tostring(r)
`)

// releaseScript gives an in-flight lease back. KEYS: 1 inflight. ARGV: 1 lease id.
var releaseScript = redis.NewScript(`return redis.call('ZREM', KEYS[1], ARGV[1])`)

// stateScript reads the shared state without writing.
//
// KEYS: as acquireScript. ARGV: 1 observed window (s), 2 heartbeat window (ms).
// Reply: {cool-down (ms), in flight, adaptive rate or "", processes, requests in
// the observed window, candidates in the last 61 s}.
var stateScript = redis.NewScript(`
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now_ms = sec * 1000 + math.floor(tonumber(t[2]) / 1000)
local function num(x) return string.format('%.0f', x) end
local cd = redis.call('PTTL', KEYS[2])
if cd < 0 then cd = 0 end
local inflight = redis.call('ZCOUNT', KEYS[3], '(' .. num(now_ms), '+inf')
local rate = redis.call('HGET', KEYS[5], 'rate') or ''
local procs = redis.call('ZCOUNT', KEYS[6], num(now_ms - tonumber(ARGV[2])), '+inf')
local n = tonumber(ARGV[1])
local reqs = 0
for s = sec - n, sec - 1 do reqs = reqs + (tonumber(redis.call('HGET', KEYS[4], 'r:' .. s)) or 0) end
local cands = 0
for s = sec - 60, sec do cands = cands + (tonumber(redis.call('HGET', KEYS[4], 'c:' .. s)) or 0) end
return {cd, inflight, rate, procs, reqs, cands}
`)
