package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/faultproxy"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Fixed settings of every run.
const (
	prefix  = "bulkinvite:"
	apiKey  = sandbox.DefaultKey // a sandbox test key, not a secret
	goodSet = sandbox.DemoInterviewSetID
	// unknownSet is an interview set the sandbox does not know: 404.
	unknownSet = "019c5ea9-0000-7000-8000-00000000dead"
	chunkSize  = 50
	// workerShutdown is BULKINVITE_SHUTDOWN_TIMEOUT; a stopping worker gets
	// that plus stopGrace before it is killed.
	workerShutdown = 2 * time.Second
	stopGrace      = 10 * time.Second
	// Bounds of the waits along the way.
	phaseTimeout    = 15 * time.Minute // making the dead letters
	replayTimeout   = 10 * time.Minute // the two replay commands
	inFlightTimeout = time.Minute      // waiting for a request in flight
	cliTimeout      = 5 * time.Minute  // one enqueue, status or deadletter command
	// idleQueues ends the drain early: no task left in any queue for this long
	// while batches are not done means nothing will ever finish them.
	idleQueues    = 30 * time.Second
	progressEvery = 10 * time.Second
	pollInFlight  = 10 * time.Millisecond
	// batchPage is how many batch ids one RecentBatches call lists.
	batchPage = 1000
)

// goodTarget is where every input candidate must end invited.
var goodTarget = payload.Target{InterviewSetID: goodSet}

// slot is one worker position: its two fault proxies and the worker process
// now using them.
type slot struct {
	redis, api *faultproxy.Proxy
	proc       *benchproc.Proc
	reported   bool // its unexpected exit was reported
}

// modeRun is one mode's run: its processes and what happened to them.
type modeRun struct {
	o    options
	mode string
	bin  string
	dir  string

	g          benchproc.Group
	redis      *benchproc.Redis
	sandboxURL string
	hc         *http.Client
	rdb        *redis.Client
	st         *store.Store
	insp       *asynq.Inspector
	slots      []*slot
	started    int               // worker processes started so far, to name them
	cliEnv     map[string]string // for enqueue, status and deadletter: Redis directly
	redisGone  bool              // redis-server killed or the Redis link cut: no worker can start
	t0         time.Time         // the import's start; zero before
	lastPrint  time.Time
	lastFault  time.Time
	deadID     string             // the batch that makes the dead letters
	importID   string             // the import
	replayIDs  []string           // the replay batches the replay commands reported
	toReplay   []store.DeadLetter // the dead letters made, to be replayed
	moved      int                // dead letters the replay commands said they moved
	movedKnown bool               // every replay command said how many it moved
	candidates []candidate

	res *result
}

// runMode runs one mode from start to figures. Whatever happens, every child
// is stopped and every proxy closed before it returns.
func runMode(ctx context.Context, o options, bin, dir, mode string) (*result, error) {
	r := newModeRun(o, bin, dir, mode)
	return r.run(ctx, r.makeDeadLetters, r.startImport, r.injectFaults, r.drain)
}

// newModeRun is a run of one mode, nothing started yet.
func newModeRun(o options, bin, dir, mode string) *modeRun {
	return &modeRun{o: o, mode: mode, bin: bin, dir: dir, hc: &http.Client{Timeout: time.Minute},
		res: &result{Mode: mode, Faults: map[string]string{}}}
}

