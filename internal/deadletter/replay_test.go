package deadletter_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
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
	dead, err := b.Store.OpenReplay(ctx, "crashed-replay", info, "dead-run", lease)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := dead.Move(ctx, ids[:7]); err != nil || n != 7 {
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
	// Another run held it first, and lost its lease.
	other, err := b.Store.OpenReplay(ctx, "live-replay", info, "other-run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RDB.Del(ctx, pipelinetest.Prefix+"{b:live-replay}:lease").Err(); err != nil {
		t.Fatal(err)
	}
	live, err := b.Store.OpenReplay(ctx, "live-replay", info, "live-run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := live.Move(ctx, ids[:4]); err != nil || n != 4 {
		t.Fatalf("move: %d %v", n, err)
	}
	// Another run cannot take it, stage into it or close it. (Its attempt leaves
	// ids[4] marked as moving to live-replay: in transit, not listed.)
	if _, err := b.Store.TakeReplay(ctx, "live-replay", info, "other-run", time.Minute); !errors.Is(err, store.ErrReplayLeaseLost) {
		t.Errorf("lease taken by another run: %v, want ErrReplayLeaseLost", err)
	}
	if _, err := other.Move(ctx, ids[4:5]); !errors.Is(err, store.ErrReplayLeaseLost) {
		t.Errorf("move by another run: %v, want ErrReplayLeaseLost", err)
	}
	if err := other.Finish(ctx, 10, func(*store.StagedPages) error { return nil }); !errors.Is(err, store.ErrReplayLeaseLost) {
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

// TestReplayWhoseBatchExpired: a replay run that died after importing (sealing)
// its batch and before closing the replay, whose batch was then done and expired
// (BULKINVITE_BATCH_RETENTION), does not wedge later replays: the next one closes
// it as finished and replays the rest; nothing is sent twice.
func TestReplayWhoseBatchExpired(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Store: store.Config{Retention: 300 * time.Millisecond}})
	b.StartWorker(pipelinetest.WorkerOptions{})
	ids := seedDeadLetters(t, b.Store, "orig", 5)
	ctx := context.Background()
	info := store.ReplayInfo{Job: task.Job{Target: pipelinetest.Target}, ReplayOf: []string{"orig"}}
	const lease = 200 * time.Millisecond
	dead, err := b.Store.OpenReplay(ctx, "expired-replay", info, "dead-run", lease)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := dead.Move(ctx, ids[:3]); err != nil || n != 3 {
		t.Fatalf("move: %d %v", n, err)
	}
	// The dead run imported its staged entries, then died before closing.
	staged, err := b.Store.Staged(ctx, "expired-replay")
	if err != nil || len(staged) != 3 {
		t.Fatalf("staged %d %v", len(staged), err)
	}
	cands := make([]payload.Candidate, len(staged))
	for i, d := range staged {
		cands[i] = d.Candidate
	}
	_, err = b.Producer.Import(ctx, producer.NewSliceSource(cands), producer.Options{
		BatchID: "expired-replay", Job: info.Job, Source: "replay", Queue: task.QueueReplay, ReplayOf: info.ReplayOf})
	if err != nil {
		t.Fatal(err)
	}
	b.WaitDone("expired-replay", time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for _, err := b.Store.Batch(ctx, "expired-replay"); !errors.Is(err, store.ErrBatchExpired); _, err = b.Store.Batch(ctx, "expired-replay") {
		if time.Now().After(deadline) {
			t.Fatalf("the replay batch never expired: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	rep, err := b.Replayer.Replay(ctx, deadletter.Options{})
	if err != nil {
		t.Fatalf("replay after the expired replay batch: %v", err)
	}
	if len(rep.Resumed) != 1 || rep.Resumed[0] != "expired-replay" || rep.Replayed != 2 || len(rep.Batches) != 1 {
		t.Fatalf("replay %+v: want the expired one closed and the other 2 replayed", rep)
	}
	b.WaitDone(rep.Batches[0], time.Minute)
	if open, _ := b.Store.OpenReplays(ctx); len(open) != 0 {
		t.Errorf("open replays left: %v", open)
	}
	if st := b.API.Stats(); st.Invites != 5 || st.DuplicateInvites != 0 {
		t.Errorf("sandbox %+v, want the 5 invited once each", st)
	}
	if rep, err := b.Replayer.Replay(ctx, deadletter.Options{}); err != nil || len(rep.Resumed) != 0 || rep.Replayed != 0 {
		t.Errorf("the next replay: %+v %v, want nothing to do", rep, err)
	}
}

// TestReplayInPages: a replay that reads, moves and enqueues a few entries at a
// time (Config.PageSize 7) replays every dead letter of three batches and two
// jobs exactly once, into one batch per job, and the vendor invites each once.
func TestReplayInPages(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	b.StartWorker(pipelinetest.WorkerOptions{})
	ctx := context.Background()
	msg := task.Job{Target: pipelinetest.Target, InvitationMessage: "Hello {{candidate_name}}, once more"}
	seedDeadLetters(t, b.Store, "a", 300)
	seedDeadLetters(t, b.Store, "c", 100)
	seedJobDeadLetters(t, b.Store, "b", msg, 150)

	rep, err := deadletter.NewReplayer(b.Store, b.Producer, deadletter.Config{PageSize: 7}).Replay(ctx, deadletter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != 550 || len(rep.Batches) != 2 {
		t.Fatalf("replay %+v, want 550 entries in 2 batches", rep)
	}
	accepted := map[int64]bool{}
	for _, id := range rep.Batches {
		bt := b.WaitDone(id, time.Minute)
		b.CheckAccounting(id)
		accepted[bt.Accepted] = true
		if bt.Invited != bt.Accepted {
			t.Errorf("replay batch %s: %+v", id, bt.Status())
		}
	}
	if !accepted[400] || !accepted[150] {
		t.Errorf("replay batches accepted %v, want 400 (a and c) and 150 (b)", accepted)
	}
	if n, _ := b.Store.CountDeadLetters(ctx); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
	if open, _ := b.Store.OpenReplays(ctx); len(open) != 0 {
		t.Errorf("open replays left: %v", open)
	}
	if st := b.API.Stats(); st.Invites != 550 || st.DuplicateInvites != 0 {
		t.Errorf("sandbox %+v, want 550 invites, none twice", st)
	}
}

// TestReplayOfADoneOneCandidateBatch: a batch of one candidate that was
// dead-lettered is done and its record packed (store, "A small done batch");
// its dead letter replays as any other: the replay batch invites the
// candidate once, the source batch shows what it showed, and the replayed
// event in its log.
func TestReplayOfADoneOneCandidateBatch(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Faults: sandbox.Faults{FailRate: 1}}})
	stop := b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{MaxAttempts: 1}})
	res := b.Import("one", pipelinetest.Candidates("one", 1), nil)
	before := b.WaitDone(res.BatchID, time.Minute)
	if before.DeadLettered != 1 {
		t.Fatalf("%+v", before.Status())
	}
	stop()
	ctx := context.Background()
	fields, err := b.Store.Redis().HKeys(ctx, pipelinetest.Prefix+"{b:"+res.BatchID+"}").Result()
	if err != nil || len(fields) == 0 || slices.ContainsFunc(fields, func(f string) bool { return len(f) != 2 || f[0] != 'p' }) {
		t.Fatalf("the done batch's record fields %v, %v; want only the packed value", fields, err)
	}
	if err := b.API.SetFaults(sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	b.StartWorker(pipelinetest.WorkerOptions{})
	rep, err := b.Replayer.Replay(ctx, deadletter.Options{})
	if err != nil || rep.Replayed != 1 || len(rep.Batches) != 1 {
		t.Fatalf("replay %+v, %v; want the one dead letter replayed", rep, err)
	}
	if replayed := b.WaitDone(rep.Batches[0], time.Minute); replayed.Invited != 1 {
		t.Errorf("the replay batch %+v, want its candidate invited", replayed.Status())
	}
	after, err := b.Store.Batch(ctx, res.BatchID)
	if err != nil || !reflect.DeepEqual(after.Status(), before.Status()) {
		t.Errorf("the source batch after the replay %+v, %v; want %+v as before", after.Status(), err, before.Status())
	}
	evs, err := b.Store.Events(ctx, res.BatchID)
	if err != nil || len(evs) != 2 || evs[1].What != store.EventReplayed {
		t.Errorf("the source batch's events %+v, %v; want created and replayed", evs, err)
	}
	if n, _ := b.Store.CountDeadLetters(ctx); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
	if st := b.API.Stats(); st.Invites != 1 || st.DuplicateInvites != 0 {
		t.Errorf("sandbox %+v, want one invite", st)
	}
}
