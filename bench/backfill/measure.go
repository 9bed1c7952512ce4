package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
	"github.com/bulkinvite/bulkinvite/producer"
)

const batchID = "backfill"

// Bounds of the run's waits.
const (
	tick       = 200 * time.Millisecond // how often the run looks at the batch
	sampleGap  = time.Second            // between two samples
	stallLimit = 2 * time.Minute        // without a candidate accepted or sent
	// maxReadFailures is how many reads of the batch's status or of Redis's
	// memory in a row may fail (time out on a loaded machine) before the run
	// fails.
	maxReadFailures = 20
)

// waitLine is what enqueue prints on stderr while Redis is full.
const waitLine = "waiting for Redis memory"

// sample is one second of the run.
type sample struct {
	T           float64 // seconds since the import started
	Phase       string  // import, import+drain, drain
	Used        int64   // Redis's used_memory
	ProducerRSS int64   // the enqueue process's, 0 once it has ended
	WorkerRSS   int64   // the workers' together, 0 before they start
	Accepted    int64   // candidates the import has accepted so far
	Pending     int64   // accepted and not yet sent
	SentPerS    float64 // candidates decided per second since the last sample
}

// result is what a run measured.
type result struct {
	Rows           int
	MeanFields     float64 // bytes of a row's fields
	MaxMemory      int64
	BaseUsed       int64 // used_memory before the import
	PeakUsed       int64
	PeakAt         float64
	QueuedUsed     int64 // the most used_memory before the first candidate was sent
	PeakQueued     int64 // pending candidates then
	ImportWaited   bool  // the import said it was waiting for Redis memory
	Stalled        bool  // nothing was accepted or sent for stallLimit: the figures are up to then
	ImportSeconds  float64
	DrainSeconds   float64
	PeakProducer   int64
	PeakWorker     int64
	Samples        []sample
	ImportRowsPerS float64
	DrainPerS      float64
	// PeakBytesPerQueued is (QueuedUsed − BaseUsed) ÷ PeakQueued.
	PeakBytesPerQueued float64
	// DoneBytesPerCandidate is (used_memory − BaseUsed) ÷ accepted once none
	// is pending (0 before): what a sent candidate keeps, with its ledger entry.
	DoneBytesPerCandidate float64
}

// scenario is one run's processes.
type scenario struct {
	o       options
	tmp     string
	bin     string
	g       benchproc.Group
	rdb     *redis.Client
	prod    *producer.Producer
	env     map[string]string
	enq     *enqueueProc
	workers []*benchproc.Proc
	res     result

	start, drainStart time.Time
	lastSample        time.Time
	lastDecided       int64
}

// measure runs the scenario: build, generate, start Redis and the sandbox,
// import, drain, sampling all along.
func measure(ctx context.Context, o options, tmp string) (*result, error) {
	s := &scenario{o: o, tmp: tmp, res: result{Rows: o.rows, MaxMemory: int64(o.maxMemMB) << 20}}
	defer s.g.StopAll(benchrate.StopGrace)
	if err := s.setUp(ctx); err != nil {
		return nil, err
	}
	defer s.rdb.Close()
	if err := s.run(ctx); err != nil {
		if len(s.res.Samples) > 0 && ctx.Err() == nil {
			return &s.res, err // what was measured up to the failure, for the report
		}
		return nil, err
	}
	if errs := benchrate.StopWorkers(s.workers); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &s.res, nil
}

