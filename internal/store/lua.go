package store

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Each script names its KEYS and ARGV in locals at its top; a list that runs to
// the end of KEYS or ARGV is named by the index where it starts. Next to each
// script, a struct builds its KEYS and ARGV in that order (keys and argv), so
// that the order lives in one place. The codes the scripts answer or write
// (candidate states, claims, createScript's and stageScript's answers) come
// from the Go constants, written into the scripts' source; TestScriptCodes pins
// the two sides together.

// A done batch's state string and find index, when small, are fields of its
// record (see fold in luaLib): fieldFoldedStates holds the state bytes,
// fieldFoldedIndex followed by the index's field name (s0, i0) the index's.
// foldMax bounds a folded value: Redis keeps a hash whose values are at most
// hash-max-listpack-value (64 by default) bytes as one small listpack.
const (
	fieldFoldedStates = "st"
	fieldFoldedIndex  = "x"
	foldMax           = 64
)

// goneReply is in the error a script answers when the batch's record is gone
// (expired): see errGone.
const goneReply = "BATCHGONE"

// heldReply is in the error markScript answers for a batch on hold, followed by
// the hold: see errHeld.
const heldReply = "BATCHHELD"

// doneReply is in the error cancelScript answers for a batch that is done.
const doneReply = "BATCHDONE"

// otherInputReply is in the error a script answers when a re-run's input
// differs from what the batch admitted before: see errOtherInput.
const otherInputReply = "BATCHOTHERINPUT"

func itoa(n int) string { return strconv.Itoa(n) }

// luaLib is the first part of the scripts' library: newScript puts before a
// script the definitions it uses (see lib). Redis turns a nil reply into
// false in Lua, so lists with holes still iterate with ipairs. Long argument
// lists go to Redis in parts: unpack has a limit. The scripts use only what
// miniredis (the demo's in-process Redis) has too. It names the candidate state
// codes (see codeOpen).
var luaLib = `
local OPEN, SENDING, INVITED, CVQUEUED, DEADLETTERED, SKIPPED, CANCELLED = ` +
	itoa(codeOpen) + `, ` + itoa(codeSending) + `, ` + itoa(codeInvited) + `, ` +
	itoa(codeCVQueued) + `, ` + itoa(codeDeadLettered) + `, ` + itoa(codeSkipped) + `, ` + itoa(codeCancelled) + `
-- CODE is the state codes by their decimal strings, as ARGV carries them:
-- a lookup, where tonumber is dear.
local CODE = {` + func() string {
	var b strings.Builder
	for _, c := range []int{codeOpen, codeSending, codeInvited, codeCVQueued, codeDeadLettered, codeSkipped, codeCancelled} {
		fmt.Fprintf(&b, "['%d'] = %d, ", c, c)
	}
	return b.String()
}() + `}
local HOLD, PAUSED, CANCEL = '` + fieldHold + `', '` + string(HoldPaused) + `', '` + string(HoldCancelled) + `'
local part = 1000
local FOLDED_ST, FOLDED_FX, FOLD_MAX = '` + fieldFoldedStates + `', '` + fieldFoldedIndex + `', ` + itoa(foldMax) + `

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

` + packLib + `
-- A batch's candidate states are one byte per seq in a string, read and written
-- with GETRANGE/SETRANGE over runs of nearby seqs (a gap of more than 64 starts a
-- new run): one command per run, a chunk's seqs being one run. runs returns the
-- runs, each its lowest and highest seq (lo, hi) and its positions in seqs as
-- order[from..to]; then order (the positions by seq) and the seqs as numbers by
-- position. Converting a seq is dear in Redis's Lua: each is converted once,
-- by arithmetic (tonumber converts twice); seqs already in order (a chunk's
-- are) are not sorted.
local function runs(seqs)
  local nums, order, sorted = {}, {}, true
  for k = 1, #seqs do
    nums[k] = seqs[k] + 0; order[k] = k
    if k > 1 and nums[k] < nums[k - 1] then sorted = false end
  end
  if not sorted then table.sort(order, function(a, b) return nums[a] < nums[b] end) end
  local out, cur = {}, nil
  for j = 1, #order do
    local n = nums[order[j]]
    if cur and n - cur.hi <= 64 then
      cur.hi = n; cur.to = j
    else
      cur = {lo = n, hi = n, from = j, to = j}; out[#out + 1] = cur
    end
  end
  return out, order, nums
end

-- stateAt is where the state bytes of batch (its record) are: the record's
-- field FOLDED_ST once fold moved them there (packed or not), else the key st.
-- folded is that field as the caller read it (rget, false for none); nil: it
-- is read here.
local function stateAt(batch, st, folded)
  if folded == nil then folded = rget(batch, FOLDED_ST) end
  return {batch = batch, key = st, folded = folded}
end

-- getRange reads the state bytes of seqs lo to hi at place p (stateAt).
local function getRange(p, lo, hi)
  if not p.folded then return redis.call('GETRANGE', p.key, lo, hi) end
  return string.sub(p.folded, tonumber(lo) + 1, tonumber(hi) + 1)
end

-- setRange writes state bytes b from seq lo on at place p (stateAt).
local function setRange(p, lo, b)
  if not p.folded then redis.call('SETRANGE', p.key, lo, b); return end
  local f = p.folded
  if #f < lo then f = f .. string.rep(string.char(OPEN), lo - #f) end
  p.folded = string.sub(f, 1, lo) .. b .. string.sub(f, lo + #b + 1)
  redis.call('HSET', p.batch, FOLDED_ST, p.folded)
end

-- bytesOf is the bytes of string b as a list, read part bytes a call.
local function bytesOf(b)
  if #b <= part then return {string.byte(b, 1, #b)} end
  local out = {}
  for i = 1, #b, part do
    local got = {string.byte(b, i, math.min(i + part - 1, #b))}
    for j = 1, #got do out[i + j - 1] = got[j] end
  end
  return out
end

-- readStates reads the states of seqs at place p (stateAt), one read a run.
-- It returns their codes by position in seqs (OPEN where there is no byte);
-- what writeStates takes to write some of them back: the runs (runs), each
-- with the bytes read (bytes, from its lo on); and the seqs as numbers by
-- position.
local function readStates(p, seqs)
  local rs, order, nums = runs(seqs)
  local out = {}
  for _, r in ipairs(rs) do
    local bytes, base = bytesOf(getRange(p, r.lo, r.hi)), r.lo - 1
    r.bytes, r.order, r.nums = bytes, order, nums
    for j = r.from, r.to do
      local k = order[j]
      out[k] = bytes[nums[k] - base] or OPEN
    end
  end
  return out, rs, nums
end

-- writeStates writes at place p (stateAt) the states to (codes by position in
-- the seqs readStates read into rs; nil: unchanged) in the same script: per run,
-- the bytes from its first change to its last, one write.
local function writeStates(p, rs, to)
  for _, r in ipairs(rs) do
    local bytes, order, nums, first, last = r.bytes, r.order, r.nums, nil, nil
    for j = r.from, r.to do
      local k = order[j]
      if to[k] then
        local i = nums[k] - r.lo + 1
        bytes[i] = to[k]
        if not first or i < first then first = i end
        if not last or i > last then last = i end
      end
    end
    if first then
      local chars = {}
      for i = first, last do bytes[i] = bytes[i] or OPEN end
      for i = first, last, part do
        chars[#chars + 1] = string.char(unpack(bytes, i, math.min(i + part - 1, last)))
      end
      setRange(p, r.lo + first - 1, table.concat(chars))
    end
  end
end

-- undecided tells whether a candidate from seq lo to hi has no outcome yet (a
-- state byte OPEN or SENDING, or none) at place p (stateAt).
local function undecided(p, lo, hi)
  local b = getRange(p, lo, hi)
  return #b < tonumber(hi) - tonumber(lo) + 1 or string.find(b, '[%z\1]') ~= nil
end

-- fxGet reads field f of a batch's find index: from the key fx, else from the
-- record (batch), where fold may have moved it (as FOLDED_FX .. f).
local function fxGet(batch, fx, f)
  return redis.call('HGET', fx, f) or rget(batch, FOLDED_FX .. f)
end

-- fold moves a done batch's small state string (st) and find index (fx) into
-- its record, each when it is at most FOLD_MAX bytes a value (so that the
-- record stays a small listpack hash): a key costs far more than its bytes.
-- Only the index of a batch of one segment folds: s0, and i0 for its ids.
-- The sizes are asked first, so that a large batch's state string and index
-- (megabytes) are never read whole.
local function fold(batch, st, fx)
  local n = redis.call('STRLEN', st)
  if n > 0 and n <= FOLD_MAX then
    redis.call('HSET', batch, FOLDED_ST, redis.call('GET', st))
    redis.call('DEL', st)
  end
  local nf = redis.call('HLEN', fx)
  if nf == 0 or nf > 2 then return end
  for _, f in ipairs({'s0', 'i0'}) do
    if redis.call('HSTRLEN', fx, f) > FOLD_MAX then return end
  end
  local x = redis.call('HGETALL', fx)
  for i = 1, #x, 2 do
    if x[i] ~= 's0' and x[i] ~= 'i0' then return end
  end
  for i = 1, #x, 2 do redis.call('HSET', batch, FOLDED_FX .. x[i], x[i + 1]) end
  redis.call('DEL', fx)
end

-- alive tells whether batch, a batch's record, is there: a hash without an id
-- (packed or not) is no record (the leftover of a write that came after it
-- expired).
local function alive(batch)
  return rget(batch, 'id') ~= false
end

-- refresh gives the keys KEYS[first..last] of a batch not sealed yet another ttl
-- ms to live: its import or its workers are at work. A record (batch) without
-- an expiry (a replay batch's) keeps none. sealed is the record's field sealed
-- as the caller read it (rget); nil: it is read here.
local function refresh(batch, ttl, first, last, sealed)
  if sealed == nil then sealed = rget(batch, 'sealed') end
  if sealed == '1' or redis.call('PTTL', batch) < 0 then return end
  for k = first, last do redis.call('PEXPIRE', KEYS[k], ttl) end
end

-- follow gives key the expiry of the batch's record, if it has one.
local function follow(batch, key)
  local ttl = redis.call('PTTL', batch)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

-- createdEntry reports whether entry (encodeEvent) is a batch's created event.
local function createdEntry(entry)
  return entry and string.find(entry, '"w":"` + EventCreated + `"', 1, true) ~= nil
end

-- pushEvent appends entry (encodeEvent) to the batch's event log ev, keeping at
-- most max entries with the creation: past it, the oldest after the creation
-- goes. The creation is the log's first entry in a log written before it was
-- told from the record (Store.Events), else not stored: then the log keeps
-- max - 1. The log gets the record's expiry (follow).
local function pushEvent(batch, ev, entry, max)
  redis.call('RPUSH', ev, entry)
  local n, first = redis.call('LLEN', ev), redis.call('LINDEX', ev, 0)
  if createdEntry(first) then
    if n > tonumber(max) then
      redis.call('LPOP', ev, 2)
      redis.call('LPUSH', ev, first)
    end
  elseif n > tonumber(max) - 1 then
    redis.call('LPOP', ev)
  end
  follow(batch, ev)
end

-- withNote adds note to the end of an event entry's detail: encodeEvent writes
-- the detail last, so the entry ends with its closing '"}'. note must need no
-- JSON escape (digits, letters, spaces, ';', ',', '(', ')').
local function withNote(entry, note)
  return string.sub(entry, 1, -3) .. note .. '"}'
end

-- finish sets finished_at once the sealed batch has no pending candidate, and then
-- gives the batch's keys (KEYS[first..last], retainedKeys: the candidate states
-- first, the find index second) their retention, folds what is small into
-- the record (fold) and packs the record (pack). It returns the ref of the
-- batch's shared job when it finished the batch (the caller keeps the job as
-- long), else ''.
local function finish(batch, now, retention, first, last)
  local v = rmget(batch, {'sealed', 'accepted', 'invited', 'cv_queued', 'dead_lettered', 'skipped_duplicate', 'cancelled', 'finished_at', 'jobref'})
  if v[1] ~= '1' or v[8] then return '' end
  local pending = tonumber(v[2]) or 0
  for i = 3, 7 do pending = pending - (tonumber(v[i]) or 0) end
  if pending > 0 or redis.call('HSETNX', batch, 'finished_at', now) == 0 then return '' end
  for k = first, last do redis.call('PEXPIRE', KEYS[k], retention) end
  fold(batch, KEYS[first], KEYS[first + 1])
  pack(batch)
  return v[9] or ''
end
`