// run starts the processes (setup), takes the steps, stops the workers and
// collects the figures. Whatever happens, every child is stopped and every
// proxy closed before it returns.
func (r *modeRun) run(ctx context.Context, steps ...func(context.Context) error) (*result, error) {
	start := time.Now()
	defer r.closeProxies()
	defer r.g.StopAll(stopGrace)
	for _, step := range append([]func(context.Context) error{r.setup}, steps...) {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	r.stopWorkers()
	if err := r.collect(ctx); err != nil {
		return nil, err
	}
	r.res.Elapsed = time.Since(start)
	return r.res, nil
}

func (r *modeRun) setup(ctx context.Context) error {
	redisDir := filepath.Join(r.dir, "redis")
	if err := os.Mkdir(redisDir, 0o755); err != nil {
		return err
	}
	var err error
	r.redis, err = benchproc.StartRedis(ctx, &r.g, redisDir, benchproc.RedisOptions{AppendOnly: true})
	if err != nil {
		return err
	}
	args := []string{"--latency", r.o.latency.String(), "--latency-jitter", r.o.jitter.String(),
		"--fail-rate", strconv.FormatFloat(r.o.failRate, 'g', -1, 64),
		"--lost-reply-rate", strconv.FormatFloat(r.o.lostReplyRate, 'g', -1, 64),
		"--seed", strconv.FormatUint(r.o.seed, 10)}
	if r.o.abandoned {
		args = append(args, "--process-abandoned")
	}
	r.sandboxURL, _, err = benchproc.StartSandbox(ctx, &r.g, r.bin, r.dir, args...)
	if err != nil {
		return err
	}
	r.rdb = redis.NewClient(&redis.Options{Addr: r.redis.Addr()})
	r.st = store.New(r.rdb, store.Config{Prefix: prefix})
	r.insp = asynq.NewInspectorFromRedisClient(r.rdb)
	r.cliEnv = map[string]string{"REDIS_URL": r.redis.URL(), "FLOWMINGO_API_KEY": apiKey, "BULKINVITE_LOG_FORMAT": "json"}
	apiAddr := strings.TrimPrefix(r.sandboxURL, "http://")
	for range r.o.workers {
		s := &slot{}
		if s.redis, err = faultproxy.Listen("127.0.0.1:0", r.redis.Addr()); err != nil {
			return err
		}
		r.slots = append(r.slots, s)
		if s.api, err = faultproxy.Listen("127.0.0.1:0", apiAddr); err != nil {
			return err
		}
		if err := r.startWorker(s); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "  redis-server %s (AOF, fsync always), sandbox %s, %d workers x concurrency %d through fault proxies, rate %g/s\n",
		r.redis.Addr(), r.sandboxURL, r.o.workers, r.o.concurrency, r.o.rate)
	return nil
}

func (r *modeRun) closeProxies() {
	for _, s := range r.slots {
		if s.redis != nil {
			_ = s.redis.Close()
		}
		if s.api != nil {
			_ = s.api.Close()
		}
	}
	if r.rdb != nil {
		_ = r.rdb.Close()
	}
}

// workerEnv is a worker's environment, as an operator would set it.
func (r *modeRun) workerEnv(s *slot) map[string]string {
	return map[string]string{
		"REDIS_URL":                   "redis://" + s.redis.Addr() + "/0",
		"FLOWMINGO_API_URL":           "http://" + s.api.Addr(),
		"FLOWMINGO_API_KEY":           apiKey,
		"BULKINVITE_RATE":             strconv.FormatFloat(r.o.rate, 'g', -1, 64),
		"BULKINVITE_CHUNK_SIZE":       strconv.Itoa(chunkSize),
		"BULKINVITE_CONCURRENCY":      strconv.Itoa(r.o.concurrency),
		"BULKINVITE_SHUTDOWN_TIMEOUT": workerShutdown.String(),
		"BULKINVITE_ON_UNKNOWN":       r.mode,
		"BULKINVITE_RETRY_MIN":        "200ms",
		"BULKINVITE_RETRY_MAX":        "5s",
		"BULKINVITE_LOG_FORMAT":       "json",
	}
}

// startWorker starts a new worker process in slot s.
func (r *modeRun) startWorker(s *slot) error {
	r.started++
	cmd := exec.Command(r.bin, "worker")
	cmd.Env = benchproc.ChildEnv(r.workerEnv(s))
	p, err := r.g.Start(fmt.Sprintf("worker %d", r.started), cmd, filepath.Join(r.dir, fmt.Sprintf("worker%d.log", r.started)))
	if err != nil {
		return err
	}
	s.proc, s.reported = p, false
	return nil
}

// makeDeadLetters enqueues -replay candidates to an unknown interview set and
// waits until all are dead-lettered target_not_found. The sandbox's faults
// are off meanwhile: a 5xx would make some retries_exhausted, or, at most
// once, unknown_outcome.
func (r *modeRun) makeDeadLetters(ctx context.Context) error {
	var faults sandbox.Faults
	if err := benchproc.GetJSON(ctx, r.hc, r.sandboxURL+sandbox.PathFaults, &faults); err != nil {
		return err
	}
	if err := r.setFaults(ctx, sandbox.Faults{}); err != nil {
		return err
	}
	path := filepath.Join(r.dir, "deadletters.csv")
	emails, err := writeCSV(path, "replay", 2, r.o.replay)
	if err != nil {
		return err
	}
	r.deadID = "chaos-" + r.mode + "-deadletters"
	start := time.Now()
	if err := r.enqueue(ctx, path, unknownSet, r.deadID, r.o.replay); err != nil {
		return err
	}
	r.event("", "enqueued %d candidates to the unknown interview set %s as batch %s", r.o.replay, unknownSet, r.deadID)
	if err := r.waitBatchDone(ctx, r.deadID, phaseTimeout); err != nil {
		return err
	}
	dls, err := r.deadLetters(ctx, "--batch", r.deadID, "--reason", "target_not_found")
	if err != nil {
		return err
	}
	if len(dls) != r.o.replay {
		return fmt.Errorf("%d of %d candidates of %s were dead-lettered target_not_found", len(dls), r.o.replay, r.deadID)
	}
	r.toReplay = dls
	for _, e := range emails {
		r.candidates = append(r.candidates, candidate{Email: e, Target: goodTarget})
	}
	r.event("", "%d dead letters target_not_found made in %v; sandbox faults back on: %s",
		len(dls), time.Since(start).Round(time.Second), faults)
	return r.setFaults(ctx, faults)
}

// startImport enqueues the import; "t+" times count from its start.
func (r *modeRun) startImport(ctx context.Context) error {
	path := filepath.Join(r.dir, "import.csv")
	emails, err := writeCSV(path, "import", 1, r.o.candidates)
	if err != nil {
		return err
	}
	r.importID = "chaos-" + r.mode + "-import"
	r.t0 = time.Now()
	if err := r.enqueue(ctx, path, goodSet, r.importID, r.o.candidates); err != nil {
		return err
	}
	for _, e := range emails {
		r.candidates = append(r.candidates, candidate{Email: e, Target: goodTarget})
	}
	r.event("", "enqueued %d candidates as batch %s (bulkinvite enqueue %s)", r.o.candidates, r.importID, filepath.Base(path))
	return nil
}

func (r *modeRun) enqueue(ctx context.Context, path, set, batchID string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	_, err := benchproc.Enqueue(ctx, r.bin, r.cliEnv, nil, n, path, "--interview-set", set, "--batch-id", batchID)
	return err
}

// writeCSV writes n candidates to path, kind (1 or 2) keeping their ATS ids
// apart from another file's, and returns their emails.
func writeCSV(path, tag string, kind, n int) ([]string, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "ats_candidate_id,email,firstname,lastname")
	emails := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("%s-%d@chaos.example.com", tag, i)
		fmt.Fprintf(w, "%08d-0000-4000-8000-%012d,%s,Chaos,%s %d\n", kind, i, emails[i], tag, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return emails, f.Close()
}

// deadLetters runs `bulkinvite deadletter list --json args...`.
func (r *modeRun) deadLetters(ctx context.Context, args ...string) ([]store.DeadLetter, error) {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	out, err := benchproc.Output(benchproc.Command(ctx, r.bin, r.cliEnv, append([]string{"deadletter", "list", "--json"}, args...)...))
	if err != nil {
		return nil, err
	}
	return decodeLines[store.DeadLetter](out)
}

func (r *modeRun) setFaults(ctx context.Context, f sandbox.Faults) error {
	b, err := f.MarshalJSON()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.sandboxURL+sandbox.PathFaults, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", sandbox.PathFaults, resp.Status)
	}
	return nil
}

