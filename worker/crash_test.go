package worker_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// crashRecovery bounds how long a batch may take to finish after a crash. asynq
// gives a task that is active with nobody working on it back to the queue only
// through its recoverer: the task's lease (30s, extended while a handler runs)
// must have expired more than 30s ago, and the recoverer looks when a server
// starts and then once a minute. So such a task runs again one to two minutes
// after the crash; three minutes leaves room for a slow, shared machine.
//
// A killed worker leaves its in-flight tasks so. A Redis restart can too, now
// and then (about 1 run in 15 here): when redis-server dies after running
// asynq's dequeue script (persisted, fsync always) but before the worker read the
// reply, the task is active in Redis and no handler has it.
const crashRecovery = 3 * time.Minute

// childEnv marks the test binary re-executed as a worker process.
const childEnv = "BULKINVITE_TEST_CHILD"

// TestHelperWorkerProcess is not a test. Run by startWorkerProcess with childEnv
// set, it is the child process of the crash tests: the real `bulkinvite worker`,
// as cmd/bulkinvite runs it, configured by the environment.
func TestHelperWorkerProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The parent holds our stdin open; if it dies without killing us (a test
	// timeout, say), stdin ends and we shut down instead of running on forever.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	code := cli.Run(ctx, []string{"worker"}, cli.IO{In: strings.NewReader(""), Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

// TestWorkerSIGKILL kills a worker process with SIGKILL in the middle of a batch,
// starts another one, and checks that nothing is lost (invariant 1) and that no
// candidate whose success was recorded before the kill is sent again (invariant 2).
func TestWorkerSIGKILL(t *testing.T) {
	t.Parallel()
	const (
		n           = 300
		chunkSize   = 5
		concurrency = 4
	)
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{
		Seed:   11,
		Faults: sandbox.Faults{Latency: 60 * time.Millisecond, LatencyJitter: 40 * time.Millisecond},
	}})
	res := b.Import("sigkill", pipelinetest.Candidates("sigkill", n), nil)
	if res.Accepted != n {
		t.Fatalf("accepted %d of %d candidates", res.Accepted, n)
	}
	env := childWorkerEnv(b, chunkSize, concurrency)

	first := startWorkerProcess(t, "first worker", env)
	waitBatch(t, b, res.BatchID, first, time.Minute, "20% recorded", func(bt *store.Batch) bool {
		return n-bt.Pending() >= n/5
	})
	first.kill()

	// The process is dead: nothing can be recorded for it any more, so this is
	// exactly what was recorded before the kill.
	atKill := outcomes(t, b, res.BatchID)
	if len(atKill) == n {
		t.Fatalf("all %d candidates were recorded before the kill: the test no longer kills mid-batch; raise the sandbox latency", n)
	}
	for seq, o := range atKill {
		if o != payload.OutcomeInvited {
			t.Errorf("seq %d recorded %s before the kill, want invited (no faults were injected)", seq, o)
		}
	}
	t.Logf("killed the first worker with %d of %d outcomes recorded; sandbox: %+v", len(atKill), n, b.API.Stats())

	killedAt := time.Now()
	second := startWorkerProcess(t, "second worker", env)
	bt := waitBatch(t, b, res.BatchID, second, crashRecovery, "done", func(bt *store.Batch) bool {
		return bt.State() == store.StateDone
	})
	second.stop()

	b.CheckAccounting(res.BatchID)
	if bt.Invited != n || bt.Accepted != n {
		t.Errorf("status %+v, want all %d accepted and invited", bt.Status(), n)
	}
	final := outcomes(t, b, res.BatchID)
	checkNothingLost(t, b, "sigkill", n, final)
	checkNoRepeatAfterSuccess(t, b, "sigkill", atKill, "the kill")

	// A candidate can still be invited twice, but only one without a recorded
	// outcome at the kill: the vendor acted on a request whose reply the killed
	// process never recorded (the "reply never seen" window of OnUnknown=retry).
	// At most the chunks in flight at the kill are in that window: one per
	// handler, so concurrency*chunkSize candidates.
	st := b.API.Stats()
	if st.DuplicateInvites > concurrency*chunkSize {
		t.Errorf("%d duplicate invites; at most %d candidates were in flight at the kill", st.DuplicateInvites, concurrency*chunkSize)
	}
	t.Logf("done %s after the kill: %+v; sandbox: %+v", time.Since(killedAt).Round(time.Second), bt.Status(), st)
}