// createScript writes a batch record unless one exists, in one step, so that a
// crash cannot leave a record without its job. An id that was used before and
// whose record is gone (expired) is refused: the batches index knows it (the
// caller looked), or its dead letters are still there. A hash without an id
// field is no record (a write that came after the record expired): it is
// replaced. A new record expires unsealed_ttl later unless its import goes on
// (see refresh). The record keeps who created it (by) and from where (from):
// its created event is told from the record (Store.Events), not stored.
// The record's id field marks it as one (see alive); the id is in its key's
// name, so the field holds '1' (a record written before holds the id).
// Returns {createdNew, the record's fields and values} when it created the
// record, {createdBefore, the same} when the record exists (the caller reads
// the record it goes on with in the same step), {createRefused} when the id
// is refused.
var createScript = newScript(`
local batch, dl, ev = KEYS[1], KEYS[2], KEYS[3]
local now, jobRef, segmentSize, source, replayOf = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local callbackURL, known, ttl, callbackKey, owner = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local by, from = ARGV[11], ARGV[12]
if alive(batch) then return {` + itoa(createdBefore) + `, redis.call('HGETALL', batch)} end
if known == '1' or redis.call('EXISTS', dl) == 1 then return {` + itoa(createRefused) + `} end
redis.call('DEL', batch, ev)
redis.call('HSET', batch, 'id', '1', 'created_at', now, 'jobref', jobRef, 'segment_size', segmentSize,
  'source', source)
if replayOf ~= '' then redis.call('HSET', batch, 'replay_of', replayOf) end
if callbackURL ~= '' then redis.call('HSET', batch, 'callback_url', callbackURL, 'callback_key', callbackKey) end
if owner ~= '' then redis.call('HSET', batch, 'owner', owner) end
redis.call('HSET', batch, 'by', by)
if from ~= '' then redis.call('HSET', batch, 'from', from) end
if tonumber(ttl) > 0 then redis.call('PEXPIRE', batch, ttl) end
return {` + itoa(createdNew) + `, redis.call('HGETALL', batch)}
`)

// createArgs are createScript's KEYS and ARGV.
type createArgs struct {
	batch, dl   string
	ev          string // the event log
	now         string // unix ms
	jobRef      string // the shared job's ref (jobRef)
	segmentSize int
	source      string
	replayOf    string // comma-separated
	callbackURL string
	known       bool  // the batches index holds the id
	ttlMS       int64 // unsealed ttl; 0: none
	callbackKey string
	owner       string // "" for none
	by          string // who creates it (Meta.By), for its created event; "": the owner
	from        string // Meta.From, for its created event
}

func (a createArgs) keys() []string { return []string{a.batch, a.dl, a.ev} }
func (a createArgs) argv() []any {
	return []any{a.now, a.jobRef, a.segmentSize, a.source, a.replayOf, a.callbackURL, flag(a.known), a.ttlMS, a.callbackKey, a.owner,
		a.by, a.from}
}

