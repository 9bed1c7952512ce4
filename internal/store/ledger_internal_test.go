package store

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestLedgerEntriesOfEarlierBuilds: a success an earlier build wrote (one
// field a candidate, the time in decimal) still stops a repeat invite, is
// this very candidate's for its owner, reads back in LedgerRecords, and gives
// way to a re-invite's packed entry.
func TestLedgerEntriesOfEarlierBuilds(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	target := payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}
	old := payload.Candidate{Email: "Old@example.com"}
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	week := s.weekKey(target, weekOf(s.now()))
	value := "c" + ownerFP("before", 4) + strconv.FormatInt(at.UnixMilli(), 10)
	if err := s.rdb.HSet(ctx, week, candidateFP(old), value).Err(); err != nil {
		t.Fatal(err)
	}
	cands := []task.Candidate{{Seq: 4, Candidate: old}}
	if got, err := s.ClaimForSending(ctx, "before", target, cands, NewRunID(), time.Minute, false); err != nil || got[0] != DoneCVQueued {
		t.Errorf("its own batch's claim: %v %v, want DoneCVQueued", got, err)
	}
	if got, err := s.ClaimForSending(ctx, "later", target, cands, NewRunID(), time.Minute, false); err != nil || got[0] != OtherCandidateDone {
		t.Errorf("another batch's claim: %v %v, want OtherCandidateDone", got, err)
	}
	rec, err := s.Ledger(ctx, target, old)
	if err != nil || rec == nil || rec.Outcome != payload.OutcomeCVQueued || !rec.OwnedBy("before", 4) || !rec.At.Equal(at) {
		t.Fatalf("ledger record %+v %v, want cv_queued by before/4 at %v", rec, err, at)
	}
	// A re-invite records a success of its own: the packed entry is read first.
	if err := s.writeLedger(ctx, "again", target, "", []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: old}}); err != nil {
		t.Fatal(err)
	}
	rec, err = s.Ledger(ctx, target, old)
	if err != nil || rec == nil || rec.Outcome != payload.OutcomeInvited || !rec.OwnedBy("again", 0) || time.Since(rec.At) > time.Minute {
		t.Errorf("after the re-invite: %+v %v, want invited by again/0 now", rec, err)
	}
}

// TestLedgerPacked: entries sharing a bucket are kept apart, a repeated write
// of the same owner's success changes nothing, another owner's replaces it in
// place, and a large week costs far less than a field a success (about 85 B):
// 100,000 successes half fill the 65,536 buckets, ~51 B a success; 10,000,000
// would cost ~24 B.
func TestLedgerPacked(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	target := payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}
	const n = 100_000
	recs := make([]Record, 0, n)
	for i := range n {
		recs = append(recs, Record{Seq: int64(i), Outcome: payload.OutcomeInvited, Candidate: payload.Candidate{Email: fmt.Sprintf("p%d@example.com", i)}})
	}
	for i := 0; i < n; i += 500 {
		if err := s.writeLedger(ctx, "big", target, "", recs[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.writeLedger(ctx, "big", target, "", recs[:500]); err != nil { // again: nothing new
		t.Fatal(err)
	}
	other := []Record{{Seq: 7, Outcome: payload.OutcomeCVQueued, Candidate: recs[3].Candidate}}
	if err := s.writeLedger(ctx, "other", target, "", other); err != nil {
		t.Fatal(err)
	}
	week := s.weekKey(target, weekOf(s.now()))
	bytes, err := s.rdb.MemoryUsage(ctx, week, 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	fields := s.rdb.HLen(ctx, week).Val()
	per := float64(bytes) / n
	t.Logf("ledger week of %d successes: %d B (%.1f B a success) in %d buckets", n, bytes, per, fields)
	if per > 60 {
		t.Errorf("%.1f B a success, want at most 60", per)
	}
	cands := make([]payload.Candidate, n)
	for i := range cands {
		cands[i] = recs[i].Candidate
	}
	got, err := s.LedgerRecords(ctx, target, cands)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		wantBatch, wantSeq, want := "big", int64(i), payload.OutcomeInvited
		if i == 3 {
			wantBatch, wantSeq, want = "other", 7, payload.OutcomeCVQueued
		}
		if r == nil || r.Outcome != want || !r.OwnedBy(wantBatch, wantSeq) {
			t.Fatalf("candidate %d: %+v, want %s by %s/%d", i, r, want, wantBatch, wantSeq)
		}
	}
	total := 0
	for _, v := range s.rdb.HVals(ctx, week).Val() {
		total += len(v)
	}
	if total != n*ledgerEntryLen {
		t.Errorf("the buckets hold %d bytes, want %d entries of %d", total, n, ledgerEntryLen)
	}
}