// event prints a step as it happens and keeps it for the report.
func (r *modeRun) event(kind, format string, args ...any) {
	e := event{Kind: kind, Text: fmt.Sprintf(format, args...)}
	if !r.t0.IsZero() {
		e.At = time.Since(r.t0)
	}
	r.res.Events = append(r.res.Events, e)
	fmt.Fprintf(os.Stderr, "  %-7s %s\n", e.when(), e.Text)
}

// wait waits d, looking after the workers and printing progress meanwhile.
func (r *modeRun) wait(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		r.tick(ctx)
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		if err := sleep.For(ctx, min(left, 500*time.Millisecond)); err != nil {
			return err
		}
	}
}

// tick restarts a worker that exited by itself (once Redis can be reached)
// and prints progress every progressEvery.
func (r *modeRun) tick(ctx context.Context) {
	for _, s := range r.slots {
		if s.proc == nil || !s.proc.Exited() {
			continue
		}
		if !s.reported {
			r.event("", "%s exited by itself: %v", s.proc.Name, s.proc.ExitErr())
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s exited by itself: %v", s.proc.Name, s.proc.ExitErr()))
			s.reported = true
		}
		if !r.redisGone {
			name := s.proc.Name
			if err := r.startWorker(s); err == nil {
				r.event("", "started %s in place of %s", s.proc.Name, name)
			}
		}
	}
	if time.Since(r.lastPrint) >= progressEvery {
		r.lastPrint = time.Now()
		fmt.Fprintf(os.Stderr, "  %-7s %s\n", event{At: r.since()}.when(), r.progress(ctx))
	}
}