// admitScript admits one segment of a batch: it counts the segment's candidates as
// accepted once (a re-run of the same segment adds nothing), and marks the
// candidates the import found to repeat an earlier candidate of the batch
// (Dedup) as skipped_duplicate.
//
// A segment is recorded in segs (segment 0: in the record's field seg0) as
// "count" or, with the digest of the input up to its end, "count:digest"; a
// re-run whose segment has another digest than the one recorded is refused
// with otherInputReply, admitting nothing.
//
// The segment's entries of the find index (segmentIndex) are written with it,
// once.
//
// In a cancelled batch, every candidate that is not a duplicate is cancelled
// (the cancel found no state byte for it to turn: it was not admitted yet).
//
// Returns {the seqs that are duplicates, the seqs cancelled}; an error holding
// goneReply when the record is gone.
var admitScript = newScript(`
local batch, segs, st, fx, blobs = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local liveFrom = 6 -- KEYS[6..]: the batch's keys that live while it is not sealed
local ttl, segment, count, digest, index = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local nblobs, ndups = tonumber(ARGV[6]), tonumber(ARGV[7])
local blobsFrom = 8 -- ARGV[8..]: per chunk blob its field, lowest and highest seq, the blob
local dupsFrom = blobsFrom + 4 * nblobs -- then the seqs of the duplicates
local restFrom = dupsFrom + ndups -- then the seqs of the other candidates
-- One read of the record for what this step does not change: id (alive), the
-- folded states (stateAt), the hold and sealed (refresh).
local r = rmget(batch, {'id', FOLDED_ST, HOLD, 'sealed'})
if not r[1] then return redis.error_reply('` + goneReply + `') end
local rec = count
if digest ~= '' then rec = rec .. ':' .. digest end
-- Segment 0's entry is the record's field seg0, so that a batch of one
-- segment keeps no segs key; a batch admitted before keeps it in segs.
local was
if segment == '0' and redis.call('HEXISTS', segs, '0') == 0 then
  was = rget(batch, 'seg0')
  if not was then redis.call('HSET', batch, 'seg0', rec) end
elseif redis.call('HSETNX', segs, segment, rec) == 0 then
  was = redis.call('HGET', segs, segment)
end
if not was then
  rincr(batch, 'accepted', tonumber(count))
else
  if digest ~= '' and string.find(was, ':', 1, true) and was ~= rec then
    return redis.error_reply('` + otherInputReply + `')
  end
end
if index ~= '' and not fxGet(batch, fx, 's' .. segment) then redis.call('HSET', fx, 's' .. segment, index) end
local stp = stateAt(batch, st, r[2])
local dups = {}
for i = dupsFrom, restFrom - 1 do dups[#dups + 1] = ARGV[i] end
if #dups > 0 then
  local cur, rs = readStates(stp, dups)
  local to, n = {}, 0
  for k = 1, #dups do
    if cur[k] < INVITED then to[k] = SKIPPED; n = n + 1 end
  end
  writeStates(stp, rs, to)
  if n > 0 then rincr(batch, 'skipped_duplicate', n) end
end
local cancelled = {}
if r[3] == CANCEL then
  local rest = {}
  for i = restFrom, #ARGV do rest[#rest + 1] = ARGV[i] end
  local cur, rs = readStates(stp, rest)
  local to, n = {}, 0
  for k, seq in ipairs(rest) do
    if cur[k] == OPEN then to[k] = CANCELLED; n = n + 1 end
    cancelled[#cancelled + 1] = seq
  end
  writeStates(stp, rs, to)
  if n > 0 then rincr(batch, 'cancelled', n) end
end
for i = blobsFrom, dupsFrom - 1, 4 do
  if undecided(stp, ARGV[i + 1], ARGV[i + 2]) then redis.call('HSETNX', blobs, ARGV[i], ARGV[i + 3]) end
end
refresh(batch, ttl, liveFrom, #KEYS, r[4])
return {dups, cancelled}
`)

// admitArgs are admitScript's KEYS and ARGV.
type admitArgs struct {
	batch, segs, st, fx, blobs string
	live                       []string // retainedKeys
	ttlMS                      int64    // unsealed ttl
	segment                    int
	digest                     string // "" for none
	chunks                     []ChunkBlob
	cands                      []task.Candidate
	fps                        segmentKeys // cands' de-duplication keys
	dups                       []int64     // the seqs of cands that are duplicates (Dedup)
}

func (a admitArgs) keys() []string {
	return append([]string{a.batch, a.segs, a.st, a.fx, a.blobs}, a.live...)
}

func (a admitArgs) argv() []any {
	args := make([]any, 0, 7+len(a.chunks)*4+len(a.cands))
	args = append(args, a.ttlMS, a.segment, len(a.cands), a.digest, segmentIndex(a.cands, a.fps), len(a.chunks), len(a.dups))
	for _, c := range a.chunks {
		args = append(args, c.field(), c.Lo, c.Hi, c.Blob)
	}
	dup := make(map[int64]bool, len(a.dups))
	for _, seq := range a.dups {
		args = append(args, seq)
		dup[seq] = true
	}
	for _, c := range a.cands {
		if !dup[c.Seq] {
			args = append(args, c.Seq)
		}
	}
	return args
}

// rejectScript records rejected source rows once each, and their rows in the
// sorted set that orders them. Returns how many were new; an error holding
// goneReply when the record is gone.
var rejectScript = newScript(`
local batch, rej, ord = KEYS[1], KEYS[2], KEYS[3]
local liveFrom = 4 -- KEYS[4..]: the batch's keys that live while it is not sealed
local ttl = ARGV[1]
local rowsFrom = 2 -- ARGV[2..]: pairs of row, reject (encodeReject)
if not alive(batch) then return redis.error_reply('` + goneReply + `') end
local n = 0
for i = rowsFrom, #ARGV, 2 do
  if redis.call('HSETNX', rej, ARGV[i], ARGV[i+1]) == 1 then
    redis.call('ZADD', ord, ARGV[i], ARGV[i])
    n = n + 1
  end
end
if n > 0 then rincr(batch, 'rejected', n) end
refresh(batch, ttl, liveFrom, #KEYS)
return n
`)

// rejectArgs are rejectScript's KEYS and ARGV.
type rejectArgs struct {
	batch, rej, ord string
	live            []string // retainedKeys
	ttlMS           int64    // unsealed ttl
	rejects         []Reject
}

func (a rejectArgs) keys() []string { return append([]string{a.batch, a.rej, a.ord}, a.live...) }

func (a rejectArgs) argv() []any {
	args := make([]any, 0, 1+2*len(a.rejects))
	args = append(args, a.ttlMS)
	for _, r := range a.rejects {
		args = append(args, r.Row, encodeReject(r))
	}
	return args
}

// sealScript marks a batch as fully enqueued and drops the de-duplication data
// an earlier build's import kept (:seen), needed only while candidates are
// admitted. The batch's keys stop expiring
// (they lived UnsealedTTL from the import's last step) until it is done. The
// digest of the whole input is recorded with it; a seal with another digest
// than one recorded before is refused with otherInputReply. A batch of one
// segment whose segment 0 recorded the same digest (the record's seg0) keeps
// no field digest: it is told from seg0 (Batch.Digest). Returns the ref
// of the batch's shared job when the seal finished the batch, else the empty string; an error
// holding goneReply when the record is gone. The first seal adds the import's
// counts to the batch's created event.
var sealScript = newScript(`
local batch, seen, ev = KEYS[1], KEYS[2], KEYS[3]
local retainedFrom = 4 -- KEYS[4..]: the keys that expire when the batch is done (batch and ev again are fine)
local now, segments, retention, digest = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not alive(batch) then return redis.error_reply('` + goneReply + `') end
local r = rmget(batch, {'sealed', 'digest', 'seg0', 'segments'})
local was = r[1]
if digest ~= '' then
  local d = r[2]
  local s0 = string.match(r[3] or '', ':(.*)$')
  if not d and was == '1' and r[4] == '1' then d = s0 end
  if d and d ~= digest then return redis.error_reply('` + otherInputReply + `') end
  if not d and (segments ~= '1' or s0 ~= digest) then redis.call('HSET', batch, 'digest', digest) end
end
-- A seal again writes nothing new (a packed record keeps its hash small).
if was ~= '1' or r[4] ~= segments then redis.call('HSET', batch, 'sealed', '1', 'segments', segments) end
redis.call('DEL', seen)
if was ~= '1' then
  for k = retainedFrom, #KEYS do redis.call('PERSIST', KEYS[k]) end
  local first = redis.call('LINDEX', ev, 0)
  if createdEntry(first) then
    local n = rmget(batch, {'accepted', 'rejected'})
    local sep = '; '
    if string.sub(first, -7) == '"d":""}' then sep = '' end
    redis.call('LSET', ev, 0, withNote(first, sep .. (n[1] or '0') .. ' accepted, ' .. (n[2] or '0') .. ' rejected'))
  end
end
return finish(batch, now, retention, retainedFrom, #KEYS)
`)

