package deadletter_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// seedDeadLetters creates a batch named batchID and records n dead letters
// (target_not_found) in it, without sending anything, and returns their ids.
func seedDeadLetters(t testing.TB, st *store.Store, batchID string, n int) []string {
	t.Helper()
	return seedJobDeadLetters(t, st, batchID, task.Job{Target: pipelinetest.Target}, n)
}

// seedJobDeadLetters is seedDeadLetters for a batch of job.
func seedJobDeadLetters(t testing.TB, st *store.Store, batchID string, job task.Job, n int) []string {
	t.Helper()
	ctx := context.Background()
	if _, _, err := st.CreateBatch(ctx, store.Meta{ID: batchID, Job: job, SegmentSize: n}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, n)
	const page = 1000
	for lo := 0; lo < n; lo += page {
		recs := make([]store.Record, 0, page)
		for seq := int64(lo); seq < int64(min(lo+page, n)); seq++ {
			c := payload.Candidate{Email: fmt.Sprintf("%s-%d@example.com", batchID, seq)}
			id := store.DeadLetterID(batchID, seq)
			ids = append(ids, id)
			recs = append(recs, store.Record{Seq: seq, Candidate: c, Outcome: payload.OutcomeDeadLettered, DeadLetter: &store.DeadLetter{
				ID: id, BatchID: batchID, Seq: seq, Reason: payload.ReasonTargetNotFound, Candidate: c,
				Target: job.Target, InvitationMessage: job.InvitationMessage, SendInvite: job.SendInvite, Attempts: 1, LastHTTPStatus: 404,
			}})
		}
		if _, err := st.RecordOutcomes(ctx, batchID, job.Target, recs); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestConcurrentReplays runs three replays of the same 20,000 dead letters at once,
// the second starting while the first is still moving entries. Every dead letter
// must end in exactly one fully enqueued replay batch: none lost (moved, then left
// out of the batch), none doubled.
func TestConcurrentReplays(t *testing.T) {
	t.Parallel()
	const n = 20000
	b := pipelinetest.New(t, pipelinetest.Options{})
	seedDeadLetters(t, b.Store, "orig", n)
	ctx := context.Background()

	var (
		mu      sync.Mutex
		results []*deadletter.Result
		wg      sync.WaitGroup
	)
	replay := func() {
		defer wg.Done()
		res, err := b.Replayer.Replay(ctx, deadletter.Options{})
		if err != nil {
			t.Errorf("replay: %v", err)
		}
		mu.Lock()
		results = append(results, res)
		mu.Unlock()
	}
	wg.Add(1)
	go replay()
	// Start the others while the first is between opening its batch and
	// finishing it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		open, err := b.Store.OpenReplays(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	wg.Add(2)
	go replay()
	go replay()
	wg.Wait()

	replayed := 0
	batches := map[string]bool{}
	for _, res := range results {
		if res == nil {
			continue
		}
		replayed += res.Replayed
		for _, id := range append(append([]string{}, res.Batches...), res.Resumed...) {
			batches[id] = true
		}
	}
	var accepted int64
	for id := range batches {
		bt, err := b.Store.Batch(ctx, id)
		if err != nil {
			t.Fatalf("replay batch %s: %v", id, err)
		}
		if !bt.Sealed {
			t.Errorf("replay batch %s was never fully enqueued: %+v", id, bt.Status())
		}
		accepted += bt.Accepted
	}
	left, err := b.Store.CountDeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if accepted+left != n {
		t.Errorf("%d candidates in replay batches + %d dead letters left = %d, want %d (lost or doubled: %d)",
			accepted, left, accepted+left, n, n-accepted-left)
	}
	if int64(replayed) != accepted {
		t.Errorf("the replays say they moved %d entries; their batches hold %d", replayed, accepted)
	}
	if open, _ := b.Store.OpenReplays(ctx); len(open) != 0 {
		t.Errorf("open replays left: %v", open)
	}
	t.Logf("%d replay batches, %d candidates, %d dead letters left", len(batches), accepted, left)
}
