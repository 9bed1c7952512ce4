package ratelimit

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

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
//
// Each script names its KEYS and ARGV in locals at its top, and next to it a
// struct builds them in that order. The reasons acquireScript answers come from
// the Go constants (reasonOK...); TestAcquireReasons pins the two sides together.

// The limiter's keys in Limiter.keys, in this order: acquireScript's and
// stateScript's KEYS.
const (
	keyGCRA     = iota // TAT, µs
	keyCooldown        // the shared cool-down of a 429
	keyInflight        // zset lease -> expiry ms
	keyStats           // hash r:<sec>, c:<sec>, w
	keyAdaptive        // hash rate, hold, next, max, streak, since, n
	keyProcs           // zset instance -> last seen ms
)

// The reasons acquireScript answers, in stepResult.reason.
const (
	reasonOK         = "ok"
	reasonCooldown   = "cooldown"   // the shared cool-down of a 429
	reasonRate       = "rate"       // the GCRA on requests
	reasonCandidates = "candidates" // the candidates-per-minute cap
	reasonInflight   = "inflight"   // every in-flight slot taken
	reasonTooMany    = "too_many"   // more candidates than the cap: never
)

// luaString quotes s, which holds no quote or backslash, for a script's source.
func luaString(s string) string { return "'" + s + "'" }

// acquireScript is the shared stage of Acquire, one atomic step: it checks the
// cool-down, the GCRA on requests, the candidates in the last minute and the
// in-flight leases, and only when all of them allow the request does it record it
// (new TAT, a lease, the per-second counters). Otherwise it writes nothing but the
// heartbeat and says how long to wait.
//
// Reply: {allowed 0/1, wait µs, reason, effective rate, processes (-1 unknown)}.
var acquireScript = redis.NewScript(`
local gcra, cooldown, inflight, stats, adaptive, procs_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local cfg_rate, burst_arg, cpm_arg, cand_arg = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_inflight_arg, lease, lease_ttl, adaptive_on = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local instance, beat_window, adaptive_ttl = ARGV[9], ARGV[10], ARGV[11]
local OK, COOLDOWN, RATE, CANDIDATES, INFLIGHT, TOO_MANY = ` +
	luaString(reasonOK) + `, ` + luaString(reasonCooldown) + `, ` + luaString(reasonRate) + `, ` +
	luaString(reasonCandidates) + `, ` + luaString(reasonInflight) + `, ` + luaString(reasonTooMany) + `
if redis.replicate_commands then redis.replicate_commands() end
-- the leases this process released since its last step (release.go)
if #ARGV > 11 then redis.call('ZREM', inflight, unpack(ARGV, 12)) end
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local function num(x) return string.format('%.0f', x) end

local rate = tonumber(cfg_rate)
if adaptive_on == '1' then
  local a = tonumber(redis.call('HGET', adaptive, 'rate'))
  if a and a < rate then rate = a end
end
local burst = tonumber(burst_arg)
local cpm = tonumber(cpm_arg)
local cand = tonumber(cand_arg)
local max_inflight = tonumber(max_inflight_arg)
local ttl = tonumber(lease_ttl)

local procs = -1
if instance ~= '' then
  local win = tonumber(beat_window)
  redis.call('ZADD', procs_key, num(now_ms), instance)
  redis.call('ZREMRANGEBYSCORE', procs_key, '-inf', num(now_ms - win))
  redis.call('PEXPIRE', procs_key, num(2 * win))
  procs = redis.call('ZCARD', procs_key)
end

local function reply(ok, wait, reason)
  return {ok, math.ceil(wait), reason, tostring(rate), procs}
end

local cd = redis.call('PTTL', cooldown)
if cd > 0 then return reply(0, cd * 1000, COOLDOWN) end

local wait = 0
local reason = OK

-- GCRA: a request may go when its new TAT, less the burst tolerance, is not in the future.
local interval = 1000000 / rate
local tat = tonumber(redis.call('GET', gcra))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  wait = allow_at - now
  reason = RATE
end

-- Candidates: the sum over the 61 one-second buckets that any 60-second window
-- ending now can touch stays within the cap.
if cpm > 0 and cand > 0 then
  if cand > cpm then return reply(0, 0, TOO_MANY) end
  local fields = {}
  for i = 1, 61 do fields[i] = 'c:' .. (sec - 61 + i) end
  local vals = redis.call('HMGET', stats, unpack(fields))
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
          reason = CANDIDATES
        end
        break
      end
    end
  end
end

-- In flight: expired leases (crashed holders) go first.
redis.call('ZREMRANGEBYSCORE', inflight, '-inf', num(now_ms))
if redis.call('ZCARD', inflight) >= max_inflight then
  -- no event tells us of a release: look again after one emission interval
  -- (5ms..100ms), or when the oldest lease expires if that is sooner
  local poll = math.min(math.max(interval, 5000), 100000)
  local first = redis.call('ZRANGE', inflight, 0, 0, 'WITHSCORES')
  if first[2] then
    local e = (tonumber(first[2]) - now_ms) * 1000
    if e < poll then poll = e end
  end
  if poll > wait then
    wait = poll
    reason = INFLIGHT
  end
end

if wait > 0 then return reply(0, wait, reason) end

redis.call('SET', gcra, num(new_tat), 'PX', num(math.ceil((new_tat - now) / 1000) + 1))
redis.call('ZADD', inflight, num(now_ms + ttl), lease)
redis.call('PEXPIRE', inflight, num(ttl + 1000))

-- per-second counters: keep seconds sec-61..sec, drop older ones
local last = tonumber(redis.call('HGET', stats, 'w'))
if last and sec - last > 61 then
  redis.call('DEL', stats)
elseif last then
  for s = last - 61, sec - 62 do redis.call('HDEL', stats, 'r:' .. s, 'c:' .. s) end
end
-- adaptive: the requests granted since sending resumed after the last cool-down
-- (throttleScript resets them), or since the first grant of a fresh state
if adaptive_on == '1' and redis.call('HINCRBY', adaptive, 'n', 1) == 1 then
  redis.call('HSETNX', adaptive, 'since', num(now_ms))
  redis.call('PEXPIRE', adaptive, adaptive_ttl)
end
redis.call('HINCRBY', stats, 'r:' .. sec, 1)
if cand > 0 then redis.call('HINCRBY', stats, 'c:' .. sec, cand) end
redis.call('HSET', stats, 'w', sec)
redis.call('PEXPIRE', stats, 65000)
return reply(1, 0, OK)
`)

