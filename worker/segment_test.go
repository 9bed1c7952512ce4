package worker_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestSegmentFromAnOlderProducer: a segment task, as producers before chunk tasks
// wrote them, is still split by the worker into chunks of its chunk size, leaving
// out the candidates already decided, and every candidate ends decided once.
func TestSegmentFromAnOlderProducer(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	ctx := context.Background()
	job := task.Job{Target: pipelinetest.Target}
	const id = "older"
	if _, _, err := b.Store.CreateBatch(ctx, store.Meta{ID: id, Job: job, SegmentSize: 10}); err != nil {
		t.Fatal(err)
	}
	var cands []task.Candidate
	for i, c := range pipelinetest.Candidates("seg", 10) {
		cands = append(cands, task.Candidate{Seq: int64(i), Row: int64(i + 1), Candidate: c})
	}
	if _, err := b.Store.AdmitSegment(ctx, id, 0, cands, "", nil); err != nil {
		t.Fatal(err)
	}
	// Two were decided before the segment ran (an earlier run of it, say).
	if _, err := b.Store.RecordOutcomes(ctx, id, job.Target, []store.Record{
		{Seq: 3, Outcome: payload.OutcomeInvited, Candidate: cands[3].Candidate},
		{Seq: 4, Outcome: payload.OutcomeInvited, Candidate: cands[4].Candidate},
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Store.Seal(ctx, id, 1, ""); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(task.Segment{V: task.SegmentVersion, BatchID: id, Segment: 0, Job: job, Candidates: cands})
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 this test writes a segment task as an older producer did
	if _, err := b.Queue.Enqueue(asynq.NewTask(task.TypeSegment, body), asynq.TaskID(task.SegmentID(id, 0)), asynq.Queue(task.QueueBulk)); err != nil {
		t.Fatal(err)
	}
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 3}})
	bt := b.WaitDone(id, wait)
	if bt.Invited != 10 {
		t.Errorf("invited %d, want 10", bt.Invited)
	}
	st := b.API.Stats()
	if st.Candidates != 8 || st.DuplicateInvites != 0 {
		t.Errorf("the vendor got %d candidates (%d duplicates), want the 8 undecided once", st.Candidates, st.DuplicateInvites)
	}
	for _, r := range b.API.Requests() {
		if r.Candidates > 3 {
			t.Errorf("request %d carried %d candidates, more than the chunk size 3", r.Seq, r.Candidates)
		}
	}
}
