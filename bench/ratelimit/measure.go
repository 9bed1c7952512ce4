package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/benchproc"
)

// Fixed settings of every run.
const (
	interviewSet = sandbox.DemoInterviewSetID
	apiKey       = sandbox.DefaultKey // a sandbox test key, not a secret
	// importSlack is added to the run's length when sizing the import.
	importSlack = 15 * time.Second
	// workerShutdown is BULKINVITE_SHUTDOWN_TIMEOUT; a worker gets that plus
	// stopGrace after SIGTERM before it is killed.
	workerShutdown = 5 * time.Second
	stopGrace      = 10 * time.Second
	// Bounds of the waits along the way.
	startTimeout        = 15 * time.Second
	enqueueTimeout      = 3 * time.Minute
	firstRequestTimeout = time.Minute
	pollEvery           = 50 * time.Millisecond
)

// measure builds the binary and runs each scenario in turn. It returns the
// figures of the scenarios that completed, with the first error.
func measure(ctx context.Context, o options, scens []scenario) (*report, error) {
	tmp, err := os.MkdirTemp("", "bench-ratelimit-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin, err := benchproc.Build(ctx, tmp)
	if err != nil {
		return nil, err
	}
	rep := &report{
		Date:        time.Now().UTC().Format(time.RFC3339),
		GoVersion:   runtime.Version(),
		OS:          runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:        runtime.NumCPU(),
		Duration:    o.duration.String(),
		Warmup:      o.warmup.String(),
		Settle:      o.settle.String(),
		Workers:     o.workers,
		Concurrency: o.concurrency,
		Method: "sandbox not reset; the first " + o.warmup.String() + " after its first request is discarded; " +
			"window = the next " + o.duration.String() + " on the sandbox's clock; mean = requests in window / window length",
	}
	for i, s := range scens {
		dir := filepath.Join(tmp, s.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return rep, err
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] %s: %s\n", i+1, len(scens), s.Name, s.Goal)
		res, err := runScenario(ctx, o, bin, dir, s)
		if err != nil {
			return rep, fmt.Errorf("scenario %s: %w (logs in %s with -keep)", s.Name, err, dir)
		}
		rep.Scenarios = append(rep.Scenarios, res)
		fmt.Fprintf(os.Stderr, "  %d requests, %.2f/s, peak 1s %d, 429s %d (%.1f%%)\n",
			res.Requests, res.MeanRate, res.Peak1s, res.Status429, 100*res.Share429)
	}
	return rep, nil
}

// runScenario runs one scenario with its own Redis and sandbox and returns its figures.
func runScenario(ctx context.Context, o options, bin, dir string, s scenario) (result, error) {
	var ps benchproc.Group
	defer ps.StopAll(stopGrace) // whatever happens, no child outlives the scenario

	rds, err := benchproc.StartRedis(ctx, &ps, dir, benchproc.RedisOptions{})
	if err != nil {
		return result{}, err
	}
	redisURL := rds.URL()
	sandboxURL, _, err := benchproc.StartSandbox(ctx, &ps, bin, dir, s.sandboxArgs()...)
	if err != nil {
		return result{}, err
	}
	env := map[string]string{
		"REDIS_URL":                   redisURL,
		"FLOWMINGO_API_URL":           sandboxURL,
		"FLOWMINGO_API_KEY":           apiKey,
		"BULKINVITE_RATE":             strconv.FormatFloat(s.Rate, 'g', -1, 64),
		"BULKINVITE_BURST":            strconv.Itoa(s.Burst),
		"BULKINVITE_LIMITER":          s.Limiter,
		"BULKINVITE_ADAPTIVE":         strconv.FormatBool(s.Adaptive),
		"BULKINVITE_CHUNK_SIZE":       "1",
		"BULKINVITE_CONCURRENCY":      strconv.Itoa(o.concurrency),
		"BULKINVITE_RETRY_MIN":        "100ms",
		"BULKINVITE_RETRY_MAX":        "2s",
		"BULKINVITE_SHUTDOWN_TIMEOUT": workerShutdown.String(),
		"BULKINVITE_LOG_LEVEL":        "warn",
		"BULKINVITE_LOG_FORMAT":       "json",
	}

	run := o.warmup + o.duration
	n := int(math.Ceil(s.ceilingRate(o.workers)*(run+importSlack).Seconds()*1.25)) + 100
	batchID := "bench-" + s.Name
	if err := enqueue(ctx, bin, dir, env, batchID, n); err != nil {
		return result{}, err
	}
	fmt.Fprintf(os.Stderr, "  redis %s, sandbox %s, %d candidates enqueued as batch %s\n", redisURL, sandboxURL, n, batchID)

	var workers []*benchproc.Proc
	for i := range o.workers {
		cmd := exec.Command(bin, "worker")
		cmd.Env = benchproc.ChildEnv(env)
		p, err := ps.Start(fmt.Sprintf("worker %d", i+1), cmd, filepath.Join(dir, fmt.Sprintf("worker%d.log", i+1)))
		if err != nil {
			return result{}, err
		}
		workers = append(workers, p)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	first, err := waitFirstRequest(ctx, hc, sandboxURL, workers)
	if err != nil {
		return result{}, err
	}
	// The sandbox's first request arrived at or before first, so the window
	// [its first + warmup, + duration) has ended by then; a second more covers
	// requests in flight at its end.
	end := first.Add(run + time.Second)
	fmt.Fprintf(os.Stderr, "  workers sending; measuring until %s\n", end.Format("15:04:05"))
	if err := sleepUntil(ctx, end, workers); err != nil {
		return result{}, err
	}

	// Stop the workers together, as a deploy would.
	errc := make(chan error, len(workers))
	for _, p := range workers {
		go func() { errc <- p.Stop(syscall.SIGTERM, workerShutdown+stopGrace) }()
	}
	var stopErrs []error
	for range workers {
		if err := <-errc; err != nil {
			stopErrs = append(stopErrs, err)
		}
	}

	var recs []sandbox.RequestRecord
	if err := benchproc.GetJSON(ctx, hc, sandboxURL+sandbox.PathRequests, &recs); err != nil {
		return result{}, err
	}
	res, err := analyze(recs, o.warmup, o.duration, o.settle)
	if err != nil {
		return result{}, err
	}
	var st sandbox.Stats
	if err := benchproc.GetJSON(ctx, hc, sandboxURL+sandbox.PathStats, &st); err != nil {
		return result{}, err
	}
	res.DuplicateInvites = st.DuplicateInvites
	if st.DuplicateInvites > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d candidates invited twice (invariant 2)", st.DuplicateInvites))
	}
	res.Scenario = s
	res.Enqueued = n
	res.PendingAtEnd, err = pending(ctx, bin, env, batchID)
	if err != nil {
		return result{}, err
	}
	if res.PendingAtEnd == 0 {
		res.Notes = append(res.Notes, "the queue ran dry: enqueue more")
	}
	for _, e := range stopErrs {
		res.Notes = append(res.Notes, "worker stop: "+e.Error())
	}
	return res, nil
}

// enqueue imports n generated candidates as batchID through `bulkinvite enqueue -`.
func enqueue(ctx context.Context, bin, dir string, env map[string]string, batchID string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	var in bytes.Buffer
	for i := range n {
		// ats_candidate_id must be a UUID: a made-up version 4 one, unique per row.
		fmt.Fprintf(&in, `{"ats_candidate_id":"00000000-0000-4000-8000-%012d","email":"bench+%d@example.com","firstname":"Bench","lastname":"Candidate %d"}`+"\n", i, i, i)
	}
	res, err := benchproc.Enqueue(ctx, bin, env, &in, n, "-", "--format", "jsonl", "--interview-set", interviewSet, "--batch-id", batchID)
	if err != nil {
		return err
	}
	if b, err := json.Marshal(res); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "enqueue.json"), b, 0o644)
	}
	return nil
}

