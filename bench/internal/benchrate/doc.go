// Package benchrate runs rate scenarios with real processes for the
// measurement programs under bench/ (bench/ratelimit, bench/perf): a private
// redis-server and `bulkinvite sandbox`, an import sized so that the workers
// never run dry, worker processes at a given rate, limiter, adaptive mode,
// chunk size and concurrency, and the figures of the requests the sandbox saw
// in a measurement window (Analyze): rate, accepted rate, peaks, 429 shares.
//
// Process handling (building, starting, stopping every child) is
// internal/benchproc's; what to run and how to report it stays in each program.
package benchrate
