package store

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

// goneReply is in the error a script answers when the batch's record is gone
// (expired): see errGone.
const goneReply = "BATCHGONE"

// otherInputReply is in the error a script answers when a re-run's input
// differs from what the batch admitted before: see errOtherInput.
const otherInputReply = "BATCHOTHERINPUT"

// luaLib is prepended to the scripts that need it. Redis turns a nil reply into
// false in Lua, so lists with holes still iterate with ipairs. Long argument
// lists go to Redis in parts: unpack has a limit. The scripts use only what
// miniredis (the demo's in-process Redis) has too.
const luaLib = `
local part = 1000

local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, part do
    local got = redis.call('HMGET', key, unpack(fields, i, math.min(i + part - 1, #fields)))
    for _, v in ipairs(got) do out[#out + 1] = v end
  end
  return out
end

-- pairs is a flat list field, value, field, value...
local function hset(key, pairs)
  for i = 1, #pairs, 2 * part do
    redis.call('HSET', key, unpack(pairs, i, math.min(i + 2 * part - 1, #pairs)))
  end
end

local function hdel(key, fields)
  for i = 1, #fields, part do
    redis.call('HDEL', key, unpack(fields, i, math.min(i + part - 1, #fields)))
  end
end

-- A batch's candidate states are one byte per seq in a string, read and written
-- with GETRANGE/SETRANGE over runs of nearby seqs (a gap of more than 64 starts a
-- new run): one command per run, a chunk's seqs being one run. Each run has its
-- seqs as numbers (ns) and their positions in seqs (ks). tonumber (strtod) is
-- dear in Redis's Lua: each seq is converted once, and seqs already in order (a
-- chunk's are) are not sorted.
local function runs(seqs)
  local nums, idx, sorted = {}, {}, true
  for k = 1, #seqs do
    nums[k] = tonumber(seqs[k]); idx[k] = k
    if k > 1 and nums[k] < nums[k - 1] then sorted = false end
  end
  if not sorted then table.sort(idx, function(a, b) return nums[a] < nums[b] end) end
  local out, cur = {}, nil
  for _, k in ipairs(idx) do
    local n = nums[k]
    if cur and n - cur.hi <= 64 then
      cur.hi = n; cur.ks[#cur.ks + 1] = k; cur.ns[#cur.ns + 1] = n
    else
      cur = {lo = n, hi = n, ks = {k}, ns = {n}}; out[#out + 1] = cur
    end
  end
  return out
end

-- states reads the states of seqs.
local function states(key, seqs)
  local out = {}
  for _, r in ipairs(runs(seqs)) do
    local b = redis.call('GETRANGE', key, r.lo, r.hi)
    for j, k in ipairs(r.ks) do
      out[k] = string.byte(b, r.ns[j] - r.lo + 1) or 0
    end
  end
  return out
end

-- setStates writes a flat list seq, state, seq, state...
local function setStates(key, pairs)
  if #pairs == 0 then return end
  local seqs, codes = {}, {}
  for i = 1, #pairs, 2 do seqs[#seqs + 1] = pairs[i]; codes[#codes + 1] = pairs[i + 1] end
  for _, r in ipairs(runs(seqs)) do
    local b = redis.call('GETRANGE', key, r.lo, r.hi)
    local bytes = {}
    for i = 1, r.hi - r.lo + 1 do bytes[i] = string.byte(b, i) or 0 end
    for j, k in ipairs(r.ks) do bytes[r.ns[j] - r.lo + 1] = codes[k] end
    local chars = {}
    for i = 1, #bytes, part do
      chars[#chars + 1] = string.char(unpack(bytes, i, math.min(i + part - 1, #bytes)))
    end
    redis.call('SETRANGE', key, r.lo, table.concat(chars))
  end
end

-- alive tells whether KEYS[1], a batch's record, is there: a hash without an id
-- is no record (the leftover of a write that came after it expired).
local function alive()
  return redis.call('HEXISTS', KEYS[1], 'id') == 1
end

-- refresh gives the keys KEYS[first..last] of a batch not sealed yet another ttl
-- ms to live: its import or its workers are at work. A record without an
-- expiry (a replay batch's) keeps none.
local function refresh(ttl, first, last)
  if redis.call('HGET', KEYS[1], 'sealed') == '1' or redis.call('PTTL', KEYS[1]) < 0 then return end
  for k = first, last do redis.call('PEXPIRE', KEYS[k], ttl) end
end

-- follow gives key the expiry of the batch's record KEYS[1], if it has one.
local function follow(key)
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

-- finish sets finished_at once the sealed batch has no pending candidate, and then
-- gives the batch's keys (KEYS[first..last]) their retention.
local function finish(now, retention, first, last)
  local v = redis.call('HMGET', KEYS[1], 'sealed', 'accepted', 'invited', 'cv_queued', 'dead_lettered', 'skipped_duplicate')
  if v[1] ~= '1' then return end
  local pending = (tonumber(v[2]) or 0) - (tonumber(v[3]) or 0) - (tonumber(v[4]) or 0) - (tonumber(v[5]) or 0) - (tonumber(v[6]) or 0)
  if pending > 0 or redis.call('HSETNX', KEYS[1], 'finished_at', now) == 0 then return end
  for k = first, last do redis.call('PEXPIRE', KEYS[k], retention) end
end
`

