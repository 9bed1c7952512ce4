package benchrate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
)

// Fixed settings of every run.
const (
	// InterviewSet is the target of every generated candidate: one the sandbox
	// always knows.
	InterviewSet = sandbox.DemoInterviewSetID
	// APIKey is the workers' FLOWMINGO_API_KEY: a sandbox test key, not a secret.
	APIKey = sandbox.DefaultKey
	// WorkerShutdown is BULKINVITE_SHUTDOWN_TIMEOUT; a worker gets that plus
	// StopGrace after SIGTERM before it is killed.
	WorkerShutdown = 5 * time.Second
	StopGrace      = 10 * time.Second
	// importSlack is added to the run's length when sizing the import; a run
	// shorter than it (a smoke run) gets as much slack as it is long, at least
	// minSlack, so that sizing it does not take longer than running it.
	importSlack = 15 * time.Second
	minSlack    = 2 * time.Second
	// Bounds of the waits along the way.
	startTimeout        = 15 * time.Second
	enqueueTimeout      = 3 * time.Minute
	firstRequestTimeout = time.Minute
	pollEvery           = 50 * time.Millisecond
)

// Options are the settings of a run that are not the scenario's.
type Options struct {
	// Warmup is discarded after the first request reached the sandbox; the
	// window is the Duration that follows; 429 shares are also given from
	// Settle after the window's start.
	Warmup, Duration, Settle time.Duration
	// Workers is the number of worker processes, Concurrency the
	// BULKINVITE_CONCURRENCY of each.
	Workers, Concurrency int
	// ChunkSize is BULKINVITE_CHUNK_SIZE; 0 means 1, so that one request is
	// one candidate.
	ChunkSize int
	// SandboxBin serves the sandbox; empty: the binary measured.
	SandboxBin string
}

func (o Options) chunk() int { return max(o.ChunkSize, 1) }

// Env is the environment of every bulkinvite command of scenario s against
// the Redis at redisURL and the sandbox at sandboxURL: s's rate, burst,
// limiter and adaptive mode, chunk size chunk and concurrency concurrency.
func Env(redisURL, sandboxURL string, s Scenario, concurrency, chunk int) map[string]string {
	return map[string]string{
		"REDIS_URL":                   redisURL,
		"FLOWMINGO_API_URL":           sandboxURL,
		"FLOWMINGO_API_KEY":           APIKey,
		"BULKINVITE_RATE":             strconv.FormatFloat(s.Rate, 'g', -1, 64),
		"BULKINVITE_BURST":            strconv.Itoa(s.Burst),
		"BULKINVITE_LIMITER":          s.Limiter,
		"BULKINVITE_ADAPTIVE":         strconv.FormatBool(s.Adaptive),
		"BULKINVITE_CHUNK_SIZE":       strconv.Itoa(chunk),
		"BULKINVITE_CONCURRENCY":      strconv.Itoa(concurrency),
		"BULKINVITE_RETRY_MIN":        "100ms",
		"BULKINVITE_RETRY_MAX":        "2s",
		"BULKINVITE_SHUTDOWN_TIMEOUT": WorkerShutdown.String(),
		"BULKINVITE_LOG_LEVEL":        "warn",
		"BULKINVITE_LOG_FORMAT":       "json",
	}
}

// Run runs scenario s with the binary bin: its own private redis-server and
// sandbox, an import sized so that the workers never run dry, o.Workers
// worker processes for the warm-up and the window, then every request's
// arrival read from the sandbox and analysed. Logs go to dir; every child is
// stopped before Run returns.
func Run(ctx context.Context, o Options, bin, dir string, s Scenario) (Result, error) {
	var ps benchproc.Group
	defer ps.StopAll(StopGrace) // whatever happens, no child outlives the scenario

	rds, err := benchproc.StartRedis(ctx, &ps, dir, benchproc.RedisOptions{})
	if err != nil {
		return Result{}, err
	}
	sandboxBin := o.SandboxBin
	if sandboxBin == "" {
		sandboxBin = bin
	}
	sandboxURL, _, err := benchproc.StartSandbox(ctx, &ps, sandboxBin, dir, s.SandboxArgs()...)
	if err != nil {
		return Result{}, err
	}
	env := Env(rds.URL(), sandboxURL, s, o.Concurrency, o.chunk())

	run := o.Warmup + o.Duration
	slack := min(importSlack, max(minSlack, run))
	n := o.chunk() * (int(math.Ceil(s.CeilingRate(o.Workers)*(run+slack).Seconds()*1.25)) + 100)
	batchID := "bench-" + s.Name
	if err := Enqueue(ctx, bin, dir, env, batchID, 0, n); err != nil {
		return Result{}, err
	}
	fmt.Fprintf(os.Stderr, "  redis %s, sandbox %s, %d candidates enqueued as batch %s\n", rds.URL(), sandboxURL, n, batchID)

	workers, err := StartWorkers(&ps, bin, dir, env, o.Workers)
	if err != nil {
		return Result{}, err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	first, err := WaitFirstRequest(ctx, hc, sandboxURL, workers)
	if err != nil {
		return Result{}, err
	}
	// The sandbox's first request arrived at or before first, so the window
	// [its first + warmup, + duration) has ended by then; a second more covers
	// requests in flight at its end.
	end := first.Add(run + time.Second)
	fmt.Fprintf(os.Stderr, "  workers sending; measuring until %s\n", end.Format("15:04:05"))
	if err := SleepUntil(ctx, end, workers); err != nil {
		return Result{}, err
	}
	stopErrs := StopWorkers(workers) // together, as a deploy would

	res, err := collect(ctx, hc, sandboxURL, o)
	if err != nil {
		return Result{}, err
	}
	res.Scenario = s
	res.Enqueued = n
	res.PendingAtEnd, err = pending(ctx, bin, env, batchID)
	if err != nil {
		return Result{}, err
	}
	if res.PendingAtEnd == 0 {
		res.Notes = append(res.Notes, "the queue ran dry: enqueue more")
	}
	for _, e := range stopErrs {
		res.Notes = append(res.Notes, "worker stop: "+e.Error())
	}
	return res, nil
}

// collect reads every request and the counters from the sandbox at url and
// analyses them.
func collect(ctx context.Context, hc *http.Client, url string, o Options) (Result, error) {
	var recs []sandbox.RequestRecord
	if err := benchproc.GetJSON(ctx, hc, url+sandbox.PathRequests, &recs); err != nil {
		return Result{}, err
	}
	res, err := Analyze(recs, o.Warmup, o.Duration, o.Settle)
	if err != nil {
		return Result{}, err
	}
	var st sandbox.Stats
	if err := benchproc.GetJSON(ctx, hc, url+sandbox.PathStats, &st); err != nil {
		return Result{}, err
	}
	res.DuplicateInvites = st.DuplicateInvites
	if st.DuplicateInvites > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d candidates invited twice (invariant 2)", st.DuplicateInvites))
	}
	res.Records = recs
	return res, nil
}

