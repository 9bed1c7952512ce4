// Command perf measures the speed and cost figures ("fast and lean") in one run
// and prints one markdown table: ours (the code of this checkout) beside a
// baseline measured in the same run, beside -baseline-rev's binary if given,
// with each goal and whether it was met.
//
// Usage, from the repository root (redis-server and git on PATH):
//
//	go run -C bench ./perf                                  # every section at the defaults; about 8 minutes on 2 cores
//	go run -C bench ./perf -baseline-rev REV -json perf.json
//	go run -C bench ./perf -only drain,pickup -drain-candidates 20000
//	go run -C bench ./perf -only import -import-rows 1000000 -import-runs 3
//	go run -C bench ./perf -short                        # every section in seconds: its test's smoke run
//
// Every process is real: the binary is built from this checkout (and, with
// -baseline-rev REV, from REV in a temporary `git worktree add --detach`,
// removed once built), each section starts its own private redis-server
// (loopback, free port, no persistence) and `bulkinvite sandbox` (always the
// current binary's), and every child is stopped on exit, on error and on
// Ctrl-C. Every wait is bounded. Sections (-only, comma-separated):
//
//	import    `bulkinvite enqueue` of a generated CSV of -import-rows rows,
//	          -import-runs times, each into an emptied database: rows/s (wall
//	          time of the process; the median run) and its peak RSS (wait4's
//	          ru_maxrss; the largest), each run's, and Redis's used memory
//	          after the last. Baseline: the same file's rows RPUSHed from Go
//	          in pipelines of 1,000 (rows/s). The same rows with an
//	          ats_candidate_id column are imported too, each run before one of
//	          the rows without, which are their baseline.
//	drain     -drain-candidates candidates enqueued while the queues are paused,
//	          then sent by one worker (BULKINVITE_RATE=BULKINVITE_BURST=10000,
//	          the most the settings allow, so the limiter never binds; chunk 50,
//	          concurrency 16). candidates/s = candidates / (last request − first
//	          request at the sandbox, on its clock); also from the unpause to the
//	          batch's finished_at. CPU per 1,000 candidates: the worker's
//	          utime+stime (/proc/PID/stat) and redis-server's used_cpu_user +
//	          used_cpu_sys (INFO cpu), deltas from the unpause to the batch done;
//	          allocations per candidate: go_memstats_mallocs_total from the
//	          worker's /metrics (--metrics-addr), n/a for a binary without it;
//	          Redis commands per candidate: the sum of calls in INFO commandstats
//	          (commands inside scripts included; the bench's few status polls and
//	          INFO calls too). Baseline: a raw poster, a Go HTTP client posting
//	          the same chunks (50 candidates, the request's JSON encoded
//	          beforehand) with concurrency 16 to the same sandbox, reset before.
//	pickup    an idle worker (running for 3 s, queues empty); -pickup-pushes
//	          single-candidate batches, one at a time: each pushed once the
//	          previous request reached the sandbox and a gap of -pickup-gap ± 50%
//	          (random, so that the pushes fall anywhere in the worker's poll
//	          cycle) has passed. Latency = the sandbox's arrival time minus the
//	          clock just before the push. Ours pushes with the producer package
//	          in process (what a Go service does); -baseline-rev's binary with its
//	          own `enqueue`, timed from its return. p50, p99 (nearest rank) and max.
//	held      BULKINVITE_RATE=200, burst 5 (the default), chunk 50,
//	          concurrency 16, one worker, enough queued for -held-duration: the
//	          whole seconds of the window from the first request (the last
//	          partial one, and any second after the queue ran dry, left out)
//	          that got fewer than 195 requests ("gap seconds"), and the mean
//	          requests/s. Baseline: the ideal, 200/s.
//	adaptive  bench/ratelimit's scenario sandbox429-adaptive (bench/internal/benchrate):
//	          the sandbox accepts 20/s, burst 5; ours BULKINVITE_RATE=40 with
//	          BULKINVITE_ADAPTIVE=true, 4 workers × concurrency 8, chunk 1, a 1 s
//	          warm-up discarded, then -adaptive-duration: accepted/s ÷ 20, and
//	          the share of 429s, overall and from 10 s after the window's start
//	          (over the whole window when it is 10 s or shorter).
//	          Baseline: scenario sandbox429 (the same at a fixed rate).
//	serve     `bulkinvite serve` over its own private Redis (no worker), per
//	          binary: -serve-clients (200) clients post the vendor's sample
//	          request (configs/sample-request.json, one candidate) in a closed
//	          loop for -serve-duration: requests/s, p50 and p99 (nearest rank)
//	          of the 202s, and the answers that were not 202; then a body of
//	          10,000 candidates, posted 3 times one at a time: the median time
//	          to its 202. Baseline: a bare net/http handler in this process
//	          that reads the body and answers 202, under the same load.
//
// Goals: pickup p99 < 300 ms; drain >= 0.35 of the raw poster;
// worker + Redis CPU per candidate halved against -baseline-rev (n/a without
// it); no gap second at 200 req/s; adaptive >= 90% of the vendor's rate with
// <= 1% 429s; import >= 150,000 rows/s and < 64 MiB peak RSS, with
// ats_candidate_id >= 200,000 rows/s and < 64 MiB; serve p99 < 50 ms and the
// 10,000-candidate body answered in < 1 s. Missing a goal is
// a figure, not a failure: the exit status is 1 only when a section could not
// be measured (2 for a usage error).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// sectionNames are the sections in the order they run.
var sectionNames = []string{"import", "drain", "pickup", "held", "adaptive", "serve"}