// createScript writes a batch record unless one exists, in one step, so that a
// crash cannot leave a record without its job. An id that was used before and
// whose record is gone (expired) is refused: the batches index knows it (the
// caller looked), or its dead letters are still there. A hash without an id
// field is no record (a write that came after the record expired): it is
// replaced. A new record expires unsealed_ttl later unless its import goes on
// (see refresh).
// KEYS: batch, dl. ARGV: id, now_ms, job, segment_size, source, replay_of,
// callback_url, known ("1" when the batches index holds the id), unsealed_ttl
// ms (0: none), callback_key (with a callback_url: the name of the key that
// signs it, "" for the global secret), owner ("" for none). Returns createdNew
// (1) when it created the record, createdBefore (0) when the record exists,
// createRefused (-1) when the id is refused.
var createScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'id') == 1 then return ` + strconv.Itoa(createdBefore) + ` end
if ARGV[8] == '1' or redis.call('EXISTS', KEYS[2]) == 1 then return ` + strconv.Itoa(createRefused) + ` end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'created_at', ARGV[2], 'job', ARGV[3], 'segment_size', ARGV[4],
  'source', ARGV[5], 'replay_of', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'callback_url', ARGV[7], 'callback_key', ARGV[10]) end
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'owner', ARGV[11]) end
if tonumber(ARGV[9]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[9]) end
return ` + strconv.Itoa(createdNew) + `
`)

// admitScript admits one segment of a batch: it counts the segment's candidates as
// accepted once (a re-run of the same segment adds nothing), and marks a candidate
// whose email, ATS id or CV link was taken by an earlier candidate of the batch as
// skipped_duplicate. The first candidate to use a key owns it, so a re-run in the
// same order gives the same answer.
//
// A segment is recorded in segs as "count" or, with the digest of the input up
// to its end, "count:digest"; a re-run whose segment has another digest than
// the one recorded is refused with otherInputReply, admitting nothing.
//
// KEYS: batch, segs, seen, st, then the batch's keys that live while it is not
// sealed (see liveKeys). ARGV: unsealed_ttl ms, segment, count, digest ("" for
// none), then per candidate seq, number of keys, the keys' fingerprints. Returns
// the seqs that are duplicates; an error holding goneReply when the record is
// gone.
var admitScript = redis.NewScript(luaLib + `
if not alive() then return redis.error_reply('` + goneReply + `') end
local rec = ARGV[3]
if ARGV[4] ~= '' then rec = rec .. ':' .. ARGV[4] end
if redis.call('HSETNX', KEYS[2], ARGV[2], rec) == 1 then
  redis.call('HINCRBY', KEYS[1], 'accepted', tonumber(ARGV[3]))