func (s *scenario) setUp(ctx context.Context) error {
	var err error
	logf("building bulkinvite")
	if s.bin, err = benchproc.Build(ctx, s.tmp); err != nil {
		return err
	}
	csv := filepath.Join(s.tmp, "candidates.csv")
	logf("generating %d rows", s.o.rows)
	if s.res.MeanFields, err = writeCSV(csv, s.o.rows); err != nil {
		return err
	}
	rds, err := benchproc.StartRedis(ctx, &s.g, s.tmp, benchproc.RedisOptions{
		Args: []string{"--maxmemory", strconv.FormatInt(s.res.MaxMemory, 10), "--maxmemory-policy", "noeviction"}})
	if err != nil {
		return err
	}
	sandboxURL, _, err := benchproc.StartSandbox(ctx, &s.g, s.bin, s.tmp)
	if err != nil {
		return err
	}
	s.rdb = redis.NewClient(&redis.Options{Addr: rds.Addr()})
	s.prod = producer.FromRedis(s.rdb, producer.Config{})
	s.env = benchrate.Env(rds.URL(), sandboxURL, benchrate.Scenario{Limiter: "global", Rate: drainRate, Burst: drainRate}, workerConcurrency, workerChunk)
	if s.res.BaseUsed, err = usedMemory(ctx, s.rdb); err != nil {
		return err
	}
	logf("importing %s (%.0f B of fields a row) into %s, maxmemory %d MB, noeviction", csv, s.res.MeanFields, rds.URL(), s.o.maxMemMB)
	s.start = time.Now()
	s.enq, err = startEnqueue(ctx, s.bin, s.env, csv, filepath.Join(s.tmp, "enqueue.log"))
	return err
}

// run samples until the batch is done: the workers start when the import
// ends or waits for Redis memory.
func (s *scenario) run(ctx context.Context) error {
	t := time.NewTicker(tick)
	defer t.Stop()
	progress, progressAt := int64(-1), time.Now()
	failed := 0 // reads of Redis failed in a row
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		// The workers start once the import is done (or waits for memory),
		// right after a sample of what it queued, none of it sent yet: a fast
		// import can end between two samples, before the queue is measured.
		startNow := s.workers == nil && (s.enq.exited() || s.enq.waiting())
		if s.enq.exited() && s.res.ImportSeconds == 0 {
			if err := s.enq.result(s.o.rows); err != nil {
				return err
			}
			s.res.ImportSeconds = s.enq.end.Sub(s.start).Seconds()
			if ru, ok := s.enq.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				s.res.PeakProducer = max(s.res.PeakProducer, ru.Maxrss<<10) // KiB on Linux: between samples too
			}
			s.res.ImportRowsPerS = float64(s.o.rows) / s.res.ImportSeconds
			logf("import done: %.1f s, %.0f rows/s", s.res.ImportSeconds, s.res.ImportRowsPerS)
		}
		st, err := s.prod.Status(ctx, batchID)
		if errors.Is(err, producer.ErrBatchNotFound) {
			st, err = &producer.Status{}, nil // not created yet
		}
		done := err == nil && s.res.ImportSeconds > 0 && st.Accepted == int64(s.o.rows) && st.Pending == 0
		if err == nil && (done || startNow || time.Since(s.lastSample) >= sampleGap) {
			err = s.sample(ctx, st)
		}
		if err != nil {
			// A loaded machine can time a read out: only reads failing for a
			// while end the run.
			if failed++; failed >= maxReadFailures {
				return fmt.Errorf("%d reads of Redis failed in a row, the last: %w", failed, err)
			}
			logf("a read of Redis failed (%v); trying again", err)
			continue
		}
		failed = 0
		if startNow {
			if err := s.startDrain(); err != nil {
				return err
			}
		}
		if done {
			s.res.DrainSeconds = time.Since(s.drainStart).Seconds()
			s.res.DrainPerS = float64(s.o.rows) / s.res.DrainSeconds
			return nil
		}
		if p := st.Accepted*2 - st.Pending; p != progress {
			progress, progressAt = p, time.Now()
		} else if time.Since(progressAt) > stallLimit {
			s.res.Stalled = true
			return fmt.Errorf("no candidate accepted or sent for %s: %d accepted, %d pending (logs: %s)", stallLimit, st.Accepted, st.Pending, s.tmp)
		}
	}
}

func (s *scenario) startDrain() error {
	var err error
	s.res.ImportWaited = s.enq.waiting()
	logf("starting %d worker(s) (import done: %v, waiting for Redis memory: %v)", s.o.workers, s.enq.exited(), s.res.ImportWaited)
	s.drainStart = time.Now()
	s.workers, err = benchrate.StartWorkers(&s.g, s.bin, s.tmp, s.env, s.o.workers)
	return err
}