// options are the command-line flags.
type options struct {
	only             string
	sections         []string
	baselineRev      string
	jsonPath         string
	importRows       int
	importRuns       int
	drainCandidates  int
	pickupPushes     int
	pickupGap        time.Duration
	heldDuration     time.Duration
	adaptiveDuration time.Duration
	serveDuration    time.Duration
	serveClients     int
	keep             bool
	short            bool
	// args are the command line, for the report.
	args []string
}

// shortDefaults are -short's sizes: every section in a few seconds, for the test.
var shortDefaults = map[string]string{
	"import-rows": "1000", "drain-candidates": "1000", "pickup-pushes": "2", "pickup-gap": "0s",
	"held-duration": "1s", "adaptive-duration": "1s", "serve-duration": "1s", "serve-clients": "4",
}

func parseFlags(args []string) (options, error) {
	o := options{args: args}
	fs := flag.NewFlagSet("perf", flag.ContinueOnError)
	fs.StringVar(&o.only, "only", strings.Join(sectionNames, ","), "comma-separated sections to run")
	fs.StringVar(&o.baselineRev, "baseline-rev", "", "git revision also measured in drain, pickup and held (a column of its own)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the figures as JSON to this file")
	fs.IntVar(&o.importRows, "import-rows", 1_000_000, "rows of the generated CSV imported by enqueue")
	fs.IntVar(&o.importRuns, "import-runs", 1, "imports timed in the import section, each into an emptied database (the median is the table's)")
	fs.IntVar(&o.drainCandidates, "drain-candidates", 200_000, "candidates sent in the drain")
	fs.IntVar(&o.pickupPushes, "pickup-pushes", 50, "single-candidate pushes timed in pickup")
	fs.DurationVar(&o.pickupGap, "pickup-gap", time.Second, "mean wait between a push's arrival and the next push (± 50%)")
	fs.DurationVar(&o.heldDuration, "held-duration", 20*time.Second, "window of the held rate at 200/s")
	fs.DurationVar(&o.adaptiveDuration, "adaptive-duration", 60*time.Second, "window of each adaptive-rate scenario")
	fs.DurationVar(&o.serveDuration, "serve-duration", 20*time.Second, "window of each server's closed loop in serve")
	fs.IntVar(&o.serveClients, "serve-clients", 200, "concurrent clients of serve's closed loop")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs of every process) after a complete run")
	fs.BoolVar(&o.short, "short", false, "a smoke run of every section in seconds (1,000 rows and candidates, 2 pushes after 0.5 s idle, 1 s windows without warm-up) for the flags not given")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run -C bench ./perf [flags]\n\nsections: %s (see cd bench && go doc ./perf)\n\n", strings.Join(sectionNames, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := benchproc.FinishFlags(fs, o.short, shortDefaults); err != nil {
		return o, err
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var err error
	if o.sections, err = pickSections(o.only); err != nil {
		return err
	}
	switch {
	case o.importRows < 1000 || o.importRows > 10_000_000:
		return fmt.Errorf("-import-rows must be in [1000, 10000000], got %d", o.importRows)
	case o.importRuns < 1 || o.importRuns > 100:
		return fmt.Errorf("-import-runs must be in [1, 100], got %d", o.importRuns)
	case o.drainCandidates < 1000 || o.drainCandidates > 5_000_000:
		return fmt.Errorf("-drain-candidates must be in [1000, 5000000], got %d", o.drainCandidates)
	case o.pickupPushes < 2 || o.pickupPushes > 1000:
		return fmt.Errorf("-pickup-pushes must be in [2, 1000], got %d", o.pickupPushes)
	case o.pickupGap < 0 || o.pickupGap > 10*time.Second:
		return fmt.Errorf("-pickup-gap must be in [0, 10s], got %v", o.pickupGap)
	case o.heldDuration < time.Second || o.heldDuration > 10*time.Minute:
		return fmt.Errorf("-held-duration must be in [1s, 10m], got %v", o.heldDuration)
	case o.adaptiveDuration < time.Second || o.adaptiveDuration > 10*time.Minute:
		return fmt.Errorf("-adaptive-duration must be in [1s, 10m], got %v", o.adaptiveDuration)
	case o.serveDuration < time.Second || o.serveDuration > 10*time.Minute:
		return fmt.Errorf("-serve-duration must be in [1s, 10m], got %v", o.serveDuration)
	case o.serveClients < 1 || o.serveClients > 2000:
		return fmt.Errorf("-serve-clients must be in [1, 2000], got %d", o.serveClients)
	case strings.HasPrefix(o.baselineRev, "-"):
		return fmt.Errorf("-baseline-rev must be a git revision, got %q", o.baselineRev)
	}
	return nil
}

// pickSections parses -only: known names, blanks and repeats dropped, in the
// order they run.
func pickSections(list string) ([]string, error) {
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(sectionNames, name) {
			return nil, fmt.Errorf("-only: unknown section %q (have %s)", name, strings.Join(sectionNames, ", "))
		}
		want[name] = true
	}
	var out []string
	for _, name := range sectionNames {
		if want[name] {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-only: no section given (have %s)", strings.Join(sectionNames, ", "))
	}
	return out, nil
}

func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		return 2
	}
	ctx, stop, tmp, err := benchproc.Begin("perf")
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		return 1
	}
	defer stop()
	start := time.Now()
	figs, err := measure(ctx, o, tmp)
	figs.Took = time.Since(start).Round(time.Second).String()
	printReport(os.Stdout, o, figs)
	if o.jsonPath != "" {
		if werr := writeJSON(o.jsonPath, figs); werr != nil {
			fmt.Fprintln(os.Stderr, "perf:", werr)
			err = errors.Join(err, werr)
		}
	}
	return benchproc.Finish("perf", err, o.keep, tmp)
}