else
  local was = redis.call('HGET', KEYS[2], ARGV[2])
  if ARGV[4] ~= '' and string.find(was, ':', 1, true) and was ~= rec then
    return redis.error_reply('` + otherInputReply + `')
  end
end
local fps = {}
local i = 5
while i <= #ARGV do
  local nk = tonumber(ARGV[i + 1])
  for j = 1, nk do fps[#fps + 1] = ARGV[i + 1 + j] end
  i = i + 2 + nk
end
local firsts = hmget(KEYS[3], fps)
local owner = {}
for k, fp in ipairs(fps) do if firsts[k] then owner[fp] = firsts[k] end end
local dups, news = {}, {}
i = 5
while i <= #ARGV do
  local seq, nk = ARGV[i], tonumber(ARGV[i + 1])
  local dup = false
  for j = 1, nk do
    local o = owner[ARGV[i + 1 + j]]
    if o and o ~= seq then dup = true end
  end
  if dup then
    dups[#dups + 1] = seq
  else
    for j = 1, nk do
      local fp = ARGV[i + 1 + j]
      if not owner[fp] then owner[fp] = seq; news[#news + 1] = fp; news[#news + 1] = seq end
    end
  end
  i = i + 2 + nk
end
hset(KEYS[3], news)
if #dups > 0 then
  local cur = states(KEYS[4], dups)
  local set, n = {}, 0
  for k, seq in ipairs(dups) do
    if cur[k] < 2 then set[#set + 1] = seq; set[#set + 1] = 5; n = n + 1 end
  end
  setStates(KEYS[4], set)
  if n > 0 then redis.call('HINCRBY', KEYS[1], 'skipped_duplicate', n) end
end
refresh(ARGV[1], 5, #KEYS)
return dups
`)

// rejectScript records rejected source rows once each.
// KEYS: batch, rej, then the batch's keys that live while it is not sealed (see
// liveKeys). ARGV: unsealed_ttl ms, then pairs of row, reason. Returns how many
// were new; an error holding goneReply when the record is gone.
var rejectScript = redis.NewScript(luaLib + `
if not alive() then return redis.error_reply('` + goneReply + `') end
local n = 0
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i+1]) == 1 then n = n + 1 end
end
if n > 0 then redis.call('HINCRBY', KEYS[1], 'rejected', n) end
refresh(ARGV[1], 3, #KEYS)
return n
`)

// sealScript marks a batch as fully enqueued and drops its de-duplication data,
// needed only while candidates are admitted. The batch's keys stop expiring
// (they lived UnsealedTTL from the import's last step) until it is done. The
// digest of the whole input is recorded with it; a seal with another digest
// than one recorded before is refused with otherInputReply.
// KEYS: batch, seen, then the keys that expire when the batch is done (batch
// first again is fine: see retainedKeys). ARGV: now_ms, segments, retention ms,
// digest ("" for none). Returns 1; an error holding goneReply when the record is
// gone.
var sealScript = redis.NewScript(luaLib + `
if not alive() then return redis.error_reply('` + goneReply + `') end
if ARGV[4] ~= '' then
  local d = redis.call('HGET', KEYS[1], 'digest')
  if d and d ~= ARGV[4] then return redis.error_reply('` + otherInputReply + `') end
  redis.call('HSET', KEYS[1], 'digest', ARGV[4])
end
local was = redis.call('HGET', KEYS[1], 'sealed')
redis.call('HSET', KEYS[1], 'sealed', '1', 'segments', ARGV[2])
redis.call('DEL', KEYS[2])
if was ~= '1' then
  for k = 3, #KEYS do redis.call('PERSIST', KEYS[k]) end
end
finish(ARGV[1], ARGV[3], 3, #KEYS)
return 1
`)

// firstFailureScript records when a chunk task first failed, unless it did
// before, and returns that time. KEYS: batch, ff. ARGV: task id, now_ms. A
// batch whose record is gone gets no key back: now is returned.
var firstFailureScript = redis.NewScript(luaLib + `
if not alive() then return ARGV[2] end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then follow(KEYS[2]) end
return redis.call('HGET', KEYS[2], ARGV[1])
`)

// spendSplitsScript adds to the requests spent splitting a chunk and returns
// the total. KEYS: batch, split. ARGV: chunk task id, n. A batch whose record
// is gone gets no key back: n is returned.
var spendSplitsScript = redis.NewScript(luaLib + `
if not alive() then return tonumber(ARGV[2]) end
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
follow(KEYS[2])
return n
`)

// callbackScript counts an attempt to deliver a batch's callback and what came
// of it. KEYS: batch. ARGV: HTTP status, state, error, settled at (ms, "" while
// pending). Returns 0, writing nothing, when the record is gone.
var callbackScript = redis.NewScript(luaLib + `
if not alive() then return 0 end
redis.call('HINCRBY', KEYS[1], 'cb_attempts', 1)
redis.call('HSET', KEYS[1], 'cb_status', ARGV[1], 'cb_state', ARGV[2], 'cb_error', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'cb_at', ARGV[4]) end
return 1
`)

// forgetScript tells whether nothing is left of a batch whose record is gone:
// no dead letter, none moving, nothing staged for it as a replay. Then it
// deletes what writes that came late may have left (orphans without a record)
// and answers 1: its id may leave the batches index.
// KEYS: batch, dl, dlmv, replay staging, then the keys to delete with it.
var forgetScript = redis.NewScript(luaLib + `
if alive() then return 0 end
for k = 2, 4 do
  if redis.call('EXISTS', KEYS[k]) == 1 then return 0 end
end
redis.call('DEL', KEYS[1], unpack(KEYS, 5))
return 1
`)

// shiftScript moves candidates from one state to another, leaving those in any
// other state as they are: taking sent marks back (1 -> 0). KEYS: st. ARGV: from, to, then seqs. Returns how many moved.
var shiftScript = redis.NewScript(luaLib + `
local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
local seqs = {}
for i = 3, #ARGV do seqs[#seqs + 1] = ARGV[i] end
local cur = states(KEYS[1], seqs)
local set = {}
for k, seq in ipairs(seqs) do
  if cur[k] == from then set[#set + 1] = seq; set[#set + 1] = to end
end
setStates(KEYS[1], set)
return #set / 2
`)

// markScript marks candidates as sent just before their request goes: each
// candidate expected open (0) or already marked by an earlier attempt whose
// outcome is unknown (1, sent again at least once) is marked (1), and is this
// run's to send only if it was in the state expected; another run marked or
// decided the others. A batch whose record is gone (expired) marks nothing: its
// states are gone with it, so every candidate would read as open.
// KEYS: batch, st. ARGV: pairs of seq and expected state. Returns the seqs
// marked; an error holding goneReply when the record is gone.
var markScript = redis.NewScript(luaLib + `
if not alive() then return redis.error_reply('` + goneReply + `') end
local st = KEYS[2]
local seqs, want = {}, {}
for i = 1, #ARGV, 2 do seqs[#seqs + 1] = ARGV[i]; want[#want + 1] = tonumber(ARGV[i + 1]) end
local cur = states(st, seqs)
local set, out = {}, {}
for k, seq in ipairs(seqs) do
  if cur[k] == want[k] then
    out[#out + 1] = tonumber(seq)
    if cur[k] ~= 1 then set[#set + 1] = seq; set[#set + 1] = 1 end
  end
end
setStates(st, set)
return out
`)

// recordScript records final outcomes, each candidate at most once: its state, its
// counter and its dead letter, in one atomic step. An outcome already recorded is
// left as it is, and so is a dead letter already stored under the seq (HSETNX):
// a dead letter is never overwritten. A batch whose record is gone (expired)
// gets nothing written: no outcome is new.
//
// KEYS: batch, dl, dl errors, then the batch's keys that live while it is not
// sealed (see liveKeys; they start with those that expire when it is done, see
// retainedKeys, the candidate states first). ARGV: now_ms, retention ms,
// unsealed_ttl ms, then per candidate: seq, state (2..5), dead letter ("" for
// none), reference of its errors stored apart ("" for none), those errors (given
// once per reference per call, else "").
// Returns the positions (1-based, in ARGV's order) of the records whose outcomes
// were new.
var recordScript = redis.NewScript(luaLib + `
if not alive() then return {} end
local counters = {[2] = 'invited', [3] = 'cv_queued', [4] = 'dead_lettered', [5] = 'skipped_duplicate'}
local seqs, codes, errs = {}, {}, {}
for i = 4, #ARGV, 5 do
  seqs[#seqs + 1] = ARGV[i]; codes[#codes + 1] = tonumber(ARGV[i + 1])
  if ARGV[i + 4] ~= '' then errs[ARGV[i + 3]] = ARGV[i + 4] end
end
local cur = states(KEYS[4], seqs)
local set, counts, seen, new = {}, {}, {}, {}
for k, seq in ipairs(seqs) do
  if cur[k] < 2 and not seen[seq] then
    seen[seq] = true
    local c = codes[k]
    set[#set + 1] = seq; set[#set + 1] = c
    counts[c] = (counts[c] or 0) + 1
    new[#new + 1] = k
    local i = 4 + (k - 1) * 5
    if ARGV[i + 2] ~= '' then
      redis.call('HSETNX', KEYS[2], seq, ARGV[i + 2])
      local ref = ARGV[i + 3]
      if ref ~= '' and errs[ref] then redis.call('HSETNX', KEYS[3], ref, errs[ref]) end
    end
  end
end
setStates(KEYS[4], set)
for c, name in pairs(counters) do
  if counts[c] then redis.call('HINCRBY', KEYS[1], name, counts[c]) end
end
if #new > 0 then redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1]) end
refresh(ARGV[3], 4, #KEYS)
finish(ARGV[1], ARGV[2], 4, #KEYS)
return new
`)

// claimLib reads and writes claims (see claim.go for their layout) by Redis's
// clock, for the scripts that take, renew and release them.
const claimLib = `
-- nowMS is Redis's clock in unix ms.
local function nowMS()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- claimOf splits a claim into its owner, its expiry (a number) and its run ('' for
-- an older version's claim); nil for a value it cannot read.
local function claimOf(c)
  local untilMS, run = string.match(string.sub(c, 9), '^(%d+)%.?(%d*)$')
  if not untilMS then return nil end
  return string.sub(c, 1, 8), tonumber(untilMS), run
end

-- claimValue is owner's claim for run until untilMS.
local function claimValue(owner, untilMS, run)
  return owner .. string.format('%d', untilMS) .. '.' .. run
end

-- holds reports whether claim c is run's.
local function holds(c, run)
  if not c then return false end
  local _, _, r = claimOf(c)
  return r ~= nil and r ~= '' and r == run
end

-- putClaims writes the claims put (pairs of fingerprint and claim), if any, and
-- keeps the claims hash at least ttl ms.
local function putClaims(key, put, ttl)
  if #put == 0 then return end
  hset(key, put)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`

// claimScript checks the ledger and claims the candidates about to be sent to a
// target for one run, so that no two runs (of different batches, or of the same
// chunk twice) send the same person at once. Per candidate it answers a Claim:
// 0 (claimed: send), 1 (the ledger holds another candidate's success for this
// person: skip), 2 (another run holds the claim: wait), 3 or 4 (the ledger holds
// this very candidate's success, invited or cv_queued: record it). A claim is
// taken when there is none, when it ran out by Redis's clock, when this run holds
// it already, or when an older version wrote it for this very candidate.
//
// KEYS: claims, then the target's live ledger weeks. ARGV: claim ttl ms, run,
// reinvite ("1": another candidate's success does not count), then per candidate
// its fingerprint and owner fingerprint.
var claimScript = redis.NewScript(luaLib + claimLib + `
local claims = KEYS[1]
local ttl, run, reinvite = tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1'
local now = nowMS()
local fps, owners = {}, {}
for i = 4, #ARGV, 2 do fps[#fps + 1] = ARGV[i]; owners[#owners + 1] = ARGV[i + 1] end
local led = {}
for k = 2, #KEYS do
  for i, v in ipairs(hmget(KEYS[k], fps)) do
    if v and (not led[i] or string.sub(v, 2, 9) == owners[i]) then led[i] = v end
  end
end
local held = hmget(claims, fps)
local out, put = {}, {}
for i, fp in ipairs(fps) do
  local owner, l, c = owners[i], led[i], held[i]
  local free = not c
  if c then
    local o, untilMS, r = claimOf(c)
    free = (not o) or untilMS < now or (r ~= '' and r == run) or (r == '' and o == owner)
  end
  if l and string.sub(l, 2, 9) == owner then
    out[i] = (string.sub(l, 1, 1) == 'c') and 4 or 3
  elseif l and not reinvite then
    out[i] = 1
  elseif free then
    put[#put + 1] = fp; put[#put + 1] = claimValue(owner, now + ttl, run)
    out[i] = 0
  else
    out[i] = 2
  end
end
putClaims(claims, put, ttl)
return out
`)

// renewClaimsScript extends a run's claims. A claim that still names the run is
// the run's even if it ran out meanwhile: nobody took it.
// KEYS: claims. ARGV: ttl ms, run, then fingerprints. Returns 1 (held) or 0 per
// fingerprint.
var renewClaimsScript = redis.NewScript(luaLib + claimLib + `
local claims = KEYS[1]
local ttl, run = tonumber(ARGV[1]), ARGV[2]
local now = nowMS()
local fps = {}
for i = 3, #ARGV do fps[#fps + 1] = ARGV[i] end
local held = hmget(claims, fps)
local out, put = {}, {}
for i, fp in ipairs(fps) do
  out[i] = 0
  if holds(held[i], run) then
    out[i] = 1
    put[#put + 1] = fp; put[#put + 1] = claimValue(string.sub(held[i], 1, 8), now + ttl, run)
  end
end
putClaims(claims, put, ttl)
return out
`)

// releaseClaimsScript deletes a run's claims, leaving those of other runs.
// KEYS: claims. ARGV: run, then fingerprints. Returns how many it deleted.
var releaseClaimsScript = redis.NewScript(luaLib + claimLib + `
local claims, run = KEYS[1], ARGV[1]
local fps = {}
for i = 2, #ARGV do fps[#fps + 1] = ARGV[i] end
local held = hmget(claims, fps)
local gone = {}
for i, fp in ipairs(fps) do
  if holds(held[i], run) then gone[#gone + 1] = fp end
end
hdel(claims, gone)
return #gone
`)

// ledgerScript writes the successes of a chunk into the target's ledger week and
// releases the chunk's run's claims on the candidates recorded. An entry this
// owner already wrote is kept as it is.
//
// KEYS: ledger week, ledger weeks index, claims. ARGV: week id, week's expiry
// (unix ms), run (empty: release no claim), then per candidate: fingerprint, kind
// ('i', 'c', or '-' for a claim to release without a success), owner fingerprint.
var ledgerScript = redis.NewScript(luaLib + claimLib + `
local week, weeks, claims = KEYS[1], KEYS[2], KEYS[3]
local stamp = string.format('%d', nowMS())
local run = ARGV[3]
local fps, kinds, owners = {}, {}, {}
for i = 4, #ARGV, 3 do
  fps[#fps + 1] = ARGV[i]; kinds[#kinds + 1] = ARGV[i + 1]; owners[#owners + 1] = ARGV[i + 2]
end
local cur = hmget(week, fps)
local held = hmget(claims, fps)
local put, release = {}, {}
for i, fp in ipairs(fps) do
  if kinds[i] ~= '-' and not (cur[i] and string.sub(cur[i], 2, 9) == owners[i]) then
    put[#put + 1] = fp; put[#put + 1] = kinds[i] .. owners[i] .. stamp
  end
  if holds(held[i], run) then release[#release + 1] = fp end
end
if #put > 0 then
  hset(week, put)
  local expiry = tonumber(ARGV[2])
  if redis.call('PEXPIRETIME', week) < expiry then redis.call('PEXPIREAT', week, expiry) end
  redis.call('ZADD', weeks, 'GT', expiry, ARGV[1])
  if redis.call('PEXPIRETIME', weeks) < expiry then redis.call('PEXPIREAT', weeks, expiry) end
end
hdel(claims, release)
return #put / 2
`)

// markMoveScript marks a source batch's dead letters as moving to a replay batch
// and returns them: {seq, entry, seq, entry, ...}. An entry already moving to
// another replay is left alone; one already moving to this one is returned again.
// KEYS: dl, dlmv. ARGV: replay batch id, then seqs.
var markMoveScript = redis.NewScript(luaLib + `
local seqs = {}
for i = 2, #ARGV do seqs[#seqs + 1] = ARGV[i] end
local entries = hmget(KEYS[1], seqs)
local moving = hmget(KEYS[2], seqs)
local out, marks = {}, {}
for i, seq in ipairs(seqs) do
  if entries[i] and (not moving[i] or moving[i] == ARGV[1]) then
    if not moving[i] then marks[#marks + 1] = seq; marks[#marks + 1] = ARGV[1] end
    out[#out + 1] = seq; out[#out + 1] = entries[i]
  end
end
hset(KEYS[2], marks)
return out
`)

// stageScript copies dead letters into a replay batch's staging hash, and their
// places into its order (a sorted set read by lexical range, see stageOrder),
// only while the caller holds the replay batch's lease.
// KEYS: staging, lease, order. ARGV: owner, then triples of dead-letter id,
// entry and place. Returns how many, or -1 when the lease is not the caller's.
var stageScript = redis.NewScript(luaLib + `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local pairs, places = {}, {}
for i = 2, #ARGV, 3 do
  pairs[#pairs + 1] = ARGV[i]; pairs[#pairs + 1] = ARGV[i + 1]
  places[#places + 1] = 0; places[#places + 1] = ARGV[i + 2]
end
hset(KEYS[1], pairs)
for i = 1, #places, 2 * part do
  redis.call('ZADD', KEYS[3], unpack(places, i, math.min(i + 2 * part - 1, #places)))
end
return #pairs / 2
`)

// purgeScript deletes a batch's dead letters, but not those moving to a replay.
// KEYS: dl, dlmv. ARGV: seqs. Returns how many were deleted.
var purgeScript = redis.NewScript(luaLib + `
local moving = hmget(KEYS[2], ARGV)
local gone = {}
for i, seq in ipairs(ARGV) do
  if not moving[i] then gone[#gone + 1] = seq end
end
local n = 0
for i = 1, #gone, part do
  n = n + redis.call('HDEL', KEYS[1], unpack(gone, i, math.min(i + part - 1, #gone)))
end
return n
`)

// drainedScript reports whether a batch will hold no more dead letters: it has
// none and is done (or expired), so that its entry in dlbatches can go; its shared
// dead-letter errors and moving marks go at once.
// KEYS: batch, dl, dl errors, dl moving marks.
var drainedScript = redis.NewScript(`
if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HEXISTS', KEYS[1], 'finished_at') == 0 then return 0 end
redis.call('DEL', KEYS[3], KEYS[4])
return 1
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

// closeReplayScript removes a replay batch's staging hash, its order and its
// lease, if the caller holds the lease. KEYS: staging, lease, order. ARGV: owner.
// Returns 1 when closed, 0 when the lease is not the caller's.
var closeReplayScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
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

// pausedForAuthScript records a queue as paused for a key's auth stop while that
// stop is set. Returns 1 when it is (and the queue is recorded), 0 when not.
var pausedForAuthScript = redis.NewScript(`
local stops, paused = KEYS[1], KEYS[2]
local keyID, queue = ARGV[1], ARGV[2]
if redis.call('HEXISTS', stops, keyID) == 0 then return 0 end
redis.call('SADD', paused, queue)
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
