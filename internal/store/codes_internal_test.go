package store

import (
	"context"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestStateCodesAreAFormat pins the candidate state bytes of P{b:id}:st to
// their values. They are a stored format, not only a protocol: workers of the
// version before and after a deploy read and write the same bytes, and codeOpen
// is the zero byte that SETRANGE pads a string with.
func TestStateCodesAreAFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		got  int
		want int
	}{
		{"codeOpen", codeOpen, 0},
		{"codeSending", codeSending, 1},
		{"codeInvited", codeInvited, 2},
		{"codeCVQueued", codeCVQueued, 3},
		{"codeDeadLettered", codeDeadLettered, 4},
		{"codeSkipped", codeSkipped, 5},
		{"codeCancelled", codeCancelled, 6},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d: the bytes already in Redis would change meaning", tc.name, tc.got, tc.want)
		}
	}
}

// TestScriptCodes runs each script in the situation that yields each of its
// codes and checks what it answered, or wrote, against the Go constant: a
// script that answers or writes another code than Go expects fails here.
func TestScriptCodes(t *testing.T) {
	t.Parallel()

	t.Run("create", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := context.Background()
		create := func(id string, known bool) int {
			t.Helper()
			a := createArgs{batch: s.bkey(id, ""), dl: s.bkey(id, "dl"), ev: s.bkey(id, "ev"), now: nowMS(time.Now()),
				jobRef: jobRef([]byte("{}")), segmentSize: 1, known: known, by: "tester"}
			n, rec, err := createReply(s.eval(ctx, createScript, a.keys(), a.argv()...))
			if err != nil {
				t.Fatal(err)
			}
			if (n == createRefused) != (rec == nil) || (rec != nil && rec["by"] != "tester") {
				t.Fatalf("answer %d with the record %v", n, rec)
			}
			return n
		}
		if got := create("a", false); got != createdNew {
			t.Errorf("new id: %d, want createdNew (%d)", got, createdNew)
		}
		if got := create("a", false); got != createdBefore {
			t.Errorf("same id again: %d, want createdBefore (%d)", got, createdBefore)
		}
		if got := create("gone", true); got != createRefused {
			t.Errorf("id the index knows, record gone: %d, want createRefused (%d)", got, createRefused)
		}
	})

	t.Run("states", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := context.Background()
		cands := make([]task.Candidate, 6)
		for i := range cands {
			cands[i] = task.Candidate{Seq: int64(i), Candidate: payload.Candidate{Email: "p" + string(rune('0'+i)) + "@example.com"}}
		}
		cands[5].Candidate = cands[4].Candidate // a duplicate: skipped
		if _, _, err := s.CreateBatch(ctx, Meta{ID: "b", Job: task.Job{Target: target}, SegmentSize: 6}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AdmitSegment(ctx, "b", 0, cands, "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkSending(ctx, "b", []int64{0, 1, 2, 3, 4}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkSending(ctx, "b", nil, []int64{4}); err != nil { // sent again
			t.Fatal(err)
		}
		dl := &DeadLetter{BatchID: "b", Seq: 2, Candidate: cands[2].Candidate, Target: target, Reason: "x"}
		if _, err := s.RecordOutcomes(ctx, "b", target, []Record{
			{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cands[0].Candidate},
			{Seq: 1, Outcome: payload.OutcomeCVQueued, Candidate: cands[1].Candidate},
			{Seq: 2, Outcome: payload.OutcomeDeadLettered, Candidate: cands[2].Candidate, DeadLetter: dl},
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.ClearSending(ctx, "b", []int64{3}); err != nil {
			t.Fatal(err)
		}
		b, err := s.rdb.Get(ctx, s.bkey("b", "st")).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			name string
			code int
		}{
			{"invited", codeInvited}, {"cv_queued", codeCVQueued}, {"dead_lettered", codeDeadLettered},
			{"cleared", codeOpen}, {"sending", codeSending}, {"skipped", codeSkipped},
		}
		if len(b) != len(want) {
			t.Fatalf("states %v, want %d bytes", b, len(want))
		}
		for seq, w := range want {
			if int(b[seq]) != w.code {
				t.Errorf("seq %d (%s): byte %d, want %d", seq, w.name, b[seq], w.code)
			}
		}
		got, err := s.Batch(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if got.Invited != 1 || got.CVQueued != 1 || got.DeadLettered != 1 || got.SkippedDuplicate != 1 {
			t.Errorf("counters %+v, want one of each outcome", got)
		}
	})

	t.Run("claim", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := context.Background()
		person := func(i int) payload.Candidate {
			return payload.Candidate{Email: "c" + string(rune('0'+i)) + "@example.com"}
		}
		// b's seqs 0..4: 0 free, 1 invited by batch a (another candidate), 2
		// held by another run, 3 and 4 this very candidate's success.
		var cands []task.Candidate
		for i := range 5 {
			cands = append(cands, task.Candidate{Seq: int64(i), Candidate: person(i)})
		}
		if err := s.writeLedger(ctx, "a", target, "", []Record{{Seq: 1, Outcome: payload.OutcomeInvited, Candidate: person(1)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimForSending(ctx, "b", target, cands[2:3], NewRunID(), time.Minute, false); err != nil {
			t.Fatal(err)
		}
		if err := s.writeLedger(ctx, "b", target, "", []Record{
			{Seq: 3, Outcome: payload.OutcomeInvited, Candidate: person(3)},
			{Seq: 4, Outcome: payload.OutcomeCVQueued, Candidate: person(4)},
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.ClaimForSending(ctx, "b", target, cands, NewRunID(), time.Minute, false)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			name string
			c    Claim
		}{
			{"Claimed", Claimed}, {"OtherCandidateDone", OtherCandidateDone}, {"ClaimedElsewhere", ClaimedElsewhere},
			{"DoneInvited", DoneInvited}, {"DoneCVQueued", DoneCVQueued},
		}
		if len(got) != len(want) {
			t.Fatalf("claims %v, want %d", got, len(want))
		}
		for i, w := range want {
			if got[i] != w.c {
				t.Errorf("seq %d: claim %d, want %s (%d)", i, got[i], w.name, w.c)
			}
		}
	})

	t.Run("stage", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := context.Background()
		a := newStageArgs(s.bkey("r", "replay"), s.bkey("r", "lease"), s.bkey("r", "replay:ord"), "me")
		a.add("b:1", []byte("{}"), stagePlace("b", 1))
		n, err := s.eval(ctx, stageScript, a.keys, a.argv...).Int()
		if err != nil {
			t.Fatal(err)
		}
		if n != stageLeaseLost {
			t.Errorf("lease not held: %d, want stageLeaseLost (%d)", n, stageLeaseLost)
		}
	})
}
