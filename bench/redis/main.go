// Command redis measures the Redis memory and command cost of the store against
// its goals, for the code of this checkout ("ours") beside a baseline measured in
// the same run: by default the -baseline revision, the code before the store
// redesign. It prints one table of both.
//
// Usage, from the repository root (redis-server and git on PATH):
//
//	go run -C bench ./redis                                               # defaults below; about 6 minutes on 2 cores
//	go run -C bench ./redis -baseline "" -candidates 10000 -repeats 5      # ours only, about 40 s
//
// The baseline is checked out with `git worktree add --detach <tmp> <rev>`,
// built there and the worktree removed at once (after a kill -9 of this
// program, `git worktree prune` forgets it). Both binaries are driven the same
// way, through their CLIs only (`bulkinvite enqueue`, `worker`, `status
// --json`), each against fresh private redis-servers (loopback, free ports, no
// persistence) and a `bulkinvite sandbox` of the current binary; one worker
// process at a time, BULKINVITE_CHUNK_SIZE -chunk (50), BULKINVITE_CONCURRENCY
// -concurrency (16), BULKINVITE_RATE -rate (2000) and BULKINVITE_BURST -burst
// (200), high enough that the vendor's limit does not dominate. Per binary:
//
//  1. Import: -candidates (N, 100,000) candidates (email, name, cv_link)
//     with `enqueue` into an empty server; B/candidate = (INFO memory
//     used_memory after − before) / N, used_memory_dataset likewise.
//  2. Send path: CONFIG RESETSTAT, start the worker, poll `status --json`
//     once a second until the batch is done, stop the worker, sum the calls of
//     INFO commandstats (commands run inside scripts count too) / N. The
//     bench's own CONFIG RESETSTAT and the status polls (one status command
//     counted alone, times the polls) are taken out. Also EVAL(SHA) per chunk
//     and the most called commands per candidate; the drain time is the
//     worker's start to the batch's finished_at.
//  3. After done (ledger kept): used_memory again / N.
//  4. Dead letters: -dead-letters (M, 10,000) candidates to an interview set
//     the sandbox does not know (404: target_not_found), drained; the
//     used_memory delta / M beside the mean size of the candidate's own fields
//     (len(email)+len(name)+len(cv_link)), so that the overhead shows.
//  5. Retention, on a fresh server: with BULKINVITE_BATCH_RETENTION=-retention
//     (2s; the baseline ignores it, which is the point), the same file of
//     -repeat-candidates (K, 10,000) imported -repeats (R, 30) times as batches
//     night-<i>, each drained by a worker that stays up (round 1 invites, the
//     later rounds are skipped by the ledger: the nightly import), then a
//     little over the retention waited; used_memory after the first round, the
//     last, the largest, and the batch keys left at the end (SCAN: P{b:*}
//     but the dead letters' :dl hashes; the baseline's P batch:*).
//  6. WAIT (ours only; -wait-run=false skips it): steps 1-2 again on a fresh
//     master with one replica (--replicaof) and BULKINVITE_REDIS_WAIT_REPLICAS=1:
//     drain time and commands per candidate beside the run without WAIT.
//
// Rows "keys (MEMORY USAGE)" split the memory by key class (asynq, batch,
// ledger, dead letters, other: see classify) with MEMORY USAGE <key> SAMPLES 0.
// Memory is read a second after the last command, with only the bench's own
// client connected, except in step 5 where the worker stays connected.
//
// Every child process is stopped on exit, on failure and on Ctrl-C, and the
// baseline's worktree removed; the temp dir is removed after a complete run,
// else (or with -keep) the logs of every process are kept and their path
// printed. Exit status 0 when every figure was measured, 1 when a step
// failed, 2 for a usage error; missing a goal is a figure, not a failure.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// options are the command-line flags.
type options struct {
	baseline         string
	candidates       int
	deadLetters      int
	repeatCandidates int
	repeats          int
	retention        time.Duration
	chunk            int
	rate             float64
	burst            int
	concurrency      int
	waitRun          bool
	drainTimeout     time.Duration
	stall            time.Duration
	keep             bool
	short            bool
}

