// Package store owns bulkinvite's own Redis keys, everything under the configured
// prefix that is not asynq's: batch records and their counters, each candidate's
// state and outcome, the invite ledger that stops a repeat invite, the claims that
// keep two chunks from sending the same person at once, the dead letters, replay
// staging, the auth stop that halts every worker after a 401/403, each batch's
// event log (who did what to it), and the list of every key of ours, wherever
// it is kept.
//
// It does not talk to asynq or to the vendor: producer enqueues tasks, worker sends
// requests, deadletter replays; they all record through a Store. Two kinds of keys
// beside its own are kept by packages of their own, through the store's client,
// prefix and write path (Redis, Prefix, Eval): the dashboard's sign-in sessions
// (package session), the Idempotency-Key records (package idempotency), the
// sending's activity by 10-second bucket (package activity) and the version
// each running worker publishes (package presence). Each is one key
// read and written alone, in no step with another key (activity's are only
// added to, with HINCRBY, and read).
//
// # Why the rest is one store
//
// Batch records, candidate states, the ledger and claims, dead letters, replay
// staging and the callbacks' bookkeeping are one consistency domain: their steps
// span slots in an order (see "Steps that span slots"), read one another's keys
// in the same script (a callback's attempt is fields of the batch record, a dead
// letter is refused for a batch whose record is gone), and one key's life bounds
// another's (the batches index outlives the batches). Split, each part would need
// the others' key names and invariants, so they stay one type.
//
// # The replay protocol
//
// Filling a replay batch takes its lease first (OpenReplay for a new one,
// TakeReplay for one a dead run left), then moves dead letters in, then finishes:
// adopt the moves a dead run left half done, enqueue what is staged, take back the
// marks set since, close. Those steps are reachable only in that order: the ones
// that need the lease are methods of the *ReplayLease that taking it returns
// (Move, Renew, Finish), Finish runs the rest itself and hands the staged entries
// (StagedPages) to the caller's enqueue step and nowhere else, and the single
// steps (adopt, unmark, close) are unexported. What stays on *Store only reads
// (OpenReplays, Staged) or needs no lease (UnmarkClosed, which a replay runs
// before its own steps).
//
// # Keys and slots
//
// Every atomic step is one Lua script over keys of one Redis Cluster slot, so the
// store runs unchanged on a single node, behind Sentinel or on a Cluster. A batch's
// keys share the hash tag {b:<id>} and a target's ledger and claims share {t:<h>}
// (h: a hash of the target), so different batches and different targets spread
// over a cluster's masters. With P the prefix ("bulkinvite:"; it should not hold a
// hash tag of its own, or every key lands in that one slot), the keys this
// package keeps, then the others':
//
//	P{b:id}            hash: the batch record and its counters; id: '1', the
//	                   mark of a record (the id itself in a record written
//	                   before); owner: the creating token's name, written once
//	                   (none before owners); hold: paused or cancelled
//	                   (PauseBatch, CancelBatch); jobref: its job's ref in
//	                   P{j:ref} (job: the job inline, in a record written
//	                   before jobs were shared); by and from: who created it
//	                   (empty: the owner) and from where, for its created
//	                   event; digest: the input's, unless it is seg0's (one
//	                   segment); st, xs0, xi0: a done batch's :st and :fx
//	                   folded in; p0, p1...: a done batch's record packed
//	                   (see "A small done batch")
//	P{b:id}:st         string: one byte per candidate, at its seq: 0 open, 1 sent
//	                   without an outcome yet, 2 invited, 3 cv_queued,
//	                   4 dead-lettered, 5 skipped as a duplicate, 6 cancelled
//	P{b:id}:seen       hash: fingerprint of a dedup key -> first seq, written by
//	                   the imports of earlier builds; deleted at the seal (an
//	                   import now finds duplicates in its own process: Dedup)
//	P{b:id}:segs       hash: segment -> candidates admitted (idempotent re-runs),
//	                   but segment 0's, which is the record's field seg0 (in
//	                   this key for a batch admitted before)
//	P{b:id}:rej        hash: source row -> the reject: where, field and reason
//	                   (compact JSON; before fields were kept, the import's message)
//	P{b:id}:rejord     sorted set: the rows of :rej by row, read in pages
//	P{b:id}:fx         hash: the find index (see "The find index"): s<segment> ->
//	                   the segment's candidates' fingerprints and seqs, sorted;
//	                   i<seq/64> -> the vendor's ids of those seqs' successes
//	P{b:id}:c          hash: <segment>:<chunk>x<n> -> the candidates of n
//	                   chunks from <chunk> (task.BlobChunks), which their
//	                   version 3 chunk tasks name (ChunkBlob: columns, zstd;
//	                   task.EncodeCandidates), or <segment>:<chunk> -> one
//	                   chunk's (version 2, older producers); written by the
//	                   admit step, deleted once none of them is open or sent
//	P{b:id}:ev         list: the batch's event log, oldest first (compact JSON:
//	                   time, what, by, detail); at most MaxEvents with the
//	                   creation, which is told from the record (see "A batch's
//	                   event log"); no key while nothing else happened
//	P{b:id}:ff         hash: chunk task id -> first failure time (unix ms)
//	P{b:id}:split      hash: chunk task id -> requests spent splitting it (400/422)
//	P{b:id}:dl         hash: seq -> the candidate's dead letter (compact JSON)
//	P{b:id}:dlerr      hash: fingerprint -> errors shared by dead letters of the
//	                   batch (a chunk's 404, say), stored once
//	P{b:id}:dlmv       hash: seq -> replay batch its dead letter is moving to
//	P{b:id}:replay     hash: dead-letter id -> entry, staged for this replay batch
//	P{b:id}:replay:ord sorted set: the staged entries' places (batch, NUL, seq in
//	                   20 digits; equal scores), read in pages by lexical range
//	P{b:id}:lease      string: the replay run filling this replay batch, with a TTL
//	P{t:h}:L:<week>    hash: the recorded successes, packed in buckets by the
//	                   candidate fingerprint's first two bytes (b<2 bytes> ->
//	                   23-byte entries: fingerprint, kind 'i'/'c', owner
//	                   fingerprint (batch and seq), when; see ledgerWeek), and
//	                   an earlier build's one field a candidate; one hash per
//	                   target and week, expiring a ledger TTL after its week ends
//	P{t:h}:Lidx        sorted set: the target's ledger weeks by expiry
//	P{t:h}:claims      hash: candidate fingerprint -> owner fingerprint and expiry
//	P{j:ref}           string: a batch's job (task.Job as JSON: target, message,
//	                   send_invite, schedule), once per content (ref: the first
//	                   8 bytes of its SHA-256, hex), shared by the batches with
//	                   that job (see "How long a batch's keys live")
//	P batches          sorted set: batch ids by creation time (outlives the batches,
//	                   so that status can tell an expired batch from an unknown one
//	                   and CreateBatch refuses a used id: see "Batch ids are used once")
//	P dlbatches        sorted set: the batches holding dead letters
//	P paused           set: the ids of paused batches, for the gauge of held
//	                   batches; written after the record (PausedBatches drops
//	                   an id whose batch is no longer paused)
//	P scheduled        sorted set: batch ids by their not-before time (unix ms),
//	                   for the count of scheduled batches; entries whose time has
//	                   come are dropped when the next scheduled batch is created,
//	                   those of a cancelled, done or gone batch when counted
//	P dljobs           hash: job fingerprint -> target, message and send_invite,
//	                   stored once for all the dead letters of a job
//	P replays:open     hash: replay batch id -> job, while the replay is being enqueued
//	P{authstop}        hash: API key id -> why sending stopped for that key
//	P{authstop}:paused set: the queues paused for the auth stops
//	P{authstop}:batches set: the batches that recorded auth_stopped while a stop
//	                   is set (at most 256), told of the resume
//
// kept by package idempotency:
//
//	P{idem:h}          hash: a client's Idempotency-Key for POST /v1/batches (h: a
//	                   hash of the client and the key): the request body's hash,
//	                   the batch, pending or done, the lease of the run importing
//	                   it, and the answer given; expires a day after it was written
//
// kept by package session:
//
//	P{sess:h}          hash: a browser signed in to the dashboard (h: a hash of the
//	                   session id its cookie holds): the token's id (never the
//	                   token), its CSRF secret, when it was opened and ends;
//	                   expires then, or is deleted when it signs out
//
// kept by package activity (what the workers sent, for the dashboard's chart):
//
//	P{b:id}:act:<h>    hash: a batch's requests, candidates, 429s and errors in
//	                   10-second buckets of hour h (unix time / 3600), field
//	                   <bucket>:<metric>; expires at the end of hour h+1
//	P activity:<h>     hash: the same for the whole deployment
//
// kept by package presence (which build each worker runs, for doctor):
//
//	P worker:<host>:<pid>  string: JSON {"version","started"} of a running
//	                   worker process, named as asynq names its server;
//	                   expires 30 s after its last refresh (every 10 s), or is
//	                   deleted when the worker stops
//
// kept by package ratelimit: P ratelimit:{<key id>}:..., listed in its doc.
//
// written by package doctor, to learn whether the ACL lets us write:
//
//	P doctor:{probe}   each kind of value in turn, deleted in the same script
//	                   (and asynq:{default}:doctor-probe likewise); lives only if
//	                   the script is refused midway, then for a minute at most
//
// Fingerprints are the first 8 bytes of a SHA-256: no email is written in plain
// text into de-duplication data, key names or the ledger.
//
// # How long a batch's keys live
//
// The record P{b:id} and the keys kept with it (:st, :segs, :rej, :rejord, :ev,
// :ff, :split, :fx, :c) live as long as one another
// (a field of :c goes earlier, with the last outcome of its chunk: RecordChunk):
//
//   - while the import has not sealed the batch: Config.UnsealedTTL (7 days)
//     after the last step of the import or of a worker recording outcomes (each
//     refreshes them), so that an import that died and is never run again is
//     cleaned up, de-duplication data included; a replay batch's do not expire
//     (the next replay finishes it);
//   - once sealed, until the batch is done: no expiry;
//   - once done: Config.Retention after it finished.
//
// A batch's shared job, P{j:ref}, lives at least as long as each record that
// names it: every batch using it pushes its expiry forward, never back (Redis's
// clock) — UnsealedTTL + Retention when the batch is created, paused, resumed
// or cancelled, Retention when a step finishes it (the step's caller does, right
// after: a crash between leaves the expiry of the creation). A batch kept
// sealed and undone for longer than UnsealedTTL + Retention with no steering
// may outlive it; its job then reads as the zero job (no target or message in
// status and find).
//
// # A small done batch
//
// A key costs Redis some 60 to 100 bytes beyond its data (its name, its entry
// and object), so the step that finishes a batch (finish in luaLib) folds what
// is small into the record: the state string :st, when at most 64 bytes (a
// batch of up to 64 candidates), becomes the record's field st; the find
// index :fx, when it holds only segment 0's fields, s0 and i0, each at most
// 64 bytes, becomes the fields xs0 and xi0 (64: Redis's default
// hash-max-listpack-value, under which the record stays one small listpack).
// The folded keys are deleted. Every reader and writer of the states (stateAt
// in luaLib, stateRead in Go) and of the index (fxGet, findScript) looks in
// the record first (the states) or after the key (the index), so a batch done
// by a build that did not fold, its keys of its own, reads as before. A late
// step on a done batch (a chunk task come again, an import run again) writes
// neither key back.
//
// The same step then packs the record (pack in luaLib): a field's name costs
// a small hash as much as a short value, so the fields of packedSchema (every
// one a done batch needs: the counters, times, job ref, owner, creator,
// segment 0's admission, the folded states and index...) become one binary
// value, numbers as varints, hex as bytes, cut into fields p0, p1... of at
// most 63 bytes (under hash-max-listpack-value); the format is packedSchema's
// doc. A value that does not fit its field's kind (an older record's id, say)
// stays a field of its own, as do the fields not in the schema: the hold and
// the callback's. Every script reads the record through rmget (rget, alive),
// which reads the hash first and the packed value for what it lacks, and adds
// to a counter through rincr, which starts from the packed value; Go reads it
// through unpackRecord (Batch) and recordValues (the readers that ask for a
// few fields). A field written after (a callback's attempt, a hold, a
// counter) is a field of its own, which wins over the packed one; the late
// steps that only repeat what the record says (a seal again, an import run
// again, a chunk task come again, a pause or cancel of the done batch) write
// nothing. A record written by a build before packing, its fields of their
// own, reads as before. A batch with a callback is packed once the callback
// is settled (callbackScript), not at the finish: see below.
//
// TestDoneOneCandidateBatchMemory (internal/httpapi) measures what a done
// batch of the vendor's sample body (one candidate, posted from an IPv4
// address) keeps, and holds it to issue 20's goal of 400 B: the record 264 B
// (a packed value of 126 B in two pieces, a listpack of about 145 B in
// jemalloc's 160-byte bin) and its batches index entry 134 B, 398 B in all;
// 558 B before packing, 918 B before folding and before the record dropped
// what can be told otherwise. The same body with six candidates keeps
// 926 B (1,150 B before packing), most of it its find index (592 B: 72 bytes
// of s0 do not fold).
//
// During a rolling upgrade, a build before packing sees a packed record as
// none (it has no field id): the batch is done and expired to it. Its status
// says expired; its find leaves the batch out; a chunk task come again, a
// late outcome, an import run again or a seal again there is refused as for
// an expired batch (MarkSending and the admission answer ErrBatchExpired), so
// it sends nothing and counts nothing: no candidate is sent again, and none
// is lost (each was decided before the pack). An older worker's callback
// task would drop the callback of an expired batch, which is why a batch
// with a callback is not packed before its callback is settled. Two chores
// of an older build err on the side of expiry too: its trim of the batches
// index deletes a packed record kept past Retention + LedgerTTL after its
// creation (a batch that ran that long), and its purge leaves a packed batch
// in P dlbatches until a newer build's purge or replay drops it.
//
// Dead letters (:dl, :dlerr, :dlmv) stay until replayed or purged. A step that
// comes after the record is gone (a late outcome, failure, split or callback
// attempt) writes nothing: none of these brings a key of the batch back, least
// of all without an expiry; the import's steps answer ErrBatchExpired. (The sent
// marks, MarkSending and ClearSending, are not guarded so yet: a state key they
// write for a batch that is gone is deleted when its id leaves the index.) The
// store caches at most 1024 dead-letter jobs (maxCachedJobs).
//
// # The find index
//
// Find (bulkinvite find, GET /v1/candidates, the dashboard's search) tells,
// for one person, every kept batch that held them and what came of it. Each
// batch keeps a find index, P{b:id}:fx, written in the steps that write the
// rest of the batch (no round trip of its own):
//
//   - AdmitSegment writes field s<segment>: per candidate and per
//     de-duplication key (DedupKeys: email ignoring case, ATS id, the CV link
//     of a CV-only candidate) its 8-byte fingerprint and the 4-byte seq,
//     sorted, 12 bytes an entry; a fingerprint, not the email, as everywhere;
//   - RecordOutcomes appends to field i<seq/64> each new success's vendor ids:
//     the seq's place in the field (1 byte), when (unix seconds, 4), the
//     invitation id and the submission id (a UUID in 16 bytes and a tag, other
//     text length-prefixed): 39 bytes for two UUIDs.
//
// A lookup lists the batches index (P batches), then runs one script per batch
// (findScript), pipelined (go-redis splits a pipeline by node on a Cluster):
// it answers nothing for a batch whose record is gone or of another owner,
// else binary-searches each segment's field (at most 64 a call, HSCAN; a
// larger batch takes more calls) and answers each match's state byte, dead
// letter and ids field. The ledger of each target found is read after, for
// ledger_until: the latest expiry of a live ledger week holding the person's
// success there. Costs, measured with MEMORY USAGE (every element sampled) on
// Redis 7.0 by TestFindIndexCost:
//
//	go test -run '^TestFindIndexCost$' -v ./internal/store/
//
//	batch of 10,000 (email + ATS id each, segments of 1,000):
//	  index 24.6 B per candidate; vendor ids +40.7 B per invited candidate
//	batch of 1: the hash 120 B with its index, +48 B with the ids
//
// and a find over 1,000 batches of 20 candidates, the person in 10 of them,
// takes about 30 ms against a local redis-server (BenchmarkFind). The time
// grows with the batches kept: every batch in retention is asked.
// # A batch's event log
//
// P{b:id}:ev says who did what to the batch: created (by whom, from where, and
// at the seal the import's counts), paused, resumed, cancelled, replayed,
// purged, callback_delivered, callback_failed, auth_stopped, auth_resumed
// (EventKinds). Every entry is written by one script that first checks that
// the record is there and then gives the log the record's expiry (pushEvent),
// so the log lives exactly as long as the record and never brings a batch
// back: a callback's outcome in the script that counts its attempt, the rest
// through RecordEvent. The creation is not stored: Events tells it from the
// record (created_at, by, from, source, replay_of, and once sealed the
// accepted and rejected counts), so a batch to which nothing else happened has
// no log key. A log written before holds its creation first; Events shows
// that one. Past MaxEvents (200, the creation counted) the oldest entry after
// the creation goes. An entry costs about 142 bytes of Redis memory with a
// typical detail (MEMORY USAGE, TestEventMemory: 344 bytes for a log of one
// entry, 28 KB for a full log of 199 replayed events); a detail is cut at
// MaxEventDetail (300) bytes.
//
// An event of a step that spans slots is written after the step, in the
// batch's slot: a crash between leaves the step without its event (a purge, an
// auth stop, a replay that died after enqueueing its batch).
//
// # Batch ids are used once
//
// A batch id names one batch for good. After its record expired, what is left of
// the batch (its dead letters) must not become the ground of a new batch under
// the same id: the new one would send again a candidate whose outcome was
// unknown, and a dead letter under a seq the new batch reuses would be replaced.
// So CreateBatch refuses an id that was used and whose record is gone, with a
// *BatchExpiredError saying when it was created, and the record step never
// replaces a dead letter (HSETNX).
//
// The memory of used ids is the batches index, P batches (creation time by id),
// written right after the record. The creating script also looks at the batch's
// dead letters, in the batch's own slot, so an id whose dead letters exist is
// refused even without its index entry. The index is trimmed (trimBatches, by
// CreateBatch at most once an hour per process, a bounded walk from the oldest
// entries): an id leaves it only when nothing of its batch is left — the record
// gone, no dead letter, none moving, nothing staged for it as a replay — and it
// was created more than Config.Retention + Config.LedgerTTL ago, so for at least
// as long as the ledger may hold its successes. Trimming never forgets an id
// whose dead letters exist, and no script writes a dead letter for a batch whose
// record is gone, so none can appear after the check. What late writes left of
// a forgotten batch is deleted with its entry.
//
// # Steps that span slots, and crashes between them
//
// Recording what the vendor answered for a chunk spans the target's slot and the
// batch's. RecordOutcomes writes, in this order, each step idempotent:
//
//  1. (global) the dead letters' job and the batch's entry in dlbatches, when there
//     are dead letters: an entry or job with nothing under it is harmless.
//  2. (target) the ledger entries of the successes, owned by batch and seq, and the
//     release of the recording run's claims on the candidates.
//  3. (batch) the outcomes, counters and dead letters, each candidate at most once.
//
// Where one node holds every key (a single node, Sentinel's master), 2 and 3 are
// one script (ledgerRecordScript, built by inSequence): one round trip, the
// ledger's part first, and an error in it stops the script before the batch's
// part. On a Cluster they are two calls.
//
// A crash after 2 leaves the candidates marked as sent (state 1) with their success
// in the ledger. The chunk's next attempt claims them again, and ClaimForSending
// answers DoneBySelf for a ledger entry this very candidate owns: the outcome is
// recorded from the ledger, never sent again. A crash after 1 only leaves an index
// entry. The ledger is written before the batch so that no recorded success can
// lack its ledger entry (invariant 2 across batches).
//
// An import spans the batch's slot and its queue's: the admit step writes a
// segment's chunk blobs (:c) with its states, and only then are the chunk tasks
// that name them enqueued, so a task never names a blob not yet written. A crash
// between leaves blobs without tasks: the import run again enqueues them (a blob
// stored already is kept, HSETNX), or they expire with the unsealed batch. A
// chunk task that runs again after its blob was deleted finds every candidate
// decided and sends nothing; one whose blob is gone while a candidate is
// undecided (a write lost with a master, see below) is archived
// (ErrChunkLost).
//
// Moving dead letters into a replay batch spans the source batches' slots and the
// replay's (see ReplayLease.Move): an entry is marked as moving (source), copied into the
// replay's staging while the run holds the replay's lease (replay), then removed
// from the source. A run that dies between leaves marks that the run taking its
// replay over adopts; a mark for a replay that was closed meanwhile is taken back.
//
// These orders hold against a crash of the process that writes, not of Redis: on
// a Cluster the target's slot and the batch's are usually on different masters,
// and one may lose its last acknowledged writes (a restart from an everysec AOF,
// a failover to a replica that lagged) while the other keeps them. They are
// durability orders only when each write is durable once acknowledged: with
// Config.WaitReplicas each of these writes — and the claims and sent marks
// written before a request — is followed by WAIT on the same connection to the
// master that holds its key; or every master fsyncs its AOF on each write
// (Persistence reports whether it does). What each mode of the worker needs from
// Redis is in docs/reliability.md ("What each mode needs from Redis").
package store
