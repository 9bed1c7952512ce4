package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestLedgerBeforeBatch is the crash story of RecordOutcomes: a worker that died
// after writing the ledger step and before the batch step leaves successes only in
// the ledger. The chunk's next attempt is told, per candidate, that the ledger holds
// its own success (and of which kind): it records them and sends nobody again.
// Another batch sees them as done; nobody's claim is left behind.
func TestLedgerBeforeBatch(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	cands := make([]task.Candidate, 4)
	for i := range cands {
		cands[i] = task.Candidate{Seq: int64(i), Candidate: payload.Candidate{Email: fmt.Sprintf("p%d@example.com", i)}}
	}
	cands[3].Candidate = payload.Candidate{CVLink: "https://cv.example/p3.pdf"}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "b", Job: task.Job{Target: target}, SegmentSize: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, "b", 0, cands, "", nil); err != nil {
		t.Fatal(err)
	}
	run := NewRunID()
	claims, err := s.ClaimForSending(ctx, "b", target, cands, run, time.Minute, false)
	if err != nil || fmt.Sprint(claims) != fmt.Sprint([]Claim{Claimed, Claimed, Claimed, Claimed}) {
		t.Fatalf("first claims %v %v", claims, err)
	}
	if marked, err := s.MarkSending(ctx, "b", []int64{0, 1, 2, 3}, nil); err != nil || len(marked) != 4 {
		t.Fatal(marked, err)
	}
	// The vendor answered: 0 and 1 invited, 2 failed, 3 queued for CV. The worker
	// wrote the ledger step, then died.
	recs := []Record{
		{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cands[0].Candidate},
		{Seq: 1, Outcome: payload.OutcomeInvited, Candidate: cands[1].Candidate},
		{Seq: 2, Outcome: payload.OutcomeDeadLettered, Candidate: cands[2].Candidate},
		{Seq: 3, Outcome: payload.OutcomeCVQueued, Candidate: cands[3].Candidate},
	}
	if err := s.writeLedger(ctx, "b", target, run, recs); err != nil {
		t.Fatal(err)
	}
	states, err := s.States(ctx, "b", cands)
	if err != nil || fmt.Sprint(states) != fmt.Sprint([]CandidateState{Sending, Sending, Sending, Sending}) {
		t.Fatalf("states %v %v: want all sent without an outcome", states, err)
	}
	// The next attempt (its run's claims ran out): the ledger's own entries settle
	// 0, 1 and 3; 2 is free to claim again (its failure was never recorded: it is
	// sent, or under at-most-once dead-lettered as unknown).
	if err := s.rdb.Del(ctx, s.tkey(target, "claims")).Err(); err != nil {
		t.Fatal(err)
	}
	claims, err = s.ClaimForSending(ctx, "b", target, cands, NewRunID(), time.Minute, false)
	if want := []Claim{DoneInvited, DoneInvited, Claimed, DoneCVQueued}; err != nil || fmt.Sprint(claims) != fmt.Sprint(want) {
		t.Fatalf("claims after the crash %v %v, want %v", claims, err, want)
	}
	// Another batch: the successes are done, 2 is held by b's claim.
	other, err := s.ClaimForSending(ctx, "other", target, cands, NewRunID(), time.Minute, false)
	if want := []Claim{OtherCandidateDone, OtherCandidateDone, ClaimedElsewhere, OtherCandidateDone}; err != nil || fmt.Sprint(other) != fmt.Sprint(want) {
		t.Fatalf("another batch's claims %v %v, want %v", other, err, want)
	}
	rec, err := s.Ledger(ctx, target, cands[3].Candidate)
	if err != nil || rec == nil || rec.Outcome != payload.OutcomeCVQueued || !rec.OwnedBy("b", 3) || rec.OwnedBy("b", 2) || time.Since(rec.At) > time.Minute {
		t.Errorf("ledger record %+v %v", rec, err)
	}
}

// TestRetention: a done batch's keys expire Config.Retention after it finished,
// all but its dead letters; status then says the batch expired rather than that it
// never existed.
func TestRetention(t *testing.T) {
	t.Parallel()
	s := setupWith(t, Config{Retention: 300 * time.Millisecond})
	ctx := context.Background()
	cands := []task.Candidate{
		{Seq: 0, Candidate: payload.Candidate{Email: "a@example.com"}},
		{Seq: 1, Candidate: payload.Candidate{Email: "b@example.com"}},
		{Seq: 2, Candidate: payload.Candidate{Email: "A@example.com"}}, // a duplicate
	}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "r", Job: task.Job{Target: target}, SegmentSize: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRejects(ctx, "r", []Reject{{Row: 9, Reason: "email: bad"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, "r", 0, cands, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, "r", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FirstFailure(ctx, "r", "task"); err != nil {
		t.Fatal(err)
	}
	_, err := s.RecordOutcomes(ctx, "r", target, []Record{
		{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cands[0].Candidate},
		{Seq: 1, Outcome: payload.OutcomeDeadLettered, Candidate: cands[1].Candidate,
			DeadLetter: &DeadLetter{ID: DeadLetterID("r", 1), BatchID: "r", Seq: 1, Reason: payload.ReasonTargetNotFound, Candidate: cands[1].Candidate, Target: target}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Batch(ctx, "r")
	if err != nil || b.State() != StateDone {
		t.Fatalf("batch %+v %v, want done", b, err)
	}
	time.Sleep(600 * time.Millisecond)
	for _, sub := range []string{"", "st", "seen", "segs", "rej", "ff", "split", "rejord", "fx", "ev", "c", "dl"} {
		n, err := s.rdb.Exists(ctx, s.bkey("r", sub)).Result()
		if want := int64(0); sub == "dl" && n != 1 || sub != "dl" && n != want || err != nil {
			t.Errorf("key %s exists %d (%v) after the retention; want only the dead letters kept", s.bkey("r", sub), n, err)
		}
	}
	if _, err := s.Batch(ctx, "r"); !errors.Is(err, ErrBatchExpired) {
		t.Errorf("status of the expired batch: %v, want ErrBatchExpired", err)
	}
	if _, err := s.Batch(ctx, "never"); !errors.Is(err, ErrBatchNotFound) {
		t.Errorf("status of an unknown batch: %v, want ErrBatchNotFound", err)
	}
	if n, err := s.CountDeadLetters(ctx); err != nil || n != 1 {
		t.Errorf("%d dead letters after the retention (%v), want the 1 kept", n, err)
	}
}
