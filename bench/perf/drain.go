package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// Settings of the drain and of pickup.
const (
	drainChunk       = 50
	drainConcurrency = 16
	// drainRate is BULKINVITE_RATE and _BURST: the most the settings allow,
	// 10,000 requests (500,000 candidates) a second, so that the limiter
	// never binds.
	drainRate = 10000
	// statusEvery spaces the status polls once the sandbox has seen every
	// candidate.
	statusEvery = 100 * time.Millisecond
	doneTimeout = time.Minute
)

// drainFigures are one binary's drain, or the raw poster's.
type drainFigures struct {
	Candidates int `json:"candidates"`
	// CandPerS is candidates / (last − first request at the sandbox).
	CandPerS float64 `json:"candidates_per_s"`
	// E2EPerS is candidates / (the queues' unpause → the batch's finished_at).
	E2EPerS float64 `json:"end_to_end_candidates_per_s,omitempty"`
	// WorkerCPU and RedisCPU are CPU time per 1,000 candidates.
	WorkerCPU time.Duration `json:"worker_cpu_per_1000_ns,omitempty"`
	RedisCPU  time.Duration `json:"redis_cpu_per_1000_ns,omitempty"`
	// AllocsPerCand is the worker's mallocs per candidate; 0 with AllocsNote
	// saying why when it could not be read.
	AllocsPerCand float64 `json:"allocs_per_candidate,omitempty"`
	AllocsNote    string  `json:"allocs_note,omitempty"`
	// CommandsPerCand is Redis's calls per candidate.
	CommandsPerCand float64 `json:"redis_commands_per_candidate,omitempty"`
	// Requests is the requests the sandbox saw; Non200 those not answered 200.
	Requests int `json:"requests"`
	Non200   int `json:"non_200"`
}

// drainSection drains the same number of candidates with each binary, then
// posts them raw, against one sandbox reset between.
func (b *bench) drainSection(ctx context.Context) error {
	dir, err := b.dir("drain")
	if err != nil {
		return err
	}
	var g benchproc.Group
	defer g.StopAll(benchrate.StopGrace)
	sandboxURL, _, err := benchproc.StartSandbox(ctx, &g, b.ours.Bin, dir)
	if err != nil {
		return err
	}
	for _, s := range b.subjects() {
		f, err := b.drainOne(ctx, s, sandboxURL)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Label, err)
		}
		b.figs.Drain[s.Label] = f
	}
	f, err := b.rawPost(ctx, sandboxURL)
	if err != nil {
		return fmt.Errorf("raw poster: %w", err)
	}
	b.figs.RawPost = f
	return nil
}

// drainRun is one binary's drain: its Redis, worker and counters.
type drainRun struct {
	b          *bench
	s          subject
	dir        string
	sandboxURL string
	env        map[string]string
	rdb        *redis.Client
	worker     *benchproc.Proc
	metricsURL string // "" when the binary has no --metrics-addr
	batchID    string
}

// drainCounters are read before and after the drain.
type drainCounters struct {
	worker  time.Duration
	redis   redisCounters
	mallocs float64
	mOK     bool
}

// drainOne enqueues the candidates with the queues paused, starts the
// worker, reads the counters, unpauses and waits for the batch to be done.
func (b *bench) drainOne(ctx context.Context, s subject, sandboxURL string) (*drainFigures, error) {
	dir, err := b.dir("drain/" + strings.ReplaceAll(s.Label, " ", "-"))
	if err != nil {
		return nil, err
	}
	var g benchproc.Group
	defer g.StopAll(benchrate.StopGrace)
	r := &drainRun{b: b, s: s, dir: dir, sandboxURL: sandboxURL, batchID: "drain"}
	if err := r.start(ctx, &g); err != nil {
		return nil, err
	}
	defer r.rdb.Close()
	n := b.o.drainCandidates
	logf("[%s] enqueuing %d candidates, queues paused", s.Label, n)
	if err := benchrate.Enqueue(ctx, s.Bin, dir, r.env, r.batchID, 0, n); err != nil {
		return nil, err
	}
	if err := postReset(ctx, b.hc, sandboxURL); err != nil {
		return nil, err
	}
	before, err := r.counters(ctx)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := r.pause(false); err != nil {
		return nil, err
	}
	st, err := r.waitDone(ctx, n)
	if err != nil {
		return nil, err
	}
	after, err := r.counters(ctx)
	if err != nil {
		return nil, err
	}
	if errs := benchrate.StopWorkers([]*benchproc.Proc{r.worker}); len(errs) > 0 {
		logf("[%s] warning: %v", s.Label, errs[0])
	}
	f, err := sandboxRate(ctx, b.hc, sandboxURL, n)
	if err != nil {
		return nil, err
	}
	if st.FinishedAt != nil {
		f.E2EPerS = float64(n) / st.FinishedAt.Sub(t0).Seconds()
	}
	r.fill(f, before, after)
	logf("[%s] %.0f candidates/s at the sandbox, worker %s and Redis %s CPU per 1,000", s.Label, f.CandPerS, ms(f.WorkerCPU), ms(f.RedisCPU))
	return f, nil
}

