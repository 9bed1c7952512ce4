package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestPausedBatchWaitsForResume (invariant 6): the chunks of a paused batch
// send nothing; ResumeBatch brings them back at once, well before their wait
// (PausePoll) is over, and the batch finishes with every candidate invited once.
func TestPausedBatchWaitsForResume(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	ctx := context.Background()
	const n, pausePoll = 40, time.Minute
	res := b.Import("paused", pipelinetest.Candidates("paused", n), nil)
	if _, err := b.Store.PauseBatch(ctx, res.BatchID, "tester"); err != nil {
		t.Fatal(err)
	}
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 10, PausePoll: pausePoll}})
	insp := asynq.NewInspectorFromRedisClient(b.RDB)
	// Every chunk ran once and went back to wait.
	deadline := time.Now().Add(wait)
	for {
		infos, err := pipelinetest.Tasks(insp.ListRetryTasks, task.QueueDefault)
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) == n/10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d chunks wait for the resume, want %d", len(infos), n/10)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := b.API.Stats(); st.Requests != 0 {
		t.Fatalf("the sandbox got %d requests of the paused batch, want none", st.Requests)
	}
	resumed := time.Now()
	steer := &worker.Steering{Store: b.Store, Tasks: insp}
	if _, err := steer.ResumeBatch(ctx, res.BatchID, "tester"); err != nil {
		t.Fatal(err)
	}
	bt := b.WaitDone(res.BatchID, pausePoll/2)
	t.Logf("done %s after the resume", time.Since(resumed).Round(time.Millisecond))
	b.CheckAccounting(res.BatchID)
	if bt.Invited != n || bt.State() != store.StateDone {
		t.Errorf("status %+v, want %d invited, done", bt.Status(), n)
	}
	if st := b.API.Stats(); st.DuplicateInvites != 0 {
		t.Errorf("%d duplicate invites", st.DuplicateInvites)
	}
}

// TestCancelWithUnrecordedSend (invariants 1 and 6): a cancel turns the open
// candidates into cancelled; candidates an earlier attempt marked as sent and
// never recorded (a worker killed mid-request) are not sent again after the
// cancel, even under at-least-once: they are dead-lettered as unknown_outcome,
// and the batch ends cancelled with its sums exact.
func TestCancelWithUnrecordedSend(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	ctx := context.Background()
	const n = 20
	res := b.Import("cancel", pipelinetest.Candidates("cancel", n), nil)
	// An attempt that died after marking seqs 0..4.
	if _, err := b.Store.MarkSending(ctx, res.BatchID, []int64{0, 1, 2, 3, 4}, nil); err != nil {
		t.Fatal(err)
	}
	steer := &worker.Steering{Store: b.Store, Tasks: asynq.NewInspectorFromRedisClient(b.RDB)}
	bt, cancelled, err := steer.CancelBatch(ctx, res.BatchID, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if cancelled != n-5 || bt.State() != store.StateCancelled || bt.Pending() != 5 {
		t.Fatalf("after the cancel: %d cancelled, status %+v; want %d cancelled, 5 pending", cancelled, bt.Status(), n-5)
	}
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 10, OnUnknown: worker.OnUnknownRetry}})
	bt = b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	if bt.State() != store.StateCancelled || bt.Cancelled != n-5 || bt.DeadLettered != 5 {
		t.Errorf("status %+v, want cancelled with %d cancelled and 5 dead-lettered", bt.Status(), n-5)
	}
	for email, dl := range b.DeadLetters(res.BatchID) {
		if dl.Reason != payload.ReasonUnknownOutcome {
			t.Errorf("%s dead-lettered for %s, want unknown_outcome", email, dl.Reason)
		}
	}
	if st := b.API.Stats(); st.Requests != 0 {
		t.Errorf("the sandbox got %d requests of the cancelled batch, want none", st.Requests)
	}
	if _, _, err := steer.CancelBatch(ctx, res.BatchID, "tester"); err != nil {
		t.Errorf("cancel again: %v, want none (idempotent)", err)
	}
}