// acquireArgs are acquireScript's ARGV; its KEYS are Limiter.keys.
type acquireArgs struct {
	rate                float64 // configured, req/s
	burst               int
	candidatesPerMinute int // 0: none
	candidates          int // of this request
	maxInFlight         int
	lease               string
	leaseTTLMS          int64
	adaptive            string // "1" or "0"
	instance            string // for the heartbeat; "": none this time
	beatWindowMS        int64
	adaptiveTTLMS       int64
	released            []string // leases released since the last step, removed first (release.go)
}

func (a acquireArgs) argv() []any {
	return appendLeases([]any{strconv.FormatFloat(a.rate, 'g', -1, 64), a.burst, a.candidatesPerMinute,
		a.candidates, a.maxInFlight, a.lease, a.leaseTTLMS,
		a.adaptive, a.instance, a.beatWindowMS, a.adaptiveTTLMS}, a.released)
}

// appendLeases appends leases to a script's ARGV.
func appendLeases(argv []any, leases []string) []any {
	for _, l := range leases {
		argv = append(argv, l)
	}
	return argv
}

// throttleScript records a 429: it extends (never shortens) the shared cool-down,
// moves the TAT so that the first request after the cool-down goes alone and the
// rest follow at the steady rate (no burst into a vendor that just refused us),
// and in adaptive mode lowers the effective rate unless a decrease is still
// holding (adaptiveDecrease, adaptiveStreak and adaptiveHold in Go say how; the
// two must agree). Every 429 starts a new count of grants from the end of the
// cool-down in force.
//
// Reply: {cool-down in force (ms), effective rate, lowered 0/1}.
var throttleScript = redis.NewScript(`
local gcra, cooldown, adaptive, inflight = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cd_arg, cfg_rate, burst_arg, adaptive_on = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local decrease, min_rate, interval_arg, adaptive_ttl = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if redis.replicate_commands then redis.replicate_commands() end
if #ARGV > 8 then redis.call('ZREM', inflight, unpack(ARGV, 9)) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local function num(x) return string.format('%.0f', x) end

local cd = tonumber(cd_arg)
local cur = redis.call('PTTL', cooldown)
if cur < cd then
  redis.call('SET', cooldown, '1', 'PX', num(cd))
else
  cd = cur
end

local rate = tonumber(cfg_rate)
local lowered = 0
if adaptive_on == '1' then
  local a = redis.call('HMGET', adaptive, 'rate', 'hold', 'streak', 'since', 'n')
  local r = tonumber(a[1])
  if r and r < rate then rate = r end
  local hold = tonumber(a[2]) or 0
  local interval = tonumber(interval_arg)
  if now_ms >= hold then
    local streak = 0
    if now_ms < hold + 3 * interval then streak = (tonumber(a[3]) or 0) + 1 end
    local dec = tonumber(decrease)
    local burst = tonumber(burst_arg)
    local mult = rate * dec ^ (2 ^ math.min(streak, 8))
    local new, seen = mult, rate
    -- the vendor accepted ok requests in span ms since its bucket was last full
    -- (the end of the last cool-down): ok = burst + limit * span, less under one
    -- token, so the limit is in [lo, lo + 1/span]
    local since = tonumber(a[4])
    local span = since and (now_ms - since) or 0
    local ok = (tonumber(a[5]) or 0) - redis.call('ZCOUNT', inflight, '(' .. num(now_ms), '+inf') - 1
    if span > 0 and span >= interval / 10 and ok > burst then
      local lo = (ok - burst) * 1000 / span
      local hi = (ok - burst + 1) * 1000 / span
      if streak == 0 then
        new = math.min(math.max(lo, mult), rate * (1 - (1 - dec) / 5))
      else
        new = math.max(math.min(lo, mult), math.min(mult, rate / 2))
      end
      new = math.max(new, tonumber(min_rate))
      seen = math.max(new, math.min(rate, hi))
    else
      new = math.max(new, tonumber(min_rate))
    end
    rate = new
    local until_ = num(now_ms + cd + interval / 10)
    redis.call('HSET', adaptive, 'rate', tostring(rate), 'hold', until_, 'next', until_,
      'max', tostring(seen), 'streak', streak)
    lowered = 1
  end
  redis.call('HSET', adaptive, 'since', num(now_ms + cd), 'n', 0)
  redis.call('PEXPIRE', adaptive, adaptive_ttl)
end

local interval = 1000000 / rate
local target = now + cd * 1000 + (tonumber(burst_arg) - 1) * interval
local tat = tonumber(redis.call('GET', gcra))
if not tat or tat < target then
  redis.call('SET', gcra, num(target), 'PX', num(math.ceil((target - now) / 1000) + 1))
end
return {cd, tostring(rate), lowered}
`)