// TestRedisRestartWithPersistence kills redis-server (kill -9) in the middle of a
// batch and starts it again on the same data with AOF persistence (fsync always).
// The worker reconnects and finishes: nothing lost, counters equal the outcomes,
// and no success recorded before the restart is sent again.
func TestRedisRestartWithPersistence(t *testing.T) {
	t.Parallel()
	const (
		n           = 200
		chunkSize   = 5
		concurrency = 4
	)
	b := pipelinetest.New(t, pipelinetest.Options{
		Redis: redistest.Options{AppendOnly: true},
		Sandbox: sandbox.Config{
			Seed:   13,
			Faults: sandbox.Faults{Latency: 60 * time.Millisecond, LatencyJitter: 40 * time.Millisecond},
		},
	})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: chunkSize}, Concurrency: concurrency})
	res := b.Import("restart", pipelinetest.Candidates("restart", n), nil)
	if res.Accepted != n {
		t.Fatalf("accepted %d of %d candidates", res.Accepted, n)
	}
	b.WaitFor(res.BatchID, time.Minute, "25% recorded", func(bt *store.Batch) bool { return n-bt.Pending() >= n/4 })

	// Recorded before the restart (a few more may be recorded between this read
	// and the kill; they are simply not checked as strictly).
	before := outcomes(t, b, res.BatchID)
	if len(before) == n {
		t.Fatalf("all %d candidates were recorded before the restart: the test no longer restarts mid-batch; raise the sandbox latency", n)
	}
	b.Redis.Restart()
	restartedAt := time.Now()

	// With fsync on every write, the restarted server has every outcome it
	// acknowledged.
	after := outcomes(t, b, res.BatchID)
	for seq, o := range before {
		if after[seq] != o {
			t.Errorf("seq %d was %s before the restart and is %q after it", seq, o, after[seq])
		}
	}
	t.Logf("restarted Redis with %d of %d outcomes recorded; sandbox: %+v", len(before), n, b.API.Stats())

	bt := b.WaitDone(res.BatchID, crashRecovery)
	b.CheckAccounting(res.BatchID)
	if bt.Invited != n || bt.Accepted != n {
		t.Errorf("status %+v, want all %d accepted and invited", bt.Status(), n)
	}
	final := outcomes(t, b, res.BatchID)
	checkNothingLost(t, b, "restart", n, final)
	checkNoRepeatAfterSuccess(t, b, "restart", before, "the restart")

	// A chunk whose reply came back while Redis was down could not be recorded
	// and is sent again: at most the chunks in flight, one per handler.
	st := b.API.Stats()
	if st.DuplicateInvites > concurrency*chunkSize {
		t.Errorf("%d duplicate invites; at most %d candidates were in flight at the restart", st.DuplicateInvites, concurrency*chunkSize)
	}
	t.Logf("done %s after the restart: %+v; sandbox: %+v", time.Since(restartedAt).Round(time.Second), bt.Status(), st)
}

// checkNothingLost checks that each of the n candidates made by
// pipelinetest.Candidates(prefix, n) (seq i is prefix-i) ended invited, and that
// the vendor has an invite for each.
func checkNothingLost(t *testing.T, b *pipelinetest.Bundle, prefix string, n int, final map[int64]payload.Outcome) {
	t.Helper()
	if len(final) != n {
		t.Errorf("%d outcomes recorded, want %d", len(final), n)
	}
	for seq := range int64(n) {
		if o := final[seq]; o != payload.OutcomeInvited {
			t.Errorf("seq %d ended %q, want invited", seq, o)
		}
		if c := b.API.InviteCount(pipelinetest.Target, candidateEmail(prefix, seq)); c < 1 {
			t.Errorf("%s: the vendor never received it", candidateEmail(prefix, seq))
		}
	}
}

// checkNoRepeatAfterSuccess checks that every candidate recorded as invited in
// seen was invited exactly once by the vendor: no repeat after a seen success.
func checkNoRepeatAfterSuccess(t *testing.T, b *pipelinetest.Bundle, prefix string, seen map[int64]payload.Outcome, event string) {
	t.Helper()
	for seq, o := range seen {
		if o != payload.OutcomeInvited {
			continue
		}
		email := candidateEmail(prefix, seq)
		if c := b.API.InviteCount(pipelinetest.Target, email); c != 1 {
			t.Errorf("%s was recorded invited before %s, then invited %d times in all, want 1", email, event, c)
		}
	}
}

// candidateEmail is the email of seq in pipelinetest.Candidates(prefix, n): every
// candidate is accepted, so seq is the position in the slice.
func candidateEmail(prefix string, seq int64) string {
	return fmt.Sprintf("%s-%d@example.com", prefix, seq)
}

func outcomes(t *testing.T, b *pipelinetest.Bundle, batchID string) map[int64]payload.Outcome {
	t.Helper()
	out, err := b.Store.Outcomes(context.Background(), batchID)
	if err != nil {
		t.Fatalf("read outcomes: %v", err)
	}
	return out
}

