package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// Fixed settings of every run.
const (
	prefix  = "bulkinvite:"
	apiKey  = sandbox.DefaultKey // a sandbox test key, not a secret
	goodSet = sandbox.DemoInterviewSetID
	// unknownSet is an interview set the sandbox does not know: 404.
	unknownSet = "019c5ea9-0000-7000-8000-00000000dead"
	// workerShutdown is BULKINVITE_SHUTDOWN_TIMEOUT; a stopping worker gets
	// that plus stopGrace before it is killed.
	workerShutdown = 5 * time.Second
	stopGrace      = 10 * time.Second
	// settle is waited before reading INFO memory.
	settle = time.Second
	// cliTimeout bounds one enqueue or status command.
	cliTimeout     = 10 * time.Minute
	replicaTimeout = time.Minute
	// Status polls: once a second while commands are counted (each poll's
	// commands are subtracted), more often elsewhere.
	pollCounted = time.Second
	pollFast    = 200 * time.Millisecond
	// progressEvery is how often a long drain prints its progress.
	progressEvery = 15 * time.Second
)

// subject is a binary to measure.
type subject struct {
	Label string // column title: "ours", or "baseline" and the revision
	Bin   string
	// Current is the code of this checkout: it also gets the WAIT run.
	Current bool
}

// sendFigures are the figures of one drain of the N-candidate batch.
type sendFigures struct {
	Calls       calls         // the worker's commands, the bench's own taken out
	Drain       time.Duration // worker start to the batch's finished_at
	Polls       int           // status commands run while counting
	StatusCalls int64         // commands one status command runs (subtracted per poll)
}

// figures are one subject's measurements; a nil part did not complete.
type figures struct {
	Subject subject
	Empty   memory // the fresh server, before the import

	AfterImport *memory
	ImportKeys  keyClasses
	Send        *sendFigures
	AfterDone   *memory
	DoneKeys    keyClasses

	DeadLetters *deadLetterFigures
	Retention   *retentionFigures
	Wait        *sendFigures // the current code only
}

type deadLetterFigures struct {
	Before, After memory
	KeyBytes      int64   // MEMORY USAGE of the dead-letter keys
	ValueBytes    int64   // the values of the dead-letter hashes
	MeanFields    float64 // len(email)+len(name)+len(cv_link), mean
}

type retentionFigures struct {
	Rounds        []memory // after each round's drain and a little over the retention
	Invited       int64    // in the first round
	Skipped       int64    // skipped_duplicate over the later rounds
	BatchKeysLeft int
	BatchKeyBytes int64
}

// files are the generated inputs.
type files struct {
	main, dead, nightly candidateFile
}

// subjectRun measures one subject, with its own sandbox and fresh servers.
type subjectRun struct {
	o          options
	s          subject
	sandboxBin string // the current binary's sandbox serves every subject
	dir        string
	f          files
	g          benchproc.Group
	sandboxURL string
	workers    int
	res        *figures
}