// shortDefaults are -short's sizes: the current code only, at the smallest
// sizes, for the test.
var shortDefaults = map[string]string{"baseline": "", "candidates": "100", "dead-letters": "100", "repeat-candidates": "100", "repeats": "2", "retention": "1s"}

func (o options) validate() error {
	switch {
	case o.candidates < 100 || o.candidates > 2_000_000:
		return fmt.Errorf("-candidates must be in [100, 2000000], got %d", o.candidates)
	case o.deadLetters < 100 || o.deadLetters > 1_000_000:
		return fmt.Errorf("-dead-letters must be in [100, 1000000], got %d", o.deadLetters)
	case o.repeatCandidates < 100 || o.repeatCandidates > 1_000_000:
		return fmt.Errorf("-repeat-candidates must be in [100, 1000000], got %d", o.repeatCandidates)
	case o.repeats < 2 || o.repeats > 1000:
		return fmt.Errorf("-repeats must be in [2, 1000], got %d", o.repeats)
	case o.retention < time.Second || o.retention > time.Minute:
		return fmt.Errorf("-retention must be in [1s, 1m], got %v", o.retention)
	case o.chunk < 1 || o.chunk > 500:
		return fmt.Errorf("-chunk must be in [1, 500], got %d", o.chunk)
	case !(o.rate >= 1 && o.rate <= 10000):
		return fmt.Errorf("-rate must be in [1, 10000], got %v", o.rate)
	case o.burst < 1 || o.burst > 10000:
		return fmt.Errorf("-burst must be in [1, 10000], got %d", o.burst)
	case o.concurrency < 1 || o.concurrency > 1000:
		return fmt.Errorf("-concurrency must be in [1, 1000], got %d", o.concurrency)
	case o.drainTimeout < time.Minute || o.stall < 10*time.Second:
		return errors.New("-drain-timeout must be at least 1m, -stall at least 10s")
	case strings.HasPrefix(o.baseline, "-"):
		return fmt.Errorf("-baseline must be a git revision, got %q", o.baseline)
	}
	return nil
}