// childWorkerEnv is the configuration of a worker process for b, all through the
// environment as an operator would give it.
func childWorkerEnv(b *pipelinetest.Bundle, chunkSize, concurrency int) []string {
	return []string{
		"REDIS_URL=" + b.Redis.URL(),
		"FLOWMINGO_API_URL=" + b.API.URL,
		"FLOWMINGO_API_KEY=" + sandbox.DefaultKey,
		"BULKINVITE_PREFIX=" + pipelinetest.Prefix,
		"BULKINVITE_RATE=200",
		"BULKINVITE_BURST=50",
		"BULKINVITE_CHUNK_SIZE=" + strconv.Itoa(chunkSize),
		"BULKINVITE_CONCURRENCY=" + strconv.Itoa(concurrency),
		"BULKINVITE_REQUEST_TIMEOUT=5s",
		"BULKINVITE_RETRY_MIN=100ms",
		"BULKINVITE_RETRY_MAX=500ms",
		"BULKINVITE_SHUTDOWN_TIMEOUT=10s",
		"BULKINVITE_LOG_FORMAT=json",
		"BULKINVITE_LOG_LEVEL=warn",
	}
}

// workerProcess is a `bulkinvite worker` child process.
type workerProcess struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.Closer
	stderr *syncBuffer
	exited chan struct{} // closed when the process has exited and been waited for
}

// startWorkerProcess re-executes the test binary as a worker process configured by
// env (on top of this process's environment without any bulkinvite setting). It is
// killed when the test ends, if it still runs.
func startWorkerProcess(t *testing.T, name string, env []string) *workerProcess {
	t.Helper()
	return startProcess(t, name, "TestHelperWorkerProcess", env, func(p *workerProcess) {
		p.cmd.Stdout = p.stderr
		stdin, err := p.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.stdin = stdin
	})
}

// startProcess re-executes the test binary to run the helper test named helper,
// configured by env on top of cleanEnv, with its stderr in p.stderr and the rest
// of its input and output as setup sets them. It is killed when the test ends, if
// it still runs.
func startProcess(t *testing.T, name, helper string, env []string, setup func(p *workerProcess)) *workerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$")
	cmd.Env = append(cleanEnv(), env...)
	cmd.Env = append(cmd.Env, childEnv+"=1")
	p := &workerProcess{t: t, name: name, cmd: cmd, stdin: io.NopCloser(nil), stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	setup(p)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.done() {
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.stderr.tail(8<<10))
		}
	})
	return p
}

// cleanEnv is this process's environment without any bulkinvite setting.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "REDIS_URL" || strings.HasPrefix(k, "FLOWMINGO_") || strings.HasPrefix(k, "BULKINVITE_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (p *workerProcess) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// kill kills the process with SIGKILL, as a crash or the OOM killer would, and
// waits for it to be gone.
func (p *workerProcess) kill() {
	p.t.Helper()
	if p.done() {
		p.t.Fatalf("%s exited before it was killed: %s\n%s", p.name, p.cmd.ProcessState, p.stderr.tail(4<<10))
	}
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.exited
}

// stop sends SIGTERM and expects a graceful exit with status 0 (which a data race
// found in the child under -race would turn into 66).
func (p *workerProcess) stop() {
	p.t.Helper()
	if p.done() {
		p.t.Fatalf("%s exited before it was stopped: %s\n%s", p.name, p.cmd.ProcessState, p.stderr.tail(4<<10))
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("stop %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		p.t.Fatalf("%s did not stop within a minute of SIGTERM\n%s", p.name, p.stderr.tail(4<<10))
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("%s exited %d after SIGTERM, want 0\n%s", p.name, code, p.stderr.tail(8<<10))
	}
	_ = p.stdin.Close()
}

// waitBatch polls the batch until cond holds, failing the test after timeout or
// as soon as the worker process exits.
func waitBatch(t *testing.T, b *pipelinetest.Bundle, batchID string, p *workerProcess, timeout time.Duration, what string, cond func(*store.Batch) bool) *store.Batch {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		bt, err := b.Store.Batch(context.Background(), batchID)
		if err != nil {
			t.Fatalf("read batch: %v", err)
		}
		if cond(bt) {
			return bt
		}
		if p.done() {
			t.Fatalf("%s exited (%s) before batch %s was %s: %+v\n%s", p.name, p.cmd.ProcessState, batchID, what, bt.Status(), p.stderr.tail(4<<10))
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s not %s within %s: %+v\n%s output:\n%s", batchID, what, timeout, bt.Status(), p.name, p.stderr.tail(4<<10))
		}
		select {
		case <-tick.C:
		case <-p.exited:
		}
	}
}