// throttleArgs are throttleScript's KEYS and ARGV.
type throttleArgs struct {
	limiterKeys   []string // Limiter.keys, of which it takes four
	cooldownMS    int64
	rate          float64 // configured
	burst         int
	adaptive      string // "1" or "0"
	decrease      float64
	minRate       float64
	intervalMS    int64 // adaptive interval
	adaptiveTTLMS int64
	released      []string // leases released since the last step, removed first (release.go)
}

func (a throttleArgs) keys() []string {
	k := a.limiterKeys
	return []string{k[keyGCRA], k[keyCooldown], k[keyAdaptive], k[keyInflight]}
}

func (a throttleArgs) argv() []any {
	return appendLeases([]any{a.cooldownMS, strconv.FormatFloat(a.rate, 'g', -1, 64), a.burst, a.adaptive,
		strconv.FormatFloat(a.decrease, 'g', -1, 64), strconv.FormatFloat(a.minRate, 'g', -1, 64),
		a.intervalMS, a.adaptiveTTLMS}, a.released)
}

// succeedScript climbs the adaptive rate back by one step, at most once per
// adaptive interval for all workers, and forgets the state once it is back at the
// configured rate. The step is adaptiveStep's: the full increase far below the
// vendor's limit as last estimated (max), half the distance left from 80% of it
// up to it, a fiftieth of the increase from it to 5% above it, so that the rate
// spends its time just under the limit and crosses it rarely and gently; well
// above it (the vendor's limit rose) the full step again.
//
// Reply: the effective rate.
var succeedScript = redis.NewScript(`
local adaptive = KEYS[1]
local cfg_rate, increase, interval, adaptive_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cfg = tonumber(cfg_rate)
local a = redis.call('HMGET', adaptive, 'rate', 'next', 'max')
local r = tonumber(a[1])
if not r then return cfg_rate end
if r >= cfg then
  redis.call('DEL', adaptive)
  return cfg_rate
end
if now_ms < (tonumber(a[2]) or 0) then return tostring(r) end
local inc = tonumber(increase)
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
  redis.call('DEL', adaptive)
  return cfg_rate
end
redis.call('HSET', adaptive, 'rate', tostring(r), 'next', string.format('%.0f', now_ms + tonumber(interval)))
redis.call('PEXPIRE', adaptive, adaptive_ttl)
return tostring(r)
`)