// sealArgs are sealScript's KEYS and ARGV.
type sealArgs struct {
	batch, seen string
	ev          string   // the event log
	retained    []string // retainedKeys
	now         string   // unix ms
	segments    int
	retentionMS int64
	digest      string // "" for none
}

func (a sealArgs) keys() []string { return append([]string{a.batch, a.seen, a.ev}, a.retained...) }
func (a sealArgs) argv() []any    { return []any{a.now, a.segments, a.retentionMS, a.digest} }

// firstFailureScript records when a chunk task first failed, unless it did
// before, and returns that time. A batch whose record is gone gets no key back:
// now is returned.
var firstFailureScript = newScript(`
local batch, ff = KEYS[1], KEYS[2]
local taskID, now = ARGV[1], ARGV[2]
if not alive(batch) then return now end
if redis.call('HSETNX', ff, taskID, now) == 1 then follow(batch, ff) end
return redis.call('HGET', ff, taskID)
`)

// firstFailureArgs are firstFailureScript's KEYS and ARGV.
type firstFailureArgs struct {
	batch, ff string
	taskID    string
	nowMS     int64
}

func (a firstFailureArgs) keys() []string { return []string{a.batch, a.ff} }
func (a firstFailureArgs) argv() []any    { return []any{a.taskID, a.nowMS} }

// spendSplitsScript adds to the requests spent splitting a chunk and returns
// the total. A batch whose record is gone gets no key back: n is returned.
var spendSplitsScript = newScript(`
local batch, split = KEYS[1], KEYS[2]
local root, n = ARGV[1], ARGV[2]
if not alive(batch) then return tonumber(n) end
local total = redis.call('HINCRBY', split, root, n)
follow(batch, split)
return total
`)

// spendSplitsArgs are spendSplitsScript's KEYS and ARGV.
type spendSplitsArgs struct {
	batch, split string
	root         string // the chunk task id
	n            int
}

func (a spendSplitsArgs) keys() []string { return []string{a.batch, a.split} }
func (a spendSplitsArgs) argv() []any    { return []any{a.root, a.n} }

// callbackScript counts an attempt to deliver a batch's callback and what came
// of it. Returns 0, writing nothing, when the record is gone.
var callbackScript = newScript(`
local batch, ev = KEYS[1], KEYS[2]
local status, state, err, at, event, maxEvents = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not alive(batch) then return 0 end
local n = redis.call('HINCRBY', batch, 'cb_attempts', 1)
redis.call('HSET', batch, 'cb_status', status, 'cb_state', state, 'cb_error', err)
if at ~= '' then
  redis.call('HSET', batch, 'cb_at', at)
  pack(batch) -- finish left the record of a batch with a callback as it was
end
if event ~= '' then
  local s = ''
  if n > 1 then s = 's' end
  pushEvent(batch, ev, withNote(event, ' after ' .. n .. ' attempt' .. s), maxEvents)
end
return 1
`)

// callbackArgs are callbackScript's KEYS and ARGV.
type callbackArgs struct {
	batch, ev  string
	httpStatus int
	state      string
	err        string
	at         string // settled at, unix ms; "" while pending
	event      string // the event of a settled callback (encodeEvent), "" while pending
	maxEvents  int
}

func (a callbackArgs) keys() []string { return []string{a.batch, a.ev} }
func (a callbackArgs) argv() []any {
	return []any{a.httpStatus, a.state, a.err, a.at, a.event, a.maxEvents}
}

// eventScript appends an entry to a batch's event log (pushEvent), unless the
// batch's record is gone. Returns 1 when it wrote, 0 when not.
var eventScript = newScript(`
local batch, ev = KEYS[1], KEYS[2]
local entry, maxEvents = ARGV[1], ARGV[2]
if not alive(batch) then return 0 end
pushEvent(batch, ev, entry, maxEvents)
return 1
`)

// eventArgs are eventScript's KEYS and ARGV.
type eventArgs struct {
	batch, ev string
	entry     string // encodeEvent
	max       int
}

func (a eventArgs) keys() []string { return []string{a.batch, a.ev} }
func (a eventArgs) argv() []any    { return []any{a.entry, a.max} }

// forgetScript tells whether nothing is left of a batch whose record is gone:
// no dead letter, none moving, nothing staged for it as a replay. Then it
// deletes what writes that came late may have left (orphans without a record)
// and answers 1: its id may leave the batches index. It takes no ARGV.
var forgetScript = newScript(`
local batch, dl, dlmv, staging = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local restFrom = 5 -- KEYS[5..]: the keys to delete with it
if alive(batch) then return 0 end
for _, k in ipairs({dl, dlmv, staging}) do
  if redis.call('EXISTS', k) == 1 then return 0 end
end
redis.call('DEL', batch, unpack(KEYS, restFrom))
return 1
`)

// forgetArgs are forgetScript's KEYS.
type forgetArgs struct {
	batch, dl, dlmv, staging string
	rest                     []string
}

func (a forgetArgs) keys() []string {
	return append([]string{a.batch, a.dl, a.dlmv, a.staging}, a.rest...)
}

// shiftScript moves candidates from one state to another, leaving those in any
// other state as they are: taking sent marks back (SENDING -> OPEN). Returns
// how many moved.
var shiftScript = newScript(`
local batch, st = KEYS[1], KEYS[2]
local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
local seqsFrom = 3 -- ARGV[3..]: seqs
local seqs = {}
for i = seqsFrom, #ARGV do seqs[#seqs + 1] = ARGV[i] end
local stp = stateAt(batch, st)
local cur, rs = readStates(stp, seqs)
local set, n = {}, 0
for k = 1, #seqs do
  if cur[k] == from then set[k] = to; n = n + 1 end
end
writeStates(stp, rs, set)
return n
`)

// shiftArgs are shiftScript's KEYS and ARGV.
type shiftArgs struct {
	batch    string // the record: see stateAt
	st       string
	from, to int // state codes
	seqs     []int64
}

func (a shiftArgs) keys() []string { return []string{a.batch, a.st} }

func (a shiftArgs) argv() []any {
	args := make([]any, 0, 2+len(a.seqs))
	args = append(args, a.from, a.to)
	for _, q := range a.seqs {
		args = append(args, q)
	}
	return args
}

// markScript marks candidates as sent just before their request goes: each
// candidate expected open or already marked by an earlier attempt whose outcome
// is unknown (sending, sent again at least once) is marked sending, and is this
// run's to send only if it was in the state expected; another run marked or
// decided the others. A batch whose record is gone (expired) marks nothing: its
// states are gone with it, so every candidate would read as open. Nor does a
// batch on hold (paused or cancelled). Returns the seqs marked; an error holding
// goneReply when the record is gone, heldReply and the hold when on hold.
var markScript = newScript(`
local batch, st = KEYS[1], KEYS[2]
local pairsFrom = 1 -- ARGV[1..]: pairs of seq and expected state
local r = rmget(batch, {'id', HOLD, FOLDED_ST}) -- alive, the hold, stateAt
if not r[1] then return redis.error_reply('` + goneReply + `') end
if r[2] then return redis.error_reply('` + heldReply + ` ' .. r[2]) end
local seqs, want = {}, {}
for i = pairsFrom, #ARGV, 2 do seqs[#seqs + 1] = ARGV[i]; want[#want + 1] = CODE[ARGV[i + 1]] or tonumber(ARGV[i + 1]) end
local stp = stateAt(batch, st, r[3])
local cur, rs, nums = readStates(stp, seqs)
local set, out = {}, {}
for k = 1, #seqs do
  if cur[k] == want[k] then
    out[#out + 1] = nums[k]
    if cur[k] ~= SENDING then set[k] = SENDING end
  end
end
writeStates(stp, rs, set)
return out
`)

