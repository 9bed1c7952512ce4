package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// expire waits until the batch's record is gone (Config.Retention after it was
// done), failing the test after a while.
func expire(t *testing.T, s *Store, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Batch(context.Background(), id)
		if errors.Is(err, ErrBatchExpired) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s never expired: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// doneWithADeadLetter creates batch id with two candidates, records the first as
// invited and the second as dead-lettered unknown_outcome, and seals it: done.
func doneWithADeadLetter(t *testing.T, s *Store, id string) []task.Candidate {
	t.Helper()
	ctx := context.Background()
	cs := cands(2)
	if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, id, 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	_, err := s.RecordOutcomes(ctx, id, target, []Record{
		{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate},
		{Seq: 1, Outcome: payload.OutcomeDeadLettered, Candidate: cs[1].Candidate, DeadLetter: &DeadLetter{
			ID: DeadLetterID(id, 1), BatchID: id, Seq: 1, Reason: payload.ReasonUnknownOutcome, Candidate: cs[1].Candidate, Target: target}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, id, 1, ""); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Batch(ctx, id); err != nil || b.State() != StateDone {
		t.Fatalf("batch %+v %v, want done", b, err)
	}
	return cs
}

// TestExpiredBatchIDIsNotReused: a batch id whose batch expired is refused, with
// when it was used, for as long as its dead letters are kept: a new batch under
// it would start over on top of them (send again a candidate whose outcome was
// unknown, overwrite its dead letter with another candidate's).
func TestExpiredBatchIDIsNotReused(t *testing.T) {
	t.Parallel()
	s := setupWith(t, Config{Retention: 300 * time.Millisecond})
	ctx := context.Background()
	before := time.Now()
	doneWithADeadLetter(t, s, "r")
	expire(t, s, "r")

	b, created, err := s.CreateBatch(ctx, Meta{ID: "r", Job: task.Job{Target: target}, SegmentSize: 2})
	if !errors.Is(err, ErrBatchExpired) || created {
		t.Fatalf("CreateBatch of an expired id: created %v, %+v, %v; want ErrBatchExpired", created, b, err)
	}
	var ee *BatchExpiredError
	if !errors.As(err, &ee) || ee.ID != "r" || ee.CreatedAt.Before(before.Add(-time.Second)) || ee.CreatedAt.After(time.Now()) {
		t.Errorf("error %v (%+v): want a *BatchExpiredError naming r and when it was created", err, ee)
	}
	if n, _ := s.rdb.Exists(ctx, s.bkey("r", "")).Result(); n != 0 {
		t.Errorf("the refused id's record was written")
	}
	if n, err := s.CountDeadLetters(ctx); err != nil || n != 1 {
		t.Errorf("%d dead letters (%v), want the old one kept", n, err)
	}

	// The batches index is the memory of used ids; without it, the dead letters
	// still tell, in the batch's own slot.
	if err := s.rdb.ZRem(ctx, s.key("batches"), "r").Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "r", Job: task.Job{Target: target}, SegmentSize: 2}); !errors.Is(err, ErrBatchExpired) {
		t.Errorf("CreateBatch of an id known only by its dead letters: %v, want ErrBatchExpired", err)
	}
}

// TestDeadLetterNeverOverwritten: recording a candidate's dead letter never
// replaces one already stored under its seq, even when the candidate's state was
// lost (the states expire with the batch, its dead letters stay).
func TestDeadLetterNeverOverwritten(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "b", Job: task.Job{Target: target}, SegmentSize: 2}); err != nil {
		t.Fatal(err)
	}
	first := payload.Candidate{Email: "first@example.com"}
	second := payload.Candidate{Email: "second@example.com"}
	dead := func(c payload.Candidate) []Record {
		return []Record{{Seq: 1, Outcome: payload.OutcomeDeadLettered, Candidate: c, DeadLetter: &DeadLetter{
			ID: DeadLetterID("b", 1), BatchID: "b", Seq: 1, Reason: payload.ReasonUnknownOutcome, Candidate: c, Target: target}}}
	}
	if _, err := s.RecordOutcomes(ctx, "b", target, dead(first)); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Del(ctx, s.bkey("b", "st")).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordOutcomes(ctx, "b", target, dead(second)); err != nil {
		t.Fatal(err)
	}
	var got []*DeadLetter
	if err := s.DeadLetters(ctx, Filter{BatchID: "b"}, func(d *DeadLetter) error { got = append(got, d); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Candidate.Email != first.Email {
		t.Errorf("%d dead letters of b, the first for %q; want only the first candidate's (%s)", len(got), got[0].Candidate.Email, first.Email)
	}
}
