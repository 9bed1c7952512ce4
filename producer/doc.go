// Package producer reads candidate files and enqueues them as batches. It is the
// supported way for a Go service to enqueue candidates: what `bulkinvite enqueue`
// and `serve` do, without going through either.
//
// # Enqueuing from Go
//
// A Go caller needs its go-redis v9 client on the Redis the workers use (a single
// node, Sentinel or a Cluster: any redis.UniversalClient) and two calls (see
// Example):
//
//   - FromRedis(rdb, Config{Prefix: ...}) with the workers' key prefix
//     (BULKINVITE_PREFIX; zero: "bulkinvite:"). The rest of Config's zero value
//     is the workers' defaults (BULKINVITE_SEGMENT_SIZE,
//     BULKINVITE_BULK_THRESHOLD; set them if the deployment changed them);
//   - Import(ctx, NewSliceSource(cands), Options{BatchID: ..., Job: ...}), with
//     the target and message in Options.Job. Give a BatchID of your own to make a
//     retried call safe: the same id twice is one batch, and a re-run after a crash
//     completes it without enqueuing anything twice; the same id with other
//     candidates is refused (ErrOtherInput). Rejected candidates come back in
//     Result.Rejects (and through Options.OnReject), each naming its position and
//     field; an error wrapping ErrUsage is a mistake in the call (a bad target, a
//     batch id reused for another job or other candidates).
//
// Producer.Status then reads progress, the same fields as `bulkinvite status
// --json`; the batch is done when Pending is 0. Dead letters are listed and
// replayed with `bulkinvite deadletter` or the HTTP API (`serve`).
//
// # Readers
//
// The readers — CSVSource, JSONLSource, JSONSource and SliceSource, opened by
// format with Open or NewSource — turn outside input into a stream of Records: each
// either a normalised candidate that passed payload.ValidateCandidate, or a row
// rejected with a RowError naming its line (or candidate position) and field. They
// stream: memory stays flat however many rows a file has, and one runaway record
// (an unterminated quote, a line without an end) is refused rather than buffered.
// They do not de-duplicate, do not know the target, and do no Redis I/O.
//
// Producer.Import takes a Source to a batch on the queue: the batch record,
// de-duplication within the batch segment by segment, the chunk tasks with their
// deterministic ids (enqueued a few at once while the next segment is read) and
// the queue each goes to, so that a re-run with the same batch id enqueues nothing
// twice. Before it seals the batch (and every few thousand candidates) it checks
// that the chunk tasks it enqueued are in Redis and enqueues again any that a
// failover lost. Sending to the vendor is the worker's.
package producer
