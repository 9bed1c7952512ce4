package store

import "github.com/redis/go-redis/v9"

// admitScript admits one segment of a batch: it counts the segment's candidates as
// accepted once (a re-run of the same segment adds nothing), and marks a candidate
// whose email, ATS id or CV link was already taken by an earlier candidate of the
// batch as skipped_duplicate. The first candidate to use a key owns it, so a re-run
// in the same order gives the same answer.
//
// KEYS: batch, segs, seen, out. ARGV: segment, count, now_ms, then per candidate
// seq, number of keys, the keys. Returns the seqs that are duplicates.
var admitScript = redis.NewScript(`
local dups = {}
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'accepted', tonumber(ARGV[2]))
end
local i = 4
while i <= #ARGV do
  local seq = ARGV[i]
  local nk = tonumber(ARGV[i+1])
  local dup = false
  for j = 1, nk do
    local first = redis.call('HGET', KEYS[3], ARGV[i+1+j])
    if first and first ~= seq then dup = true end
  end
  if dup then
    dups[#dups+1] = seq
    if redis.call('HSETNX', KEYS[4], seq, 's') == 1 then
      redis.call('HINCRBY', KEYS[1], 'skipped_duplicate', 1)
    end
  else
    for j = 1, nk do
      redis.call('HSETNX', KEYS[3], ARGV[i+1+j], seq)
    end
  end
  i = i + 2 + nk
end
return dups
`)

// createScript writes a batch record unless one exists, in one step, so that a
// crash cannot leave a record without its job.
// KEYS: batch, batches index. ARGV: id, now_ms, job, segment_size, source, replay_of.
// Returns 1 when it created the record.
var createScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'id', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'created_at', ARGV[2], 'job', ARGV[3], 'segment_size', ARGV[4],
  'source', ARGV[5], 'replay_of', ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
`)

// rejectScript records rejected source rows once each.
// KEYS: batch, rej. ARGV: pairs of row, reason. Returns how many were new.
var rejectScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i+1]) == 1 then n = n + 1 end
end
if n > 0 then redis.call('HINCRBY', KEYS[1], 'rejected', n) end
return n
`)

// finishLua sets finished_at once the sealed batch has no pending candidate.
const finishLua = `
local function finish(batch, now)
  local v = redis.call('HMGET', batch, 'sealed', 'accepted', 'invited', 'cv_queued', 'dead_lettered', 'skipped_duplicate')
  if v[1] ~= '1' then return end
  local pending = (tonumber(v[2]) or 0) - (tonumber(v[3]) or 0) - (tonumber(v[4]) or 0) - (tonumber(v[5]) or 0) - (tonumber(v[6]) or 0)
  if pending <= 0 then redis.call('HSETNX', batch, 'finished_at', now) end
end
`

// recordScript records final outcomes, each candidate at most once: the outcome,
// its counter, its ledger entry (a success) or its dead letter (a failure), in one
// atomic step. An outcome already recorded is left as it is.
//
// KEYS: batch, out, dl entries, dl index, sending marks, then pairs of ledger key
// and claim key.
// ARGV: now_ms, ledger ttl ms, batch id, then per candidate 6 values:
// seq, outcome code, index into KEYS of its ledger key (its claim key follows; 0 =
// none), ledger value, dead-letter id ("" = none), dead-letter JSON.
// Recording an outcome releases the candidate's claim (see claimScript) and clears
// its sending mark.
// Returns how many outcomes were new.
var recordScript = redis.NewScript(finishLua + `
local counters = {i='invited', c='cv_queued', d='dead_lettered', s='skipped_duplicate'}
local now = ARGV[1]
local ttl = tonumber(ARGV[2])
local n = 0
for i = 4, #ARGV, 6 do
  local seq, code = ARGV[i], ARGV[i+1]
  redis.call('HDEL', KEYS[5], seq)
  if redis.call('HSETNX', KEYS[2], seq, code) == 1 then
    n = n + 1
    redis.call('HINCRBY', KEYS[1], counters[code], 1)
    local lk = tonumber(ARGV[i+2])
    if lk > 0 then
      if code == 'i' or code == 'c' then redis.call('SET', KEYS[lk], ARGV[i+3], 'PX', ttl) end
      if redis.call('GET', KEYS[lk+1]) == ARGV[3] .. ':' .. seq then redis.call('DEL', KEYS[lk+1]) end
    end
    local dl = ARGV[i+4]
    if dl ~= '' then
      redis.call('HSET', KEYS[3], dl, ARGV[i+5])
      redis.call('ZADD', KEYS[4], now, dl)
    end
  end
end
if n > 0 then redis.call('HSETNX', KEYS[1], 'started_at', now) end
finish(KEYS[1], now)
return n
`)

