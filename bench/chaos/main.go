// Command chaos is the fault script: it runs the real bulkinvite
// binary as an operator would — redis-server with AOF, the sandbox API with
// latency, 5xx and lost replies, two or more `bulkinvite worker` processes —
// injects crashes, restarts and network cuts while a large import and two
// concurrent dead-letter replays are being sent, waits until every batch is
// done, and prints one table of what was lost or sent twice, computed from the
// vendor's own record (GET /__sandbox/invites) and ours (`bulkinvite status
// --json`, `bulkinvite deadletter list --json` and the ledger in Redis, read
// with store.LedgerRecords).
//
// Usage, from the repository root:
//
//	go run -C bench ./chaos                      # both modes, 50,000 + 20,000 candidates, ~10 min
//	go run -C bench ./chaos -mode retry -candidates 3000 -replay 1000 -rate 2 -cut 35s -redis-down 10s -gap 5s
//
// For each mode (-mode retry, deadletter or both: BULKINVITE_ON_UNKNOWN, that
// is at-least-once or at-most-once) it starts, in a temp dir, on free loopback
// ports only:
//
//   - redis-server --appendonly yes --appendfsync always;
//   - `bulkinvite sandbox` with -latency (+ -latency-jitter), -fail-rate,
//     -lost-reply-rate and, unless -process-abandoned=false, --process-abandoned
//     (a request whose client went away is acted on all the same, as a real
//     vendor would: a killed, stopped or cut-off worker leaves a repeat behind);
//   - for each of -workers worker slots, two fault proxies (internal/faultproxy):
//     one to Redis, one to the sandbox; the slot's `bulkinvite worker` process
//     gets REDIS_URL and FLOWMINGO_API_URL through them, plus FLOWMINGO_API_KEY,
//     BULKINVITE_RATE, _CONCURRENCY, _SHUTDOWN_TIMEOUT=2s, _ON_UNKNOWN and short
//     _RETRY_MIN/_MAX. The other commands (enqueue, status, deadletter) reach
//     Redis directly, as an operator's would.
//
// Then, printing each step as it happens:
//
//  1. -replay candidates are enqueued to an interview set the sandbox does not
//     know (sandbox faults off meanwhile): every chunk gets 404 and the
//     candidates are dead-lettered target_not_found.
//  2. -candidates candidates are enqueued to the sandbox's demo interview set
//     with `bulkinvite enqueue file.csv`; "t+" times count from here.
//  3. Faults, -gap apart: kill -9 a worker (and start a replacement); SIGTERM a
//     worker while it has a request in flight at the sandbox (and start a
//     replacement); two `bulkinvite deadletter replay --reason target_not_found
//     --interview-set <demo set>` processes, the second as soon as the first
//     has a replay batch open (or -replay-gap, 1 s, after it), waited for;
//     kill -9 redis-server while a request is in flight, down -redis-down,
//     restarted on the same port and data; cut the worker<->Redis link for
//     -cut, then the worker<->API link for -cut (longer than asynq's 30 s
//     lease by default).
//  4. Wait until every batch is done (-drain-timeout; earlier when no task is
//     left in any queue, or nothing moved for -stall), stop the workers, read
//     both records and classify every input candidate (see classify).
//
// Figures per mode (a column each):
//
//	lost                      input candidates (imported or replayed) neither invited (a
//	                          success in our ledger and an invite at the vendor) nor in
//	                          the dead-letter list at the end; and dead letters that vanished
//	                          in the replays: in neither the list (as themselves or as the
//	                          origin of a new entry) nor the staging of a replay batch still
//	                          open, and whose candidate has no success in our ledger (the
//	                          store drops a replay's staging once it is enqueued). A note
//	                          says when the replays' batches imported another number of
//	                          candidates than the replay commands said they moved.
//	sent twice after a        invites beyond a candidate's first made by a request that
//	recorded success          arrived at the vendor (the sandbox's record of the request)
//	                          strictly after our ledger recorded the candidate's success
//	                          (the ledger's time, by Redis's clock: one machine's clock)
//	sent twice through an     every other invite beyond the first: made by a request that
//	unknown outcome           arrived before the success was recorded (a reply was lost,
//	                          the candidate sent again), or, with no success recorded, all
//	                          but the first
//	duplicates                invites beyond the first, whatever the cause: 0 is the
//	                          promise of at-most-once (-mode deadletter)
//
// plus the candidates invited, dead-lettered by reason, every fault with its
// time, and the time to drain after the last one. A note splits the candidates
// invited more than once by the fault their first send fell in (its time,
// widened by the longest a request takes) and the vendor's answer to it: a 200
// there is a reply the vendor sent that was lost on the way or not recorded.
//
// # Other scenarios
//
// -scenario picks another run on the same processes, in each mode, with the
// same figures, defaults of its own for the flags not given (no 5xx and no lost
// replies at the sandbox), and one check more: as nothing in it loses a reply,
// any second invite fails it, at-least-once too.
//
//	-scenario rerun-split   an import killed after its first segment is run
//	                        again with the same --batch-id while chunks the
//	                        vendor refused (422) are being split (rerunsplit.go)
//	-scenario skew          a worker whose clock runs -skew (55s) ahead takes
//	                        live tasks from their holders (skew.go, skewhost.go)
//
// -scenario slowlink is a run of its own instead, with its own processes,
// -slowlink-* flags and figures: one worker's Redis link slowed past the rate
// limiter's timeout, measuring requests per second at the vendor against rate
// + burst (slowlink.go).
//
// Exit status: 0 when nothing was lost, nothing sent twice after a recorded
// success and, at most once, nothing sent twice at all; 1 when a check failed
// or the run did not complete; 2 for a usage error. Every child process is
// stopped on exit, on failure and on Ctrl-C; the temp dir is removed after a
// passing run, else its logs are kept (with -keep, the Redis data too) and
// its path printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// options are the command-line flags.
type options struct {
	mode          string
	candidates    int
	replay        int
	workers       int
	concurrency   int
	rate          float64
	latency       time.Duration
	jitter        time.Duration
	failRate      float64
	lostReplyRate float64
	abandoned     bool
	seed          uint64
	cut           time.Duration
	redisDown     time.Duration
	gap           time.Duration
	replayGap     time.Duration
	drainTimeout  time.Duration
	stall         time.Duration
	keep          bool
	scenario      string
	short         bool
}