// sample records one sample, and the peaks.
func (s *scenario) sample(ctx context.Context, st *producer.Status) error {
	now := time.Now()
	used, err := usedMemory(ctx, s.rdb)
	if err != nil {
		return err
	}
	sm := sample{T: now.Sub(s.start).Seconds(), Used: used, Accepted: st.Accepted, Pending: st.Pending}
	if !s.enq.exited() {
		sm.ProducerRSS = rss(s.enq.cmd.Process.Pid)
	}
	for _, w := range s.workers {
		sm.WorkerRSS += rss(w.Pid())
	}
	switch {
	case s.workers == nil:
		sm.Phase = "import"
	case !s.enq.exited():
		sm.Phase = "import+drain"
	default:
		sm.Phase = "drain"
	}
	decided := st.Accepted - st.Pending
	if !s.lastSample.IsZero() {
		sm.SentPerS = float64(decided-s.lastDecided) / now.Sub(s.lastSample).Seconds()
	}
	s.lastSample, s.lastDecided = now, decided
	r := &s.res
	r.Samples = append(r.Samples, sm)
	r.PeakProducer, r.PeakWorker = max(r.PeakProducer, sm.ProducerRSS), max(r.PeakWorker, sm.WorkerRSS)
	if used > r.PeakUsed {
		r.PeakUsed, r.PeakAt = used, sm.T
	}
	// Bytes per queued candidate: before the first is sent, when every byte
	// the import added is a queued candidate's.
	if decided == 0 && st.Pending > 0 && used >= r.QueuedUsed {
		r.QueuedUsed, r.PeakQueued = used, st.Pending
		r.PeakBytesPerQueued = float64(used-r.BaseUsed) / float64(st.Pending)
	}
	if st.Pending == 0 && st.Accepted > 0 {
		r.DoneBytesPerCandidate = float64(used-r.BaseUsed) / float64(st.Accepted)
	}
	return nil
}

// enqueueProc is the running `bulkinvite enqueue`.
type enqueueProc struct {
	cmd     *exec.Cmd
	stdout  bytes.Buffer
	waited  chan struct{} // closed when it first says it waits for memory
	done    chan struct{} // closed when it has exited
	err     error
	end     time.Time
	logPath string
}

// startEnqueue starts `bin enqueue csv` with env; its stderr goes to logPath.
func startEnqueue(ctx context.Context, bin string, env map[string]string, csv, logPath string) (*enqueueProc, error) {
	e := &enqueueProc{waited: make(chan struct{}), done: make(chan struct{}), logPath: logPath}
	e.cmd = benchproc.Command(ctx, bin, env, "enqueue", csv, "--interview-set", benchrate.InterviewSet, "--batch-id", batchID, "--json")
	e.cmd.Stdout = &e.stdout
	stderr, err := e.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if err := e.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() {
		defer close(e.done)
		e.scan(stderr, log)
		log.Close()
		e.err = e.cmd.Wait()
		e.end = time.Now()
	}()
	return e, nil
}

// scan copies the stderr of enqueue to log, noting the first memory wait.
func (e *enqueueProc) scan(stderr io.Reader, log io.Writer) {
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if strings.Contains(line, waitLine) {
			select {
			case <-e.waited:
			default:
				logf("enqueue: %s", line)
				close(e.waited)
			}
		}
	}
}

func (e *enqueueProc) exited() bool { return closed(e.done) }

func (e *enqueueProc) waiting() bool { return closed(e.waited) }

// result checks, once enqueue has exited, that it accepted every row.
func (e *enqueueProc) result(rows int) error {
	if e.err != nil {
		return fmt.Errorf("bulkinvite enqueue: %w (its stderr: %s)", e.err, e.logPath)
	}
	var res producer.Result
	if err := json.Unmarshal(e.stdout.Bytes(), &res); err != nil || res.Accepted != int64(rows) {
		return fmt.Errorf("bulkinvite enqueue accepted %d of %d rows (%v)", res.Accepted, rows, err)
	}
	return nil
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// usedMemory is INFO memory's used_memory.
func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory without used_memory")
}

// rss is the resident set of process pid (VmRSS of /proc/PID/status) in
// bytes; 0 when it cannot be read (the process has just exited).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