func (r *modeRun) since() time.Duration {
	if r.t0.IsZero() {
		return 0
	}
	return time.Since(r.t0)
}

// progress is one line on the batches and the sandbox.
func (r *modeRun) progress(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var parts []string
	batches := []struct{ name, id string }{{"dead letters", r.deadID}}
	if r.importID != "" {
		batches = []struct{ name, id string }{{"import", r.importID}}
	}
	for _, b := range batches {
		if b.id == "" {
			continue
		}
		bt, err := r.st.Batch(ctx, b.id)
		if err != nil {
			return "redis unreachable: " + err.Error()
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d done", b.name, bt.Accepted-bt.Pending(), bt.Accepted))
	}
	var done, accepted int64
	for _, id := range r.replayIDs {
		if bt, err := r.st.Batch(ctx, id); err == nil {
			done, accepted = done+bt.Accepted-bt.Pending(), accepted+bt.Accepted
		}
	}
	if len(r.replayIDs) > 0 {
		parts = append(parts, fmt.Sprintf("replays %d/%d done", done, accepted))
	}
	var st sandbox.Stats
	if err := benchproc.GetJSON(ctx, r.hc, r.sandboxURL+sandbox.PathStats, &st); err == nil {
		parts = append(parts, fmt.Sprintf("sandbox: %d requests, %d in flight, %d invites", st.Requests, st.InFlight, st.Invites))
	}
	return strings.Join(parts, "; ")
}

// importDone says how far the import is, for the fault lines.
func (r *modeRun) importDone(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	bt, err := r.st.Batch(ctx, r.importID)
	if err != nil {
		return "import progress unknown"
	}
	return fmt.Sprintf("import %d/%d done", bt.Accepted-bt.Pending(), bt.Accepted)
}

// waitBatchDone waits until batch id is done.
func (r *modeRun) waitBatchDone(ctx context.Context, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		bt, err := r.st.Batch(ctx, id)
		if err == nil && bt.State() == store.StateDone {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("batch %s not done after %v (%v)", id, timeout, err)
		}
		if err := r.wait(ctx, time.Second); err != nil {
			return err
		}
	}
}

