package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
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
	if n, err := s.PurgeDeadLetters(ctx, []string{"b:1", "b:9", "nope"}, "tester"); err != nil || n != 1 {
		t.Errorf("purge: %d %v", n, err)
	}

	// Move a's entries and one of b's into a replay batch.
	r1, err := s.OpenReplay(ctx, "R", ReplayInfo{Job: jobA, ReplayOf: []string{"a", "b"}}, "run-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r1.Move(ctx, []string{"a:0", "a:1", "a:2", "a:3", "a:4", "b:0", "b:1"})
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
	r2, err := s.OpenReplay(ctx, "R2", ReplayInfo{Job: jobB, ReplayOf: []string{"b"}}, "run-2", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Del(ctx, s.bkey("R2", "lease")).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Move(ctx, []string{"b:2"}); err == nil {
		t.Fatal("a run without the lease staged an entry")
	}
	if ids := listIDs(t, s, Filter{}); len(ids) != 0 {
		t.Errorf("listed while marked for a replay: %v", ids)
	}
	r3, err := s.TakeReplay(ctx, "R2", ReplayInfo{Job: jobB, ReplayOf: []string{"b"}}, "run-3", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := r3.close(ctx); err != nil { // closed without adopting it
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

// TestDeadLetterAndStagedPages: dead letters are read a page (one HSCAN step of
// about the size asked) at a time, each once, and entries staged for a replay
// come back in pages of exactly the size asked, ordered by batch and seq, each
// once, those staged by an older version (without their place) included.
func TestDeadLetterAndStagedPages(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	const n, size = 300, 20
	job := task.Job{Target: target}
	seedDeadLetters(t, s, "a", job, payload.ReasonTargetNotFound, n)
	seedDeadLetters(t, s, "a-b", job, payload.ReasonTargetNotFound, 30)

	seen := map[string]int{}
	pages, largest := 0, 0
	err := s.DeadLetterPages(ctx, Filter{BatchID: "a"}, size, func(page []*DeadLetter) error {
		pages++
		largest = max(largest, len(page))
		for i, d := range page {
			seen[d.ID]++
			if i > 0 && page[i-1].Seq >= d.Seq {
				t.Errorf("page not by seq: %d before %d", page[i-1].Seq, d.Seq)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n || pages < n/(2*size) || largest > 2*size {
		t.Errorf("%d dead letters in %d pages of at most %d; want %d in pages of about %d", len(seen), pages, largest, n, size)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s passed %d times", id, k)
		}
	}

	// Stage every entry of both batches, b's first, then 5 entries as an older
	// version did: in the staging hash only.
	run, err := s.OpenReplay(ctx, "R", ReplayInfo{Job: job, ReplayOf: []string{"a", "a-b"}}, "run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := range 30 {
		ids = append(ids, DeadLetterID("a-b", int64(seq)))
	}
	for seq := n - 1; seq >= 5; seq-- {
		ids = append(ids, DeadLetterID("a", int64(seq)))
	}
	if moved, err := run.Move(ctx, ids); err != nil || moved != len(ids) {
		t.Fatalf("moved %d (%v), want %d", moved, err, len(ids))
	}
	for seq := range 5 {
		id := DeadLetterID("a", int64(seq))
		b, _ := json.Marshal(&DeadLetter{ID: id, BatchID: "a", Seq: int64(seq), Target: target})
		if err := s.rdb.HSet(ctx, s.bkey("R", "replay"), id, b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	cursor, pages := "", 0
	for {
		page, next, err := s.stagedPage(ctx, "R", cursor, size)
		if err != nil {
			t.Fatal(err)
		}
		if next != "" && len(page) != size {
			t.Errorf("page %d holds %d, want %d", pages, len(page), size)
		}
		for _, d := range page {
			got = append(got, d.ID)
		}
		pages++
		if next == "" {
			break
		}
		cursor = next
	}
	var want []string
	for seq := range n {
		want = append(want, DeadLetterID("a", int64(seq)))
	}
	for seq := range 30 {
		want = append(want, DeadLetterID("a-b", int64(seq)))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("staged pages give %d entries in %d pages: %v...; want %d by batch and seq", len(got), pages, got[:min(len(got), 8)], len(want))
	}
	all, err := s.Staged(ctx, "R")
	if err != nil || len(all) != len(want) || all[0].ID != want[0] || all[len(all)-1].ID != want[len(want)-1] {
		t.Errorf("Staged: %d entries (%v), want the same order", len(all), err)
	}
}

// TestUnmarkClosedSparesAReplayOpenedMeanwhile: a replay opened while
// UnmarkClosed runs, which has marked its entries but not yet staged them, keeps
// its marks: once staged they leave the list, rather than being staged and
// listed again (where another replay could take them a second time).
func TestUnmarkClosedSparesAReplayOpenedMeanwhile(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	job := task.Job{Target: target}
	seedDeadLetters(t, s, "a", job, payload.ReasonTargetNotFound, 3)
	var (
		r      *ReplayLease
		marked []string
	)
	s.beforeMarks = func() {
		if r != nil {
			return
		}
		var err error
		if r, err = s.OpenReplay(ctx, "R", ReplayInfo{Job: job, ReplayOf: []string{"a"}}, "run-1", time.Minute); err != nil {
			t.Error(err)
			return
		}
		// The first step of Move: the entries are marked, not yet staged.
		a := markMoveArgs{dl: s.bkey("a", "dl"), dlmv: s.bkey("a", "dlmv"), replay: "R", seqs: []int64{0, 1, 2}}
		if marked, err = s.eval(ctx, markMoveScript, a.keys(), a.argv()...).StringSlice(); err != nil || len(marked) != 6 {
			t.Errorf("marked %v (%v), want 3 entries", marked, err)
		}
	}
	if n, err := s.UnmarkClosed(ctx); err != nil || n != 0 {
		t.Errorf("took back %d marks (%v) of a replay under way, want 0", n, err)
	}
	if r == nil {
		t.Fatal("the replay was not opened")
	}
	if n, err := r.stageAndRelease(ctx, "a", marked); err != nil || n != 3 {
		t.Errorf("staged and released %d (%v), want 3", n, err)
	}
	if ids := listIDs(t, s, Filter{}); len(ids) != 0 {
		t.Errorf("entries staged for the open replay are listed again: %v", ids)
	}
}