// succeedArgs are succeedScript's KEYS and ARGV.
type succeedArgs struct {
	limiterKeys   []string // Limiter.keys, of which it takes adaptive
	rate          float64  // configured
	increase      float64
	intervalMS    int64 // adaptive interval
	adaptiveTTLMS int64
}

func (a succeedArgs) keys() []string { return a.limiterKeys[keyAdaptive : keyAdaptive+1] }

func (a succeedArgs) argv() []any {
	return []any{strconv.FormatFloat(a.rate, 'g', -1, 64), strconv.FormatFloat(a.increase, 'g', -1, 64),
		a.intervalMS, a.adaptiveTTLMS}
}

// releaseScript gives in-flight leases back.
var releaseScript = redis.NewScript(`
return redis.call('ZREM', KEYS[1], unpack(ARGV))
`)

// releaseArgs are releaseScript's KEYS and ARGV.
type releaseArgs struct {
	limiterKeys []string // Limiter.keys, of which it takes inflight
	leases      []string // at least one
}

func (a releaseArgs) keys() []string { return a.limiterKeys[keyInflight : keyInflight+1] }
func (a releaseArgs) argv() []any    { return appendLeases(nil, a.leases) }

// stateScript reads the shared state without writing.
//
// KEYS: as acquireScript. Reply: {cool-down (ms), in flight, adaptive rate or
// "", processes, requests in the observed window, candidates in the last 61 s}.
var stateScript = redis.NewScript(`
local cooldown, inflight, stats, adaptive, procs_key = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local window, beat_window = ARGV[1], ARGV[2] -- observed window (s), heartbeat window (ms)
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now_ms = sec * 1000 + math.floor(tonumber(t[2]) / 1000)
local function num(x) return string.format('%.0f', x) end
local cd = redis.call('PTTL', cooldown)
if cd < 0 then cd = 0 end
local flying = redis.call('ZCOUNT', inflight, '(' .. num(now_ms), '+inf')
local rate = redis.call('HGET', adaptive, 'rate') or ''
local procs = redis.call('ZCOUNT', procs_key, num(now_ms - tonumber(beat_window)), '+inf')
local n = tonumber(window)
local reqs = 0
for s = sec - n, sec - 1 do reqs = reqs + (tonumber(redis.call('HGET', stats, 'r:' .. s)) or 0) end
local cands = 0
for s = sec - 60, sec do cands = cands + (tonumber(redis.call('HGET', stats, 'c:' .. s)) or 0) end
return {cd, flying, rate, procs, reqs, cands}
`)

// stateArgs are stateScript's ARGV; its KEYS are Limiter.keys.
type stateArgs struct {
	windowS      int // observed window
	beatWindowMS int64
}

func (a stateArgs) argv() []any { return []any{a.windowS, a.beatWindowMS} }
