package deadletter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/deadletter"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/store"
	"github.com/bulkinvite/bulkinvite/task"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestReplayInterruptedByCrash: a replay that moved the dead letters but died
// before enqueuing them is finished by the next replay; every entry is sent once
// and none is lost or doubled.
func TestReplayInterruptedByCrash(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Faults: sandbox.Faults{FailRate: 1}}})
	stop := b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 4, MaxAttempts: 1}})
	res := b.Import("orig", pipelinetest.Candidates("r", 12), nil)
	if bt := b.WaitDone(res.BatchID, time.Minute); bt.DeadLettered != 12 {
		t.Fatalf("%+v", bt.Status())
	}
	stop()
	if err := b.API.SetFaults(sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}

	// The first half of a replay: begun and moved, then the process died.
	ctx := context.Background()
	var ids []string
	if err := b.Store.DeadLetters(ctx, store.Filter{}, func(d *store.DeadLetter) error { ids = append(ids, d.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	info := store.ReplayInfo{Job: task.Job{Target: pipelinetest.Target}, ReplayOf: []string{"orig"}}
	const lease = 200 * time.Millisecond
	if err := b.Store.OpenReplay(ctx, "crashed-replay", info, "dead-run", lease); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Store.MoveToReplay(ctx, "crashed-replay", "dead-run", ids[:7]); err != nil || n != 7 {
		t.Fatalf("move: %d %v", n, err)
	}
	if n, _ := b.Store.CountDeadLetters(ctx); n != 5 {
		t.Fatalf("%d dead letters left after moving 7 of 12", n)
	}
	time.Sleep(2 * lease) // the dead run's lease runs out

	// The next replay finishes the interrupted one, then replays the other five.
	b.StartWorker(pipelinetest.WorkerOptions{})
	rep, err := b.Replayer.Replay(ctx, deadletter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Resumed) != 1 || rep.Resumed[0] != "crashed-replay" || rep.Replayed != 5 || len(rep.Batches) != 1 {
		t.Fatalf("replay %+v", rep)
	}
	resumed := b.WaitDone("crashed-replay", time.Minute)
	fresh := b.WaitDone(rep.Batches[0], time.Minute)
	if resumed.Invited != 7 || fresh.Invited != 5 {
		t.Errorf("resumed %+v, fresh %+v", resumed.Status(), fresh.Status())
	}
	if n, _ := b.Store.CountDeadLetters(ctx); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
	if open, _ := b.Store.OpenReplays(ctx); len(open) != 0 {
		t.Errorf("open replays left: %v", open)
	}
	if staged, _ := b.Store.Staged(ctx, "crashed-replay"); len(staged) != 0 {
		t.Errorf("%d entries left staged after the replay was finished", len(staged))
	}
	if st := b.API.Stats(); st.Invites != 12 || st.DuplicateInvites != 0 {
		t.Errorf("sandbox %+v", st)
	}
	// Nothing left to replay: a no-op.
	if rep, err := b.Replayer.Replay(ctx, deadletter.Options{}); err != nil || rep.Replayed != 0 || len(rep.Batches) != 0 {
		t.Errorf("second replay %+v %v", rep, err)
	}
}

// TestReplayLeavesLiveRunAlone: a replay batch whose run is alive (its lease held)
// is not touched by another replay: not sealed, not enqueued, its staged entries
// left where they are; no other run can stage into it or close it. Once that run
// has died and its lease ran out, the next replay finishes it, adopting an entry a
// run marked for it without staging it.
func TestReplayLeavesLiveRunAlone(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	ids := seedDeadLetters(t, b.Store, "orig", 12)
	ctx := context.Background()
	info := store.ReplayInfo{Job: task.Job{Target: pipelinetest.Target}, ReplayOf: []string{"orig"}}
	if err := b.Store.OpenReplay(ctx, "live-replay", info, "live-run", time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Store.MoveToReplay(ctx, "live-replay", "live-run", ids[:4]); err != nil || n != 4 {
		t.Fatalf("move: %d %v", n, err)
	}
	// Another run cannot stage into it or close it. (Its attempt leaves ids[4]
	// marked as moving to live-replay: in transit, not listed.)
	if _, err := b.Store.MoveToReplay(ctx, "live-replay", "other-run", ids[4:5]); !errors.Is(err, store.ErrReplayLeaseLost) {
		t.Errorf("move by another run: %v, want ErrReplayLeaseLost", err)
	}
	if err := b.Store.CloseReplay(ctx, "live-replay", "other-run"); !errors.Is(err, store.ErrReplayLeaseLost) {
		t.Errorf("close by another run: %v, want ErrReplayLeaseLost", err)
	}

	rep, err := b.Replayer.Replay(ctx, deadletter.Options{Filter: store.Filter{BatchID: "orig"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.InProgress) != 1 || rep.InProgress[0] != "live-replay" || len(rep.Resumed) != 0 || rep.Replayed != 7 {
		t.Fatalf("replay %+v: want the live run in progress and the 7 free entries replayed", rep)
	}
	if _, err := b.Store.Batch(ctx, "live-replay"); !errors.Is(err, store.ErrBatchNotFound) {
		t.Errorf("the live run's batch was created by another run: %v", err)
	}
	if staged, _ := b.Store.Staged(ctx, "live-replay"); len(staged) != 4 {
		t.Errorf("%d entries staged in the live run's batch, want its 4", len(staged))
	}

	// The live run dies: its lease runs out (here: taken away), and the next
	// replay finishes its batch with the 4 entries it had moved and the one left
	// marked for it.
	if err := b.RDB.Del(ctx, pipelinetest.Prefix+"{b:live-replay}:lease").Err(); err != nil {
		t.Fatal(err)
	}
	rep, err = b.Replayer.Replay(ctx, deadletter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Resumed) != 1 || rep.Resumed[0] != "live-replay" || rep.Replayed != 0 {
		t.Fatalf("replay %+v: want the dead run's batch resumed", rep)
	}
	if bt, err := b.Store.Batch(ctx, "live-replay"); err != nil || !bt.Sealed || bt.Accepted != 5 {
		t.Fatalf("resumed batch: %+v %v", bt, err)
	}
	if n, _ := b.Store.CountDeadLetters(ctx); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
}