// start starts the Redis and the worker (with --metrics-addr when the binary
// has it), the queues paused so that the worker idles until the counters are read.
func (r *drainRun) start(ctx context.Context, g *benchproc.Group) error {
	rds, err := benchproc.StartRedis(ctx, g, r.dir, benchproc.RedisOptions{})
	if err != nil {
		return err
	}
	r.rdb = redis.NewClient(&redis.Options{Addr: rds.Addr()})
	r.env = benchrate.Env(rds.URL(), r.sandboxURL, benchrate.Scenario{Limiter: "global", Rate: drainRate, Burst: drainRate}, drainConcurrency, drainChunk)
	if err := r.pause(true); err != nil {
		return err
	}
	var args []string
	if hasFlag(ctx, r.s.Bin, "--metrics-addr", "worker", "--help") {
		port, err := benchproc.FreePort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args = []string{"--metrics-addr", addr}
		r.metricsURL = "http://" + addr + "/metrics"
	}
	ws, err := benchrate.StartWorkers(g, r.s.Bin, r.dir, r.env, 1, args...)
	if err != nil {
		return err
	}
	r.worker = ws[0]
	return r.waitReady(ctx)
}

// pause pauses (or resumes) every queue of ours, on a Redis Cluster every
// shard (task.Sharded), through asynq's inspector.
func (r *drainRun) pause(on bool) error {
	in := asynq.NewInspectorFromRedisClient(r.rdb)
	queues := task.Queues
	if task.Sharded(r.rdb) {
		queues = task.AllShards()
	}
	for _, q := range queues {
		var err error
		if on {
			err = in.PauseQueue(q)
		} else {
			err = in.UnpauseQueue(q)
		}
		if err != nil {
			return fmt.Errorf("pause %s=%v: %w", q, on, err)
		}
	}
	return nil
}

