package deadletter_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/deadletter"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/store"
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
	info := store.ReplayInfo{Job: payload.Job{Target: pipelinetest.Target}, ReplayOf: []string{"orig"}}
	if err := b.Store.OpenReplay(ctx, "crashed-replay", info); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Store.MoveToReplay(ctx, "crashed-replay", ids[:7]); err != nil || n != 7 {
		t.Fatalf("move: %d %v", n, err)
	}
	if n, _ := b.Store.CountDeadLetters(ctx); n != 5 {
		t.Fatalf("%d dead letters left after moving 7 of 12", n)
	}

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
	if st := b.API.Stats(); st.Invites != 12 || st.DuplicateInvites != 0 {
		t.Errorf("sandbox %+v", st)
	}
	// Nothing left to replay: a no-op.
	if rep, err := b.Replayer.Replay(ctx, deadletter.Options{}); err != nil || rep.Replayed != 0 || len(rep.Batches) != 0 {
		t.Errorf("second replay %+v %v", rep, err)
	}
}