// measure runs every phase for one subject. Whatever happens, every child it
// started is stopped before it returns; the figures of the phases that
// completed are returned with the first error.
func measure(ctx context.Context, o options, s subject, sandboxBin, dir string, f files) (*figures, error) {
	r := &subjectRun{o: o, s: s, sandboxBin: sandboxBin, dir: dir, f: f, res: &figures{Subject: s}}
	defer r.g.StopAll(stopGrace)
	var err error
	r.sandboxURL, _, err = benchproc.StartSandbox(ctx, &r.g, sandboxBin, dir)
	if err != nil {
		return r.res, err
	}
	steps := []func(context.Context) error{r.sendPath, r.retention}
	if s.Current && o.waitRun {
		steps = append(steps, r.waitCost)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

// logf prints a step of the run on stderr.
func (r *subjectRun) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  [%s] %s %s\n", r.s.Label, time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// env is the environment of every bulkinvite command against srv.
func (r *subjectRun) env(srv *server, extra map[string]string) map[string]string {
	env := map[string]string{
		"REDIS_URL":                   srv.r.URL(),
		"FLOWMINGO_API_URL":           r.sandboxURL,
		"FLOWMINGO_API_KEY":           apiKey,
		"BULKINVITE_RATE":             strconv.FormatFloat(r.o.rate, 'g', -1, 64),
		"BULKINVITE_BURST":            strconv.Itoa(r.o.burst),
		"BULKINVITE_CHUNK_SIZE":       strconv.Itoa(r.o.chunk),
		"BULKINVITE_CONCURRENCY":      strconv.Itoa(r.o.concurrency),
		"BULKINVITE_SHUTDOWN_TIMEOUT": workerShutdown.String(),
		"BULKINVITE_RETRY_MIN":        "100ms",
		"BULKINVITE_RETRY_MAX":        "2s",
		"BULKINVITE_LOG_FORMAT":       "json",
		"BULKINVITE_LOG_LEVEL":        "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// startWorker starts `bulkinvite worker` with env, logging to the run's dir.
func (r *subjectRun) startWorker(env map[string]string) (*benchproc.Proc, string, error) {
	r.workers++
	cmd := exec.Command(r.s.Bin, "worker")
	cmd.Env = benchproc.ChildEnv(env)
	log := filepath.Join(r.dir, fmt.Sprintf("worker%d.log", r.workers))
	p, err := r.g.Start(fmt.Sprintf("worker %d", r.workers), cmd, log)
	return p, log, err
}

// stopWorker stops a worker with SIGTERM; one that must be killed is reported
// but does not end the run (its work was done).
func (r *subjectRun) stopWorker(p *benchproc.Proc) {
	if err := p.Stop(syscall.SIGTERM, workerShutdown+stopGrace); err != nil {
		r.logf("warning: %v", err)
	}
}

// enqueue imports file as batchID to the interview set set.
func (r *subjectRun) enqueue(ctx context.Context, env map[string]string, file candidateFile, set, batchID string) error {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	_, err := benchproc.Enqueue(ctx, r.s.Bin, env, nil, file.n, file.path, "--interview-set", set, "--batch-id", batchID)
	return err
}

// waitDone polls `status --json` every poll until the batch is done. It fails
// when the worker exits, when nothing moved for -stall, or after -drain-timeout.
// It returns the last status and the status commands it ran.
func (r *subjectRun) waitDone(ctx context.Context, env map[string]string, batchID string, worker *benchproc.Proc, workerLog string, poll time.Duration) (store.Status, int, error) {
	start := time.Now()
	lastMove, lastPrint := start, start
	var lastDone int64 = -1
	polls := 0
	for {
		sctx, cancel := context.WithTimeout(ctx, cliTimeout)
		st, err := benchproc.Status(sctx, r.s.Bin, env, batchID)
		cancel()
		polls++
		if err != nil {
			return st, polls, err
		}
		if st.State == store.StateDone {
			return st, polls, nil
		}
		done := st.Accepted - st.Pending
		now := time.Now()
		if done != lastDone {
			lastDone, lastMove = done, now
		}
		switch {
		case worker.Exited():
			return st, polls, fmt.Errorf("worker exited before batch %s was done (%v); see %s", batchID, worker.ExitErr(), workerLog)
		case now.Sub(lastMove) > r.o.stall:
			return st, polls, fmt.Errorf("batch %s: nothing done for %v (%d of %d); see %s", batchID, r.o.stall, done, st.Accepted, workerLog)
		case now.Sub(start) > r.o.drainTimeout:
			return st, polls, fmt.Errorf("batch %s not done after %v (%d of %d); see %s", batchID, r.o.drainTimeout, done, st.Accepted, workerLog)
		}
		if now.Sub(lastPrint) >= progressEvery {
			r.logf("batch %s: %d of %d done after %v", batchID, done, st.Accepted, now.Sub(start).Round(time.Second))
			lastPrint = now
		}
		if err := sleep.For(ctx, poll); err != nil {
			return st, polls, err
		}
	}
}

// countedDrain starts a worker with env on srv, whose N-candidate batch
// batchID is imported, counts every command Redis runs from just before the
// worker's start until it has stopped after the batch is done, and takes out
// the bench's own commands and the status polls'.
func (r *subjectRun) countedDrain(ctx context.Context, srv *server, env map[string]string, batchID string) (*sendFigures, store.Status, error) {
	// What the bench itself adds to a window: CONFIG RESETSTAT.
	if err := srv.resetStats(ctx); err != nil {
		return nil, store.Status{}, err
	}
	own, err := srv.commandStats(ctx)
	if err != nil {
		return nil, store.Status{}, err
	}
	if err := srv.resetStats(ctx); err != nil {
		return nil, store.Status{}, err
	}
	t0 := time.Now()
	p, log, err := r.startWorker(env)
	if err != nil {
		return nil, store.Status{}, err
	}
	st, polls, err := r.waitDone(ctx, env, batchID, p, log, pollCounted)
	seen := time.Now()
	r.stopWorker(p)
	if err != nil {
		return nil, st, err
	}
	window, err := srv.commandStats(ctx)
	if err != nil {
		return nil, st, err
	}
	// What one status command costs: counted alone, on the done batch.
	if err := srv.resetStats(ctx); err != nil {
		return nil, st, err
	}
	sctx, cancel := context.WithTimeout(ctx, cliTimeout)
	_, err = benchproc.Status(sctx, r.s.Bin, env, batchID)
	cancel()
	if err != nil {
		return nil, st, err
	}
	statusWindow, err := srv.commandStats(ctx)
	if err != nil {
		return nil, st, err
	}
	status, err := statusWindow.minus(own, 1)
	if err != nil {
		return nil, st, fmt.Errorf("status alone: %w", err)
	}
	worker, err := window.minus(own, 1)
	if err == nil {
		worker, err = worker.minus(status, int64(polls))
	}
	if err != nil {
		return nil, st, fmt.Errorf("counting the worker's commands: %w", err)
	}
	end := seen
	if st.FinishedAt != nil {
		end = *st.FinishedAt
	}
	return &sendFigures{Calls: worker, Drain: end.Sub(t0), Polls: polls, StatusCalls: status.total()}, st, nil
}

// sendPath: import N candidates, count the send path, then dead letters, all
// on one fresh server.
func (r *subjectRun) sendPath(ctx context.Context) error {
	srv, err := startServer(ctx, &r.g, filepath.Join(r.dir, "redis-main"))
	if err != nil {
		return err
	}
	defer srv.close()
	env := r.env(srv, nil)
	if r.res.Empty, err = srv.memory(ctx); err != nil {
		return err
	}
	n := r.f.main.n
	t := time.Now()
	if err := r.enqueue(ctx, env, r.f.main, goodSet, "bench-main"); err != nil {
		return err
	}
	r.logf("imported %d candidates in %v", n, time.Since(t).Round(10*time.Millisecond))
	imported, err := srv.memory(ctx)
	if err != nil {
		return err
	}
	r.res.AfterImport = &imported
	if r.res.ImportKeys, err = srv.classes(ctx); err != nil {
		return err
	}

	send, st, err := r.countedDrain(ctx, srv, env, "bench-main")
	if err != nil {
		return err
	}
	if st.Invited != int64(n) {
		return fmt.Errorf("batch bench-main: %d of %d invited (status %+v); the figures would not be of the send path", st.Invited, n, st)
	}
	r.res.Send = send
	r.logf("drained in %v: %d commands (%.2f per candidate), %d status polls of %d commands taken out",
		send.Drain.Round(10*time.Millisecond), send.Calls.total(), float64(send.Calls.total())/float64(n), send.Polls, send.StatusCalls)
	done, err := srv.memory(ctx)
	if err != nil {
		return err
	}
	r.res.AfterDone = &done
	if r.res.DoneKeys, err = srv.classes(ctx); err != nil {
		return err
	}

	// Dead letters: every chunk to an unknown interview set gets 404.
	m := r.f.dead.n
	before := done
	p, log, err := r.startWorker(env)
	if err != nil {
		return err
	}
	err = r.enqueue(ctx, env, r.f.dead, unknownSet, "bench-dl")
	if err == nil {
		st, _, err = r.waitDone(ctx, env, "bench-dl", p, log, pollFast)
	}
	r.stopWorker(p)
	if err != nil {
		return err
	}
	if st.DeadLettered != int64(m) {
		return fmt.Errorf("batch bench-dl: %d of %d dead-lettered (status %+v)", st.DeadLettered, m, st)
	}
	after, err := srv.memory(ctx)
	if err != nil {
		return err
	}
	keys, err := srv.classes(ctx)
	if err != nil {
		return err
	}
	values, err := srv.hashValueBytes(ctx, classDeadLetter)
	if err != nil {
		return err
	}
	r.res.DeadLetters = &deadLetterFigures{Before: before, After: after,
		KeyBytes: keys.Bytes[classDeadLetter] - r.res.DoneKeys.Bytes[classDeadLetter], ValueBytes: values, MeanFields: r.f.dead.meanFields}
	r.logf("%d dead letters: %.0f B each (used_memory)", m, float64(after.Used-before.Used)/float64(m))
	return nil
}

// retention imports the same K candidates R times as new batches with a short
// BULKINVITE_BATCH_RETENTION, drained by one worker, and reads the memory
// after each round and a little over the retention.
func (r *subjectRun) retention(ctx context.Context) error {
	srv, err := startServer(ctx, &r.g, filepath.Join(r.dir, "redis-retention"))
	if err != nil {
		return err
	}
	defer srv.close()
	env := r.env(srv, map[string]string{"BULKINVITE_BATCH_RETENTION": r.o.retention.String()})
	p, log, err := r.startWorker(env)
	if err != nil {
		return err
	}
	res := &retentionFigures{}
	for i := 1; i <= r.o.repeats; i++ {
		id := "night-" + strconv.Itoa(i)
		if err := r.enqueue(ctx, env, r.f.nightly, goodSet, id); err != nil {
			return err
		}
		st, _, err := r.waitDone(ctx, env, id, p, log, pollFast)
		if err != nil {
			return err
		}
		if i == 1 {
			res.Invited = st.Invited
		} else {
			res.Skipped += st.SkippedDuplicate
		}
		if err := sleep.For(ctx, retentionWait(r.o.retention)); err != nil {
			return err
		}
		mem, err := srv.memory(ctx)
		if err != nil {
			return err
		}
		res.Rounds = append(res.Rounds, mem)
		if i == 1 || i == r.o.repeats || i%10 == 0 {
			r.logf("round %d of %d: used_memory %s", i, r.o.repeats, mib(mem.Used))
		}
	}
	r.stopWorker(p)
	keys, err := srv.classes(ctx)
	if err != nil {
		return err
	}
	res.BatchKeysLeft, res.BatchKeyBytes = keys.Keys[classBatch], keys.Bytes[classBatch]
	r.res.Retention = res
	return nil
}

// retentionWait is how long after a batch is done its keys are surely gone:
// a little over the retention.
func retentionWait(retention time.Duration) time.Duration {
	return retention + max(time.Second, retention/2)
}

// waitCost drains the N-candidate batch again, on a master with one replica
// and BULKINVITE_REDIS_WAIT_REPLICAS=1.
func (r *subjectRun) waitCost(ctx context.Context) error {
	master, err := startServer(ctx, &r.g, filepath.Join(r.dir, "redis-wait-master"), "--repl-diskless-sync-delay", "0")
	if err != nil {
		return err
	}
	defer master.close()
	replica, err := startServer(ctx, &r.g, filepath.Join(r.dir, "redis-wait-replica"), "--replicaof", "127.0.0.1", strconv.Itoa(portOf(master)))
	if err != nil {
		return err
	}
	defer replica.close()
	if err := master.waitReplica(ctx, 1, replicaTimeout); err != nil {
		return err
	}
	env := r.env(master, map[string]string{"BULKINVITE_REDIS_WAIT_REPLICAS": "1"})
	if err := r.enqueue(ctx, env, r.f.main, goodSet, "bench-wait"); err != nil {
		return err
	}
	send, st, err := r.countedDrain(ctx, master, env, "bench-wait")
	if err != nil {
		return err
	}
	if n := r.f.main.n; st.Invited != int64(n) {
		return fmt.Errorf("batch bench-wait: %d of %d invited (status %+v)", st.Invited, n, st)
	}
	r.res.Wait = send
	r.logf("with WAIT 1: drained in %v, %.2f commands per candidate", send.Drain.Round(10*time.Millisecond), float64(send.Calls.total())/float64(r.f.main.n))
	return nil
}

func portOf(s *server) int {
	_, p, _ := net.SplitHostPort(s.r.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// mib formats bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }

// perCandidate is x/n, NaN when n is 0.
func perCandidate(x int64, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(x) / float64(n)
}
