// Command backfill measures a large backfill end to end: a generated file of
// -rows candidates imported with `bulkinvite enqueue` into a private Redis with
// a bounded maxmemory and maxmemory-policy noeviction, then sent by workers to
// the sandbox at a high rate. Every second it samples Redis's used_memory, the
// producer's and the worker's RSS and the candidates queued and sent; it prints
// the peak Redis bytes per queued candidate, the import's rows/s and the
// drain's candidates/s, and writes the samples as CSV and a plot of them as SVG.
//
// Usage, from the repository root (redis-server on PATH):
//
//	go run -C bench ./backfill                          # 10,000,000 rows into maxmemory 1500mb
//	go run -C bench ./backfill -rows 200000 -out /tmp/bf # 30 MB of maxmemory (scaled), CSV and SVG in /tmp/bf
//	go run -C bench ./backfill -rows 200000 -max-bytes-per-candidate 100
//	go run -C bench ./backfill -short                   # seconds: its test's smoke run
//
// The binary is built from this checkout; Redis and the sandbox are private
// (loopback, free ports, no persistence) and every child is stopped on exit, on
// error and on Ctrl-C. The Redis gets maxmemory -maxmemory-mb (default 1500 MB
// for 10,000,000 rows, scaled with -rows, at least 16 MB). The import runs
// alone until it is done, or until it says "waiting for Redis memory" (the
// producer waits while Redis is full, BULKINVITE_REDIS_MEMORY_WAIT): then the
// workers start (-workers processes, concurrency 16, chunk 50,
// BULKINVITE_RATE=10000, the most the settings allow) and drain what is queued,
// making room for the rest.
//
// Figures: the peak used_memory over the whole run; Redis bytes per queued
// candidate is (used_memory − used_memory before the import) ÷ candidates
// accepted and not yet sent, at the sample with the most used_memory before the
// first candidate was sent (after it, sent candidates' kept bytes count too);
// bytes per done candidate the same ÷ candidates accepted once none is
// pending; import rows/s is rows ÷ the enqueue's wall time; drain
// candidates/s is rows ÷ (the batch done − the workers' start). With
// -max-bytes-per-candidate N (0: off) it exits 1 when the peak figure exceeds N
// (after printing everything); 1 also when the scenario could not run, 2 for a
// usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

const prog = "backfill"

// Defaults of the scenario: the backfill of issue 20.
const (
	defaultRows       = 10_000_000
	defaultMaxMemMB   = 1500 // for defaultRows
	minMaxMemMB       = 16
	defaultWorkers    = 1
	workerConcurrency = 16
	workerChunk       = 50
	drainRate         = 10000 // BULKINVITE_RATE's ceiling: the limiter never binds
)

// options are the command-line flags.
type options struct {
	rows        int
	maxMemMB    int
	workers     int
	maxBytes    float64
	out         string
	keep, short bool
}

// shortDefaults are -short's sizes.
var shortDefaults = map[string]string{"rows": "3000"}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.IntVar(&o.rows, "rows", defaultRows, "candidates in the generated file (ATS id, email, name, CV link)")
	fs.IntVar(&o.maxMemMB, "maxmemory-mb", 0, "Redis's maxmemory in MB (0: 1500 for 10,000,000 rows, scaled with -rows, at least 16)")
	fs.IntVar(&o.workers, "workers", defaultWorkers, "worker processes of the drain")
	fs.Float64Var(&o.maxBytes, "max-bytes-per-candidate", 0, "exit 1 when the peak Redis bytes per queued candidate exceed this (0: off)")
	fs.StringVar(&o.out, "out", "", "directory for samples.csv and memory.svg (default: the run's temp dir, kept)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs of every process) after a complete run")
	fs.BoolVar(&o.short, "short", false, "a smoke run in seconds (3,000 rows) for the flags not given")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := benchproc.FinishFlags(fs, o.short, shortDefaults); err != nil {
		return o, err
	}
	if o.maxMemMB == 0 {
		o.maxMemMB = max(minMaxMemMB, int(int64(defaultMaxMemMB)*int64(o.rows)/defaultRows))
	}
	switch {
	case o.rows < 1000 || o.rows > 100_000_000:
		return o, fmt.Errorf("-rows must be in [1000, 100000000], got %d", o.rows)
	case o.maxMemMB < minMaxMemMB || o.maxMemMB > 1<<20:
		return o, fmt.Errorf("-maxmemory-mb must be in [%d, %d], got %d", minMaxMemMB, 1<<20, o.maxMemMB)
	case o.workers < 1 || o.workers > 64:
		return o, fmt.Errorf("-workers must be in [1, 64], got %d", o.workers)
	case o.maxBytes < 0:
		return o, fmt.Errorf("-max-bytes-per-candidate must be >= 0, got %v", o.maxBytes)
	}
	return o, nil
}

// errOverBudget is the run's error when the peak bytes per queued candidate
// exceed -max-bytes-per-candidate.
var errOverBudget = errors.New("peak Redis bytes per queued candidate over -max-bytes-per-candidate")

func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, prog+":", err)
		return 2
	}
	ctx, stop, tmp, err := benchproc.Begin(prog)
	if err != nil {
		fmt.Fprintln(os.Stderr, prog+":", err)
		return 1
	}
	defer stop()
	out := o.out
	if out == "" {
		out, o.keep = tmp, true
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return benchproc.Finish(prog, err, o.keep, tmp)
	}
	res, err := measure(ctx, o, tmp)
	if res != nil { // after a stall too: the samples show where it stopped
		if werr := res.write(os.Stdout, filepath.Join(out, "samples.csv"), filepath.Join(out, "memory.svg")); err == nil {
			err = werr
		}
	}
	if err == nil && o.maxBytes > 0 && res.PeakBytesPerQueued > o.maxBytes {
		err = fmt.Errorf("%w: %.1f > %.1f", errOverBudget, res.PeakBytesPerQueued, o.maxBytes)
	}
	return benchproc.Finish(prog, err, o.keep, tmp)
}
