package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestRollingUpgradeFromInlineChunks: a queue holds the version 1 chunk tasks
// a producer of the previous build wrote (job and candidates inline) next to a
// batch today's producer imported (version 2: references to blobs kept with the
// batch). Today's worker, re-cutting both to its smaller chunk size, invites
// every candidate of both exactly once, the accounting adds up, and the v2
// batch's blobs are gone once it is done.
func TestRollingUpgradeFromInlineChunks(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	const old, oldSegs, segSize = "written-by-v1", 3, 120
	enqueueAsV1(t, b, old, pipelinetest.Candidates("v1", oldSegs*segSize-7), segSize)
	res := b.Import("written-by-v2", pipelinetest.Candidates("v2", 333), nil)

	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 20}})
	want := map[string]int64{old: oldSegs*segSize - 7, res.BatchID: 333}
	for id, n := range want {
		bt := b.WaitDone(id, wait)
		b.CheckAccounting(id)
		if bt.Invited != n || bt.DeadLettered != 0 {
			t.Errorf("batch %s: %+v, want %d invited and nothing dead-lettered", id, bt.Status(), n)
		}
	}
	st := b.API.Stats()
	if total := int(want[old] + want[res.BatchID]); st.Invites != total || st.Candidates != total || st.DuplicateInvites != 0 {
		t.Errorf("the sandbox: %d invites of %d candidates sent, %d duplicates; want each of %d once", st.Invites, st.Candidates, st.DuplicateInvites, total)
	}
	blobs := pipelinetest.Prefix + "{b:" + res.BatchID + "}:c"
	if n, err := b.RDB.Exists(context.Background(), blobs).Result(); err != nil || n != 0 {
		t.Errorf("%s: exists %d (%v) after the batch is done, want it deleted", blobs, n, err)
	}
}

// enqueueAsV1 imports cands as batch id the way the previous build's producer
// did: the batch created, each segment admitted without blobs and cut into
// chunks of task.DefaultChunkSize written as version 1 payloads (job and
// candidates inline) under the ids bi:<batch>:s<n>:c<m>, then the batch sealed.
func enqueueAsV1(t *testing.T, b *pipelinetest.Bundle, id string, cands []payload.Candidate, segSize int) {
	t.Helper()
	ctx := context.Background()
	job := task.Job{Target: pipelinetest.Target, InvitationMessage: "Hello {{candidate_name}}"}
	if _, _, err := b.Store.CreateBatch(ctx, store.Meta{ID: id, Job: job, SegmentSize: segSize}); err != nil {
		t.Fatal(err)
	}
	segs := 0
	for lo := 0; lo < len(cands); lo += segSize {
		var seg []task.Candidate
		for i, c := range cands[lo:min(lo+segSize, len(cands))] {
			seg = append(seg, task.Candidate{Seq: int64(lo + i), Row: int64(lo + i + 1), Candidate: c})
		}
		adm, err := b.Store.AdmitSegment(ctx, id, segs, seg, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		for m := 0; m*task.DefaultChunkSize < len(adm.Open); m++ {
			part := adm.Open[m*task.DefaultChunkSize : min((m+1)*task.DefaultChunkSize, len(adm.Open))]
			body, err := json.Marshal(task.Chunk{V: task.VersionInline, BatchID: id, Segment: segs, Chunk: m, Job: job, Candidates: part})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Queue.Enqueue(asynq.NewTask(task.TypeChunk, body), asynq.TaskID(fmt.Sprintf("bi:%s:s%d:c%d", id, segs, m)),
				asynq.Queue(task.QueueDefault), asynq.MaxRetry(task.ChunkMaxRetry), asynq.Timeout(task.DefaultChunkTimeout)); err != nil {
				t.Fatal(err)
			}
		}
		segs++
	}
	if err := b.Store.Seal(ctx, id, segs, ""); err != nil {
		t.Fatal(err)
	}
}
