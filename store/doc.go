// Package store owns bulkinvite's own Redis keys, everything under the configured
// prefix that is not asynq's: batch records and their counters, each candidate's
// recorded outcome, the invite ledger that stops a repeat invite, the dead letters,
// and the auth stop that halts every worker after a 401/403.
//
// Every step that must be exactly-once is one Lua script, so that a crash between
// two Redis calls cannot leave a counter and an outcome disagreeing: recording a
// chunk's outcomes, admitting a segment's candidates, and moving dead letters into a
// replay batch.
//
// It does not talk to asynq or to the vendor: producer enqueues tasks, worker sends
// requests; both record through a Store.
//
// Keys (P is the prefix, "bulkinvite:" by default):
//
//	P batch:{id}            hash: the batch record and its counters
//	P batch:{id}:out        hash: seq -> outcome code, written once per candidate
//	P batch:{id}:seen       hash: dedup key (email, ATS id or CV link) -> first seq
//	P batch:{id}:segs       hash: segment -> candidates admitted (idempotent re-runs)
//	P batch:{id}:rej        hash: source row -> rejection reason
//	P batch:{id}:ff         hash: chunk task id -> first failure time (unix ms)
//	P batch:{id}:sending    hash: seq -> when it was sent, until its outcome is recorded
//	P batch:{id}:split      hash: chunk task id -> requests spent splitting it after a 400/422
//	P batch:{id}:replay     hash: dead-letter id -> entry, for a replay batch: what it replays
//	P batch:{id}:lease      string: the replay run filling that replay batch, with a TTL
//	P batches               sorted set: batch ids by creation time
//	P ledger:{t}:{c}        string: a recorded success for target t and candidate c (hashes), with a TTL
//	P ledger:{t}:{c}:claim  string: the batch:seq sending that candidate right now, with a TTL
//	P dl:entries            hash: dead-letter id -> JSON entry
//	P dl:index              sorted set: dead-letter ids by last failure time
//	P replays:open          hash: replay batch id -> job, while the replay is being enqueued
//	P authstop              hash: API key id -> why sending stopped for that key (JSON)
//	P authstop:paused       set: the queues paused for the auth stops
//
// In Redis Cluster every key of one script must live in one slot: give the prefix a
// hash tag, e.g. "{bulkinvite}:".
package store