// markArgs are markScript's KEYS and ARGV: open are expected open, again
// expected sending.
type markArgs struct {
	batch, st   string
	open, again []int64
}

func (a markArgs) keys() []string { return []string{a.batch, a.st} }

func (a markArgs) argv() []any {
	args := make([]any, 0, 2*(len(a.open)+len(a.again)))
	for _, q := range a.open {
		args = append(args, q, codeOpen)
	}
	for _, q := range a.again {
		args = append(args, q, codeSending)
	}
	return args
}

// recordScript records final outcomes, each candidate at most once: its state, its
// counter and its dead letter, in one atomic step. An outcome already recorded is
// left as it is, and so is a dead letter already stored under the seq (HSETNX):
// a dead letter is never overwritten. A batch whose record is gone (expired)
// gets nothing written: no outcome is new.
//
// A new success's vendor ids (idsEntry) are appended to its field of the find
// index.
//
// Returns {the positions (1-based, in ARGV's order) of the records whose
// outcomes were new, the ref of the batch's shared job when these outcomes
// finished the batch (an empty string otherwise)}.
var recordScript = newScript(recordBody)

var recordBody = `
local batch, dl, dlerr, fx, blobs = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local liveFrom = 6 -- KEYS[6..]: retainedKeys, the candidate states first
local st = KEYS[liveFrom]
local now, retention, ttl = ARGV[1], ARGV[2], ARGV[3]
-- the field of the chunk blob the records come from ('' for none) and its
-- lowest and highest seq: deleted once none of its candidates is undecided
local blob, blobLo, blobHi = ARGV[4], ARGV[5], ARGV[6]
-- ARGV[7..]: per candidate seq, state (INVITED..SKIPPED), dead letter ("" for
-- none), reference of its errors stored apart ("" for none), those errors (given
-- once per reference per call, else ""), its ids entry ("" for none) and the
-- field of the find index that entry goes to
local recsFrom, recLen = 7, 7
local r = rmget(batch, {'id', FOLDED_ST, 'sealed'}) -- alive, stateAt, refresh
if not r[1] then return {{}, ''} end
local counters = {[INVITED] = 'invited', [CVQUEUED] = 'cv_queued', [DEADLETTERED] = 'dead_lettered', [SKIPPED] = 'skipped_duplicate', [CANCELLED] = 'cancelled'}
local seqs, codes, errs = {}, {}, {}
for i = recsFrom, #ARGV, recLen do
  seqs[#seqs + 1] = ARGV[i]; codes[#codes + 1] = CODE[ARGV[i + 1]] or tonumber(ARGV[i + 1])
  if ARGV[i + 4] ~= '' then errs[ARGV[i + 3]] = ARGV[i + 4] end
end
local stp = stateAt(batch, st, r[2])
local cur, rs = readStates(stp, seqs)
local set, counts, seen, new, ids, idsOrder = {}, {}, {}, {}, {}, {}
for k, seq in ipairs(seqs) do
  if cur[k] < INVITED and not seen[seq] then
    seen[seq] = true
    local c = codes[k]
    set[k] = c
    counts[c] = (counts[c] or 0) + 1
    new[#new + 1] = k
    local i = recsFrom + (k - 1) * recLen
    if ARGV[i + 2] ~= '' then
      redis.call('HSETNX', dl, seq, ARGV[i + 2])
      local ref = ARGV[i + 3]
      if ref ~= '' and errs[ref] then redis.call('HSETNX', dlerr, ref, errs[ref]) end
    end
    if ARGV[i + 5] ~= '' then
      local f = ARGV[i + 6]
      if not ids[f] then ids[f] = {}; idsOrder[#idsOrder + 1] = f end
      local l = ids[f]
      l[#l + 1] = ARGV[i + 5]
    end
  end
end
writeStates(stp, rs, set)
if blob ~= '' and not undecided(stp, blobLo, blobHi) then redis.call('HDEL', blobs, blob) end
for _, f in ipairs(idsOrder) do
  redis.call('HSET', fx, f, (fxGet(batch, fx, f) or '') .. table.concat(ids[f]))
end
for c, name in pairs(counters) do
  if counts[c] then rincr(batch, name, counts[c]) end
end
refresh(batch, ttl, liveFrom, #KEYS, r[3])
return {new, finish(batch, now, retention, liveFrom, #KEYS)}
`

// ledgerRecordScript is ledgerScript, then recordScript, in one call (inSequence):
// where one node holds every key, the ledger and the batch are written in one
// round trip, the ledger first as ever. It answers what recordScript answers.
var ledgerRecordScript = newScript(inSequence(ledgerBody, recordBody))

// recordArgs builds recordScript's KEYS and ARGV: newRecordArgs the head, add
// one candidate's record.
type recordArgs struct {
	keys []string
	argv []any
}

// newRecordArgs starts recordScript's arguments for n records; live are the
// batch's retainedKeys.
func newRecordArgs(batch, dl, dlerr, fx, blobs string, live []string, now string, retentionMS, ttlMS int64, blob *ChunkBlob, n int) recordArgs {
	args := make([]any, 0, 6+7*n)
	args = append(args, now, retentionMS, ttlMS)
	if blob != nil {
		args = append(args, blob.field(), blob.Lo, blob.Hi)
	} else {
		args = append(args, "", 0, 0)
	}
	return recordArgs{keys: append([]string{batch, dl, dlerr, fx, blobs}, live...), argv: args}
}

// add appends one record: its state code, its dead letter ("" for none), the
// reference of its errors stored apart ("" for none), those errors ("" when
// given before in this call) and its vendor ids (idsEntry, "" for none).
func (a *recordArgs) add(seq int64, code int, entry, errRef, errJSON, ids string) {
	a.argv = append(a.argv, seq, code, entry, errRef, errJSON, ids, idsField(seq))
}

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
  local untilMS, run = string.match(c, '^(%d+)%.?(%d*)$', 9)
  if not untilMS then return nil end
  return string.sub(c, 1, 8), tonumber(untilMS), run
end

-- claimTail is what follows the owner in a claim for run until untilMS: an
-- owner's claim is the owner and the tail, so that the claims of one step,
-- which share the tail, each cost one concatenation.
local function claimTail(untilMS, run)
  return string.format('%d', untilMS) .. '.' .. run
end

-- holds reports whether claim c is run's: its run as claimOf reads it, without
-- the owner and expiry, which it need not convert.
local function holds(c, run)
  if not c then return false end
  local r = string.match(c, '^%d+%.?(%d*)$', 9)
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