// waitReady waits until the worker answers on /metrics, or 2 s without it.
func (r *drainRun) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	if r.metricsURL == "" {
		deadline = time.Now().Add(2 * time.Second)
	}
	for time.Now().Before(deadline) {
		if r.worker.Exited() {
			return fmt.Errorf("worker exited at start: %v", r.worker.ExitErr())
		}
		if r.metricsURL != "" {
			if _, _, err := scrapeMallocs(ctx, r.b.hc, r.metricsURL); err == nil {
				return nil
			}
		}
		if err := sleep.For(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if r.metricsURL != "" {
		return fmt.Errorf("worker's %s not answering after 15 s", r.metricsURL)
	}
	return nil
}

// counters reads the worker's CPU and mallocs and Redis's CPU and calls.
func (r *drainRun) counters(ctx context.Context) (drainCounters, error) {
	var c drainCounters
	var err error
	if r.metricsURL != "" {
		if c.mallocs, c.mOK, err = scrapeMallocs(ctx, r.b.hc, r.metricsURL); err != nil {
			return c, err
		}
	}
	if c.worker, err = procCPU(r.worker.Pid()); err != nil {
		return c, err
	}
	c.redis, err = readRedisCounters(ctx, r.rdb)
	return c, err
}

// fill computes the per-candidate figures from the counters.
func (r *drainRun) fill(f *drainFigures, before, after drainCounters) {
	n := float64(f.Candidates)
	f.WorkerCPU = time.Duration(float64(after.worker-before.worker) * 1000 / n)
	f.RedisCPU = time.Duration(float64(after.redis.CPU-before.redis.CPU) * 1000 / n)
	f.CommandsPerCand = float64(after.redis.Calls-before.redis.Calls) / n
	switch {
	case r.metricsURL == "":
		f.AllocsNote = "no worker --metrics-addr"
	case !before.mOK || !after.mOK:
		f.AllocsNote = "no " + mallocsMetric + " at /metrics (Go collector not registered)"
	default:
		f.AllocsPerCand = (after.mallocs - before.mallocs) / n
	}
}

// waitDone waits until the sandbox has seen n candidates, then until the
// batch is done (status --json), failing if the worker exits or nothing
// moves for a minute.
func (r *drainRun) waitDone(ctx context.Context, n int) (store.Status, error) {
	last, lastMove := -1, time.Now()
	for {
		var st sandbox.Stats
		if err := benchproc.GetJSON(ctx, r.b.hc, r.sandboxURL+sandbox.PathStats, &st); err != nil {
			return store.Status{}, err
		}
		if st.Candidates >= n {
			break
		}
		if st.Candidates != last {
			last, lastMove = st.Candidates, time.Now()
		}
		if err := r.stalled(lastMove, fmt.Sprintf("%d of %d candidates at the sandbox", st.Candidates, n)); err != nil {
			return store.Status{}, err
		}
		if err := sleep.For(ctx, statusEvery); err != nil {
			return store.Status{}, err
		}
	}
	return r.waitStatusDone(ctx)
}

// waitStatusDone polls `status --json` until the batch is done.
func (r *drainRun) waitStatusDone(ctx context.Context) (store.Status, error) {
	start := time.Now()
	for {
		st, err := benchproc.Status(ctx, r.s.Bin, r.env, r.batchID)
		if err != nil || st.State == store.StateDone {
			return st, err
		}
		if err := r.stalled(start, fmt.Sprintf("batch not done (pending %d)", st.Pending)); err != nil {
			return st, err
		}
		if err := sleep.For(ctx, statusEvery); err != nil {
			return st, err
		}
	}
}

// stalled fails when the worker exited or since has been doneTimeout ago.
func (r *drainRun) stalled(since time.Time, what string) error {
	switch {
	case r.worker.Exited():
		return fmt.Errorf("worker exited: %v; %s (log in %s)", r.worker.ExitErr(), what, r.dir)
	case time.Since(since) > doneTimeout:
		return fmt.Errorf("nothing moved for %v: %s (log in %s)", doneTimeout, what, r.dir)
	}
	return nil
}

// sandboxRate reads the sandbox's requests and computes the candidates/s
// between the first and the last.
func sandboxRate(ctx context.Context, hc *http.Client, url string, n int) (*drainFigures, error) {
	var recs []sandbox.RequestRecord
	if err := benchproc.GetJSON(ctx, hc, url+sandbox.PathRequests, &recs); err != nil {
		return nil, err
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("the sandbox saw %d requests", len(recs))
	}
	f := &drainFigures{Candidates: n, Requests: len(recs)}
	first, last := recs[0].At, recs[0].At
	for _, rec := range recs {
		if rec.At.Before(first) {
			first = rec.At
		}
		if rec.At.After(last) {
			last = rec.At
		}
		if rec.Status != http.StatusOK {
			f.Non200++
		}
	}
	f.CandPerS = float64(n) / last.Sub(first).Seconds()
	return f, nil
}

// postReset empties the sandbox's records and counters.
func postReset(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+sandbox.PathReset, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", sandbox.PathReset, resp.Status)
	}
	return nil
}

// hasFlag reports whether `bin args...` (a --help) mentions flag.
func hasFlag(ctx context.Context, bin, flag string, args ...string) bool {
	out, _ := benchproc.Command(ctx, bin, nil, args...).CombinedOutput()
	return strings.Contains(string(out), flag)
}
