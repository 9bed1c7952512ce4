package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// cliArgsEnv holds, as a JSON array, the arguments of the `bulkinvite` command
// TestHelperCLIProcess runs.
const cliArgsEnv = "BULKINVITE_TEST_CLI_ARGS"

// TestHelperCLIProcess is not a test. Run by startCLIProcess with childEnv and
// cliArgsEnv set, it is the real `bulkinvite <args>` process, as cmd/bulkinvite
// runs it, reading stdin and configured by the environment.
func TestHelperCLIProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" || os.Getenv(cliArgsEnv) == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(cliArgsEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, "bad", cliArgsEnv, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, args, cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

// TestRerunWhileSplitChildrenQueued is the recovery step after an import died
// (docs/input.md, Re-runs), run while chunks the vendor refused are being
// split, with real processes: a `bulkinvite enqueue -` fed row by row is killed after its first
// segment; a `bulkinvite worker` sends that segment's two chunks,
// each holding one candidate the vendor refuses with a whole-request 422, so the
// worker dead-letters that one and sends the rest as a child task, and the parent
// task completes (asynq deletes it and frees its id). While the children wait in
// the queue (held there by pausing it), `bulkinvite enqueue` runs again with the
// same --batch-id and file: it enqueues the parents again under their freed ids.
// Then the queue goes on: children and parents run at once, each a live run of
// the same candidates. Invariant 2 (no repeat after a seen success), through one
// sender per candidate: the vendor must see each candidate once, and the batch
// must end with every good candidate invited and the refused ones dead-lettered
// as validation.
//
// The queue pause makes it deterministic: the children are queued when the
// re-run enqueues, and the 1.5 s the sandbox takes over each request keeps
// child and parent in flight together.
func TestRerunWhileSplitChildrenQueued(t *testing.T) {
	t.Parallel()
	const (
		segment     = 100 // BULKINVITE_SEGMENT_SIZE: the first run dies after it
		n           = 150 // rows in the file
		chunkSize   = 50
		concurrency = 8
		latency     = 1500 * time.Millisecond
	)
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Seed: 17, Faults: sandbox.Faults{Latency: latency}}})
	insp := asynq.NewInspectorFromRedisClient(b.RDB)
	t.Cleanup(func() { _ = insp.Close() })
	dir := t.TempDir()
	rows := rerunRows(n)
	file := filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(file, []byte(strings.Join(rows, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	const batchID = "rerun-split"
	env := append(childWorkerEnv(b, chunkSize, concurrency), fmt.Sprintf("BULKINVITE_SEGMENT_SIZE=%d", segment))
	args := []string{"--interview-set", pipelinetest.Target.InterviewSetID, "--batch-id", batchID, "--json"}

	// The first run reads the rows from a feed that stalls before its end, and is
	// killed once its first segment is queued: two chunks; the batch is not sealed.
	// (The CSV reader starts once it has 4 KiB or the end: the file is larger.)
	feed, feedW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer feedW.Close()
	if _, err := feedW.WriteString(strings.Join(rows, "")); err != nil {
		t.Fatal(err)
	}
	first := startCLIProcess(t, "first enqueue", env, feed, append([]string{"enqueue", "-", "--format", "csv"}, args...)...)
	feed.Close() // the child has its own
	waitQueue(t, insp, "the first segment's 2 chunks queued", func(q *asynq.QueueInfo) bool { return q.Pending == 2 }, first)
	first.kill()

	w := startWorkerProcess(t, "worker", env)
	waitUntil(t, "both chunks at the vendor", w, func() bool { return b.API.Stats().InFlight == 2 })
	// Both parents are running: hold what comes next (their children) in the queue.
	if err := pipelinetest.PauseQueue(insp, task.QueueDefault, true); err != nil {
		t.Fatal(err)
	}
	waitQueue(t, insp, "the parents done and their 2 children queued", func(q *asynq.QueueInfo) bool {
		return q.Active == 0 && q.Pending == 2
	}, w)
	if bt, err := b.Store.Batch(context.Background(), batchID); err != nil || bt.DeadLettered != 2 || bt.Sealed {
		t.Fatalf("after the parents: %+v, %v; want the 2 refused candidates dead-lettered, the batch not sealed", bt.Status(), err)
	}

	// The documented recovery step: the same command again, with the whole file.
	again := startCLIProcess(t, "enqueue again", env, nil, append([]string{"enqueue", file}, args...)...)
	again.wait(time.Minute)
	var res struct {
		Existing bool `json:"existing"`
	}
	if err := json.Unmarshal(again.stdout.Bytes(), &res); err != nil || !res.Existing {
		t.Fatalf("enqueue again printed %q (%v); want the existing batch", again.stdout.String(), err)
	}
	q, err := pipelinetest.QueueInfo(insp, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("re-run enqueued with %d tasks queued (2 split children, the rest the re-run's)", q.Pending)
	if err := pipelinetest.PauseQueue(insp, task.QueueDefault, false); err != nil {
		t.Fatal(err)
	}

	bt := waitBatch(t, b, batchID, w, time.Minute, "done", func(bt *store.Batch) bool { return bt.State() == store.StateDone })
	w.stop()
	b.CheckAccounting(batchID)
	st := b.API.Stats()
	if st.DuplicateInvites != 0 {
		t.Errorf("the vendor invited %d candidates a second time; want each once (one sender per candidate)", st.DuplicateInvites)
	}
	refused, wrong := 0, []string{}
	for i := range n {
		email := rerunEmail(i)
		if rerunRefused(i) {
			refused++
			continue
		}
		if c := b.API.InviteCount(pipelinetest.Target, email); c != 1 {
			wrong = append(wrong, fmt.Sprintf("%s %d times", email, c))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d candidates not invited exactly once, e.g. %s", len(wrong), strings.Join(wrong[:min(3, len(wrong))], ", "))
	}
	if bt.Invited != int64(n-refused) || bt.DeadLettered != int64(refused) {
		t.Errorf("status %+v, want %d invited and %d dead-lettered", bt.Status(), n-refused, refused)
	}
	for _, dl := range b.DeadLetters(batchID) {
		if dl.Reason != payload.ReasonValidation {
			t.Errorf("%s dead-lettered %s, want validation", dl.Candidate.Email, dl.Reason)
		}
	}
	t.Logf("sandbox: %+v", st)
}

// rerunRows is the CSV header and n rows, one per line; every 50th row from the
// 10th has an email the sandbox refuses (rerunRefused).
func rerunRows(n int) []string {
	rows := []string{"email,name\n"}
	for i := range n {
		rows = append(rows, fmt.Sprintf("%s,Rerun Candidate Number %03d\n", rerunEmail(i), i))
	}
	return rows
}

func rerunRefused(i int) bool { return i%50 == 10 }

func rerunEmail(i int) string {
	if rerunRefused(i) {
		return fmt.Sprintf("rerun-%d@example%s", i, sandbox.InvalidDomainSuffix)
	}
	return fmt.Sprintf("rerun-%d@example.com", i)
}

// cliProcess is a `bulkinvite <args>` child process.
type cliProcess struct {
	*workerProcess
	stdout *bytes.Buffer
}

// startCLIProcess re-executes the test binary as `bulkinvite args...` configured
// by env, reading stdin (none when nil; a file, so that no copy outlives the
// process). It is killed when the test ends, if it still runs.
func startCLIProcess(t *testing.T, name string, env []string, stdin *os.File, args ...string) *cliProcess {
	t.Helper()
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	stdout := &bytes.Buffer{}
	p := startProcess(t, name, "TestHelperCLIProcess", append(env[:len(env):len(env)], cliArgsEnv+"="+string(a)), func(p *workerProcess) {
		if stdin != nil {
			p.cmd.Stdin = stdin
		}
		p.cmd.Stdout = stdout
	})
	return &cliProcess{workerProcess: p, stdout: stdout}
}

// wait waits for the process to exit 0 within timeout.
func (p *cliProcess) wait(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %v\n%s", p.name, timeout, p.stderr.tail(4<<10))
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("%s exited %d\n%s", p.name, code, p.stderr.tail(4<<10))
	}
}

// waitQueue polls the default queue (its shards summed) until cond holds, failing the test after a
// minute or as soon as p exits.
func waitQueue(t *testing.T, insp *asynq.Inspector, what string, cond func(*asynq.QueueInfo) bool, p interface{ done() bool }) {
	t.Helper()
	var q *asynq.QueueInfo
	waitUntil(t, what, p, func() bool {
		var err error
		q, err = pipelinetest.QueueInfo(insp, task.QueueDefault)
		return err == nil && cond(q)
	})
}

// waitUntil polls cond every 10 ms, failing the test after a minute or as soon
// as p exits.
func waitUntil(t *testing.T, what string, p interface{ done() bool }, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if p.done() {
			t.Fatalf("a process exited before %s", what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s within a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
