package worker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestSteerWithRealProcesses (invariants 1 and 6) steers batches sent by two
// `bulkinvite worker` processes at a low shared rate, through `bulkinvite batch`:
//
//   - batch C is cancelled midway and a worker is killed (SIGKILL) right after:
//     C ends cancelled with its sums exact, and the vendor never receives one of
//     its cancelled candidates, nor any of C after the cancel (beyond requests in
//     flight at it);
//   - batch A is paused after about 200 of its candidates were sent: the vendor
//     sees no request for it for 5 s while batch B keeps sending at the rate;
//     resumed, A finishes, every candidate invited once.
func TestSteerWithRealProcesses(t *testing.T) {
	t.Parallel()
	const (
		nC, nA, nB  = 1000, 2000, 3000
		chunkSize   = 50 // the producer's: no re-cut puts chunks at a queue's tail
		rate        = 5  // requests/s, all workers together: 250 candidates/s
		concurrency = 4
		grace       = time.Second // for requests in flight at a pause or a cancel
		held        = 5 * time.Second
	)
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{
		Seed: 19, Faults: sandbox.Faults{Latency: 5 * time.Millisecond},
	}})
	env := append(childWorkerEnv(b, chunkSize, concurrency), "BULKINVITE_RATE=5", "BULKINVITE_BURST=1")
	// Queued in this order: C's chunks first, so that every handler holds one of
	// C's when a worker is killed, then A's, then B's.
	resC := b.Import("steer-c", pipelinetest.Candidates("steer-c", nC), nil)
	resA := b.Import("steer-a", pipelinetest.Candidates("steer-a", nA), nil)
	resB := b.Import("steer-b", pipelinetest.Candidates("steer-b", nB), nil)
	first := startWorkerProcess(t, "first worker", env)
	second := startWorkerProcess(t, "second worker", env)
	started := time.Now()

	// C: cancelled midway, a worker killed right after.
	waitBatch(t, b, resC.BatchID, second, time.Minute, "150 recorded", func(bt *store.Batch) bool { return nC-bt.Pending() >= 150 })
	st := steerCLI(t, b, "cancel", resC.BatchID, "--yes")
	cancelledAt := time.Now()
	first.kill()
	third := startWorkerProcess(t, "third worker", env)
	if st.State != store.StateCancelled || st.Cancelled == 0 {
		t.Fatalf("after the cancel: %+v, want state cancelled with candidates cancelled", st)
	}
	b.CheckAccounting(resC.BatchID)
	t.Logf("cancelled %d of C's %d candidates (%d recorded before, %d in flight)", st.Cancelled, nC, st.Invited+st.DeadLettered, st.Pending)

	// A: paused after about 200 sent, while B keeps sending.
	waitBatch(t, b, resA.BatchID, second, time.Minute, "200 recorded", func(bt *store.Batch) bool { return nA-bt.Pending() >= 200 })
	if st := steerCLI(t, b, "pause", resA.BatchID); st.State != store.StatePaused {
		t.Fatalf("after the pause: state %s, want paused", st.State)
	}
	pausedAt := time.Now()
	time.Sleep(grace + held)
	from, to := pausedAt.Add(grace), pausedAt.Add(grace+held)
	if n := invitesBetween(b, "steer-a-", from, to); n != 0 {
		t.Errorf("the vendor got %d candidates of the paused batch A in the %s after the pause's grace, want none", n, held)
	}
	nB5 := invitesBetween(b, "steer-b-", from, to)
	if least := int(held.Seconds()) * rate * chunkSize * 2 / 5; nB5 < least {
		t.Errorf("batch B sent %d candidates while A was paused, want at least %d (40%% of the rate)", nB5, least)
	}
	t.Logf("while A was paused, %s: A sent 0 candidates, B %d (the rate allows %d)", held, nB5, int(held.Seconds())*rate*chunkSize)
	if st := steerCLI(t, b, "resume", resA.BatchID); st.State == store.StatePaused {
		t.Fatalf("after the resume: state %s", st.State)
	}

	for _, r := range []struct {
		id string
		n  int
	}{{resA.BatchID, nA}, {resB.BatchID, nB}} {
		bt := waitBatch(t, b, r.id, third, time.Minute, "done", (*store.Batch).Done)
		b.CheckAccounting(r.id)
		if bt.Invited != int64(r.n) || bt.State() != store.StateDone {
			t.Errorf("batch %s: %+v, want %d invited, done", r.id, bt.Status(), r.n)
		}
	}
	// C is done once what was in flight at the cancel is recorded: at once, or,
	// when the killed worker had a request of C in flight, after asynq recovers
	// its task (crashRecovery).
	bt := waitBatch(t, b, resC.BatchID, third, crashRecovery, "done", (*store.Batch).Done)
	b.CheckAccounting(resC.BatchID)
	if bt.State() != store.StateCancelled || bt.Cancelled != st.Cancelled {
		t.Errorf("batch C: %+v, want cancelled with the %d the cancel counted", bt.Status(), st.Cancelled)
	}
	for seq, o := range outcomes(t, b, resC.BatchID) {
		if o != payload.OutcomeCancelled {
			continue
		}
		if c := b.API.InviteCount(pipelinetest.Target, candidateEmail("steer-c", seq)); c != 0 {
			t.Errorf("seq %d of C ended cancelled, and the vendor got it %d times", seq, c)
		}
	}
	if n := invitesBetween(b, "steer-c-", cancelledAt.Add(grace), time.Now()); n != 0 {
		t.Errorf("the vendor got %d candidates of C after the cancel (and its grace), want none", n)
	}
	if s := b.API.Stats(); s.DuplicateInvites != 0 {
		t.Errorf("%d duplicate invites, want none", s.DuplicateInvites)
	}
	second.stop()
	third.stop()
	t.Logf("took %s", time.Since(started).Round(time.Second))
}

// steerCLI runs `bulkinvite batch STEP ID [ARGS] --json` in this process against
// the bundle, as an operator would, and returns the status it printed.
func steerCLI(t *testing.T, b *pipelinetest.Bundle, step, id string, args ...string) store.Status {
	t.Helper()
	env := map[string]string{"REDIS_URL": b.Redis.URL(), "BULKINVITE_PREFIX": pipelinetest.Prefix, "BULKINVITE_LOG_LEVEL": "warn"}
	var out, errb strings.Builder
	argv := append([]string{"batch", step, id, "--json"}, args...)
	code := cli.Run(context.Background(), argv, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	if code != cli.ExitOK {
		t.Fatalf("bulkinvite %s: exit %d: %s", strings.Join(argv, " "), code, errb.String())
	}
	var st store.Status
	if err := json.Unmarshal([]byte(out.String()), &st); err != nil {
		t.Fatalf("bulkinvite %s: %v: %s", strings.Join(argv, " "), err, out.String())
	}
	return st
}

// invitesBetween counts the invites the vendor created in [from, to) for
// emails starting with prefix.
func invitesBetween(b *pipelinetest.Bundle, prefix string, from, to time.Time) int {
	n := 0
	for _, inv := range b.API.Invites() {
		if strings.HasPrefix(inv.Email, prefix) && !inv.At.Before(from) && inv.At.Before(to) {
			n++
		}
	}
	return n
}