// drain waits until every batch is done, or until waiting is pointless.
func (r *modeRun) drain(ctx context.Context) error {
	deadline := r.lastFault.Add(r.o.drainTimeout)
	lastChange, lastSig := time.Now(), ""
	var idleSince time.Time
	for {
		sig, done, err := r.batchesState(ctx)
		switch {
		case err != nil:
		case done:
			r.res.DrainTime = time.Since(r.lastFault)
			r.event("", "every batch done, %v after the last fault", r.res.DrainTime.Round(time.Second))
			return nil
		case sig != lastSig:
			lastSig, lastChange = sig, time.Now()
		}
		if live, err := r.liveTasks(); err == nil && live == 0 {
			if idleSince.IsZero() {
				idleSince = time.Now()
			}
		} else {
			idleSince = time.Time{}
		}
		switch {
		case !idleSince.IsZero() && time.Since(idleSince) >= idleQueues:
			r.res.Stuck = fmt.Sprintf("no task left in any queue for %v, batches not done", idleQueues)
		case time.Since(lastChange) >= r.o.stall:
			r.res.Stuck = fmt.Sprintf("no batch counter moved for %v", r.o.stall)
		case time.Now().After(deadline):
			r.res.Stuck = fmt.Sprintf("not done %v after the last fault", r.o.drainTimeout)
		}
		if r.res.Stuck != "" {
			r.event("", "stopped waiting: %s", r.res.Stuck)
			return nil
		}
		if err := r.wait(ctx, time.Second); err != nil {
			return err
		}
	}
}

// batchIDs lists every batch in Redis, oldest first. A batch created while
// it pages shifts the later pages by one: the ids are de-duplicated.
func (r *modeRun) batchIDs(ctx context.Context) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for offset := int64(0); ; offset += batchPage {
		page, err := r.st.RecentBatches(ctx, offset, batchPage)
		if err != nil {
			return nil, err
		}
		for _, id := range page {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(page) < batchPage {
			slices.Reverse(ids)
			return ids, nil
		}
	}
}

// batchesState returns the counters of every batch as one string (to see
// whether anything moved) and whether every batch is done.
func (r *modeRun) batchesState(ctx context.Context) (string, bool, error) {
	ids, err := r.batchIDs(ctx)
	if err != nil {
		return "", false, err
	}
	var sig strings.Builder
	done := true
	for _, id := range ids {
		bt, err := r.st.Batch(ctx, id)
		if err != nil {
			return "", false, err
		}
		fmt.Fprintf(&sig, "%s:%d/%d/%t ", id, bt.Accepted, bt.Pending(), bt.Sealed)
		done = done && bt.State() == store.StateDone
	}
	return sig.String(), done, nil
}

// liveTasks counts the asynq tasks that can still run: pending, active,
// scheduled, retry or aggregating, in every queue.
func (r *modeRun) liveTasks() (int, error) {
	n, _, err := r.taskCounts()
	return n, err
}

// taskCounts returns the live tasks (see liveTasks) and the archived ones.
func (r *modeRun) taskCounts() (live, archived int, err error) {
	qs, err := r.insp.Queues()
	if err != nil {
		return 0, 0, err
	}
	for _, q := range qs {
		info, err := r.insp.GetQueueInfo(q)
		if err != nil {
			return 0, 0, err
		}
		live += info.Pending + info.Active + info.Scheduled + info.Retry + info.Aggregating
		archived += info.Archived
	}
	return live, archived, nil
}

// stopWorkers stops every worker with SIGTERM, as a deploy would, and notes an
// unclean exit.
func (r *modeRun) stopWorkers() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range r.slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.proc.Stop(syscall.SIGTERM, workerShutdown+stopGrace); err != nil && !s.reported {
				mu.Lock()
				r.res.Notes = append(r.res.Notes, "worker stop: "+err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// decodeLines decodes JSON lines.
func decodeLines[T any](b []byte) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, fmt.Errorf("decode %q: %w", line, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}
