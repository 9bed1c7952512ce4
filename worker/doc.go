// Package worker owns the asynq side of bulkinvite: the handlers that split segment
// tasks into chunk tasks and send chunks to the vendor, the retry policy, and the
// server that runs them.
//
// A chunk is handled in this order: drop candidates whose outcome is already recorded
// (a retry, a crash, a re-run), drop those the ledger says were invited to the same
// target before (recorded as skipped_duplicate, unless the job asks to reinvite), wait
// for the rate limiter, send, and record every candidate's outcome in one atomic
// store step. What the vendor's answer means is API.md's table:
//
//   - 200: each candidate invited, cv_queued or dead-lettered with the vendor's error fields.
//   - 400/422: the chunk is split in two until the offending candidates stand alone;
//     those are dead-lettered as validation, the rest are sent.
//   - 401/403: every worker stops sending with that key (an auth stop in Redis); the
//     chunk waits in the queue without spending an attempt until `bulkinvite resume`.
//   - 404: the chunk's candidates are dead-lettered as target_not_found.
//   - 429: a shared cool-down for every worker; the chunk waits without spending an attempt.
//   - 5xx, timeouts, connection errors: retried with backoff; on the last attempt the
//     open candidates are dead-lettered as retries_exhausted. A reply lost after the
//     vendor may have acted is retried (at-least-once) or dead-lettered as
//     unknown_outcome (at-most-once), as Config.OnUnknown says.
//
// It does not read files or create batches (producer), nor hold the rate (ratelimit).
package worker
