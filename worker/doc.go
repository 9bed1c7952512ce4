// Package worker owns the asynq side of bulkinvite: the handlers that send chunks
// to the vendor (and split the segment tasks older producers wrote into chunks), the retry policy (RetryDelay,
// IsFailure), the auth stop and Resume, and Serve, which runs the handlers.
//
// A chunk is handled in this order (chunk.go): wait while sending is stopped for the
// key; drop candidates whose outcome is already recorded; claim the rest against the
// target's ledger, recording what the ledger already settles (skipped_duplicate, or
// this very candidate's success) and leaving for later those another chunk is
// sending; wait for the rate limiter; mark the candidates as sent; send; record what
// the answer shows. A candidate an earlier attempt marked as sent without recording
// an outcome is sent again (at-least-once) or dead-lettered as unknown_outcome
// (at-most-once), as Config.OnUnknown says. Every write after a request is retried
// until Redis takes it (persist.go), so that nothing the vendor did is forgotten.
//
// What each answer does is the table in docs/vendor-api.md: a 200 gives each
// candidate its outcome; 400/422 and 413 split the chunk or dead-letter it as
// validation (isolate.go); 401/403 stop every worker until `bulkinvite resume`;
// 404 dead-letters as target_not_found; 429 is a cool-down shared by every worker;
// 5xx, timeouts and connection errors are retried with backoff, then dead-lettered
// as retries_exhausted. docs/architecture.md tells what a crash at each step leaves.
//
// Deps.Observer hears of each request and its status, each rate-limiter wait, and
// each outcome and dead letter the worker records, counted once: the metrics
// (package metrics) are fed through it. Deps.Activity hears of each request by
// batch, with its candidates and status: the dashboard's chart of the sending
// (package activity) is fed through it.
//
// It does not read files or create batches (producer), hold the rate (ratelimit),
// own Redis keys (store) or speak HTTP (flowmingo).
package worker
