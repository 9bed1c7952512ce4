package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/task"
)

// chunkError is what a whole chunk's dead letters share (a 404's message).
var chunkError = map[string]json.RawMessage{payload.FieldErrorMessage: json.RawMessage(`"flowmingo: POST https://apis.flowmingo.ai/company/integration/interview/candidate/invite/v1: HTTP 404 Not Found"`)}

// seedDeadLetters creates a batch for job and records n dead letters of reason in it.
func seedDeadLetters(t *testing.T, s *Store, batchID string, job task.Job, reason payload.Reason, n int) {
	t.Helper()
	if _, _, err := s.CreateBatch(context.Background(), Meta{ID: batchID, Job: job, SegmentSize: n}); err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, n)
	for i := range recs {
		c := payload.Candidate{Email: fmt.Sprintf("%s-%d@example.com", batchID, i), Name: "Person"}
		recs[i] = Record{Seq: int64(i), Candidate: c, Outcome: payload.OutcomeDeadLettered, DeadLetter: &DeadLetter{
			ID: DeadLetterID(batchID, int64(i)), BatchID: batchID, Seq: int64(i), Reason: reason, Candidate: c, Errors: chunkError,
			Target: job.Target, InvitationMessage: job.InvitationMessage, SendInvite: job.SendInvite,
			Attempts: 2, FirstFailedAt: time.UnixMilli(1_700_000_000_000).UTC(), LastFailedAt: time.UnixMilli(1_700_000_100_000).UTC(), LastHTTPStatus: 404,
		}}
	}
	if _, err := s.RecordOutcomes(context.Background(), batchID, job.Target, recs); err != nil {
		t.Fatal(err)
	}
}

func listIDs(t *testing.T, s *Store, f Filter) []string {
	t.Helper()
	var ids []string
	if err := s.DeadLetters(context.Background(), f, func(d *DeadLetter) error { ids = append(ids, d.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestDeadLettersAndMoves: dead letters are listed with their job's target and
// message (stored once), filtered, purged, and moved into a replay batch across
// slots; an entry a run marked for a replay that was closed without it comes back.
func TestDeadLettersAndMoves(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	no := false
	jobA := task.Job{Target: target, InvitationMessage: "Hello {{candidate_name}}, welcome", SendInvite: &no}
	jobB := task.Job{Target: payload.Target{ProjectID: "0193a1d6-0000-7000-8000-0000000000b0"}}
	seedDeadLetters(t, s, "a", jobA, payload.ReasonTargetNotFound, 5)
	seedDeadLetters(t, s, "b", jobB, payload.ReasonRetriesExhausted, 3)

	var got []*DeadLetter
	if err := s.DeadLetters(ctx, Filter{BatchID: "a"}, func(d *DeadLetter) error { got = append(got, d); return nil }); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.rdb.HLen(ctx, s.bkey("a", "dlerr")).Result(); n != 1 {
		t.Errorf("the chunk's error is stored %d times, want once", n)
	}
	if string(got[4].Errors[payload.FieldErrorMessage]) != string(chunkError[payload.FieldErrorMessage]) {
		t.Errorf("errors read back: %s", got[4].Errors)
	}
	if len(got) != 5 || got[0].ID != "a:0" || got[4].Seq != 4 || got[0].InvitationMessage != jobA.InvitationMessage ||
		got[0].SendInvite == nil || *got[0].SendInvite || got[0].Target != target || got[0].Attempts != 2 ||
		got[0].LastHTTPStatus != 404 || !got[0].FirstFailedAt.Equal(time.UnixMilli(1_700_000_000_000)) || got[0].Candidate.Name != "Person" {
		t.Fatalf("dead letters of a: %+v", got)
	}
	if ids := listIDs(t, s, Filter{Reason: payload.ReasonRetriesExhausted}); fmt.Sprint(ids) != "[b:0 b:1 b:2]" {
		t.Errorf("retries_exhausted: %v", ids)
	}
	if n, err := s.PurgeDeadLetters(ctx, []string{"b:1", "b:9", "nope"}); err != nil || n != 1 {
		t.Errorf("purge: %d %v", n, err)
	}

	// Move a's entries and one of b's into a replay batch.
	if err := s.OpenReplay(ctx, "R", ReplayInfo{Job: jobA, ReplayOf: []string{"a", "b"}}, "run-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	n, err := s.MoveToReplay(ctx, "R", "run-1", []string{"a:0", "a:1", "a:2", "a:3", "a:4", "b:0", "b:1"})
	if err != nil || n != 6 {
		t.Fatalf("moved %d (%v), want 6 (b:1 was purged)", n, err)
	}
	staged, err := s.Staged(ctx, "R")
	if err != nil || len(staged) != 6 || staged[0].ID != "a:0" || staged[5].ID != "b:0" || staged[0].InvitationMessage != jobA.InvitationMessage {
		t.Fatalf("staged %v %v", staged, err)
	}
	if ids := listIDs(t, s, Filter{}); fmt.Sprint(ids) != "[b:2]" {
		t.Errorf("left in the list: %v, want [b:2]", ids)
	}

	// A run that lost its lease marks b:2 for a replay that is then closed: the
	// entry is in transit, then comes back to the list.
	if err := s.OpenReplay(ctx, "R2", ReplayInfo{Job: jobB, ReplayOf: []string{"b"}}, "run-2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Del(ctx, s.bkey("R2", "lease")).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveToReplay(ctx, "R2", "run-2", []string{"b:2"}); err == nil {
		t.Fatal("a run without the lease staged an entry")
	}
	if ids := listIDs(t, s, Filter{}); len(ids) != 0 {
		t.Errorf("listed while marked for a replay: %v", ids)
	}
	if err := s.TakeReplay(ctx, "R2", "run-3", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseReplay(ctx, "R2", "run-3"); err != nil { // closed without adopting it
		t.Fatal(err)
	}
	if n, err := s.UnmarkClosed(ctx); err != nil || n != 1 {
		t.Errorf("unmarked %d (%v), want 1", n, err)
	}
	if ids := listIDs(t, s, Filter{}); fmt.Sprint(ids) != "[b:2]" {
		t.Errorf("after taking the mark back: %v, want [b:2]", ids)
	}
	if c, err := s.CountDeadLetters(ctx); err != nil || c != 1 {
		t.Errorf("count %d %v", c, err)
	}
}