// shortDefaults are -short's sizes: the fault script (or a scenario) in one
// mode, on a thousand candidates, each fault a second long and no kill -9 of
// a worker (see injectFaults), for the test.
var shortDefaults = map[string]string{
	"mode": "retry", "candidates": "1000", "replay": "100", "rate": "10", "concurrency": "4",
	"latency": "20ms", "latency-jitter": "300ms", "cut": "1s", "redis-down": "1s", "gap": "0s",
	"slowlink-warmup": "1s", "slowlink-for": "2s", "slowlink-after": "1s",
}

// modes returns the BULKINVITE_ON_UNKNOWN values to run, in order.
func (o options) modes() []string {
	if o.mode == "both" {
		return []string{"retry", "deadletter"}
	}
	return []string{o.mode}
}

func (o options) validate() error {
	switch {
	case o.mode != "retry" && o.mode != "deadletter" && o.mode != "both":
		return fmt.Errorf("-mode must be retry, deadletter or both, got %q", o.mode)
	case o.candidates < 1 || o.candidates > 1_000_000:
		return fmt.Errorf("-candidates must be in [1, 1000000], got %d", o.candidates)
	case o.replay < 1 || o.replay > 1_000_000:
		return fmt.Errorf("-replay must be in [1, 1000000], got %d", o.replay)
	case o.workers < 2 || o.workers > 16:
		return fmt.Errorf("-workers must be in [2, 16], got %d", o.workers)
	case o.concurrency < 1 || o.concurrency > 256:
		return fmt.Errorf("-concurrency must be in [1, 256], got %d", o.concurrency)
	case !(o.rate >= 0.5 && o.rate <= 1000):
		return fmt.Errorf("-rate must be in [0.5, 1000], got %v", o.rate)
	case o.latency < 0 || o.jitter < 0:
		return errors.New("-latency and -latency-jitter must not be negative")
	case !(o.failRate >= 0 && o.failRate < 1) || !(o.lostReplyRate >= 0 && o.lostReplyRate < 1):
		return errors.New("-fail-rate and -lost-reply-rate must be in [0, 1)")
	case o.cut < time.Second || o.redisDown < time.Second || o.gap < 0 || o.replayGap < 0:
		return errors.New("-cut and -redis-down must be at least 1s, -gap and -replay-gap not negative")
	case o.drainTimeout < time.Minute || o.stall < time.Minute:
		return errors.New("-drain-timeout and -stall must be at least 1m")
	case o.scenario != scenarioFaults && o.scenario != scenarioSlowLink && scenarios[o.scenario] == nil:
		return fmt.Errorf("-scenario must be one of %s, got %q", scenarioNames(), o.scenario)
	}
	return nil
}