// ledgerLib reads and writes a target's ledger weeks (see ledger.go for their
// layout): the packed buckets, and the entries of earlier builds, one field a
// candidate, which are still read.
var ledgerLib = `
local ENTRY = ` + itoa(ledgerEntryLen) + `

-- bucketOf is the field of fingerprint fp's bucket.
local function bucketOf(fp) return 'b' .. string.sub(fp, 1, ` + itoa(ledgerBucketLen) + `) end

-- entryAt is the place of fp's entry in bucket v (false: no bucket), or nil.
local function entryAt(v, fp)
  if not v then return nil end
  local from = 1
  while true do
    local p = string.find(v, fp, from, true)
    if not p then return nil end
    if (p - 1) % ENTRY == 0 then return p end
    from = p + 1
  end
end

-- bucketsOf are the fields of the buckets of fingerprints fps, by position.
local function bucketsOf(fps)
  local out = {}
  for i, fp in ipairs(fps) do out[i] = bucketOf(fp) end
  return out
end

-- ledgerGet returns what week holds of each fingerprint of fps (their buckets:
-- bucketsOf): kind, owner fingerprint and when (the packed entry past its
-- fingerprint, or an earlier build's value), false for nothing; and the
-- buckets it read, by field ('' for none), for ledgerPut. A week that does not
-- exist is not read.
local function ledgerGet(week, fps, buckets)
  local out, read = {}, {}
  if redis.call('EXISTS', week) == 0 then
    for i = 1, #fps do out[i] = false; read[buckets[i]] = '' end
    return out, read
  end
  local packed, old = hmget(week, buckets), hmget(week, fps)
  for i, fp in ipairs(fps) do
    read[buckets[i]] = packed[i] or ''
    local p = entryAt(packed[i], fp)
    if p then out[i] = string.sub(packed[i], p + 8, p + ENTRY - 1) else out[i] = old[i] end
  end
  return out, read
end

-- be6 is n (an integer below 2^48) in 6 bytes, big-endian.
local function be6(n)
  local b = {}
  for i = 6, 1, -1 do b[i] = n % 256; n = math.floor(n / 256) end
  return string.char(b[1], b[2], b[3], b[4], b[5], b[6])
end

-- ledgerPut writes into week the entries of puts (a flat list of fingerprint,
-- kind and owner), stamped with when (unix ms), each replacing an entry of its
-- fingerprint in its bucket. read are buckets of week ledgerGet read in the
-- same script (by field), which are not read again.
local function ledgerPut(week, puts, when, read)
  local stamp, vals, order = be6(when), {}, {}
  for i = 1, #puts, 3 do
    local fp = puts[i]
    local b = bucketOf(fp)
    local v = vals[b]
    if v == nil then
      v = read[b] or redis.call('HGET', week, b) or ''
      order[#order + 1] = b
    end
    local p = entryAt(v, fp)
    if p then v = string.sub(v, 1, p - 1) .. string.sub(v, p + ENTRY) end
    vals[b] = v .. fp .. puts[i + 1] .. puts[i + 2] .. stamp
  end
  local pairs_ = {}
  for _, b in ipairs(order) do pairs_[#pairs_ + 1] = b; pairs_[#pairs_ + 1] = vals[b] end
  hset(week, pairs_)
end
`

// claimScript checks the ledger and claims the candidates about to be sent to a
// target for one run, so that no two runs (of different batches, or of the same
// chunk twice) send the same person at once. Per candidate it answers a Claim:
// Claimed (send), OtherCandidateDone (the ledger holds another candidate's
// success for this person: skip), ClaimedElsewhere (another run holds the
// claim: wait), DoneInvited or DoneCVQueued (the ledger holds this very
// candidate's success: record it). A claim is taken when there is none, when it
// ran out by Redis's clock, when this run holds it already, or when an older
// version wrote it for this very candidate.
var claimScript = newScript(`
local CLAIMED, OTHER_DONE, ELSEWHERE, DONE_INVITED, DONE_CV = ` +
	itoa(int(Claimed)) + `, ` + itoa(int(OtherCandidateDone)) + `, ` + itoa(int(ClaimedElsewhere)) + `, ` +
	itoa(int(DoneInvited)) + `, ` + itoa(int(DoneCVQueued)) + `
local claims = KEYS[1]
local weeksFrom = 2 -- KEYS[2..]: the target's live ledger weeks
local ttl, run, reinvite = tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1'
local candsFrom = 4 -- ARGV[4..]: per candidate its fingerprint and owner fingerprint
local now = nowMS()
local tail = claimTail(now + ttl, run)
local fps, owners = {}, {}
for i = candsFrom, #ARGV, 2 do fps[#fps + 1] = ARGV[i]; owners[#owners + 1] = ARGV[i + 1] end
local buckets = bucketsOf(fps)
local led = {}
for k = weeksFrom, #KEYS do
  for i, v in ipairs(ledgerGet(KEYS[k], fps, buckets)) do
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
    out[i] = (string.sub(l, 1, 1) == 'c') and DONE_CV or DONE_INVITED
  elseif l and not reinvite then
    out[i] = OTHER_DONE
  elseif free then
    put[#put + 1] = fp; put[#put + 1] = owner .. tail
    out[i] = CLAIMED
  else
    out[i] = ELSEWHERE
  end
end
putClaims(claims, put, ttl)
return out
`)

// claimArgs are claimScript's KEYS and ARGV.
type claimArgs struct {
	claims   string
	weeks    []string // the target's live ledger weeks
	ttlMS    int64
	run      RunID
	reinvite bool // another candidate's success does not count
	batchID  string
	cands    []task.Candidate
}

func (a claimArgs) keys() []string { return append([]string{a.claims}, a.weeks...) }

func (a claimArgs) argv() []any {
	args := make([]any, 0, 3+2*len(a.cands))
	args = append(args, a.ttlMS, string(a.run), flag(a.reinvite))
	for _, c := range a.cands {
		args = append(args, candidateFP(c.Candidate), ownerFP(a.batchID, c.Seq))
	}
	return args
}

// renewClaimsScript extends a run's claims. A claim that still names the run is
// the run's even if it ran out meanwhile: nobody took it. Returns 1 (held) or 0
// per fingerprint.
var renewClaimsScript = newScript(`
local claims = KEYS[1]
local ttl, run = tonumber(ARGV[1]), ARGV[2]
local fpsFrom = 3 -- ARGV[3..]: fingerprints
local tail = claimTail(nowMS() + ttl, run)
local fps = {}
for i = fpsFrom, #ARGV do fps[#fps + 1] = ARGV[i] end
local held = hmget(claims, fps)
local out, put = {}, {}
for i, fp in ipairs(fps) do
  out[i] = 0
  if holds(held[i], run) then
    out[i] = 1
    put[#put + 1] = fp; put[#put + 1] = string.sub(held[i], 1, 8) .. tail
  end
end
putClaims(claims, put, ttl)
return out
`)

// renewClaimsArgs are renewClaimsScript's KEYS and ARGV.
type renewClaimsArgs struct {
	claims string
	ttlMS  int64
	run    RunID
	cands  []payload.Candidate
}

func (a renewClaimsArgs) keys() []string { return []string{a.claims} }

func (a renewClaimsArgs) argv() []any {
	args := make([]any, 0, 2+len(a.cands))
	args = append(args, a.ttlMS, string(a.run))
	for _, c := range a.cands {
		args = append(args, candidateFP(c))
	}
	return args
}

// releaseClaimsScript deletes a run's claims, leaving those of other runs.
// Returns how many it deleted.
var releaseClaimsScript = newScript(`
local claims = KEYS[1]
local run = ARGV[1]
local fpsFrom = 2 -- ARGV[2..]: fingerprints
local fps = {}
for i = fpsFrom, #ARGV do fps[#fps + 1] = ARGV[i] end
local held = hmget(claims, fps)
local gone = {}
for i, fp in ipairs(fps) do
  if holds(held[i], run) then gone[#gone + 1] = fp end
end
hdel(claims, gone)
return #gone
`)

// releaseClaimsArgs are releaseClaimsScript's KEYS and ARGV.
type releaseClaimsArgs struct {
	claims string
	run    RunID
	cands  []payload.Candidate
}

func (a releaseClaimsArgs) keys() []string { return []string{a.claims} }

func (a releaseClaimsArgs) argv() []any {
	args := make([]any, 0, 1+len(a.cands))
	args = append(args, string(a.run))
	for _, c := range a.cands {
		args = append(args, candidateFP(c))
	}
	return args
}

// ledgerScript writes the successes of a chunk into the target's ledger week and
// releases the chunk's run's claims on the candidates recorded. An entry this
// owner already wrote is kept as it is. Returns how many entries it wrote.
var ledgerScript = newScript(ledgerBody)

