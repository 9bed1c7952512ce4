package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// steerBatch creates batch id with the candidates cs admitted as one segment,
// sealed when seal is set.
func steerBatch(t *testing.T, s *Store, id string, cs []task.Candidate, seal bool) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: len(cs)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, id, 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	if seal {
		if err := s.Seal(ctx, id, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// checkSums fails unless the batch's counters add up and equal its state bytes
// (invariant 1 with cancelled among the outcomes).
func checkSums(t *testing.T, s *Store, id string) *Batch {
	t.Helper()
	ctx := context.Background()
	b, err := s.Batch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := s.Outcomes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	count := map[payload.Outcome]int64{}
	for _, o := range outs {
		count[o]++
	}
	st := b.Status()
	if count[payload.OutcomeInvited] != st.Invited || count[payload.OutcomeSkippedDuplicate] != st.SkippedDuplicate ||
		count[payload.OutcomeCancelled] != st.Cancelled || count[payload.OutcomeDeadLettered] != st.DeadLettered {
		t.Errorf("counters %+v disagree with the state bytes %v", st, count)
	}
	if st.Accepted != st.Invited+st.CVQueued+st.DeadLettered+st.SkippedDuplicate+st.Cancelled+st.Pending {
		t.Errorf("counters do not add up: %+v", st)
	}
	return b
}

// TestCancelBatch: a cancel turns every open candidate into cancelled, counted,
// and leaves those marked as sent to their chunk; the batch is done, in state
// cancelled, once they are recorded. A second cancel changes nothing.
func TestCancelBatch(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	cs := cands(10)
	cs[9].Email = cs[8].Email // a duplicate: skipped at admission
	steerBatch(t, s, "b", cs, true)
	// 0 invited, 1 and 2 in flight, 3..8 open, 9 skipped.
	if _, err := s.MarkSending(ctx, "b", []int64{0, 1, 2}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordOutcomes(ctx, "b", target, []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate}}); err != nil {
		t.Fatal(err)
	}
	before, err := s.Batch(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s.Unsent(ctx, before); err != nil || u != 6 {
		t.Errorf("Unsent: %d %v, want 6", u, err)
	}
	b, n, err := s.CancelBatch(ctx, "b", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s.Unsent(ctx, b); err != nil || u != 0 {
		t.Errorf("Unsent after the cancel: %d %v, want 0", u, err)
	}
	if n != 6 || b.Cancelled != 6 || b.Pending() != 2 || b.State() != StateCancelled || b.Done() {
		t.Fatalf("after the cancel: n=%d, status %+v; want 6 cancelled, 2 pending, state cancelled, not done", n, b.Status())
	}
	checkSums(t, s, "b")
	states, err := s.States(ctx, "b", cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []CandidateState{Decided, Sending, Sending, Decided, Decided, Decided, Decided, Decided, Decided, Decided} {
		if states[i] != want {
			t.Errorf("seq %d: state %d, want %d", i, states[i], want)
		}
	}
	// Nothing more is marked, not even a candidate sent before and sent again.
	if _, err := s.MarkSending(ctx, "b", nil, []int64{1}); !errors.Is(err, ErrBatchCancelled) {
		t.Errorf("MarkSending after the cancel: %v, want ErrBatchCancelled", err)
	}
	if b, n, err = s.CancelBatch(ctx, "b", "tester"); err != nil || n != 0 || b.Cancelled != 6 {
		t.Errorf("second cancel: n=%d err=%v cancelled=%d, want 0, nil, 6", n, err, b.Cancelled)
	}
	if _, err := s.RecordOutcomes(ctx, "b", target, []Record{
		{Seq: 1, Outcome: payload.OutcomeInvited, Candidate: cs[1].Candidate},
		{Seq: 2, Outcome: payload.OutcomeInvited, Candidate: cs[2].Candidate},
	}); err != nil {
		t.Fatal(err)
	}
	b = checkSums(t, s, "b")
	if !b.Done() || b.State() != StateCancelled || b.FinishedAt.IsZero() || b.Invited != 3 {
		t.Errorf("after the last outcome: %+v, want done, state cancelled, finished, 3 invited", b.Status())
	}
	if b, n, err = s.CancelBatch(ctx, "b", "tester"); err != nil || n != 0 || b.State() != StateCancelled {
		t.Errorf("cancel of the cancelled batch once done: n=%d err=%v, want 0 and nil (idempotent)", n, err)
	}
}

// TestCancelDoneBatch: a batch that is done cannot be cancelled.
func TestCancelDoneBatch(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	cs := cands(2)
	steerBatch(t, s, "d", cs, true)
	if _, err := s.RecordOutcomes(ctx, "d", target, []Record{
		{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate},
		{Seq: 1, Outcome: payload.OutcomeInvited, Candidate: cs[1].Candidate},
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CancelBatch(ctx, "d", "tester"); !errors.Is(err, ErrBatchDone) {
		t.Errorf("cancel of a done batch: %v, want ErrBatchDone", err)
	}
	b := checkSums(t, s, "d")
	if b.State() != StateDone || b.Cancelled != 0 || b.Hold != HoldNone {
		t.Errorf("the done batch changed: %+v", b.Status())
	}
	if _, _, err := s.CancelBatch(ctx, "never", "tester"); !errors.Is(err, ErrBatchNotFound) {
		t.Errorf("cancel of an unknown batch: %v, want ErrBatchNotFound", err)
	}
}

// TestCancelDuringImport: segments admitted after the cancel are admitted as
// cancelled, none open, and the seal makes the batch done.
func TestCancelDuringImport(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	all := cands(10)
	steerBatch(t, s, "i", all[:5], false) // no state byte written yet: the cancel pads
	if _, n, err := s.CancelBatch(ctx, "i", "tester"); err != nil || n != 5 {
		t.Fatalf("cancel: n=%d err=%v, want 5", n, err)
	}
	seg := all[5:]
	seg[4].Email = seg[0].Email // a duplicate stays a duplicate
	for range 2 {               // a re-run admits the same answer and counts nothing twice
		adm, err := s.AdmitSegment(ctx, "i", 1, seg, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(adm.Open) != 0 || adm.Cancelled != 4 || adm.Duplicates != 1 {
			t.Errorf("admission after the cancel: %+v, want none open, 4 cancelled, 1 duplicate", adm)
		}
	}
	if err := s.Seal(ctx, "i", 2, ""); err != nil {
		t.Fatal(err)
	}
	b := checkSums(t, s, "i")
	if !b.Done() || b.State() != StateCancelled || b.Cancelled != 9 || b.SkippedDuplicate != 1 || b.Accepted != 10 {
		t.Errorf("sealed: %+v, want done, cancelled, 9 cancelled, 1 skipped of 10", b.Status())
	}
}

// TestPauseAndResume: a pause refuses every mark until the resume, is kept in
// the paused index, and is idempotent; a cancel wins over it; a done batch is
// left as it is.
func TestPauseAndResume(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	cs := cands(4)
	steerBatch(t, s, "p", cs, true)
	for range 2 {
		b, err := s.PauseBatch(ctx, "p", "tester")
		if err != nil {
			t.Fatal(err)
		}
		if b.State() != StatePaused {
			t.Errorf("after pause: state %s, want paused", b.State())
		}
	}
	if _, err := s.MarkSending(ctx, "p", []int64{0}, nil); !errors.Is(err, ErrBatchPaused) {
		t.Errorf("MarkSending while paused: %v, want ErrBatchPaused", err)
	}
	hold, states, err := s.HoldAndStates(ctx, "p", cs)
	if err != nil || hold != HoldPaused || len(states) != 4 || states[0] != Open {
		t.Errorf("HoldAndStates: %q %v %v, want paused and 4 open", hold, states, err)
	}
	if n, err := s.PausedBatches(ctx); err != nil || n != 1 {
		t.Errorf("PausedBatches: %d %v, want 1", n, err)
	}
	for range 2 {
		b, err := s.ResumeBatch(ctx, "p", "tester")
		if err != nil || b.State() != StateQueued || b.Hold != HoldNone {
			t.Errorf("after resume: %+v %v, want queued, no hold", b, err)
		}
	}
	if n, err := s.PausedBatches(ctx); err != nil || n != 0 {
		t.Errorf("PausedBatches after resume: %d %v, want 0", n, err)
	}
	if marked, err := s.MarkSending(ctx, "p", []int64{0}, nil); err != nil || len(marked) != 1 {
		t.Errorf("MarkSending after resume: %v %v, want seq 0 marked", marked, err)
	}

	// A pause, then a cancel: the cancel wins, and leaves the paused index.
	if _, err := s.PauseBatch(ctx, "p", "tester"); err != nil {
		t.Fatal(err)
	}
	if _, n, err := s.CancelBatch(ctx, "p", "tester"); err != nil || n != 3 {
		t.Fatalf("cancel of the paused batch: n=%d err=%v, want 3", n, err)
	}
	for _, step := range []func(context.Context, string, string) (*Batch, error){s.PauseBatch, s.ResumeBatch} {
		if b, err := step(ctx, "p", "tester"); err != nil || b.State() != StateCancelled {
			t.Errorf("pause/resume of a cancelled batch: %v %v, want it cancelled", b.State(), err)
		}
	}
	if n, err := s.PausedBatches(ctx); err != nil || n != 0 {
		t.Errorf("PausedBatches after the cancel: %d %v, want 0", n, err)
	}

	// A done batch stays done and out of the index.
	steerBatch(t, s, "d", cs[:1], true)
	if _, err := s.RecordOutcomes(ctx, "d", target, []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate}}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.PauseBatch(ctx, "d", "tester"); err != nil || b.State() != StateDone || b.Hold != HoldNone {
		t.Errorf("pause of a done batch: %+v %v, want it done and not held", b, err)
	}
	if n, err := s.PausedBatches(ctx); err != nil || n != 0 {
		t.Errorf("PausedBatches: %d %v, want 0", n, err)
	}
	if _, err := s.PauseBatch(ctx, "never", "tester"); !errors.Is(err, ErrBatchNotFound) {
		t.Errorf("pause of an unknown batch: %v, want ErrBatchNotFound", err)
	}
}

// TestPausedIndexDropsDoneBatches: a batch that became done while paused (its
// last candidates were in flight) is no longer counted, and leaves the index.
func TestPausedIndexDropsDoneBatches(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	cs := cands(1)
	steerBatch(t, s, "f", cs, true)
	if _, err := s.MarkSending(ctx, "f", []int64{0}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PauseBatch(ctx, "f", "tester"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordOutcomes(ctx, "f", target, []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate}}); err != nil {
		t.Fatal(err)
	}
	if b := checkSums(t, s, "f"); b.State() != StateDone {
		t.Errorf("state %s, want done", b.State())
	}
	for range 2 {
		if n, err := s.PausedBatches(ctx); err != nil || n != 0 {
			t.Errorf("PausedBatches: %d %v, want 0", n, err)
		}
	}
	if m, err := s.rdb.SCard(ctx, s.key("paused")).Result(); err != nil || m != 0 {
		t.Errorf("paused index holds %d, want 0", m)
	}
}

// TestSteerEvents: a step that changes the batch writes its event, by whom,
// once; the same step again changes nothing and writes nothing; a cancel says
// how many candidates it left unsent.
func TestSteerEvents(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	steerBatch(t, s, "ev", cands(5), true)
	for range 2 {
		if _, err := s.PauseBatch(ctx, "ev", "ops"); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := s.ResumeBatch(ctx, "ev", "cli@host-1"); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, _, err := s.CancelBatch(ctx, "ev", "ops"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PauseBatch(ctx, "ev", "ops"); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, "ev")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs[1:] { // after created
		got = append(got, e.What+" by "+e.By+": "+e.Detail)
	}
	want := []string{"paused by ops: ", "resumed by cli@host-1: ", "cancelled by ops: 5 candidates not sent"}
	if !slices.Equal(got, want) {
		t.Errorf("events after created:\n got %q\nwant %q", got, want)
	}
}