// WriteCandidates writes n generated candidates as JSON lines, numbered from
// first: each has its own email and ats_candidate_id, so that candidates of
// different numbers are different people.
func WriteCandidates(w io.Writer, first, n int) error {
	for i := first; i < first+n; i++ {
		// ats_candidate_id must be a UUID: a made-up version 4 one, unique per row.
		if _, err := fmt.Fprintf(w, `{"ats_candidate_id":"00000000-0000-4000-8000-%012d","email":"bench+%d@example.com","firstname":"Bench","lastname":"Candidate %d"}`+"\n", i, i, i); err != nil {
			return err
		}
	}
	return nil
}

// Enqueue imports n generated candidates (WriteCandidates from first) as
// batchID to InterviewSet through `bin enqueue -`, and writes its result to
// dir/enqueue-<batchID>.json.
func Enqueue(ctx context.Context, bin, dir string, env map[string]string, batchID string, first, n int) error {
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	var in bytes.Buffer
	if err := WriteCandidates(&in, first, n); err != nil {
		return err
	}
	res, err := benchproc.Enqueue(ctx, bin, env, &in, n, "-", "--format", "jsonl", "--interview-set", InterviewSet, "--batch-id", batchID)
	if err != nil {
		return err
	}
	if b, err := json.Marshal(res); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "enqueue-"+batchID+".json"), b, 0o644)
	}
	return nil
}

// StartWorkers starts n `bin worker args...` processes with env as part of g,
// logging to dir/worker<i>.log.
func StartWorkers(g *benchproc.Group, bin, dir string, env map[string]string, n int, args ...string) ([]*benchproc.Proc, error) {
	var workers []*benchproc.Proc
	for i := range n {
		cmd := exec.Command(bin, append([]string{"worker"}, args...)...)
		cmd.Env = benchproc.ChildEnv(env)
		p, err := g.Start(fmt.Sprintf("worker %d", i+1), cmd, filepath.Join(dir, fmt.Sprintf("worker%d.log", i+1)))
		if err != nil {
			return workers, err
		}
		workers = append(workers, p)
	}
	return workers, nil
}

// StopWorkers stops the workers together with SIGTERM, each killed after
// WorkerShutdown+StopGrace, and returns the exits that were not clean.
func StopWorkers(workers []*benchproc.Proc) []error {
	errc := make(chan error, len(workers))
	for _, p := range workers {
		go func() { errc <- p.Stop(syscall.SIGTERM, WorkerShutdown+StopGrace) }()
	}
	var errs []error
	for range workers {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	return errs
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

// WaitFirstRequest polls the sandbox at url until a request has arrived and
// returns when it saw it; it fails when a worker exits first or after a minute.
func WaitFirstRequest(ctx context.Context, hc *http.Client, url string, workers []*benchproc.Proc) (time.Time, error) {
	deadline := time.Now().Add(firstRequestTimeout)
	for {
		var st sandbox.Stats
		if err := benchproc.GetJSON(ctx, hc, url+sandbox.PathStats, &st); err != nil {
			return time.Time{}, err
		}
		if st.Requests > 0 {
			return time.Now(), nil
		}
		if err := AllRunning(workers); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no request reached the sandbox within %v of starting the workers", firstRequestTimeout)
		}
		if err := sleep.For(ctx, pollEvery); err != nil {
			return time.Time{}, err
		}
	}
}

// SleepUntil waits until t, failing early if ctx ends or a worker exits.
func SleepUntil(ctx context.Context, t time.Time, workers []*benchproc.Proc) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		if err := AllRunning(workers); err != nil {
			return err
		}
		if err := sleep.For(ctx, min(d, time.Second)); err != nil {
			return err
		}
	}
}

// AllRunning fails naming the first process of ps that has exited.
func AllRunning(ps []*benchproc.Proc) error {
	for _, p := range ps {
		if p.Exited() {
			return fmt.Errorf("%s exited early: %v", p.Name, p.ExitErr())
		}
	}
	return nil
}