var ledgerBody = `
local week, weeks, claims = KEYS[1], KEYS[2], KEYS[3]
local weekID, expiry, run = ARGV[1], ARGV[2], ARGV[3] -- expiry: unix ms; run '': release no claim
-- ARGV[4..]: per candidate fingerprint, kind ('i', 'c', or '-' for a claim to
-- release without a success), owner fingerprint
local candsFrom = 4
local fps, kinds, owners = {}, {}, {}
for i = candsFrom, #ARGV, 3 do
  fps[#fps + 1] = ARGV[i]; kinds[#kinds + 1] = ARGV[i + 1]; owners[#owners + 1] = ARGV[i + 2]
end
local cur, read = ledgerGet(week, fps, bucketsOf(fps))
local held = hmget(claims, fps)
local put, release = {}, {}
for i, fp in ipairs(fps) do
  if kinds[i] ~= '-' and not (cur[i] and string.sub(cur[i], 2, 9) == owners[i]) then
    put[#put + 1] = fp; put[#put + 1] = kinds[i]; put[#put + 1] = owners[i]
  end
  if holds(held[i], run) then release[#release + 1] = fp end
end
if #put > 0 then
  ledgerPut(week, put, nowMS(), read)
  local until_ = tonumber(expiry)
  if redis.call('PEXPIRETIME', week) < until_ then redis.call('PEXPIREAT', week, until_) end
  redis.call('ZADD', weeks, 'GT', until_, weekID)
  if redis.call('PEXPIRETIME', weeks) < until_ then redis.call('PEXPIREAT', weeks, until_) end
end
hdel(claims, release)
return #put / 3
`

// ledgerArgs are ledgerScript's KEYS and ARGV; recs are the records of the
// chunk's candidates whose claims go (successes are written too).
type ledgerArgs struct {
	week, weeks, claims string
	weekID              int64
	expiryMS            int64
	run                 RunID // "": release no claim
	batchID             string
	recs                []Record
}

func (a ledgerArgs) keys() []string { return []string{a.week, a.weeks, a.claims} }

func (a ledgerArgs) argv() []any {
	args := make([]any, 0, 3+3*len(a.recs))
	args = append(args, a.weekID, a.expiryMS, string(a.run))
	for _, r := range a.recs {
		kind := "-"
		switch r.Outcome {
		case payload.OutcomeInvited:
			kind = "i"
		case payload.OutcomeCVQueued:
			kind = "c"
		}
		args = append(args, candidateFP(r.Candidate), kind, ownerFP(a.batchID, r.Seq))
	}
	return args
}

// markMoveScript marks a source batch's dead letters as moving to a replay batch
// and returns them: {seq, entry, seq, entry, ...}. An entry already moving to
// another replay is left alone; one already moving to this one is returned again.
var markMoveScript = newScript(`
local dl, dlmv = KEYS[1], KEYS[2]
local replay = ARGV[1]
local seqsFrom = 2 -- ARGV[2..]: seqs
local seqs = {}
for i = seqsFrom, #ARGV do seqs[#seqs + 1] = ARGV[i] end
local entries = hmget(dl, seqs)
local moving = hmget(dlmv, seqs)
local out, marks = {}, {}
for i, seq in ipairs(seqs) do
  if entries[i] and (not moving[i] or moving[i] == replay) then
    if not moving[i] then marks[#marks + 1] = seq; marks[#marks + 1] = replay end
    out[#out + 1] = seq; out[#out + 1] = entries[i]
  end
end
hset(dlmv, marks)
return out
`)

// markMoveArgs are markMoveScript's KEYS and ARGV.
type markMoveArgs struct {
	dl, dlmv string
	replay   string // the replay batch's id
	seqs     []int64
}

func (a markMoveArgs) keys() []string { return []string{a.dl, a.dlmv} }

func (a markMoveArgs) argv() []any {
	args := make([]any, 0, 1+len(a.seqs))
	args = append(args, a.replay)
	for _, q := range a.seqs {
		args = append(args, q)
	}
	return args
}

// stageScript copies dead letters into a replay batch's staging hash, and their
// places into its order (a sorted set read by lexical range, see stageOrder),
// only while the caller holds the replay batch's lease. Returns how many, or
// stageLeaseLost when the lease is not the caller's.
var stageScript = newScript(`
local staging, lease, order = KEYS[1], KEYS[2], KEYS[3]
local owner = ARGV[1]
local entriesFrom = 2 -- ARGV[2..]: triples of dead-letter id, entry and place
if redis.call('GET', lease) ~= owner then return ` + itoa(stageLeaseLost) + ` end
local pairs, places = {}, {}
for i = entriesFrom, #ARGV, 3 do
  pairs[#pairs + 1] = ARGV[i]; pairs[#pairs + 1] = ARGV[i + 1]
  places[#places + 1] = 0; places[#places + 1] = ARGV[i + 2]
end
hset(staging, pairs)
for i = 1, #places, 2 * part do
  redis.call('ZADD', order, unpack(places, i, math.min(i + 2 * part - 1, #places)))
end
return #pairs / 2
`)

// stageLeaseLost is stageScript's answer when the caller does not hold the
// replay batch's lease.
const stageLeaseLost = -1

// stageArgs builds stageScript's KEYS and ARGV: newStageArgs the head, add one
// dead letter.
type stageArgs struct {
	keys []string
	argv []any
}

func newStageArgs(staging, lease, order, owner string) stageArgs {
	return stageArgs{keys: []string{staging, lease, order}, argv: []any{owner}}
}

// add appends one dead letter: its id, its entry (JSON) and its place (stagePlace).
func (a *stageArgs) add(id string, entry []byte, place string) {
	a.argv = append(a.argv, id, entry, place)
}

// purgeScript deletes a batch's dead letters, but not those moving to a replay.
// Returns how many were deleted.
var purgeScript = newScript(`
local dl, dlmv = KEYS[1], KEYS[2]
local seqs = ARGV -- ARGV[1..]: seqs
local moving = hmget(dlmv, seqs)
local gone = {}
for i, seq in ipairs(seqs) do
  if not moving[i] then gone[#gone + 1] = seq end
end
local n = 0
for i = 1, #gone, part do
  n = n + redis.call('HDEL', dl, unpack(gone, i, math.min(i + part - 1, #gone)))
end
return n
`)

// purgeArgs are purgeScript's KEYS; its ARGV are the seqs, in pages (inPages).
type purgeArgs struct{ dl, dlmv string }

func (a purgeArgs) keys() []string { return []string{a.dl, a.dlmv} }

// drainedScript reports whether a batch will hold no more dead letters: it has
// none and is done (or expired), so that its entry in dlbatches can go; its shared
// dead-letter errors and moving marks go at once. It takes no ARGV.
var drainedScript = newScript(`
local batch, dl, dlerr, dlmv = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HLEN', dl) > 0 then return 0 end
if redis.call('EXISTS', batch) == 1 and not rget(batch, 'finished_at') then return 0 end
redis.call('DEL', dlerr, dlmv)
return 1
`)

// drainedArgs are drainedScript's KEYS.
type drainedArgs struct{ batch, dl, dlerr, dlmv string }

func (a drainedArgs) keys() []string { return []string{a.batch, a.dl, a.dlerr, a.dlmv} }

// leaseScript takes a lease that is free (never taken, or run out) or renews one
// the caller holds. Returns 1 when the caller holds the lease afterwards, 0 when
// another owner does.
var leaseScript = newScript(`
local lease = KEYS[1]
local owner, ttl = ARGV[1], ARGV[2]
local cur = redis.call('GET', lease)
if cur and cur ~= owner then return 0 end
redis.call('SET', lease, owner, 'PX', ttl)
return 1
`)

// leaseArgs are leaseScript's KEYS and ARGV.
type leaseArgs struct {
	lease string
	owner string
	ttlMS int64
}

func (a leaseArgs) keys() []string { return []string{a.lease} }
func (a leaseArgs) argv() []any    { return []any{a.owner, a.ttlMS} }

// closeReplayScript removes a replay batch's staging hash, its order and its
// lease, if the caller holds the lease. Returns 1 when closed, 0 when the lease
// is not the caller's.
var closeReplayScript = newScript(`
local staging, lease, order = KEYS[1], KEYS[2], KEYS[3]
local owner = ARGV[1]
if redis.call('GET', lease) ~= owner then return 0 end
redis.call('DEL', staging, lease, order)
return 1
`)

// closeReplayArgs are closeReplayScript's KEYS and ARGV.
type closeReplayArgs struct {
	staging, lease, order string
	owner                 string
}

func (a closeReplayArgs) keys() []string { return []string{a.staging, a.lease, a.order} }
func (a closeReplayArgs) argv() []any    { return []any{a.owner} }