// pending returns the batch's pending candidates after the run, from
// `bulkinvite status --json`: more than 0 means the workers never ran dry.
func pending(ctx context.Context, bin string, env map[string]string, batchID string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	st, err := benchproc.Status(ctx, bin, env, batchID)
	if err != nil {
		return 0, err
	}
	return int(st.Pending), nil
}

// waitFirstRequest polls the sandbox until a request has arrived and returns
// when it saw it.
func waitFirstRequest(ctx context.Context, hc *http.Client, url string, workers []*benchproc.Proc) (time.Time, error) {
	deadline := time.Now().Add(firstRequestTimeout)
	for {
		var st sandbox.Stats
		if err := benchproc.GetJSON(ctx, hc, url+sandbox.PathStats, &st); err != nil {
			return time.Time{}, err
		}
		if st.Requests > 0 {
			return time.Now(), nil
		}
		if err := allRunning(workers); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no request reached the sandbox within %v of starting the workers", firstRequestTimeout)
		}
		if err := benchproc.SleepCtx(ctx, pollEvery); err != nil {
			return time.Time{}, err
		}
	}
}

// sleepUntil waits until t, failing early if ctx ends or a worker exits.
func sleepUntil(ctx context.Context, t time.Time, workers []*benchproc.Proc) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		if err := allRunning(workers); err != nil {
			return err
		}
		if err := benchproc.SleepCtx(ctx, min(d, time.Second)); err != nil {
			return err
		}
	}
}

func allRunning(ps []*benchproc.Proc) error {
	for _, p := range ps {
		if p.Exited() {
			return fmt.Errorf("%s exited early: %v", p.Name, p.ExitErr())
		}
	}
	return nil
}