func run(args []string) int {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.StringVar(&o.mode, "mode", "both", "BULKINVITE_ON_UNKNOWN of the workers: retry (at-least-once), deadletter (at-most-once) or both (one run each)")
	fs.IntVar(&o.candidates, "candidates", 50_000, "candidates in the import")
	fs.IntVar(&o.replay, "replay", 20_000, "dead letters made first, then replayed by two concurrent replays")
	fs.IntVar(&o.workers, "workers", 2, "worker processes running at once (at least 2)")
	fs.IntVar(&o.concurrency, "concurrency", 12, "BULKINVITE_CONCURRENCY of each worker")
	fs.Float64Var(&o.rate, "rate", 10, "BULKINVITE_RATE: requests/s to the API, all workers together (chunks of 50 candidates)")
	fs.DurationVar(&o.latency, "latency", 200*time.Millisecond, "sandbox --latency")
	fs.DurationVar(&o.jitter, "latency-jitter", 2800*time.Millisecond, "sandbox --latency-jitter (some requests outlast the workers' 2s shutdown timeout)")
	fs.Float64Var(&o.failRate, "fail-rate", 0.05, "sandbox --fail-rate (500/503, nothing processed)")
	fs.Float64Var(&o.lostReplyRate, "lost-reply-rate", 0.02, "sandbox --lost-reply-rate (processed, then 504 or connection closed)")
	fs.BoolVar(&o.abandoned, "process-abandoned", true, "sandbox --process-abandoned: the vendor acts on a request whose client went away during the latency")
	fs.Uint64Var(&o.seed, "seed", 7, "sandbox --seed")
	fs.DurationVar(&o.cut, "cut", 40*time.Second, "how long each link cut lasts (asynq's lease is 30s)")
	fs.DurationVar(&o.redisDown, "redis-down", 20*time.Second, "how long redis-server stays down after its kill -9")
	fs.DurationVar(&o.gap, "gap", 15*time.Second, "time between the end of one fault and the start of the next")
	fs.DurationVar(&o.replayGap, "replay-gap", time.Second, "the second replay starts as soon as the first has a replay batch open, or this long after it")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 20*time.Minute, "longest wait for every batch to be done after the last fault")
	fs.DurationVar(&o.stall, "stall", 4*time.Minute, "stop waiting when no batch counter moved for this long")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs and Redis data) even after a passing run")
	fs.StringVar(&o.scenario, "scenario", scenarioFaults, "what to run: "+scenarioNames()+" (see the package doc); a scenario sets its own defaults for the flags not given")
	slow := slowLinkFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: go run -C bench ./chaos [flags]

Runs real redis-server, sandbox and bulkinvite worker processes, injects
crashes, restarts and link cuts during a large import and two concurrent
dead-letter replays, and prints what was lost or sent twice (see the package
doc: cd bench && go doc ./chaos). Exit status 1 when a check fails.

Quick run: go run -C bench ./chaos -mode retry -candidates 3000 -replay 1000 -rate 2 -cut 35s -redis-down 10s -gap 5s
Scenarios: go run -C bench ./chaos -scenario rerun-split; go run -C bench ./chaos -scenario skew;
go run -C bench ./chaos -scenario slowlink

`)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.short, "short", false, "a smoke run of seconds (one mode, 1,000 + 100 candidates, 1s faults, no kill -9 of a worker) for the flags not given, before a scenario's own defaults")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := benchproc.FinishFlags(fs, o.short, shortDefaults); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if err := applyScenarioDefaults(fs, o.scenario); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}

	ctx, stop, tmp, err := benchproc.Begin("chaos")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer stop()
	if o.scenario == scenarioSlowLink {
		return benchproc.Finish("chaos", runSlowLink(ctx, o, *slow, tmp, os.Stdout), o.keep, tmp)
	}
	results, err := runAll(ctx, o, tmp)
	switch {
	case len(results) > 0 && o.scenario != scenarioFaults:
		printScenarioTable(os.Stdout, o, results)
	case len(results) > 0:
		printTable(os.Stdout, o, results)
	}
	failed := err != nil
	for _, r := range results {
		failed = failed || len(r.failures()) > 0
	}
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "chaos: interrupted")
	case err != nil:
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
	if failed || o.keep {
		if !o.keep {
			dropRedisData(tmp)
		}
		fmt.Fprintf(os.Stderr, "logs of every process are in %s (remove it when done)\n", tmp)
	} else {
		_ = os.RemoveAll(tmp)
	}
	if failed {
		return 1
	}
	return 0
}

// runAll builds the binary and runs each mode in turn, each in a directory of
// its own under tmp. It returns the results of the modes that completed.
func runAll(ctx context.Context, o options, tmp string) ([]*result, error) {
	bin, err := benchproc.Build(ctx, tmp)
	if err != nil {
		return nil, err
	}
	var results []*result
	for i, mode := range o.modes() {
		dir := filepath.Join(tmp, mode)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return results, err
		}
		fmt.Fprintf(os.Stderr, "\n[%d/%d] mode %s (BULKINVITE_ON_UNKNOWN=%s), logs in %s\n", i+1, len(o.modes()), modeTitle(mode), mode, dir)
		run := runMode
		if o.scenario != scenarioFaults {
			run = runScenario
		}
		r, err := run(ctx, o, bin, dir, mode)
		if r != nil {
			results = append(results, r)
		}
		if err != nil {
			return results, fmt.Errorf("mode %s: %w (logs in %s)", mode, err, dir)
		}
	}
	return results, nil
}

// modeTitle names a BULKINVITE_ON_UNKNOWN value by its promise.
func modeTitle(mode string) string {
	if mode == "deadletter" {
		return "at-most-once"
	}
	return "at-least-once"
}

// dropRedisData removes the Redis data files of every mode under tmp, keeping
// the logs: they are large and a failed run is read from its logs.
func dropRedisData(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "*", "redis"))
	for _, d := range dirs {
		_ = os.RemoveAll(filepath.Join(d, "appendonlydir"))
		_ = os.Remove(filepath.Join(d, "dump.rdb"))
	}
}