func run(args []string) int {
	var o options
	fs := flag.NewFlagSet("redis", flag.ContinueOnError)
	fs.StringVar(&o.baseline, "baseline", "7b94933", `git revision measured beside the current code ("" skips it)`)
	fs.IntVar(&o.candidates, "candidates", 100_000, "N: candidates imported and sent (memory and command figures)")
	fs.IntVar(&o.deadLetters, "dead-letters", 10_000, "M: candidates sent to an unknown interview set, all dead-lettered")
	fs.IntVar(&o.repeatCandidates, "repeat-candidates", 10_000, "K: candidates of the file imported -repeats times")
	fs.IntVar(&o.repeats, "repeats", 30, "R: imports of the same file as new batches")
	fs.DurationVar(&o.retention, "retention", 2*time.Second, "BULKINVITE_BATCH_RETENTION of the repeated imports")
	fs.IntVar(&o.chunk, "chunk", 50, "BULKINVITE_CHUNK_SIZE")
	fs.Float64Var(&o.rate, "rate", 2000, "BULKINVITE_RATE (requests/s)")
	fs.IntVar(&o.burst, "burst", 200, "BULKINVITE_BURST")
	fs.IntVar(&o.concurrency, "concurrency", 16, "BULKINVITE_CONCURRENCY of the worker")
	fs.BoolVar(&o.waitRun, "wait-run", true, "also drain the N candidates with a replica and BULKINVITE_REDIS_WAIT_REPLICAS=1 (current code only)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 45*time.Minute, "longest wait for one batch to be done")
	fs.DurationVar(&o.stall, "stall", 3*time.Minute, "give up on a batch when nothing was done for this long")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, generated files, binaries) after a complete run")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: go run -C bench ./redis [flags]

Measures Redis memory per candidate, commands per candidate on the send path,
dead-letter size, memory across repeated imports and the cost of WAIT, for the
current code beside -baseline (see the package doc: cd bench && go doc ./redis).

`)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.short, "short", false, "a smoke run of a few seconds (no baseline, 100 candidates, 2 repeats) for the flags not given")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := benchproc.FinishFlags(fs, o.short, shortDefaults); err != nil {
		fmt.Fprintln(os.Stderr, "redis:", err)
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "redis:", err)
		return 2
	}

	ctx, stop, tmp, err := benchproc.Begin("redis")
	if err != nil {
		fmt.Fprintln(os.Stderr, "redis:", err)
		return 1
	}
	defer stop()
	start := time.Now()
	figs, err := runAll(ctx, o, tmp)
	if len(figs) > 0 {
		printMachine(os.Stdout, o, time.Since(start))
		printTable(os.Stdout, o, figs)
		printNotes(os.Stdout, o, figs)
	}
	return benchproc.Finish("redis", err, o.keep, tmp)
}

// runAll builds the binaries, writes the input files and measures each
// subject in turn, ours first. It returns the figures measured, baseline
// first, with the first error.
func runAll(ctx context.Context, o options, tmp string) ([]*figures, error) {
	subjects, err := buildAll(ctx, o, tmp)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, err
	}
	var f files
	if f.main, err = writeCandidates(filepath.Join(data, "main.csv"), "m", o.candidates); err != nil {
		return nil, err
	}
	if f.dead, err = writeCandidates(filepath.Join(data, "dead.csv"), "d", o.deadLetters); err != nil {
		return nil, err
	}
	if f.nightly, err = writeCandidates(filepath.Join(data, "nightly.csv"), "n", o.repeatCandidates); err != nil {
		return nil, err
	}
	sandboxBin := subjects[0].Bin // the current binary's
	var figs []*figures
	for i, s := range subjects {
		dir := filepath.Join(tmp, fmt.Sprintf("run%d-%s", i+1, strings.Fields(s.Label)[0]))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return figs, err
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] %s, logs in %s\n", i+1, len(subjects), s.Label, dir)
		fig, err := measure(ctx, o, s, sandboxBin, dir, f)
		if fig != nil {
			figs = append([]*figures{fig}, figs...) // the baseline, measured last, is the first column
		}
		if err != nil {
			return figs, fmt.Errorf("%s: %w (logs in %s)", s.Label, err, dir)
		}
	}
	return figs, nil
}

// buildAll builds the current code and, with -baseline, the baseline from a
// temporary worktree removed once built.
func buildAll(ctx context.Context, o options, tmp string) ([]subject, error) {
	oursDir := filepath.Join(tmp, "ours")
	if err := os.Mkdir(oursDir, 0o755); err != nil {
		return nil, err
	}
	bin, err := benchproc.Build(ctx, oursDir)
	if err != nil {
		return nil, err
	}
	subjects := []subject{{Label: "ours", Bin: bin, Current: true}}
	if o.baseline == "" {
		return subjects, nil
	}
	rev, bin, err := benchproc.BuildRev(ctx, o.baseline, tmp)
	if err != nil {
		return nil, err
	}
	return append(subjects, subject{Label: "baseline " + rev, Bin: bin}), nil
}

// printMachine prints the date, the machine, the versions and the command line.
func printMachine(w *os.File, o options, took time.Duration) {
	redisVersion := "redis-server --version: unknown"
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		redisVersion = strings.TrimSpace(string(out))
	}
	cpu := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = ", " + strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	fmt.Fprintf(w, "%s, %s/%s, %d CPUs%s, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, runtime.Version())
	fmt.Fprintln(w, redisVersion)
	fmt.Fprintf(w, "go run -C bench ./redis %s   (took %v)\n", strings.Join(quoteArgs(os.Args[1:]), " "), took.Round(time.Second))
	fmt.Fprintf(w, "one worker process, chunk %d, concurrency %d, rate %g/s, burst %d\n\n", o.chunk, o.concurrency, o.rate, o.burst)
}

// quoteArgs quotes the arguments a shell would split or drop ("" included).
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\") {
			a = fmt.Sprintf("%q", a)
		}
		out[i] = a
	}
	return out
}
