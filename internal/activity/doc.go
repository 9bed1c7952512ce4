// Package activity keeps a picture of the sending over the last hour: how many
// requests the workers sent to the vendor, how many candidates the vendor
// answered for, how many requests it throttled (429) and how many failed, per
// batch and for the whole deployment, in 10-second buckets (Step). The
// dashboard draws it (Reader) and estimates a batch's time to done from it.
//
// A worker's Recorder counts each request in memory (a map increment under a
// lock, no Redis round trip) and adds its counts to Redis about once a second
// (Config.FlushEvery), all keys in one pipeline, with HINCRBY: several workers
// add up. It flushes what is left when it stops. A flush that fails is logged
// and its counts dropped: the chart misses them, no chunk waits or fails.
//
// What counts as what, per request (see Kind):
//
//   - requests: every request that went, whatever came of it;
//   - candidates: the candidates of a request the vendor answered with a 2xx
//     (each then has an outcome, invited or refused, or is sent again on a
//     per-candidate transient error);
//   - 429s: requests the vendor throttled;
//   - errors: every other end: a 5xx, another 4xx (401/403, 400/422 before a
//     split), no HTTP answer (a timeout, a connection error, a shutdown).
//
// # Keys
//
// Beside the store's keys, under its prefix P (see the key list in package
// store's doc), one hash per hour (h: unix time / 3600):
//
//	P{b:id}:act:<h>    per batch, in the batch's slot
//	P activity:<h>     for the deployment
//
// whose fields are <i>:<m>, i the bucket within the hour (0-359) and m the
// metric (r requests, c candidates, t 429s, e errors; a count of 0 is not
// written), each holding a count. Each key expires at the end of the hour after
// its own (EXPIREAT, set at every flush): it is read only while it holds part of
// the last hour, and never outlives its last write by more than two hours, so a
// done batch keeps nothing of it for its retention.
//
// Memory, measured with MEMORY USAGE on Redis 7.0 (TestMemory): a batch that
// sent one candidate in one request holds one key of 104 bytes, for two hours
// at most; a batch (or the deployment) that sends through a whole hour, with no
// 429 or error, holds 37 kB for that hour (720 fields: past 128 Redis leaves
// its compact encoding), at most two such keys at a time.
//
// It does not read batches or outcomes (store) or talk to the vendor (worker
// calls Recorder.Request); drawing is the dashboard's.
package activity
