package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestSharedJob: batches with the same job share one stored copy (P{j:ref}),
// which outlives each record that names it; a record written before jobs were
// shared (its job inline) still reads.
func TestSharedJob(t *testing.T) {
	t.Parallel()
	s := setupWith(t, Config{Retention: time.Hour})
	ctx := context.Background()
	job := task.Job{Target: target, InvitationMessage: "<p>Hello {{candidate_name}}</p>"}
	for _, id := range []string{"a", "b"} {
		if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: job, SegmentSize: 10}); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(job)
	ref := jobRef(raw)
	if n := s.rdb.Exists(ctx, s.jobKey(ref)).Val(); n != 1 {
		t.Fatalf("shared job %s: %d keys", ref, n)
	}
	for _, id := range []string{"a", "b"} {
		if f := s.rdb.HMGet(ctx, s.bkey(id, ""), "job", "jobref").Val(); f[0] != nil || f[1] != ref {
			t.Errorf("record %s: job %v, jobref %v; want only the ref %s", id, f[0], f[1], ref)
		}
		b, err := s.Batch(ctx, id)
		if err != nil || b.Job.InvitationMessage != job.InvitationMessage || b.Job.Target != target {
			t.Errorf("batch %s: %+v %v", id, b, err)
		}
	}

	// Done, the record lives Retention; the job no less.
	if _, err := s.AdmitSegment(ctx, "a", 0, cands(1), "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, "a", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CancelBatch(ctx, "a", "tester"); err != nil {
		t.Fatal(err)
	}
	rec, jobTTL := s.rdb.PTTL(ctx, s.bkey("a", "")).Val(), s.rdb.PTTL(ctx, s.jobKey(ref)).Val()
	if rec <= 0 || jobTTL < rec {
		t.Errorf("done record expires in %v, its job in %v: the job must outlive it", rec, jobTTL)
	}

	// A record of the previous build: the job inline, no ref.
	s.rdb.HDel(ctx, s.bkey("b", ""), "jobref")
	s.rdb.HSet(ctx, s.bkey("b", ""), "job", `{"target":{"com_interview_set_id":"`+target.InterviewSetID+`"},"invitation_message":"old"}`)
	b, err := s.Batch(ctx, "b")
	if err != nil || b.Job.InvitationMessage != "old" || b.Job.Target != target {
		t.Errorf("record with its job inline: %+v %v", b, err)
	}
}