// claimScript checks the ledger and claims the candidates about to be sent, so that
// two chunks (of different batches, say) never send the same person to the same
// target at once. Per candidate it answers 0 (claimed: send), 1 (the ledger holds a
// success: skip) or 2 (another chunk is sending it now: wait). A claim already held
// by the same owner (a retry of the same candidate) is renewed.
// KEYS: per candidate its ledger key then its claim key. ARGV: ttl ms, then the
// owner of each candidate's claim.
var claimScript = redis.NewScript(`
local out = {}
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  local owner = ARGV[(i+1)/2 + 1]
  if redis.call('EXISTS', KEYS[i]) == 1 then
    out[#out+1] = 1
  elseif redis.call('SET', KEYS[i+1], owner, 'NX', 'PX', ttl) then
    out[#out+1] = 0
  elseif redis.call('GET', KEYS[i+1]) == owner then
    redis.call('PEXPIRE', KEYS[i+1], ttl)
    out[#out+1] = 0
  else
    out[#out+1] = 2
  end
end
return out
`)

// sealScript marks a batch as fully enqueued.
// KEYS: batch. ARGV: now_ms, segments.
var sealScript = redis.NewScript(finishLua + `
redis.call('HSET', KEYS[1], 'sealed', '1', 'segments', ARGV[2])
finish(KEYS[1], ARGV[1])
return 1
`)

// moveScript moves dead letters into a replay batch's staging hash and out of the
// dead-letter list in one step, so a crash leaves each entry in exactly one place,
// and only while the caller holds the replay batch's lease.
// KEYS: dl entries, dl index, staging hash, lease. ARGV: owner, then dead-letter ids.
// Returns how many were moved, or -1 when the lease is not the caller's.
var moveScript = redis.NewScript(`
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return -1 end
local moved = 0
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    redis.call('HSET', KEYS[3], ARGV[i], v)
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    moved = moved + 1
  end
end
return moved
`)

// leaseScript takes a lease that is free (never taken, or run out) or renews one
// the caller holds. KEYS: lease. ARGV: owner, ttl ms. Returns 1 when the caller
// holds the lease afterwards, 0 when another owner does.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// closeReplayScript closes a fully enqueued replay batch: it leaves the open
// replays, and its staging hash and lease are deleted, if the caller holds the lease.
// KEYS: open replays, staging hash, lease. ARGV: replay batch id, owner.
// Returns 1 when closed, 0 when the lease is not the caller's.
var closeReplayScript = redis.NewScript(`
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
`)

// purgeScript deletes dead letters. KEYS: dl entries, dl index. ARGV: ids.
var purgeScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV do
  n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return n
`)

// stopAuthScript sets a key's auth stop, keeping the time of a stop already set.
// KEYS: auth stops hash. ARGV: key id, stop JSON.
var stopAuthScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local stop = cjson.decode(ARGV[2])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and old.since then stop.since = old.since end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(stop))
return 1
`)

// resumeAuthScript clears every auth stop and the record of the queues paused for
// them. KEYS: auth stops hash, paused queues set. Returns {stops as field/value
// pairs, queues}.
var resumeAuthScript = redis.NewScript(`
local stops = redis.call('HGETALL', KEYS[1])
local queues = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return {stops, queues}
`)