// stopAuthScript sets a key's auth stop, keeping the time of a stop already set.
var stopAuthScript = newScript(`
local stops = KEYS[1]
local keyID, stopJSON = ARGV[1], ARGV[2]
local cur = redis.call('HGET', stops, keyID)
local stop = cjson.decode(stopJSON)
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and old.since then stop.since = old.since end
end
redis.call('HSET', stops, keyID, cjson.encode(stop))
return 1
`)

// stopAuthArgs are stopAuthScript's KEYS and ARGV.
type stopAuthArgs struct {
	stops string
	keyID string
	stop  []byte // AuthStop as JSON
}

func (a stopAuthArgs) keys() []string { return []string{a.stops} }
func (a stopAuthArgs) argv() []any    { return []any{a.keyID, a.stop} }

// pausedForAuthScript records a queue as paused for a key's auth stop while that
// stop is set. Returns 1 when it is (and the queue is recorded), 0 when not.
var pausedForAuthScript = newScript(`
local stops, paused = KEYS[1], KEYS[2]
local keyID, queue = ARGV[1], ARGV[2]
if redis.call('HEXISTS', stops, keyID) == 0 then return 0 end
redis.call('SADD', paused, queue)
return 1
`)

// pausedForAuthArgs are pausedForAuthScript's KEYS and ARGV.
type pausedForAuthArgs struct {
	stops, paused string
	keyID, queue  string
}

func (a pausedForAuthArgs) keys() []string { return []string{a.stops, a.paused} }
func (a pausedForAuthArgs) argv() []any    { return []any{a.keyID, a.queue} }

// authStoppedScript records a batch as held by the auth stops, while one is
// set: at most max batches are kept, each once. Returns 1 when the batch is to
// record its auth_stopped event (new, or past the bound), 0 when not (recorded
// before, or no stop is set any more).
var authStoppedScript = newScript(`
local stops, batches = KEYS[1], KEYS[2]
local id, max = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', stops) == 0 or redis.call('SISMEMBER', batches, id) == 1 then return 0 end
if redis.call('SCARD', batches) < max then redis.call('SADD', batches, id) end
return 1
`)

// authStoppedArgs are authStoppedScript's KEYS and ARGV.
type authStoppedArgs struct {
	stops, batches string
	id             string
	max            int
}

func (a authStoppedArgs) keys() []string { return []string{a.stops, a.batches} }
func (a authStoppedArgs) argv() []any    { return []any{a.id, a.max} }

// resumeAuthScript clears every auth stop and the records of the queues paused
// and the batches held for them. KEYS: the stops, the paused queues and the
// held batches; no ARGV. Returns {stops as field/value pairs, queues, batches}.
var resumeAuthScript = newScript(`
local stops, paused, batches = KEYS[1], KEYS[2], KEYS[3]
local all = redis.call('HGETALL', stops)
local queues = redis.call('SMEMBERS', paused)
local held = redis.call('SMEMBERS', batches)
redis.call('DEL', stops, paused, batches)
return {all, queues, held}
`)

// findScript looks one person up in a batch's find index: it binary-searches
// the index entries of each segment the HSCAN step reaches (see the find
// index) for the fingerprint of one of the person's keys, and answers for each
// candidate of the batch that matches. A batch whose record is gone, or whose
// owner is not the one asked for, answers nothing (an empty list). Otherwise
// it answers {next HSCAN cursor, the batch's job (JSON, or '@' and the ref of
// its shared job), then per candidate:
// seq, state code, dead letter ("" unless dead-lettered), its field of vendor
// ids ("" unless invited or queued), the fingerprint of the candidate's other
// key ("" unless asked for, or none)}. Byte strings are compared byte by byte:
// Lua's < on strings follows the server's locale.
var findScript = newScript(`
local batch, fx, st, dl = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local owner, fp, wantOther, cursor, count = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4], ARGV[5]
local ENTRY, FP, BUCKET = ` + itoa(indexEntryLen) + `, ` + itoa(fpLen) + `, ` + itoa(idsBucket) + `
if not alive(batch) then return {} end
local rec = rmget(batch, {'owner', 'job', 'jobref'})
if owner ~= '' and rec[1] ~= owner then return {} end
local want = {string.byte(fp, 1, FP)}

-- before reports whether the key of entry k (0-based) sorts before fp.
local function before(block, k)
  local got = {string.byte(block, k * ENTRY + 1, k * ENTRY + FP)}
  for i = 1, FP do
    if got[i] ~= want[i] then return got[i] < want[i] end
  end
  return false
end

-- other is the key of the entry for the same seq (seqBytes) that is not fp.
local function other(block, seqBytes)
  local init = 1
  while true do
    local p = string.find(block, seqBytes, init, true)
    if not p then return '' end
    if (p - 1) % ENTRY == FP and string.sub(block, p - FP, p - 1) ~= fp then
      return string.sub(block, p - FP, p - 1)
    end
    init = p + 1
  end
end

-- A done batch's index may be folded into the record (fold): one segment.
local scan
if redis.call('EXISTS', fx) == 1 then
  scan = redis.call('HSCAN', fx, cursor, 'MATCH', 's*', 'COUNT', count)
else
  local s0 = rget(batch, FOLDED_FX .. 's0')
  scan = {'0', s0 and {'s0', s0} or {}}
end
local stp = stateAt(batch, st)
local out = {scan[1], rec[2] or ('@' .. (rec[3] or ''))}
local fields = scan[2]
for f = 2, #fields, 2 do
  local block = fields[f]
  local n = math.floor(#block / ENTRY)
  local lo, hi = 0, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if before(block, mid) then lo = mid + 1 else hi = mid end
  end
  while lo < n and string.sub(block, lo * ENTRY + 1, lo * ENTRY + FP) == fp do
    local seqBytes = string.sub(block, lo * ENTRY + FP + 1, (lo + 1) * ENTRY)
    local b1, b2, b3, b4 = string.byte(seqBytes, 1, 4)
    local seq = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    local s = string.format('%d', seq)
    local code = string.byte(getRange(stp, s, s)) or OPEN
    local dead, ids, oth = '', '', ''
    if code == DEADLETTERED then dead = redis.call('HGET', dl, s) or '' end
    if code == INVITED or code == CVQUEUED then
      ids = fxGet(batch, fx, 'i' .. string.format('%d', math.floor(seq / BUCKET))) or ''
    end
    if wantOther then oth = other(block, seqBytes) end
    out[#out + 1] = seq; out[#out + 1] = code; out[#out + 1] = dead; out[#out + 1] = ids; out[#out + 1] = oth
    lo = lo + 1
  end
end
return out
`)

// findArgs are findScript's KEYS and ARGV.
type findArgs struct {
	batch, fx, st, dl string
	owner             string // "" for any
	fp                string // the fingerprint of the person's key
	other             bool   // answer the candidates' other keys
	cursor            string // HSCAN's
	count             int    // HSCAN's COUNT
}

func (a findArgs) keys() []string { return []string{a.batch, a.fx, a.st, a.dl} }
func (a findArgs) argv() []any {
	return []any{a.owner, a.fp, flag(a.other), a.cursor, a.count}
}

// keepJobScript writes a batch's shared job (P{j:ref}) unless it is there,
// expiring ttl ms from now (Redis's clock), and otherwise pushes its expiry
// forward to then, never back. A job ("" when only pushing) is written once:
// its key names its content.
var keepJobScript = newScript(`
local key = KEYS[1]
local job, ttl = ARGV[1], tonumber(ARGV[2])
if job ~= '' and redis.call('SET', key, job, 'NX', 'PX', ttl) then return 1 end
redis.call('PEXPIRE', key, ttl, 'GT')
return 0
`)

// keepJobArgs are keepJobScript's KEYS and ARGV.
type keepJobArgs struct {
	key   string
	job   []byte // the job's JSON; nil: push the expiry only
	ttlMS int64
}

func (a keepJobArgs) keys() []string { return []string{a.key} }
func (a keepJobArgs) argv() []any    { return []any{a.job, a.ttlMS} }
